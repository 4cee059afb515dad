"""Poll every source at its own pace with APScheduler 3.

One job per source (job id = source id) with ``max_instances=1`` (never two runs of one source at once) and
``coalesce=True`` (missed runs collapse into one). After each run the job's next run time is set from the
poll's outcome, which already folds in the interval, TTL, caching headers, Retry-After, backoff and jitter
(``monitor.policy``); the job's own interval trigger (with jitter) only applies when a poll gives no time.

On start, the stored ``next_check_at`` of each source is honoured; overdue and never-polled sources are spread
over ``startup_spread_s`` (``policy.startup_times``), so a restart neither forgets sources nor polls everything
in one burst. Disabled sources get no job.

Paused sources (repeated permanent failures) keep a paused job. ``veille sources resume`` runs in another
process and only writes the store, so every ``RESYNC_S`` seconds the scheduler reads the stored states and
resumes the jobs of sources that are no longer paused (:meth:`MonitorScheduler.sync_paused`).

``stop()`` starts no new poll, waits for the polls in flight (each commits its own transaction) and then
shuts APScheduler down.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import SourceConfig
from monitor.models import SourceState
from monitor.policy import startup_times
from monitor.poller import Poller, PollOutcome, utcnow

log = logging.getLogger(__name__)

OnPoll = Callable[[PollOutcome], None]

RESYNC_JOB = "veille:resync"  # ':' cannot occur in a source id, so this never clashes with one
RESYNC_S = 60.0  # how often paused jobs are checked against the store
STOP_GRACE_S = 10.0  # on stop, polls get their total timeout plus this to finish


class MonitorScheduler:
    """Runs the poller for ``sources`` until ``stop()``; ``on_poll`` sees every outcome.

    ``clock`` gives the times the scheduler computes with (startup spread, resumes); APScheduler itself fires
    jobs by the system clock, so the two must agree outside tests.
    """

    def __init__(
        self,
        poller: Poller,
        sources: Sequence[SourceConfig],
        *,
        on_poll: OnPoll | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.poller = poller
        self.sources = {s.id: s for s in sources if s.enabled}
        self.on_poll = on_poll
        self.clock = clock
        self.rng = rng or random.Random()
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._stopped = asyncio.Event()
        self._in_flight: dict[asyncio.Task[Any], str] = {}  # running job -> source id (or the resync job)

    @property
    def running(self) -> bool:
        """Whether APScheduler is started (True between ``start()`` and the end of ``stop()``)."""
        return bool(self._scheduler.running)

    async def start(self) -> None:
        """Add one job per enabled source, at its stored next check or spread over the startup window."""
        states = await asyncio.to_thread(self.poller.store.states)
        now = self.clock()
        paused = {sid: states[sid] for sid in self.sources if sid in states and states[sid].paused}
        due = {
            sid: (states[sid].next_check_at if sid in states else None)
            for sid in self.sources
            if sid not in paused
        }
        times = startup_times(due, now=now, spread_s=self.poller.settings.startup_spread_s, rng=self.rng)
        self._stopped.clear()
        for sid, source in self.sources.items():
            self._add_job(source, times.get(sid))  # None: added paused
        for state in paused.values():
            _report_paused(state)
        self._scheduler.add_job(
            self.sync_paused,
            trigger=IntervalTrigger(seconds=RESYNC_S, timezone=UTC),
            id=RESYNC_JOB,
            name="resume sources resumed in the store",
            replace_existing=True,
        )
        self._scheduler.start()
        first = min(times.values(), default=now)
        log.info(
            "scheduler started sources=%d paused=%d first_poll_in=%.0fs",
            len(self.sources),
            len(paused),
            (first - now).total_seconds(),
        )

    def _add_job(self, source: SourceConfig, first_run: datetime | None) -> None:
        interval_s = source.interval.total_seconds()
        jitter_s = interval_s * self.poller.settings.jitter_fraction
        self._scheduler.add_job(
            self._run,
            trigger=IntervalTrigger(seconds=interval_s, jitter=jitter_s or None, timezone=UTC),
            args=[source.id],
            id=source.id,
            name=f"poll {source.id}",
            next_run_time=first_run,
            replace_existing=True,
        )

    def run_now(self, source_id: str) -> None:
        """Make ``source_id``'s job due now. A run already in flight is not doubled (``max_instances=1``).

        A paused source's job runs too; the poller then reports it paused and the job pauses again.
        """
        if source_id not in self.sources:
            raise KeyError(f"no enabled source {source_id!r}")
        if self._stopped.is_set() or not self.running:
            raise RuntimeError("the scheduler is not running")
        # APScheduler compares next run times with the system clock, not with ``self.clock``.
        self._scheduler.modify_job(source_id, next_run_time=datetime.now(UTC))

    async def _run(self, source_id: str) -> None:
        if self._stopped.is_set():  # submitted just before stop(): start nothing new
            return
        task = asyncio.current_task()
        if task is not None:
            self._in_flight[task] = source_id
        try:
            outcome = await self.poller.poll(self.sources[source_id])
        finally:
            if task is not None:
                self._in_flight.pop(task, None)
        job = self._scheduler.get_job(source_id)
        if job is not None and not self._stopped.is_set():
            if outcome.paused:
                job.pause()
            elif outcome.next_check_at is not None:
                job.modify(next_run_time=max(outcome.next_check_at, self.clock() + timedelta(seconds=1)))
        if self.on_poll is not None:
            self.on_poll(outcome)

    async def sync_paused(self) -> None:
        """Resume the paused jobs whose source is no longer paused in the store (resumed elsewhere).

        Resumed sources run at their stored next check, overdue ones spread over the startup window.
        """
        if self._stopped.is_set():
            return
        # Jobs paused before the states are read: their pause was stored before the read, so a state that
        # reads "not paused" was resumed since. (A job paused during the read may come from a stale state.)
        paused_jobs = {job.id for job in self._scheduler.get_jobs() if job.next_run_time is None}
        task = asyncio.current_task()
        if task is not None:
            self._in_flight[task] = RESYNC_JOB
        try:
            states = await asyncio.to_thread(self.poller.store.states)
        finally:
            if task is not None:
                self._in_flight.pop(task, None)
        resumed = {
            sid: states[sid].next_check_at
            for sid in paused_jobs & self.sources.keys()
            if sid in states and not states[sid].paused
        }
        if not resumed or self._stopped.is_set():
            return
        times = startup_times(
            resumed, now=self.clock(), spread_s=self.poller.settings.startup_spread_s, rng=self.rng
        )
        for sid, when in sorted(times.items()):
            job = self._scheduler.get_job(sid)
            if job is not None and job.next_run_time is None:
                job.modify(next_run_time=when)
                log.info("source resumed source_id=%s next_check_at=%s", sid, when.isoformat())

    def next_runs(self) -> dict[str, datetime | None]:
        """Each source's next run time; None for a paused source. Disabled sources are absent."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs() if job.id in self.sources}

    async def stop(self) -> None:
        """Start no new poll, wait for the polls in flight (each commits on its own), shut APScheduler down."""
        self._stopped.set()
        if not self._scheduler.running:
            return
        self._scheduler.pause()  # no new runs; the ones in flight finish and commit
        if self._in_flight:
            log.info("waiting for %d polls in flight", len(self._in_flight))
            timeout = self.poller.settings.total_timeout_s + STOP_GRACE_S
            _, late = await asyncio.wait(set(self._in_flight), timeout=timeout)
            if late:
                names = sorted(self._in_flight.get(t, "?") for t in late)
                log.warning("polls still running after %.0fs, cancelled source_ids=%s", timeout, names)
        self._scheduler.shutdown(wait=False)  # cancels what is left
        # AsyncIOScheduler.shutdown only queues the shutdown on the loop: let it run before returning.
        await asyncio.sleep(0)

    async def run_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def _report_paused(state: SourceState) -> None:
    log.warning(
        "source paused source_id=%s reason=%s (resume: veille sources resume %s)",
        state.source_id,
        state.paused_reason,
        state.source_id,
    )
