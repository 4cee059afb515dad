"""``veille run``: the monitor, the summarizer, the bot and the daily email in one asyncio process.

``Runner.run(stop)`` starts, and keeps a handle on, each part:

1. the metrics endpoint (``/healthz``, ``/metrics``: ``bot.metrics``) when a port is set;
2. the monitor's scheduler: each source polled on its own schedule (``monitor.scheduler``); a poll that stored
   new articles wakes the summarizer;
3. the summarizer loop: the models load once, in a worker thread; then pending articles go through the pipeline
   in batches (one transaction each, in a worker thread) as they arrive, or every ``summarize_interval_s``;
   after a batch, the bot plans alerts at once;
4. the bot service (``bot.service``): Telegram updates, planned digests and alerts, the outbox, the daily email,
   when a token or an email recipient is configured.

Supervision: a part that fails is logged, shown down in ``/healthz``, counted in ``/metrics``
(``veille_part_restarts_total``) and started again after a backoff (``restart_base_s`` doubling up to
``restart_cap_s``; back to the base once it has run ``restart_reset_s``). A part that cannot start (the Bot API
unreachable, the database down) is retried the same way and never stops the others. The summarizer keeps its
models across a failed round: it retries the round after the backoff. The process exits non-zero only when it
cannot go on at all (the store cannot be opened at start, the metrics port is taken): the service manager then
restarts it (``Restart=on-failure``).

SIGTERM or SIGINT sets ``stop``: no new poll or batch starts; polls in flight commit; the summarizer finishes its
batch (a batch is one transaction: abandoning it would only redo it after the restart); the deliverer finishes the
send in flight and records it; Telegram's updates are confirmed. After ``shutdown_timeout_s`` the rest is
abandoned safely (everything is in the store) and the process exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.metrics import Metrics, MetricsServer
from bot.service import BotService, build_service, stopped_within, utcnow
from bot.settings import BotSettings, ServiceSettings
from monitor.cli import fetch_settings, parse_pool, setup_logging
from monitor.config import SourceConfig
from monitor.faults import brief
from monitor.fetch import Fetcher
from monitor.poller import Poller, PollOutcome
from monitor.scheduler import MonitorScheduler
from monitor.settings import MonitorSettings
from monitor.store import Store
from monitor.workers import ParsePool
from summarizer.settings import SummarizerSettings

if TYPE_CHECKING:
    from summarizer.pipeline import Summarizer

log = logging.getLogger("veille.run")


@dataclass
class Runner:
    monitor: MonitorSettings
    summarizer: SummarizerSettings
    bot: BotSettings
    service: ServiceSettings
    sources: list[SourceConfig]
    metrics: Metrics = field(default_factory=Metrics)
    health: dict[str, bool] = field(default_factory=dict)
    metrics_port: int | None = None  # the bound port, once the endpoint runs
    clock: Callable[[], datetime] | None = None  # the bot's clock (tests); None: the wall clock
    restart_base_s: float = 5.0
    restart_cap_s: float = 60.0  # a part is back at most this long after its fault ends
    restart_reset_s: float = 300.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _bot: BotService | None = None

    async def run(self, stop: asyncio.Event) -> None:
        store = await asyncio.to_thread(Store.open, self.monitor.database_url)
        server = None
        try:
            if self.service.metrics_port:
                server = MetricsServer(
                    store,
                    self.metrics,
                    self.health_parts,
                    self.service.metrics_host,
                    self.service.metrics_port,
                )
                await server.start()
                self.metrics_port = server.port
            await self._run_parts(store, stop)
        finally:
            if server is not None:
                await server.stop()
            await asyncio.to_thread(store.close)
            log.info("stopped")

    def health_parts(self) -> dict[str, bool]:
        """Each part: running (a crashed part is False); ``telegram`` False while the Bot API does not answer."""
        parts = dict(self.health)
        if self._bot is not None and self._bot.app is not None:
            parts["telegram"] = self._bot.telegram_ok
        return parts

    async def _run_parts(self, store: Store, stop: asyncio.Event) -> None:
        wants_bot = self.bot.telegram_token is not None or self.bot.email_config() is not None
        if why := telegram_off(self.bot):
            log.warning("%s", why)
        if wants_bot:
            self._bot = build_service(self.bot, store, clock=self.clock or utcnow)
        if self._bot is not None:
            self._bot.caught_up.clear()  # no daily email before the summarizer has caught up with the backlog
        tasks = {
            "monitor": asyncio.create_task(self._part("monitor", stop, lambda: self._monitor(store, stop))),
            "summarizer": asyncio.create_task(
                self._part("summarizer", stop, lambda: self._summarize(store, stop))
            ),
        }
        if self._bot is not None:
            bot = self._bot
            tasks["bot"] = asyncio.create_task(self._part("bot", stop, lambda: bot.run(stop)))
        for name in tasks:
            self.health[name] = True
        log.info("running: %s (SIGTERM or Ctrl-C stops)", ", ".join(tasks))
        await stop.wait()
        _done, pending = await asyncio.wait(tasks.values(), timeout=self.service.shutdown_timeout_s)
        for name, task in tasks.items():
            if task in pending:
                log.warning(
                    "%s did not stop within %s s: abandoned (its work is in the store)",
                    name,
                    self.service.shutdown_timeout_s,
                )
                task.cancel()
            elif (exc := task.exception()) is not None:
                log.error("%s failed: %r", name, exc)
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _part(
        self, name: str, stop: asyncio.Event, body: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run one part until ``stop``; a crash (or an early end) is logged, marks it down and restarts it after a
        backoff (module docstring). The others never see it."""
        delay = self.restart_base_s
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            self.health[name] = True
            try:
                await body()
                if stop.is_set():
                    return
                log.error("%s ended on its own; restarting it in %.0f s", name, delay)
            except Exception as exc:
                log.exception(
                    "%s crashed (%s); the other parts go on; restarting it in %.0f s", name, exc, delay
                )
            self.health[name] = False
            self.metrics.restarts[name] += 1
            if loop.time() - started >= self.restart_reset_s:
                delay = self.restart_base_s
            if await stopped_within(stop, delay):
                return
            delay = min(delay * 2, self.restart_cap_s)
            log.info("restarting %s", name)

    async def _monitor(self, store: Store, stop: asyncio.Event) -> None:
        with parse_pool(self.monitor, len(self.sources)) as workers:
            await self._watch(store, stop, workers)

    async def _watch(self, store: Store, stop: asyncio.Event, workers: ParsePool | None) -> None:
        async with Fetcher(fetch_settings(self.monitor)) as fetcher:
            poller = Poller(store, fetcher, self.monitor, workers=workers)
            scheduler = MonitorScheduler(poller, self.sources, on_poll=self._polled)
            log.info("watching %d sources", len(self.sources))
            await scheduler.run_until(stop)

    def _polled(self, outcome: PollOutcome) -> None:
        self.metrics.polls[outcome.status] += 1
        if outcome.new:
            self.metrics.new_articles += outcome.new
            log.info("source_id=%s new=%d duplicates=%d", outcome.source_id, outcome.new, outcome.duplicates)
            self._wake.set()

    async def _summarize(self, store: Store, stop: asyncio.Event) -> None:
        engine = await asyncio.to_thread(self._load_summarizer, store)
        delay = self.restart_base_s
        while not stop.is_set():
            self._wake.clear()
            try:
                counts = await asyncio.to_thread(engine.process_pending, self.summarizer.summarize_batch)
            except Exception as exc:  # noqa: BLE001 - the database away, a broken stage: models stay, retry later
                self.health["summarizer"] = False
                self.metrics.summarize_failures += 1
                log.error("summarizer round failed (%s); retrying in %.0f s", brief(exc), delay)
                if await stopped_within(stop, delay):
                    return
                delay = min(delay * 2, self.restart_cap_s)
                continue
            if not self.health.get("summarizer", True):
                log.info("summarizer working again")
            self.health["summarizer"], delay = True, self.restart_base_s
            if counts.articles:
                self.metrics.summarized += counts.articles
                self.metrics.summarize_errors += counts.errors
                self.metrics.summarize_skipped += counts.failed
                self.metrics.summarize_batches += 1
                log.info(
                    "summarized articles=%d errors=%d skipped=%d",
                    counts.articles,
                    counts.errors,
                    counts.failed,
                )
                if self._bot is not None:
                    await self._bot.plan()  # alerts as soon as their story exists
                continue  # more may be pending: the next batch at once
            if self._bot is not None:
                self._bot.caught_up.set()
            await _wait_any(stop, self._wake, self.service.summarize_interval_s)

    def _load_summarizer(self, store: Store) -> Summarizer:
        from summarizer.clustering_model import load_model
        from summarizer.embeddings import load_embedder
        from summarizer.entities import EntityExtractor
        from summarizer.gazetteer import load_gazetteer
        from summarizer.pipeline import Summarizer

        log.info("loading models: embedder=%s", self.summarizer.embedder)
        extractor = (
            EntityExtractor(load_gazetteer(self.summarizer.entities))
            if self.summarizer.entities
            else EntityExtractor()
        )
        model = load_model(self.summarizer.cluster_model) if self.summarizer.cluster_model else None
        engine = Summarizer(store, extractor, load_embedder(self.summarizer.embedder), model=model)
        log.info("models loaded")
        return engine


def telegram_off(settings: BotSettings) -> str | None:
    """Why the Telegram bot will not run (said once, at start), or None when it will."""
    if settings.telegram_token is not None:
        return None
    also = ", and the daily email" if settings.email_config() else ""
    return (
        "Telegram bot off: no token (set TELEGRAM_BOT_TOKEN, or telegram_token_file in [bot]); "
        f"monitoring and summaries run{also}"
    )


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (key=value fields stay in the message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_run_logging(settings: ServiceSettings) -> None:
    """Logs of the long-running process: text (rich) or JSON lines, at the configured level; the libraries
    that log URLs with the bot token in them (httpx) only from WARNING."""
    level = getattr(logging, settings.log_level.upper())
    if settings.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        setup_logging(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic", "trafilatura", "telegram.ext"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def run_forever(runner: Runner) -> None:
    """Run until SIGTERM or SIGINT (a graceful stop, see the module docstring)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner.run(stop)

    asyncio.run(main())


def sources_for_run(path: Path) -> list[SourceConfig]:
    from monitor.config import load_sources

    return [s for s in load_sources(path) if s.enabled]
