"""``veille run`` as a subprocess for a compressed day: loopback feeds polled on schedule, the real summarizer,
an alert and a scheduled digest through the fake Bot API, the daily email to aiosmtpd, /healthz and /metrics; a
SIGTERM in the middle of the work, a restart, and nothing is lost or sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import create_engine, func, select, text

from bot.repository import BotRepository
from monitor.store import Store
from tests.bot.test_email import Sink, free_port, smtp_server
from tests.conftest import ROOT
from tests.fakebotapi import FakeBotAPI
from tests.httpserver import LoopbackServer

pytestmark = pytest.mark.slow

SET = ROOT / "tests" / "fixtures" / "stories" / "multilingual.jsonl"
EVENTS = 3  # the first events of the labelled set, their articles spread over three feeds


def feeds(now: datetime) -> tuple[dict[str, bytes], int]:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    events = list(dict.fromkeys(r["story"] for r in rows))[:EVENTS]
    chosen = [r for r in rows if r["story"] in events]
    items: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    for n, row in enumerate(chosen):
        when = (now - timedelta(hours=2, minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        items["abc"[n % 3]].append(
            f"<item><title>{escape(row['title'])}</title><link>https://news.example/{row['id']}</link>"
            f"<guid>{row['id']}</guid><pubDate>{when}</pubDate><description>{escape(row['text'])}</description></item>"
        )
    head = '<?xml version="1.0"?><rss version="2.0"><channel>'
    return {
        name: f"{head}<title>{name}</title>{''.join(body)}</channel></rss>".encode()
        for name, body in items.items()
    }, len(chosen)


def wait_until(check: Callable[[], bool], seconds: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"veille run exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_day_of_veille_run_with_a_sigterm_and_a_restart(
    tmp_path: Path, http_server: LoopbackServer, fake_bot_api: FakeBotAPI
) -> None:
    now = datetime.now(UTC)
    served, expected_articles = feeds(now)
    for name, body in served.items():
        http_server.route(f"/{name}.xml", body, headers={"Content-Type": "application/rss+xml"})
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "version: 1\nsources:\n"
        + "".join(
            f"  - {{id: feed-{n}, name: Feed {n}, kind: feed, url: '{http_server.url('/' + n + '.xml')}'}}\n"
            for n in served
        )
    )
    database = f"sqlite:///{tmp_path / 'veille.db'}"
    store = Store.open(database)
    repo = BotRepository(store)
    repo.ensure_subscriber(500, "private", None, now - timedelta(days=1))
    # the digest time: a minute or two ahead, once the articles are in and summarized
    slot_at = (now + timedelta(seconds=150)).replace(second=0, microsecond=0)
    slot = slot_at.time()
    if slot_at.date() != now.date():
        pytest.skip("the compressed day would cross midnight UTC: its email and digest days would differ")
    repo.add_subscription(500, "", now - timedelta(days=1), digest_times=[slot])
    repo.ensure_subscriber(600, "private", None, now)
    repo.add_subscription(600, "", now, alerts=True)
    fake_bot_api.add_chat(500)
    fake_bot_api.add_chat(600)
    sink = Sink()
    with smtp_server(sink) as smtp_port:
        metrics_port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=database,
            VEILLE_ALLOW_PRIVATE="1",
            TELEGRAM_BOT_TOKEN=fake_bot_api.token,
            VEILLE_TELEGRAM_API_URL=fake_bot_api.url,
            VEILLE_PLAN_INTERVAL_S="1",
            VEILLE_SUMMARIZE_INTERVAL_S="1",
            VEILLE_STARTUP_SPREAD_S="0",
            VEILLE_METRICS_PORT=str(metrics_port),
            VEILLE_EMAIL_TO="desk@example.org",
            VEILLE_EMAIL_HOUR=str(slot_at.hour),
            VEILLE_EMAIL_MINUTE=str(slot_at.minute),
            VEILLE_EXPORT_DIR=str(tmp_path / "exports"),
            VEILLE_SMTP_HOST="127.0.0.1",
            VEILLE_SMTP_PORT=str(smtp_port),
            VEILLE_SMTP_SECURITY="none",
            VEILLE_LOG_FORMAT="json",
        )
        command = [sys.executable, "-m", "tests.guarded_run", "run", "--sources", str(sources)]
        engine = create_engine(database)

        def count(sql: str) -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar_one())

        with (tmp_path / "first.log").open("w") as log:
            first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            wait_until(lambda: count("select count(*) from articles") > 0, 60, "the first polls", first)
            first.send_signal(
                signal.SIGTERM
            )  # mid-work: polls done or in flight, models loading or summarizing
            assert first.wait(timeout=60) == 0, (tmp_path / "first.log").read_text()[-3000:]

        with (tmp_path / "second.log").open("w") as log:
            second = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            try:
                wait_until(
                    lambda: count("select count(*) from articles") == expected_articles,
                    90,
                    "every article",
                    second,
                )
                wait_until(
                    lambda: count("select count(*) from article_nlp") == expected_articles,
                    120,
                    "summaries",
                    second,
                )
                wait_until(lambda: bool(fake_bot_api.messages(500)), 240, "the digest at its time", second)
                wait_until(lambda: bool(fake_bot_api.messages(600)), 60, "the alerts", second)
                wait_until(lambda: len(sink.received) == 1, 150, "the daily email", second)
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5) as answer:
                    health = json.load(answer)
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
                    metrics = answer.read().decode()
                time.sleep(3)  # another planning round or two: nothing more may go out
            finally:
                second.send_signal(signal.SIGTERM)
                code = second.wait(timeout=60)
        logs = (tmp_path / "second.log").read_text()
        assert code == 0, logs[-3000:]
    assert health["status"] == "ok" and set(health["parts"]) == {"monitor", "summarizer", "bot", "telegram"}
    assert (
        f"veille_articles {expected_articles}" in metrics and 'veille_outbox_items{status="sent"}' in metrics
    )
    digest = fake_bot_api.messages(500)
    assert len({m.text for m in digest}) == len(digest)  # each part once
    assert min(m.date for m in digest) >= slot_at.timestamp() - 1  # at its time, not before
    assert repo.outbox_counts().get("pending", 0) == 0 and repo.outbox_counts().get("failed", 0) == 0
    alerts = fake_bot_api.messages(600)
    keys = [i.item_key for i in repo.recent(100) if i.chat_id == 600 and i.kind == "alert"]
    assert alerts and len(keys) == len(set(keys)) == len(alerts)  # one alert per story (merged ones included)
    [(_sender, recipients, raw)] = sink.received
    mail = message_from_bytes(raw, policy=policy.default)
    assert recipients == ["desk@example.org"] and mail["Subject"]
    plain = mail.get_body(preferencelist=("plain",))
    [exported] = (tmp_path / "exports").glob("*.json")
    emailed = json.loads(exported.read_text())["stories"]
    assert emailed and plain is not None  # the day's stories: the email waited for the summaries
    body = plain.get_content()
    assert f"{len(emailed)} stories" in body and all(f"\n{n}. " in body for n in range(1, len(emailed) + 1))
    assert mail["Date"].datetime >= slot_at - timedelta(seconds=1)  # at its time, not before
    assert (tmp_path / "exports").is_dir() and any((tmp_path / "exports").glob("*.eml"))
    assert all(json.loads(line)["level"] for line in logs.splitlines() if line.startswith("{"))
    assert fake_bot_api.token not in logs
    with engine.connect() as conn:  # every article once
        assert (
            conn.execute(select(func.count()).select_from(text("articles"))).scalar_one() == expected_articles
        )
    engine.dispose()
    store.close()
