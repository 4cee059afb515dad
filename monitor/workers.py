"""Parse on every core: a pool of worker processes running :func:`monitor.prepare.prepare` for the poller.

The fetchers are asynchronous and cheap; parsing and normalizing a feed is CPU work that threads of one process
cannot spread over the cores (the GIL). When veille polls many sources, each fetched body goes to a worker
process and comes back as plain data (:class:`monitor.prepare.Prepared`); the writes stay in the main process.

- **When.** :func:`processes_for`: the ``parse_processes`` setting, where -1 (the default) means one process
  per usable core but one (the main process fetches and writes: it needs a core of its own; one worker less also
  keeps the peak memory at what one process parsing used), but only for a round of at least
  :data:`POOL_MIN_SOURCES` sources on a machine with more than one core; otherwise the work stays in a thread of
  the main process, as a worker's start-up (a new interpreter that imports the parsers) would cost more than it
  saves.
- **Start method.** ``spawn``: a worker is a fresh interpreter, nothing of the main process's threads, locks or
  database connections is copied into it.
- **No orphans.** A worker exits when the main process dies, however it dies (SIGKILL included): on Linux the
  kernel kills it (``PR_SET_PDEATHSIG``), elsewhere it notices within a second. It keeps no copy of the main
  process's standard input or output (an orphan holding a pipe would keep a reader of veille's output waiting),
  ignores Ctrl-C and SIGTERM (sent to the whole process group; the main process stops it) and is replaced after
  :data:`TASKS_PER_WORKER` bodies, which bounds what a leak in a parser library can grow to.
- **A crashing parser costs one source.** A worker that dies (a crash in a C library, the kernel's OOM killer)
  breaks the pool: it is replaced, and each body that was in it is parsed again in a process of its own (as
  many at once as the pool has workers). The body that kills that process too fails its own source as
  ``internal``; the others go on. When no worker has ever given a result and that lone process dies too, the
  workers cannot start here (a ``__main__`` a new interpreter cannot import, say): the pool says so once and
  parses in the main process from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from monitor.errors import ErrorKind, SourceError
from monitor.models import FetchResult

if TYPE_CHECKING:  # imported by the workers, where they parse: the main process does not load the parsers
    from monitor.prepare import Prepared, SourceView

log = logging.getLogger(__name__)

POOL_MIN_SOURCES = 16  # fewer sources are parsed in the main process: a worker's start-up costs more
TASKS_PER_WORKER = 2000  # bodies a worker parses before it is replaced by a fresh one
MAX_PROCESSES = 64

Target = Callable[["SourceView", FetchResult, datetime, int], "Prepared"]
M_ARENA_MAX = -8  # glibc's mallopt parameter


def cap_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (one per thread by default, up to 8 per core): with the fetcher's, the writer's
    and the worker threads of a poll round, the default arenas kept about 40 MB more memory resident. Call it
    before threads start; nothing happens elsewhere than on glibc."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)


def prepare_in_worker(source: SourceView, result: FetchResult, now: datetime, max_bytes: int) -> Prepared:
    """:func:`monitor.prepare.prepare`, imported in the worker that runs it."""
    from monitor.prepare import prepare

    return prepare(source, result, now, max_bytes)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def processes_for(setting: int, sources: int, *, cores: int | None = None) -> int:
    """Worker processes for a round of ``sources`` sources; 0 means parse in the main process.

    ``setting`` is ``parse_processes``: -1 is automatic (one per core but one, the main process's own, for rounds
    of :data:`POOL_MIN_SOURCES` sources or more, on a machine of several cores), 0 never uses workers, n uses n
    (bounded)."""
    if setting < 0:
        cores = usable_cores() if cores is None else cores
        return cores - 1 if cores > 1 and sources >= POOL_MIN_SOURCES else 0
    return min(setting, MAX_PROCESSES)


def _die_with_parent(parent: int) -> None:
    """Exit when ``parent`` is gone: the kernel's word on Linux, a watching thread everywhere."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="veille-parent-watch", daemon=True).start()


def _worker_started(parent: int) -> None:
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the main process stops the workers
    # itself (after the polls in flight), and a worker that died of the signal first would look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cap_malloc_arenas()
    _die_with_parent(parent)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # no copy of the main process's stdin and stdout stays open in a worker
    os.dup2(devnull, 1)
    os.close(devnull)


class ParsePool:
    """``processes`` worker processes that run ``target`` (:func:`monitor.prepare.prepare`); see the module
    docstring. Started at the first body, closed by :meth:`close` (or as a context manager)."""

    def __init__(self, processes: int, *, target: Target = prepare_in_worker) -> None:
        if not 1 <= processes <= MAX_PROCESSES:
            raise ValueError(f"processes must be between 1 and {MAX_PROCESSES}")
        self.processes = processes
        self.target = target
        self.replaced = 0  # pools replaced after a worker died: for tests and logs
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._closed = False
        self.unusable = False  # set when no worker could ever start: the work is then done in this process
        self._parsed = 0  # bodies the workers gave back
        self._alone = asyncio.Semaphore(processes)  # suspects of a crash, each parsed in a process of its own

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        if self._closed:
            raise RuntimeError("the parse pool is closed")
        if self._executor is None:
            self._executor = self._executor_of(self.processes, tasks=TASKS_PER_WORKER)
        return self._executor, self._generation

    @staticmethod
    def _executor_of(processes: int, *, tasks: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_started,
            initargs=(os.getpid(),),
            max_tasks_per_child=tasks,
        )

    def _replace(self, generation: int) -> None:
        """Drop the broken pool (once, whichever poll sees it first); the next body starts a new one."""
        if generation != self._generation or self._executor is None:
            return
        broken, self._executor = self._executor, None
        self._generation += 1
        self.replaced += 1
        broken.shutdown(wait=False, cancel_futures=True)
        log.error("a parser worker process died (a crash in a parser library?); starting new workers")

    async def prepare(
        self, source: SourceView, result: FetchResult, now: datetime, max_bytes: int
    ) -> Prepared:
        """``target(source, result, now, max_bytes)`` in a worker: its result, or the error it raised."""
        loop = asyncio.get_running_loop()
        if self.unusable:
            return await asyncio.to_thread(self.target, source, result, now, max_bytes)
        executor, generation = self._current()
        try:
            prepared = await loop.run_in_executor(executor, self.target, source, result, now, max_bytes)
            self._parsed += 1
            return prepared
        except BrokenProcessPool:
            self._replace(generation)
        # Every body that was in the pool when a worker died is a suspect: each is parsed again in a process of
        # its own, so that the one that kills its parser fails alone.
        async with self._alone:
            solo = self._executor_of(1, tasks=1)
            try:
                prepared = await loop.run_in_executor(solo, self.target, source, result, now, max_bytes)
                self._parsed += 1
                return prepared
            except BrokenProcessPool:
                if not self._parsed and not self.unusable:
                    # No worker ever gave a result: they cannot start here (a __main__ that a new interpreter
                    # cannot import, a missing library): parse in this process rather than fail every source.
                    self.unusable = True
                    log.error("parser worker processes cannot start; parsing in the main process instead")
                if self.unusable:
                    return await asyncio.to_thread(self.target, source, result, now, max_bytes)
                raise SourceError(
                    ErrorKind.INTERNAL,
                    "the parser's process died on this body (a crash in a parser library); "
                    "the source is polled again at its next check",
                ) from None
            finally:
                solo.shutdown(wait=False)

    def close(self) -> None:
        """Stop the workers, dropping bodies not started; waits for those being parsed (bounded by the caps)."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
