"""The scheduler with real parts: a real Poller (real Fetcher, SQLite file in tmp_path) and the loopback server.

APScheduler fires jobs by the system clock. The scheduler and the poller get a frozen clock one hour ahead of
it, so no job fires on its own during a test and every computed time is exact (jitter is 0 unless a test
turns it on). Runs are started with ``run_now``, which makes a job due by the system clock; APScheduler then
runs it as in production (``max_instances``, ``coalesce``, the job's next run time from the outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config import SourceConfig
from monitor.fetch import Fetcher, FetchSettings
from monitor.models import SourceState
from monitor.poller import Poller, PollOutcome
from monitor.scheduler import MonitorScheduler
from monitor.settings import MonitorSettings
from monitor.store import Store
from tests.httpserver import LoopbackServer, Request, Response

RSS_CT = {"Content-Type": "application/rss+xml; charset=utf-8"}
# fmt: off
VOCABULARY = (
    "agency", "arrest", "border", "cartel", "charges", "court", "customs", "cyber", "data", "drugs",
    "encrypted", "europol", "evidence", "extradition", "fraud", "hearing", "interior", "investigation",
    "judges", "laundering", "ministry", "network", "online", "operation", "platform", "police",
    "propaganda", "prosecutor", "raid", "ransomware", "report", "seized", "servers", "smuggling",
    "suspects", "terror", "trafficking", "tribunal", "warrant", "weapons", "witness",
)
# fmt: on


def words(title: str, n: int = 40) -> str:
    rng = random.Random(zlib.crc32(title.encode()))
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


def rss(items: Sequence[tuple[str, datetime | None]], *, ttl_min: int | None = None) -> bytes:
    """An RSS 2.0 feed; each item is (title, publication date or None), with its own link and text."""
    body = ""
    for title, published in items:
        slug = title.lower().replace(" ", "-")
        date = f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>" if published else ""
        body += (
            f"<item><title>{title}</title><link>https://news.example.org/{slug}</link><guid>{slug}</guid>"
            f"{date}<description>{words(title)}</description></item>"
        )
    ttl = f"<ttl>{ttl_min}</ttl>" if ttl_min else ""
    channel = f"<title>T</title><link>https://news.example.org/</link>{ttl}{body}"
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>{channel}</channel></rss>'.encode()


class Clock:
    """A frozen clock that tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


@dataclass
class Rig:
    """One process's worth of parts: store, fetcher, poller; the schedulers it made; what on_poll saw."""

    server: LoopbackServer
    store: Store
    poller: Poller
    clock: Clock
    outcomes: list[PollOutcome] = field(default_factory=list)
    schedulers: list[MonitorScheduler] = field(default_factory=list)

    def source(self, sid: str, **kw: Any) -> SourceConfig:
        return SourceConfig(
            id=sid, name=sid, kind="feed", url=self.server.url(f"/{sid}"), language="en", **kw
        )

    def scheduler(self, sources: Sequence[SourceConfig]) -> MonitorScheduler:
        sched = MonitorScheduler(
            self.poller, sources, on_poll=self.outcomes.append, clock=self.clock, rng=random.Random(3)
        )
        self.schedulers.append(sched)
        return sched

    def of(self, sid: str) -> list[PollOutcome]:
        return [o for o in self.outcomes if o.source_id == sid]

    async def run(self, sched: MonitorScheduler, sid: str) -> PollOutcome:
        """Make ``sid`` due now and wait for APScheduler to run it to its end."""
        seen = len(self.of(sid))
        sched.run_now(sid)
        await eventually(lambda: len(self.of(sid)) > seen, f"a poll of {sid}")
        return self.of(sid)[-1]


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))


@pytest.fixture
async def make_rig(http_server: LoopbackServer, tmp_path: Path, clock: Clock) -> AsyncIterator[RigFactory]:
    """``await make_rig(**settings)``: a rig on the test's SQLite file; each call is a new 'process'."""
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    async with contextlib.AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Rig:
            values: dict[str, Any] = {"jitter_fraction": 0.0, "pause_after_errors": 3, **overrides}
            settings = MonitorSettings(database_url=url, allow_private=True, total_timeout_s=15, **values)
            store = stack.enter_context(Store.open(url))
            fetch = FetchSettings(allow_private=True, read_timeout_s=10, total_timeout_s=15)
            fetcher = await stack.enter_async_context(Fetcher(fetch))
            poller = Poller(store, fetcher, settings, clock=clock, rng=random.Random(5))
            rig = Rig(http_server, store, poller, clock)

            async def stop_all() -> None:
                for sched in rig.schedulers:
                    await sched.stop()

            stack.push_async_callback(stop_all)
            return rig

        yield make


def gated(body: bytes, gate: threading.Event) -> Callable[[Request], Response]:
    """A handler that holds each request until ``gate`` is set (at most 10 s), then serves ``body``."""

    def handler(_req: Request) -> Response:
        gate.wait(timeout=10)
        return Response(200, body, RSS_CT)

    return handler


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# --- start ------------------------------------------------------------------------------------------------


async def test_never_polled_sources_are_spread_over_the_startup_window(make_rig: RigFactory) -> None:
    rig = await make_rig(startup_spread_s=120)
    ids = [f"src-{k}" for k in range(6)]
    sched = rig.scheduler([rig.source(sid) for sid in ids])
    await sched.start()
    runs = sched.next_runs()
    assert sorted(runs) == ids
    slot = timedelta(seconds=20)  # 120 s over 6 sources; never-polled sources take the slots in id order
    for index, sid in enumerate(ids):
        when = runs[sid]
        assert when is not None
        assert rig.clock.now + index * slot <= when < rig.clock.now + (index + 1) * slot, (sid, when)


async def test_start_keeps_future_checks_pauses_paused_sources_and_skips_disabled_ones(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig(startup_spread_s=120)
    now = rig.clock.now
    paused = ("paused-1", "paused-2", "paused-3")
    with rig.store.transaction() as tx:
        tx.save_state(SourceState("future", next_check_at=now + timedelta(hours=2)))
        tx.save_state(SourceState("overdue", next_check_at=now - timedelta(days=1)))
        for sid in paused:
            due = now - timedelta(hours=1)
            tx.save_state(SourceState(sid, next_check_at=due, paused=True, paused_reason="gone 3 times"))
    ids = ("future", "overdue", *paused, "fresh")
    sched = rig.scheduler([*(rig.source(sid) for sid in ids), rig.source("off", enabled=False)])
    await sched.start()
    runs = sched.next_runs()
    assert set(runs) == set(ids)  # the disabled source has no job
    assert runs["future"] == now + timedelta(hours=2)
    assert [runs[sid] for sid in paused] == [None, None, None]  # paused jobs
    # The two overdue sources share the window, never-polled first; paused sources take no slot.
    fresh, overdue = runs["fresh"], runs["overdue"]
    assert fresh is not None and now <= fresh < now + timedelta(seconds=60)
    assert overdue is not None and now + timedelta(seconds=60) <= overdue < now + timedelta(seconds=120)
    reported = [r.getMessage() for r in caplog.records if "source paused" in r.getMessage()]
    assert all(any(f"source_id={sid} " in m for m in reported) for sid in paused), reported
    assert rig.server.requests == []  # nothing polled at start


# --- after a run ------------------------------------------------------------------------------------------

NOW_PLACEHOLDER = "{now+3h}"
CASES: list[tuple[str, dict[str, Any], dict[str, Any], float]] = [
    # id, route (status, headers, ttl), source options, expected delay in seconds
    ("interval", {}, {"interval": "30m"}, 1800),
    ("cache-control-max-age", {"headers": {"Cache-Control": "public, max-age=7200"}}, {}, 7200),
    ("expires", {"headers": {"Expires": NOW_PLACEHOLDER}}, {}, 3 * 3600),
    ("feed-ttl", {"ttl_min": 240}, {}, 4 * 3600),
    ("retry-after-429", {"status": 429, "headers": {"Retry-After": "3600"}}, {}, 3600),
    ("retry-after-503", {"status": 503, "headers": {"Retry-After": "2700"}}, {"interval": "10m"}, 2700),
    ("backoff-500", {"status": 500}, {"interval": "1m"}, 300),  # backoff_base_s beats a 1-minute interval
]


@pytest.mark.parametrize(
    ("route", "options", "expected_s"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_next_run_is_the_poll_outcomes_next_check(
    make_rig: RigFactory, route: dict[str, Any], options: dict[str, Any], expected_s: float
) -> None:
    rig = await make_rig()
    now = rig.clock.now
    headers = {
        name: format_datetime(now + timedelta(hours=3), usegmt=True) if value == NOW_PLACEHOLDER else value
        for name, value in route.get("headers", {}).items()
    }
    body = rss([("Plain story", None)], ttl_min=route.get("ttl_min"))
    rig.server.route("/src", body, status=route.get("status", 200), headers={**RSS_CT, **headers})
    sched = rig.scheduler([rig.source("src", adaptive=False, **options)])
    await sched.start()
    outcome = await rig.run(sched, "src")
    assert outcome.next_check_at == now + timedelta(seconds=expected_s), outcome
    assert sched.next_runs()["src"] == outcome.next_check_at
    state = rig.store.get_state("src")
    assert state is not None and state.next_check_at == outcome.next_check_at


async def test_adaptive_interval_follows_the_publishing_rate(make_rig: RigFactory) -> None:
    rig = await make_rig()
    now = rig.clock.now
    items = [(f"Story {k}", now - timedelta(minutes=20 * k)) for k in range(1, 11)]
    rig.server.route("/busy", rss(items), headers=RSS_CT)
    sched = rig.scheduler([rig.source("busy", interval="2h", adaptive=True)])
    await sched.start()
    outcome = await rig.run(sched, "busy")
    assert outcome.new == 10
    # 10 items over the last 200 minutes: one every 20 minutes, so check every 10 minutes, not every 2 hours.
    assert outcome.next_check_at == now + timedelta(minutes=10)
    assert sched.next_runs()["busy"] == outcome.next_check_at


async def test_jitter_moves_sources_with_the_same_interval_apart(make_rig: RigFactory) -> None:
    rig = await make_rig(jitter_fraction=0.1)
    ids = [f"j{k}" for k in range(5)]
    for sid in ids:
        rig.server.route(f"/{sid}", rss([(f"{sid} story", None)]), headers=RSS_CT)
    sched = rig.scheduler([rig.source(sid, adaptive=False, interval="30m") for sid in ids])
    await sched.start()
    for sid in ids:
        await rig.run(sched, sid)
    runs = sched.next_runs()
    delays = [(runs[sid] or rig.clock.now) - rig.clock.now for sid in ids]
    assert all(timedelta(minutes=27) <= d <= timedelta(minutes=33) for d in delays), delays
    assert len(set(delays)) == len(ids)


# --- one run at a time ------------------------------------------------------------------------------------


async def test_a_source_never_runs_twice_at_once(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig()
    gate = threading.Event()
    rig.server.route("/slow", handler=gated(rss([("Slow story", None)]), gate))
    sched = rig.scheduler([rig.source("slow")])
    await sched.start()
    try:
        sched.run_now("slow")
        await eventually(lambda: len(rig.server.requests_to("/slow")) == 1, "the first request")
        sched.run_now("slow")  # due again while the first run waits on the server
        await eventually(
            lambda: any("maximum number of running instances" in r.getMessage() for r in caplog.records),
            "APScheduler to skip the second run",
        )
    finally:
        gate.set()
    await eventually(lambda: len(rig.outcomes) == 1, "the first run's outcome")
    await asyncio.sleep(0.2)
    assert len(rig.server.requests_to("/slow")) == 1
    assert [(o.status, o.new) for o in rig.outcomes] == [("new", 1)]  # no second outcome, skipped or not


# --- pausing ----------------------------------------------------------------------------------------------


async def test_repeated_permanent_failures_pause_the_job(make_rig: RigFactory) -> None:
    rig = await make_rig(pause_after_errors=3)
    rig.server.route("/gone", b"no such feed", status=404)
    rig.server.route("/flaky", b"oops", status=500)
    sched = rig.scheduler([rig.source("gone", interval="1m"), rig.source("flaky", interval="1m")])
    await sched.start()
    now = rig.clock.now
    for errors, backoff_s in ((1, 300), (2, 600), (3, 1200)):
        gone, flaky = await rig.run(sched, "gone"), await rig.run(sched, "flaky")
        assert flaky.paused is False and flaky.next_check_at == now + timedelta(seconds=backoff_s)
        assert sched.next_runs()["flaky"] == flaky.next_check_at  # transient: backs off, never pauses
        if errors < 3:
            assert gone.paused is False and sched.next_runs()["gone"] == gone.next_check_at
    assert (gone.status, gone.paused, gone.next_check_at) == ("failed", True, None)
    assert sched.next_runs()["gone"] is None
    state = rig.store.get_state("gone")
    assert (
        state is not None and state.paused and "not_found on 3 polls in a row" in (state.paused_reason or "")
    )
    # Made due by hand, a paused source is not fetched: the poller reports it paused and the job pauses again.
    again = await rig.run(sched, "gone")
    assert (again.status, again.paused) == ("paused", True)
    assert sched.next_runs()["gone"] is None
    assert len(rig.server.requests_to("/gone")) == 3


async def test_a_resume_written_to_the_store_resumes_the_job(make_rig: RigFactory) -> None:
    rig = await make_rig(startup_spread_s=120)
    now = rig.clock.now
    with rig.store.transaction() as tx:
        for sid in ("back", "still"):
            tx.save_state(SourceState(sid, consecutive_errors=3, paused=True, paused_reason="gone"))
    sched = rig.scheduler([rig.source("back"), rig.source("still")])
    await sched.start()
    assert sched.next_runs() == {"back": None, "still": None}
    await sched.sync_paused()
    assert sched.next_runs() == {"back": None, "still": None}
    # What `veille sources resume back` writes, from another process:
    state = rig.store.get_state("back")
    assert state is not None
    with rig.store.transaction() as tx:
        tx.save_state(
            replace(state, paused=False, paused_reason=None, consecutive_errors=0, next_check_at=now)
        )
    await sched.sync_paused()
    runs = sched.next_runs()
    back = runs["back"]
    assert back is not None and now <= back < now + timedelta(seconds=120)
    assert runs["still"] is None


# --- stop -------------------------------------------------------------------------------------------------


async def test_stop_waits_for_the_poll_in_flight_and_starts_no_other(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig()
    gate = threading.Event()
    items = [("Late story one", None), ("Late story two", None)]
    rig.server.route("/slow", handler=gated(rss(items), gate))
    rig.server.route("/other", rss([("Other story", None)]), headers=RSS_CT)
    sched = rig.scheduler([rig.source("slow"), rig.source("other")])
    await sched.start()
    try:
        sched.run_now("slow")
        await eventually(lambda: len(rig.server.requests_to("/slow")) == 1, "the slow request")
        sched.run_now("other")  # submitted by APScheduler right before stop() begins
        stopping = asyncio.create_task(sched.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()  # waiting for the slow poll
    finally:
        gate.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert not sched.running
    assert rig.store.count_articles("slow") == 2  # committed before stop() returned
    assert [(o.source_id, o.new) for o in rig.outcomes] == [("slow", 2)]
    await asyncio.sleep(0.2)
    assert rig.server.requests_to("/other") == []
    assert rig.store.get_state("other") is None
    assert errors_logged(caplog) == []
    with pytest.raises(RuntimeError):
        sched.run_now("other")


async def test_a_run_submitted_as_stop_begins_does_not_start(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig()
    rig.server.route("/src", rss([("A story", None)]), headers=RSS_CT)
    sched = rig.scheduler([rig.source("src")])
    await sched.start()
    sched.run_now("src")
    await asyncio.sleep(0)  # APScheduler wakes up and creates the job's task, which has not run yet
    await sched.stop()
    assert not sched.running
    await asyncio.sleep(0.2)
    assert rig.server.requests == []
    assert rig.outcomes == []
    assert errors_logged(caplog) == []  # no poll cancelled half-way


# --- restart ----------------------------------------------------------------------------------------------


async def test_a_restart_keeps_every_source_and_its_stored_next_check(make_rig: RigFactory) -> None:
    first = await make_rig(pause_after_errors=1, startup_spread_s=120)
    first.server.route("/ok", rss([("Kept story", None)]), headers=RSS_CT)
    first.server.route("/gone", b"", status=410)
    sources = [first.source("ok"), first.source("gone"), first.source("new")]
    sched = first.scheduler(sources)
    await sched.start()
    ok = await first.run(sched, "ok")
    gone = await first.run(sched, "gone")
    assert ok.next_check_at is not None and gone.paused
    await sched.stop()

    first.clock.now += timedelta(minutes=10)  # the process comes back ten minutes later
    second = await make_rig(pause_after_errors=1, startup_spread_s=120)
    again = second.scheduler(sources)
    await again.start()
    runs = again.next_runs()
    assert set(runs) == {"ok", "gone", "new"}
    assert runs["ok"] == ok.next_check_at  # honoured, not polled again at start
    assert runs["gone"] is None  # still paused
    fresh = runs["new"]
    assert fresh is not None and second.clock.now <= fresh < second.clock.now + timedelta(seconds=120)
    assert len(second.server.requests) == 2  # the two runs of the first process only
