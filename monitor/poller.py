"""Poll one source: the monitor's recipe, read top to bottom.

1. load the source's state (conditional-GET validators, error counters, pause);
2. fetch (``monitor.fetch``) -> a classified ``FetchError`` is recorded on the source and ends the poll;
3. 304 Not Modified -> record the success, schedule the next check, stop;
4. parse the body as a feed (``monitor.feed``) or a press-release page (``monitor.page``);
5. normalize the items into articles (``monitor.normalize``);
6. for sources with ``fulltext``, fetch and extract the pages of articles not seen before (``monitor.fulltext``);
7. ingest with the new validators and state, all or nothing (``monitor.ingest``): exact duplicates become
   sightings, near-duplicates are stored with ``duplicate_of``; a crash before the commit loses nothing because
   the validators are only saved with the articles. The polls finishing together share one transaction, each in
   its own savepoint (group commit, ``monitor.groupwrite``);
8. schedule the next check (``monitor.policy``): max of interval, TTL, caching headers and Retry-After, then
   backoff on errors; repeated permanent errors pause the source.

A failure of one source is caught here, classified and stored: it never reaches the other sources.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from monitor.challenge import detect_challenge
from monitor.config import SourceConfig
from monitor.dedup import dedup_text, simhash64
from monitor.errors import ErrorKind, FetchError, SourceError, cause_text, disk_full
from monitor.fetch import Fetcher
from monitor.fulltext import extract_fulltext
from monitor.groupwrite import GroupReader, GroupWriter
from monitor.httpdates import cache_lifetime_s
from monitor.ingest import IngestCounts, ingest, unseen
from monitor.models import Article, FetchResult, SourceState
from monitor.normalize import MAX_TEXT_CHARS, content_hash, identified_by_url
from monitor.policy import Policy, base_interval, next_check, should_pause
from monitor.settings import MonitorSettings, shown_database_url
from monitor.store import Store, StoreTx
from monitor.workers import ParsePool

if TYPE_CHECKING:
    from monitor.prepare import Prepared

log = logging.getLogger(__name__)

Status = Literal["new", "unchanged", "not_modified", "failed", "paused"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Polls parsed and waiting for the store, in groups of the writer's size: one group being written, one forming.
WRITE_QUEUE_GROUPS = 2


class _Slot:
    """A poll's hold on a semaphore, released at the end of the poll or earlier by ``release``, once."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> _Slot:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._semaphore.release()


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll of one source did; the CLI turns these into its table."""

    source_id: str
    status: Status
    items: int = 0  # items in the feed or page
    new: int = 0  # articles stored as new
    duplicates: int = 0  # stored, but as copies of another article (not processed again downstream)
    unchanged: int = 0  # items already known
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    warnings: tuple[str, ...] = ()
    next_check_at: datetime | None = None
    paused: bool = False
    elapsed_s: float = 0.0


async def fetch_source(
    fetcher: Fetcher, source: SourceConfig, *, etag: str | None = None, last_modified: str | None = None
) -> FetchResult:
    """Fetch a source's URL with its headers; a challenge page behind an HTTP error becomes ``blocked``."""
    try:
        return await fetcher.fetch(source.url, etag=etag, last_modified=last_modified, headers=source.headers)
    except FetchError as exc:
        wall = detect_challenge(exc.status, exc.headers, exc.body) if exc.status else None
        if wall is None:
            raise
        raise FetchError(
            ErrorKind.BLOCKED,
            f"{wall} challenge page (HTTP {exc.status})",
            status=exc.status,
            retry_after_s=exc.retry_after_s,
        ) from exc


def policy_for(source: SourceConfig, settings: MonitorSettings) -> Policy:
    """The scheduling policy of one source: its own interval and bounds, the rest from the settings."""
    min_s = source.min_interval.total_seconds() if source.min_interval else settings.min_interval_s
    max_s = source.max_interval.total_seconds() if source.max_interval else settings.max_interval_s
    return Policy(
        interval_s=source.interval.total_seconds(),
        min_interval_s=min(min_s, source.interval.total_seconds()),
        max_interval_s=max(max_s, source.interval.total_seconds()),
        adaptive=source.adaptive,
        backoff_base_s=settings.backoff_base_s,
        backoff_cap_s=settings.backoff_cap_s,
        jitter_fraction=settings.jitter_fraction,
        pause_after_errors=settings.pause_after_errors,
    )


class Poller:
    """Polls sources into the store. One instance per process; ``poll`` is safe to run concurrently.

    ``workers``: a pool of worker processes that parse and normalize the fetched bodies (``monitor.workers``);
    without it, that work runs in a thread of this process."""

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        settings: MonitorSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        workers: ParsePool | None = None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self._running: set[str] = set()
        # Polls fetching and parsing at once, and polls parsed and waiting for the store: together they bound the
        # memory held by parsed feeds, whatever the number of sources in a round. A poll hands its fetch slot on
        # when it queues for the store, so the fetches and the parsing go on while the store writes (with one
        # bound for both, every slot ended up waiting for the writer, and the network and the parser stood idle).
        self._slots = asyncio.Semaphore(settings.global_concurrency)
        # Polls' writes share transactions (group commit): each poll's articles and state still go together.
        self.writer = GroupWriter(store)
        self._write_slots = asyncio.Semaphore(WRITE_QUEUE_GROUPS * self.writer.max_jobs)
        # The reads each poll starts with, one query for the polls starting together.
        self._states: GroupReader[SourceState | None] = GroupReader(store.states_of, None)
        self._published: GroupReader[list[datetime]] = GroupReader(store.recent_published_of, [])

    async def poll(self, source: SourceConfig, *, force: bool = False) -> PollOutcome:
        """Poll ``source`` once. Paused sources are skipped unless ``force``. Never raises for source errors."""
        if source.id in self._running:  # the scheduler prevents this; a second guard costs nothing
            return PollOutcome(source.id, "unchanged", warnings=("a poll of this source is already running",))
        self._running.add(source.id)
        started = time.perf_counter()
        try:
            async with _Slot(self._slots) as slot:
                return await self._poll_with_state(source, force, started, slot)
        finally:
            self._running.discard(source.id)

    async def _poll_with_state(
        self, source: SourceConfig, force: bool, started: float, slot: _Slot
    ) -> PollOutcome:
        state = await self._states.get(source.id) or SourceState(source.id)
        if state.paused and not force:
            return PollOutcome(
                source.id, "paused", error_message=state.paused_reason, paused=True, next_check_at=None
            )
        outcome = await self._poll(source, state, slot)
        return replace(outcome, elapsed_s=time.perf_counter() - started)

    async def _poll(self, source: SourceConfig, state: SourceState, slot: _Slot) -> PollOutcome:
        now = self.clock()
        try:
            result = await fetch_source(
                self.fetcher, source, etag=state.etag, last_modified=state.last_modified
            )
            if result.not_modified:
                return await self._record_success(source, state, now, result, None, [], slot)
            prepared = await self._prepare(source, result, now)
            articles = list(prepared.articles)
            if source.fulltext:
                articles = await self._with_fulltext(source, articles)
            counts = await self._record_success(source, state, now, result, prepared, articles, slot)
        except SourceError as exc:
            return await self._record_failure(source, state, now, exc)
        except Exception as exc:
            if disk_full(exc):  # not a bug: say so, and where
                where = shown_database_url(self.store.engine.url.render_as_string())
                log.error("disk full: cannot store source_id=%s in %s: %s", source.id, where, cause_text(exc))
            else:
                log.exception("bug while polling source_id=%s url=%s", source.id, source.url)
            error = SourceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")
            return await self._record_failure(source, state, now, error)
        return counts

    async def _prepare(self, source: SourceConfig, result: FetchResult, now: datetime) -> Prepared:
        """Parse and normalize the body: in a worker process when there are workers, else in a thread. The parsers
        are imported where they run: a main process with workers does not load them."""
        from monitor.prepare import SourceView, prepare

        view = SourceView.of(source)
        if self.workers is not None:
            return await self.workers.prepare(view, result, now, self.settings.max_body_bytes)
        return await asyncio.to_thread(prepare, view, result, now, self.settings.max_body_bytes)

    async def _with_fulltext(self, source: SourceConfig, articles: list[Article]) -> list[Article]:
        """Replace the text of not-yet-seen articles by their page's extracted text, politely and bounded."""
        fresh = await asyncio.to_thread(unseen, self.store, articles)
        # Only articles that their URL identifies: a shared link (a home page) has no article text to fetch.
        fresh = [a for a in fresh if a.url and identified_by_url(a.id)]
        wanted = {a.id for a in fresh[: self.settings.fulltext_max_per_poll]}
        tasks = {a.id: asyncio.create_task(self._fulltext_of(a)) for a in articles if a.id in wanted}
        texts = {aid: await task for aid, task in tasks.items()}
        out: list[Article] = []
        for art in articles:
            text = texts.get(art.id)
            if text:
                text = text[:MAX_TEXT_CHARS]
                art = replace(
                    art,
                    text=text,
                    content_hash=content_hash(art.title, text),
                    simhash=simhash64(dedup_text(art.title, text)),
                )
            out.append(art)
        return out

    async def _fulltext_of(self, article: Article) -> str | None:
        try:
            page = await self.fetcher.fetch(article.url)
        except FetchError as exc:
            log.warning(
                "full text not fetched source_id=%s url=%s kind=%s", article.source_id, article.url, exc.kind
            )
            return None
        return await asyncio.to_thread(extract_fulltext, page.body, page.final_url, page.headers)

    async def _record_success(
        self,
        source: SourceConfig,
        state: SourceState,
        now: datetime,
        result: FetchResult,
        parsed: Prepared | None,
        articles: Sequence[Article],
        slot: _Slot,
    ) -> PollOutcome:
        policy = policy_for(source, self.settings)

        published = await self._published.get(source.id)

        def write(tx: StoreTx) -> tuple[IngestCounts, SourceState]:
            counts = ingest(tx, articles, source.id, now, official=source.is_official)
            recent = sorted([*published, *counts.new_published], reverse=True)[:20]
            base = base_interval(policy, recent, now)
            when = next_check(
                policy,
                now=now,
                base_s=base,
                ttl_s=parsed.ttl_s if parsed else None,
                cache_s=cache_lifetime_s(result.headers, now),
                retry_after_s=None,
                consecutive_errors=0,
                rng=self.rng,
            )
            # Validators are saved with the articles, in the same transaction: a crash before the commit
            # means the next poll fetches the full body again and finds every article.
            new_state = replace(
                state,
                etag=result.etag if parsed else (result.etag or state.etag),
                last_modified=result.last_modified
                if parsed
                else (result.last_modified or state.last_modified),
                last_checked_at=now,
                last_success_at=now,
                next_check_at=when,
                interval_s=base,
                last_status=result.status,
                consecutive_errors=0,
                paused=False,
                paused_reason=None,
            )
            tx.save_state(new_state)
            tx.describe_source(source.id, source.name, source.is_official)
            return counts, new_state

        async with self._write_slots:
            slot.release()  # queued for the store: another poll may fetch
            counts, new_state = await self.writer.write(write)
        warnings = parsed.warnings if parsed else ()
        if warnings:
            log.warning("source_id=%s parsed with warnings: %s", source.id, "; ".join(warnings)[:300])
        status: Status = "not_modified" if parsed is None else ("new" if counts.new else "unchanged")
        return PollOutcome(
            source.id,
            status,
            items=parsed.items if parsed else 0,
            new=counts.new,
            duplicates=counts.duplicates,
            unchanged=counts.unchanged,
            warnings=warnings,
            next_check_at=new_state.next_check_at,
        )

    async def _record_failure(
        self, source: SourceConfig, state: SourceState, now: datetime, exc: SourceError
    ) -> PollOutcome:
        policy = policy_for(source, self.settings)
        errors = state.consecutive_errors + 1
        base = state.interval_s or policy.interval_s
        when = next_check(
            policy,
            now=now,
            base_s=base,
            ttl_s=None,
            cache_s=None,
            retry_after_s=exc.retry_after_s,
            consecutive_errors=errors,
            rng=self.rng,
        )
        pause = should_pause(policy, exc.kind, errors)
        reason = f"{exc.kind} on {errors} polls in a row: {exc.message}" if pause else None
        new_state = replace(
            state,
            last_checked_at=now,
            next_check_at=when,
            last_status=exc.status,
            error_count=state.error_count + 1,
            consecutive_errors=errors,
            last_error_kind=exc.kind,
            last_error_message=exc.message[:1000],
            last_error_at=now,
            paused=pause,
            paused_reason=reason,
        )

        def write() -> None:
            with self.store.transaction() as tx:
                tx.save_state(new_state)
                tx.describe_source(source.id, source.name, source.is_official)

        await asyncio.to_thread(write)
        log.warning(
            "source failed source_id=%s url=%s kind=%s errors=%d message=%s",
            source.id,
            source.url,
            exc.kind,
            errors,
            exc.message,
        )
        if pause:
            log.warning(
                "source paused source_id=%s reason=%s (resume: veille sources resume %s)",
                source.id,
                reason,
                source.id,
            )
        return PollOutcome(
            source.id,
            "failed",
            error_kind=exc.kind,
            error_message=exc.message,
            next_check_at=None if pause else when,
            paused=pause,
        )
