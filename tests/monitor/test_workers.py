"""The parse pool (monitor.workers): real worker processes, their errors, their crashes, and no orphans."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import SourceConfig
from monitor.errors import ErrorKind, FetchError, ParseError, SourceError
from monitor.models import FetchResult
from monitor.prepare import Prepared, SourceView, prepare
from monitor.workers import POOL_MIN_SOURCES, ParsePool, processes_for
from tests.conftest import ROOT

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def feed(i: int, items: int = 5) -> bytes:
    entries = "".join(
        f"<item><title>Story {i}.{k} on the Europol operation</title><link>https://s{i}.example/a/{k}</link>"
        f"<pubDate>Mon, 07 Dec 2026 0{k}:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Police in country {i} arrested {k} suspects.&lt;/p&gt;</description></item>"
        for k in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>S{i}</title>{entries}</channel></rss>'.encode()


def fetched(body: bytes, url: str = "https://s.example/feed") -> FetchResult:
    return FetchResult(url, url, 200, {"content-type": "application/rss+xml"}, body, NOW, 0.01)


def source(sid: str) -> SourceView:
    return SourceView.of(
        SourceConfig(id=sid, name=sid, kind="feed", url=f"https://{sid}.example/feed", language="en")
    )


def crash_on_poison(source: SourceView, result: FetchResult, now: datetime, max_bytes: int) -> Prepared:
    """A parser that dies like a segfaulting C library on one source's body."""
    if source.id == "poison":
        os._exit(70)
    time.sleep(0.2)  # the others are still in the pool when the poison kills its worker
    return prepare(source, result, now, max_bytes)


def test_processes_for_the_setting_and_the_round() -> None:
    assert processes_for(-1, POOL_MIN_SOURCES, cores=2) == 1  # a core left to the main process
    assert processes_for(-1, POOL_MIN_SOURCES, cores=8) == 7
    assert processes_for(-1, POOL_MIN_SOURCES - 1, cores=8) == 0  # a small round: in the main process
    assert processes_for(-1, 1000, cores=1) == 0  # one core: workers would only add their start-up
    assert processes_for(0, 1000, cores=8) == 0  # 0: never
    assert processes_for(3, 1, cores=1) == 3  # asked for: given, whatever the round
    assert processes_for(10_000, 1, cores=1) == 64  # bounded


def test_source_errors_cross_a_process_boundary_whole() -> None:
    fetch = pickle.loads(
        pickle.dumps(FetchError(ErrorKind.BLOCKED, "wall", status=403, body=b"x", headers={}))
    )
    assert (type(fetch), fetch.kind, fetch.message, fetch.status, fetch.body) == (
        FetchError,
        ErrorKind.BLOCKED,
        "wall",
        403,
        b"x",
    )
    parse = pickle.loads(pickle.dumps(ParseError(ErrorKind.UNPARSEABLE, "not a feed")))
    assert isinstance(parse, ParseError) and str(parse) == "unparseable: not a feed"


async def test_workers_give_what_the_main_process_gives_and_their_errors() -> None:
    bodies = {f"s{i}": fetched(feed(i)) for i in range(6)}
    with ParsePool(2) as pool:
        results = await asyncio.gather(
            *(pool.prepare(source(sid), res, NOW, 2 << 20) for sid, res in bodies.items())
        )
        with pytest.raises(ParseError) as refused:
            await pool.prepare(source("junk"), fetched(b"\x00\x01 not a feed at all"), NOW, 2 << 20)
    assert refused.value.kind == ErrorKind.UNPARSEABLE
    for (sid, res), got in zip(bodies.items(), results, strict=True):
        assert got == prepare(source(sid), res, NOW, 2 << 20)
        assert got.items == 5 and len(got.articles) == 5 and got.articles[0].language == "en"
    with pytest.raises(RuntimeError, match="closed"):
        await pool.prepare(source("late"), fetched(feed(9)), NOW, 2 << 20)


async def test_a_worker_that_dies_costs_its_own_source_only() -> None:
    with ParsePool(2, target=crash_on_poison) as pool:
        jobs = [pool.prepare(source(f"s{i}"), fetched(feed(i)), NOW, 2 << 20) for i in range(4)]
        jobs.insert(2, pool.prepare(source("poison"), fetched(feed(99)), NOW, 2 << 20))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        after = await pool.prepare(source("after"), fetched(feed(7)), NOW, 2 << 20)  # the pool works again
    failed = outcomes.pop(2)
    assert isinstance(failed, SourceError) and failed.kind == ErrorKind.INTERNAL, failed
    assert "died on this body" in failed.message
    assert all(isinstance(o, Prepared) and o.items == 5 for o in outcomes), outcomes
    assert after.items == 5 and pool.replaced == 1


ORPHAN_SCRIPT = """
import asyncio, os, sys, time
from datetime import UTC, datetime
from monitor.workers import ParsePool
from tests.monitor.test_workers import NOW, feed, fetched, source

async def main() -> None:
    pool = ParsePool(2)
    await asyncio.gather(*(pool.prepare(source(f"s{i}"), fetched(feed(i)), NOW, 1 << 20) for i in range(4)))
    print(" ".join(str(p) for p in pool._executor._processes), flush=True)
    time.sleep(600)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_main_process_leaves_no_worker_and_no_open_pipe(tmp_path: Path) -> None:
    """SIGKILL of veille (the OOM killer, a crash test) ends its workers: none is left holding its output pipe,
    so whoever reads veille's output sees the end of it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    workers = [int(p) for p in line.split()]
    assert len(workers) == 2 and all(alive(p) for p in workers), (line, proc.stderr)
    proc.send_signal(signal.SIGKILL)
    out, _err = proc.communicate(timeout=20)  # hangs if a worker kept the pipes open
    assert out == b""
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in workers)


def test_workers_that_cannot_start_leave_the_parsing_to_the_main_process() -> None:
    """A program read from standard input is a ``__main__`` that a spawned interpreter cannot import: every
    worker dies at start. The pool says so once and parses in the main process; no source fails for it."""
    script = """
import asyncio
from monitor.workers import ParsePool
from tests.monitor.test_workers import NOW, feed, fetched, source

async def main() -> None:
    with ParsePool(2) as pool:
        got = await asyncio.gather(*(pool.prepare(source(f"s{i}"), fetched(feed(i)), NOW, 1 << 20) for i in range(3)))
        print(pool.unusable, [g.items for g in got])

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-"],
        input=script.encode(),
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().split("\n")[0] == "True [5, 5, 5]"
    assert done.stderr.decode().count("cannot start; parsing in the main process") == 1


async def test_a_stop_signal_to_the_process_group_leaves_the_workers_to_the_main_process() -> None:
    """Ctrl-C and a service manager's SIGTERM reach every process of the group: the workers leave the stop to
    the main process, which finishes the polls in flight, instead of dying under them like a crash."""
    with ParsePool(1) as pool:
        await pool.prepare(source("s1"), fetched(feed(1)), NOW, 2 << 20)
        assert pool._executor is not None
        [worker] = list(pool._executor._processes)
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(worker, sig)
        await asyncio.sleep(0.3)
        assert alive(worker)
        again = await pool.prepare(source("s2"), fetched(feed(2)), NOW, 2 << 20)
    assert again.items == 5 and pool.replaced == 0
