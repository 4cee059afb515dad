"""Poll every source at its own pace with APScheduler 3.

One job per source (job id = source id) with ``max_instances=1`` (never two runs of one source at once) and
``coalesce=True`` (missed runs collapse into one). After each run the job's next run time is set from the
poll's outcome, which already folds in the interval, TTL, caching headers, Retry-After, backoff and jitter
(``monitor.policy``). Paused sources keep their job paused until ``veille sources resume``.

On start, the stored ``next_check_at`` of each source is honoured; overdue and never-polled sources are spread
over ``startup_spread_s`` (``policy.startup_times``), so a restart neither forgets sources nor polls everything
in one burst.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import SourceConfig
from monitor.policy import startup_times
from monitor.poller import Poller, PollOutcome, utcnow

log = logging.getLogger(__name__)

OnPoll = Callable[[PollOutcome], None]


class MonitorScheduler:
    """Runs the poller for ``sources`` until ``stop()``; ``on_poll`` sees every outcome."""

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
        self._in_flight: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        states = await asyncio.to_thread(self.poller.store.states)
        now = self.clock()
        due = {sid: (states[sid].next_check_at if sid in states else None) for sid in self.sources}
        times = startup_times(due, now=now, spread_s=self.poller.settings.startup_spread_s, rng=self.rng)
        for sid, source in self.sources.items():
            state = states.get(sid)
            self._scheduler.add_job(
                self._run,
                trigger=IntervalTrigger(seconds=source.interval.total_seconds(), timezone=UTC),
                args=[sid],
                id=sid,
                name=f"poll {sid}",
                next_run_time=times[sid],
                replace_existing=True,
            )
            if state is not None and state.paused:
                self._scheduler.pause_job(sid)
                log.warning(
                    "source paused source_id=%s reason=%s (resume: veille sources resume %s)",
                    sid,
                    state.paused_reason,
                    sid,
                )
        self._scheduler.start()
        first = min(times.values(), default=now)
        log.info(
            "scheduler started sources=%d first_poll_in=%.0fs",
            len(self.sources),
            (first - now).total_seconds(),
        )

    async def _run(self, source_id: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            outcome = await self.poller.poll(self.sources[source_id])
        finally:
            if task is not None:
                self._in_flight.discard(task)
        job = self._scheduler.get_job(source_id)
        if job is not None and not self._stopped.is_set():
            if outcome.paused:
                job.pause()
            elif outcome.next_check_at is not None:
                job.modify(next_run_time=max(outcome.next_check_at, self.clock() + timedelta(seconds=1)))
        if self.on_poll is not None:
            self.on_poll(outcome)

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def stop(self) -> None:
        """Stop scheduling and wait for the polls in flight (each commits or rolls back on its own)."""
        self._stopped.set()
        if not self._scheduler.running:
            return
        self._scheduler.pause()  # no new runs; the ones in flight finish and commit
        if self._in_flight:
            log.info("waiting for %d polls in flight", len(self._in_flight))
            await asyncio.wait(set(self._in_flight), timeout=self.poller.settings.total_timeout_s + 10)
        self._scheduler.shutdown(wait=False)

    async def run_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
