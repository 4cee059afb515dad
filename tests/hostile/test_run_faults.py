"""Issue 12, points 2 and 3 and the acceptance run: ``veille run``'s parts under a fault schedule.

The whole service (monitor, summarizer with the real models, bot, daily email) runs in-process on PostgreSQL, with
the database and the fake Telegram Bot API each behind a loopback TCP proxy the test cuts and restores:

1. the Bot API is down at start for ``FAULT_S`` seconds;
2. PostgreSQL is down ``FAULT_S`` seconds while the summarizer has work;
3. a poison article (a stage fails on it) and a JSON Feed dated 9999-12-31 are among the articles.

Every part must be healthy again (``/healthz`` 200) at most ``RECOVERY_S`` after each fault ends, every other
article summarized, the alert sent, the daily email out; nothing stops the process. ``VEILLE_FAULT_S=60`` runs the
issue's schedule in real time (about 4 minutes); the suite runs it compressed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.repository import BotRepository
from bot.runner import Runner
from bot.settings import bot_settings_from_env, service_settings_from_env
from monitor.config import SourceConfig
from monitor.settings import MonitorSettings
from monitor.store import Store
from summarizer.pipeline import Summarizer
from summarizer.settings import SummarizerSettings
from tests.bot.test_email import Sink, free_port, smtp_server
from tests.conftest import PG_URL, ROOT
from tests.fakebotapi import FakeBotAPI
from tests.guarded_run import veille
from tests.hostile.test_summarizer_faults import PoisonExtractor
from tests.httpserver import LoopbackServer
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow

FAULT_S = float(os.environ.get("VEILLE_FAULT_S", "3"))
RECOVERY_S = 120.0  # the bound: healthy again within 2 minutes after a fault ends
SET = ROOT / "tests" / "fixtures" / "stories" / "multilingual.jsonl"
EVENTS = 3


def feeds(now: datetime) -> tuple[dict[str, tuple[bytes, str]], int]:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    events = list(dict.fromkeys(r["story"] for r in rows))[:EVENTS]
    chosen = [r for r in rows if r["story"] in events]
    items: dict[str, list[str]] = {"a": [], "b": []}
    for n, row in enumerate(chosen):
        when = (now - timedelta(hours=2, minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        items["ab"[n % 2]].append(
            f"<item><title>{escape(row['title'])}</title><link>https://news.example/{row['id']}</link>"
            f"<guid>{row['id']}</guid><pubDate>{when}</pubDate><description>{escape(row['text'])}</description></item>"
        )
    items["a"].append(
        "<item><title>POISON</title><link>https://news.example/poison</link><guid>poison</guid>"
        "<description>POISON: a text a stage of the summarizer fails on.</description></item>"
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel>'
    served = {
        name: (f"{head}<title>{name}</title>{''.join(body)}</channel></rss>".encode(), "application/rss+xml")
        for name, body in items.items()
    }
    far = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Far future",
        "items": [
            {
                "id": "far-1",
                "url": "https://far.example/1",
                "title": "Europol dismantles a fraud network",
                "content_text": "Europol said on Monday that investigators dismantled a fraud network in Spain.",
                "date_published": "9999-12-31T23:00:00-05:00",
                "date_modified": "9999-12-31T23:00:00-05:00",
            }
        ],
    }
    served["far"] = (json.dumps(far).encode(), "application/feed+json")
    return served, len(chosen) + 2


class PoisonedRunner(Runner):
    def _load_summarizer(self, store: Store) -> Summarizer:
        engine = super()._load_summarizer(store)
        engine.extractor = PoisonExtractor(engine.extractor)  # type: ignore[assignment]
        return engine


def healthz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def until(check: Callable[[], bool], seconds: float, what: str, running: asyncio.Task[None]) -> float:
    """Wait for ``check`` (run in a thread); the seconds it took. Fails if the service ended first."""
    start = time.monotonic()
    while not await asyncio.to_thread(check):
        if running.done():
            raise AssertionError(f"veille run ended before {what}: {running.exception()!r}")
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not {what} within {seconds:.0f} s")
        await asyncio.sleep(0.25)
    return time.monotonic() - start


@pytest.fixture
def proxied_pg(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    host_port = PG_URL.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with TcpProxy(host, int(port)) as proxy:
        yield pg_url.replace(host_port, f"127.0.0.1:{proxy.port}"), proxy


async def test_p2_p3_veille_run_recovers_from_each_fault_of_the_schedule(
    tmp_path: Path,
    http_server: LoopbackServer,
    fake_bot_api: FakeBotAPI,
    proxied_pg: tuple[str, TcpProxy],
) -> None:
    """Points 2 and 3: the Bot API unreachable at start no longer stops the process (it exited 0 and took the
    monitor and the summarizer with it); PostgreSQL away for a while no longer kills the summarizer for good."""
    database, pg_proxy = proxied_pg
    now = datetime.now(UTC)
    served, expected = feeds(now)
    for name, (body, kind) in served.items():
        http_server.route(f"/{name}", body, headers={"Content-Type": kind})
    sources = [
        SourceConfig(id=f"feed-{name}", name=f"Feed {name}", kind="feed", url=http_server.url(f"/{name}"))
        for name in served
    ]
    with Store.open(database) as store:
        repo = BotRepository(store)
        repo.ensure_subscriber(600, "private", None, now - timedelta(days=1))
        repo.add_subscription(600, "", now - timedelta(minutes=1), alerts=True)
    fake_bot_api.add_chat(600)
    bot_proxy = TcpProxy("127.0.0.1", int(fake_bot_api.url.rsplit(":", 1)[1].split("/", 1)[0]))
    sink = Sink()
    with bot_proxy, smtp_server(sink) as smtp_port:
        bot_proxy.cut()  # fault 1: Telegram unreachable from the start
        metrics_port = free_port()
        slot = now.replace(second=0, microsecond=0)  # due at once: goes out when the summarizer has caught up
        bot = bot_settings_from_env(
            {
                "TELEGRAM_BOT_TOKEN": fake_bot_api.token,
                "VEILLE_TELEGRAM_API_URL": f"http://127.0.0.1:{bot_proxy.port}",
                "VEILLE_PLAN_INTERVAL_S": "1",
                "VEILLE_RETRY_BASE_S": "0.2",
                "VEILLE_RETRY_CAP_S": "2",
                "VEILLE_EMAIL_TO": "desk@example.org",
                "VEILLE_EMAIL_HOUR": str(slot.hour),
                "VEILLE_EMAIL_MINUTE": str(slot.minute),
                "VEILLE_EXPORT_DIR": str(tmp_path / "exports"),
                "VEILLE_SMTP_HOST": "127.0.0.1",
                "VEILLE_SMTP_PORT": str(smtp_port),
                "VEILLE_SMTP_SECURITY": "none",
            }
        )
        service = service_settings_from_env(
            {"VEILLE_METRICS_PORT": str(metrics_port), "VEILLE_SUMMARIZE_INTERVAL_S": "1"}
        )
        runner = PoisonedRunner(
            MonitorSettings(database_url=database, allow_private=True, startup_spread_s=0),
            SummarizerSettings(summarize_batch=8),
            bot,
            service,
            sources,
            restart_base_s=0.5,
            restart_cap_s=min(60.0, FAULT_S),
        )
        engine = create_engine(database, poolclass=NullPool)  # a new connection each read: the proxy cuts

        def count(sql: str) -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar_one())

        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))
        try:
            await until(
                lambda: count("select count(*) from articles") == expected,
                60,
                "every article stored",
                running,
            )
            assert not runner.health_parts()["telegram"]  # down, said so in /healthz
            await asyncio.sleep(max(0.0, FAULT_S - (datetime.now(UTC) - now).total_seconds()))
            bot_proxy.restore()  # fault 1 ends
            took = await until(
                lambda: runner.health_parts().get("telegram") is True, RECOVERY_S, "Telegram back", running
            )
            print(f"Bot API down at start: the bot was healthy {took:.1f} s after it answered again")

            pg_proxy.cut()  # fault 2: the database goes away while the summarizer has work
            pg_down = time.monotonic()
            await until(
                lambda: runner.health_parts().get("summarizer") is False, 60, "summarizer down", running
            )
            await asyncio.sleep(max(0.0, FAULT_S - (time.monotonic() - pg_down)))
            pg_proxy.restore()  # fault 2 ends
            took = await until(lambda: healthz(metrics_port)[0] == 200, RECOVERY_S, "/healthz 200", running)
            print(f"PostgreSQL down: every part healthy {took:.1f} s after it came back")

            await until(
                lambda: count("select count(*) from article_nlp where status = 'ok'") == expected - 1,
                RECOVERY_S,
                "every other article summarized",
                running,
            )
            assert count("select count(*) from article_nlp where status = 'failed'") == 1
            await until(lambda: len(sink.received) == 1, RECOVERY_S, "the daily email sent", running)
            await until(
                lambda: len(fake_bot_api.messages(600)) >= 1, RECOVERY_S, "an alert delivered", running
            )
            assert count("select count(*) from articles where title like 'Europol dismantles%'") == 1
            status, health = await asyncio.to_thread(healthz, metrics_port)
            assert status == 200 and health["status"] == "ok", health
            assert (
                runner.metrics.restarts or runner.metrics.summarize_failures
            )  # the fault was seen and survived
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=60)
        engine.dispose()


def test_p2_exit_status_is_non_zero_only_when_it_cannot_go_on(tmp_path: Path) -> None:
    """Point 2: a process that cannot go on (here: its database refuses connections at start) exits non-zero, so
    the service manager restarts it, with a clear line and no traceback."""
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {id: x, name: X, kind: feed, url: 'https://example.org/feed'}\n")
    env = dict(
        os.environ,
        DATABASE_URL=f"postgresql+psycopg://veille:pw@127.0.0.1:{free_port()}/veille?connect_timeout=2",
        HF_HUB_OFFLINE="1",
        VEILLE_METRICS_PORT="0",
    )
    done = veille(["run", "--sources", str(sources)], env, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "pw" not in done.stderr.replace("pwd", "")


async def test_p3_a_crashed_part_is_restarted_with_backoff_and_counted() -> None:
    """Point 3: ``Runner._part`` marked a crashed part unhealthy and never restarted it (the process alive,
    /healthz 503 for good). Now: down while it waits, restarted, counted, healthy again."""
    runner = Runner(
        MonitorSettings(), SummarizerSettings(), bot_settings_from_env({}), service_settings_from_env({}), []
    )
    runner.restart_base_s, runner.restart_cap_s = 0.05, 0.2
    stop = asyncio.Event()
    starts: list[bool] = []
    seen_down, third_start = asyncio.Event(), asyncio.Event()

    async def flaky() -> None:
        starts.append(runner.health["summarizer"])
        if len(starts) == 3:
            third_start.set()
        if len(starts) <= 2:
            raise RuntimeError(f"crash {len(starts)}")
        await stop.wait()

    async def watch() -> None:
        while not seen_down.is_set():
            if runner.health.get("summarizer") is False:
                seen_down.set()
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    part = asyncio.create_task(runner._part("summarizer", stop, flaky))
    await asyncio.wait_for(third_start.wait(), timeout=10)
    assert seen_down.is_set() and runner.health["summarizer"] is True
    assert runner.metrics.restarts["summarizer"] == 2
    assert 'veille_part_restarts_total{part="summarizer"} 2' in "\n".join(
        f'{n}{{part="{lab["part"]}"}} {v}' for n, _h, lab, v in runner.metrics.counters() if "part" in lab
    )
    stop.set()
    await asyncio.wait_for(part, timeout=5)
    watcher.cancel()
