"""The bot's long-running part: Telegram updates, planning, delivery and the daily email, in one asyncio loop.

``BotService.run(stop)`` starts, and keeps a handle on, each part:

1. the Telegram application (when a token is set): long polling of updates, the command handlers;
2. the deliverer: the outbox's due items out to Telegram, paced (``bot.delivery``);
3. the planner loop: every ``plan_interval_s``, due digests and new alerts recorded in the outbox, then the
   deliverer woken (``bot.planner``; database work in a worker thread);
4. the email loop: every minute (``plan_interval_s`` when shorter), the daily email prepared when due and
   pending sends retried (``bot.email_job``),
   once the stories are up to date (``caught_up``).

When ``stop`` is set, each part finishes what it is doing (a send in flight is recorded) and the application
stops polling; nothing recorded in the outbox is lost, and the next start goes on from there. A failing round
of a loop is logged and retried at the next round; it never ends the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from telegram import Bot
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.app import BotDeps, build_application, start_polling, stop_polling
from bot.delivery import Deliverer
from bot.email_job import DailyEmail
from bot.planner import Planner, make_digest, views_between
from bot.ratelimit import RateLimiter
from bot.repository import BotRepository
from bot.settings import BotSettings
from bot.telegram import Reachability, TelegramSender
from monitor.faults import brief, is_unreachable
from monitor.store import Store
from summarizer.digest import Digest
from summarizer.gazetteer import Gazetteer, load_gazetteer
from summarizer.repository import NlpRepository

log = logging.getLogger(__name__)

EMAIL_STORIES = 100  # most stories in the daily email
START_RETRY_CAP_S = 60.0  # the bot is back at most a minute after Telegram answers again


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BotService:
    settings: BotSettings
    store: Store
    repo: BotRepository
    nlp: NlpRepository
    planner: Planner
    app: Application | None  # type: ignore[type-arg]  # PTB's generic Application
    deliverer: Deliverer | None
    email: DailyEmail | None
    clock: Callable[[], datetime]
    reachability: Reachability = field(default_factory=Reachability)
    # set when the stories are up to date: ``veille run`` clears it until the summarizer has caught up after a
    # start, so the daily email never goes out before the backlog is summarized
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.caught_up.set()

    @property
    def telegram_ok(self) -> bool:
        """False while Telegram does not answer (``/healthz`` shows the bot as degraded)."""
        return self.app is None or self.reachability.ok

    def wake(self) -> None:
        if self.deliverer is not None:
            self.deliverer.wake()

    async def plan(self) -> int:
        """One planning round: due digests and new alerts into the outbox; the number of messages recorded."""
        now = self.clock()
        recorded = await asyncio.to_thread(self.planner.plan_digests, now)
        recorded += await asyncio.to_thread(self.planner.plan_alerts, now)
        if recorded:
            log.info("planned messages=%s", recorded)
            self.wake()
        return recorded

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` (the process's): its own loops end with it, or with this service, never the reverse:
        the bot ending (or failing) does not stop the monitor or the summarizer."""
        done = asyncio.Event()  # this service's own stop: set by ``stop``, or when the service ends
        relay = asyncio.create_task(_relay(stop, done))
        tasks = [
            asyncio.create_task(self._every(self.settings.plan_interval_s, self.plan, done), name="planner")
        ]
        if self.deliverer is not None:
            tasks.append(asyncio.create_task(self.deliverer.run(done), name="deliverer"))
        if self.email is not None:
            email = self.email
            tasks.append(
                asyncio.create_task(
                    self._every(
                        min(60.0, self.settings.plan_interval_s), lambda: self._email_round(email), done
                    ),
                    name="email",
                )
            )
        try:
            if self.app is not None:
                await self._run_app(done)
            else:
                await done.wait()
        finally:
            done.set()
            relay.cancel()
            for result, task in zip(await asyncio.gather(*tasks, return_exceptions=True), tasks, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.error("task %s failed: %r", task.get_name(), result)

    async def _run_app(self, stop: asyncio.Event) -> None:
        """Start polling, retried with backoff while Telegram cannot be reached or refuses the token (said once,
        as an error with its fix: the outbox keeps every message meanwhile and the rest of the service goes on),
        then wait for ``stop``."""
        assert self.app is not None
        delay = 5.0
        refused = False
        while not stop.is_set():
            try:
                await start_polling(self.app)  # command menus registered, long polling of our updates
                break
            except InvalidToken as exc:
                if not refused:
                    log.error(
                        "Telegram refuses the bot token (%s): fix TELEGRAM_BOT_TOKEN or telegram_token_file in "
                        "[bot]; retrying every %.0f s at most, messages wait in the outbox",
                        exc,
                        START_RETRY_CAP_S,
                    )
                refused = True
                self.reachability.failed(f"token refused: {exc}")
            except NetworkError as exc:  # reported once by the requests (Reachability); try again later
                log.debug("starting the Telegram bot failed: %s", exc)
            await stopped_within(stop, delay)
            delay = min(delay * 2, START_RETRY_CAP_S)
        if stop.is_set() and not self.app.running:
            return
        try:
            await stop.wait()
        finally:
            await stop_polling(self.app)  # handled updates confirmed to Telegram, handlers finished

    async def _email_round(self, email: DailyEmail) -> None:
        if self.caught_up.is_set():
            await email.tick(self.clock())

    @staticmethod
    async def _every(period_s: float, round_: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await round_()
            except Exception as exc:  # one bad round (database outage, bad data) must not end the service
                if is_unreachable(exc):  # a passing fault: one line, not a traceback every round
                    log.warning(
                        "round failed, the database is unreachable (%s); retrying in %s s",
                        brief(exc, 200),
                        period_s,
                    )
                else:
                    log.exception("round failed; retrying in %s s", period_s)
            await stopped_within(stop, period_s)


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True if ``stop`` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def email_digest(nlp: NlpRepository, limit: int = EMAIL_STORIES) -> Callable[[datetime, datetime], Digest]:
    """The daily email's stories: every story that got news in the window, most important first."""

    def load(since: datetime, until: datetime) -> Digest:
        return make_digest(views_between(nlp, since, until), "", since, until, limit)

    return load


def deliverer_for(
    settings: BotSettings,
    repo: BotRepository,
    bot: Bot,
    *,
    clock: Callable[[], datetime] = utcnow,
    reachability: Reachability | None = None,
) -> Deliverer:
    """The outbox's deliverer on a PTB ``Bot``, with the configured limits and retry backoff; quiet about each
    failed send while ``reachability`` knows Telegram is down (it said so once)."""
    return Deliverer(
        repo,
        TelegramSender(bot),
        RateLimiter(settings.limits),
        clock=clock,
        backoff_base_s=settings.retry_base_s,
        backoff_cap_s=settings.retry_cap_s,
        quiet=(lambda: not reachability.ok) if reachability else None,
    )


def build_service(
    settings: BotSettings,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    gazetteer: Gazetteer | None = None,
    bot: Bot | None = None,
) -> BotService:
    """Wire the bot's parts on one store; ``bot`` replaces the application's Bot for delivery (benchmarks)."""
    repo, nlp = BotRepository(store), NlpRepository(store)
    gazetteer = gazetteer or load_gazetteer()
    planner = Planner(
        repo,
        nlp,
        digest_limit=settings.digest_limit,
        clock=clock,
        update_interval=timedelta(seconds=settings.alert_update_min_interval_s),
        gazetteer=gazetteer,
    )
    cfg = settings.email_config()
    email = DailyEmail(store, cfg, email_digest(nlp), clock) if cfg else None
    service = BotService(settings, store, repo, nlp, planner, None, None, email, clock)
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    if token:
        deps = BotDeps(
            repo=repo,
            planner=planner,
            nlp=nlp,
            store=store,
            admin_ids=settings.admins,
            wake=service.wake,
            clock=clock,
            gazetteer=gazetteer,
            default_language=settings.default_language,
        )
        service.app = build_application(token, settings.telegram_api_url, deps, service.reachability)
        service.deliverer = deliverer_for(
            settings, repo, bot or service.app.bot, clock=clock, reachability=service.reachability
        )
    return service
