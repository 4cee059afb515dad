"""``/healthz`` and Prometheus ``/metrics`` for ``veille run``, on a small local HTTP endpoint.

Counters of what happened since the start (polls by status, new articles, summarized articles and errors) live in
``Metrics``; gauges of the state (sources failing and paused, articles, stories, outbox by status, the daily
email) are read from the store at each scrape, in a worker thread. The text follows the Prometheus exposition
format 0.0.4. ``/healthz`` answers 200 while every part of the service runs, else 503 with the parts that do not.

The endpoint is a minimal HTTP/1.1 server on ``asyncio.start_server`` (GET only, one request per connection):
enough for a scraper and a health check, and no extra dependency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select

from bot.tables import email_exports, outbox, subscribers
from monitor.errors import ConfigError
from monitor.store import Store
from monitor.tables import articles, sources
from summarizer.repository import FAILED
from summarizer.tables import article_nlp, stories

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    started: float = field(default_factory=time.monotonic)
    polls: Counter[str] = field(default_factory=Counter)  # by outcome status
    new_articles: int = 0
    summarized: int = 0
    summarize_errors: int = 0
    summarize_batches: int = 0
    summarize_skipped: int = 0  # articles that failed alone and were skipped
    summarize_failures: int = 0  # summarizer rounds that failed (database away...) and were retried
    restarts: Counter[str] = field(default_factory=Counter)  # parts restarted after a crash, by part

    def counters(self) -> list[tuple[str, str, Mapping[str, str], float]]:
        rows: list[tuple[str, str, Mapping[str, str], float]] = [
            ("veille_uptime_seconds", "seconds since start", {}, time.monotonic() - self.started),
            ("veille_articles_new_total", "new articles stored since start", {}, self.new_articles),
            ("veille_summarized_total", "articles summarized since start", {}, self.summarized),
            (
                "veille_summarize_errors_total",
                "articles the summarizer recorded an error for",
                {},
                self.summarize_errors,
            ),
            ("veille_summarize_batches_total", "summarizer batches since start", {}, self.summarize_batches),
            (
                "veille_summarize_skipped_total",
                "articles that failed alone and were skipped, since start",
                {},
                self.summarize_skipped,
            ),
            (
                "veille_summarize_round_failures_total",
                "summarizer rounds that failed and were retried",
                {},
                self.summarize_failures,
            ),
        ]
        rows += [
            ("veille_part_restarts_total", "parts restarted after a crash, by part", {"part": p}, n)
            for p, n in sorted(self.restarts.items())
        ]
        rows += [
            ("veille_polls_total", "polls since start, by outcome", {"status": s}, n)
            for s, n in sorted(self.polls.items())
        ]
        return rows


def store_gauges(store: Store) -> list[tuple[str, str, Mapping[str, str], float]]:
    """The state of the store as gauges (one connection, a few counting queries)."""
    with store.engine.connect() as conn:
        total_sources = conn.execute(select(func.count()).select_from(sources)).scalar_one()
        failing = conn.execute(
            select(func.count()).select_from(sources).where(sources.c.consecutive_errors > 0)
        ).scalar_one()
        paused = conn.execute(
            select(func.count()).select_from(sources).where(sources.c.paused.is_(True))
        ).scalar_one()
        n_articles = conn.execute(select(func.count()).select_from(articles)).scalar_one()
        processed = conn.execute(select(func.count()).select_from(article_nlp)).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(article_nlp).where(article_nlp.c.status == FAILED)
        ).scalar_one()
        n_stories = conn.execute(
            select(func.count()).select_from(stories).where(stories.c.merged_into.is_(None))
        ).scalar_one()
        by_status: dict[str, int] = dict(
            conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        )
        active = conn.execute(
            select(func.count()).select_from(subscribers).where(subscribers.c.active.is_(True))
        ).scalar_one()
        emails: dict[str, int] = dict(
            conn.execute(select(email_exports.c.status, func.count()).group_by(email_exports.c.status)).all()
        )
    rows: list[tuple[str, str, Mapping[str, str], float]] = [
        ("veille_sources", "sources with a stored state", {}, total_sources),
        ("veille_sources_failing", "sources whose last poll failed", {}, failing),
        ("veille_sources_paused", "sources paused after repeated permanent errors", {}, paused),
        ("veille_articles", "articles in the store", {}, n_articles),
        ("veille_summarizer_queue", "articles not summarized yet", {}, max(n_articles - processed, 0)),
        ("veille_summarizer_failed", "articles that failed alone and were skipped", {}, failed),
        ("veille_stories", "stories (merged ones not counted)", {}, n_stories),
        ("veille_subscribers_active", "active Telegram chats", {}, active),
    ]
    rows += [
        ("veille_outbox_items", "outbox items by status", {"status": s}, by_status.get(s, 0))
        for s in ("pending", "sent", "failed", "dropped")
    ]
    rows += [
        ("veille_email_exports", "daily emails by status", {"status": s}, emails.get(s, 0))
        for s in ("pending", "sent", "failed")
    ]
    return rows


def exposition(rows: list[tuple[str, str, Mapping[str, str], float]]) -> str:
    """Prometheus text format: HELP and TYPE once per metric, then its samples."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, help_text, labels, value in rows:
        if name not in seen:
            seen.add(name)
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{shown}}} {float(value):g}" if shown else f"{name} {float(value):g}")
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


Health = Callable[[], dict[str, bool]]


class MetricsServer:
    """GET /healthz and /metrics on ``host:port`` (port 0: any free port, see ``port`` after ``start``)."""

    def __init__(self, store: Store, metrics: Metrics, health: Health, host: str, port: int) -> None:
        self.store, self.metrics, self.health = store, metrics, health
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve /metrics on {self.host}:{self.port}: {exc.strerror or exc}",
                hint="set VEILLE_METRICS_PORT to a free port, or to 0 to turn the endpoint off",
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics and health on http://%s:%s/metrics and /healthz", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, path, *_ = [*request.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
            status, kind, body = await self._answer(method, path.split("?", 1)[0])
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        except Exception:  # a failing scrape (database down) answers 500 and is logged, the service goes on
            log.exception("metrics request failed")
            status, kind, body = 500, "text/plain", b"error\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        )
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "text/plain", b"GET only\n"
        if path == "/healthz":
            parts = self.health()
            ok = all(parts.values())
            body = json.dumps({"status": "ok" if ok else "degraded", "parts": parts}).encode()
            return (200 if ok else 503), "application/json", body
        if path == "/metrics":
            rows = self.metrics.counters() + await asyncio.to_thread(store_gauges, self.store)
            return 200, "text/plain; version=0.0.4; charset=utf-8", exposition(rows).encode()
        return 404, "text/plain", b"not found: try /healthz or /metrics\n"


_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
