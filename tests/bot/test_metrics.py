"""The /healthz and /metrics endpoint over real HTTP on loopback, on a real store."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bot.metrics import Metrics, MetricsServer, exposition
from bot.repository import BotRepository, NewMessage
from monitor.errors import ConfigError
from monitor.store import Store
from tests.bot.test_planner import T0


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    s.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_exposition_format() -> None:
    text = exposition([("veille_x_total", "things", {"status": 'a"b'}, 3), ("veille_y", "level", {}, 1.5)])
    assert text.splitlines() == [
        "# HELP veille_x_total things",
        "# TYPE veille_x_total counter",
        'veille_x_total{status="a\\"b"} 3',
        "# HELP veille_y level",
        "# TYPE veille_y gauge",
        "veille_y 1.5",
    ]


async def test_health_and_metrics(store: Store) -> None:
    BotRepository(store).enqueue([NewMessage(1, "k", "digest", ("x",))], T0)
    metrics = Metrics()
    metrics.polls["new"] += 2
    parts = {"monitor": True, "summarizer": True}
    server = MetricsServer(store, metrics, lambda: dict(parts), "127.0.0.1", 0)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = await asyncio.to_thread(get, f"{base}/metrics")
        assert status == 200 and 'veille_polls_total{status="new"} 2' in body
        assert 'veille_outbox_items{status="pending"} 1' in body and "veille_articles 0" in body
        assert (await asyncio.to_thread(get, f"{base}/healthz"))[0] == 200
        parts["summarizer"] = False
        status, body = await asyncio.to_thread(get, f"{base}/healthz")
        assert status == 503 and '"summarizer": false' in body
        assert (await asyncio.to_thread(get, f"{base}/nope"))[0] == 404
        with pytest.raises(ConfigError, match="VEILLE_METRICS_PORT"):  # the port is taken
            await MetricsServer(store, metrics, lambda: parts, "127.0.0.1", server.port).start()
    finally:
        await server.stop()
