"""Group commit: the writes of many polls in one transaction, each poll still all-or-nothing.

Polling 2,000 sources used to cost 2,000 write transactions, queued one behind the other (SQLite has one writer;
on PostgreSQL each commit waits for its flush). :class:`GroupWriter` gathers the write jobs that arrive while one
group is being written, and writes up to ``max_jobs`` of them in one transaction:

- each job runs inside its own SAVEPOINT: a job that fails is rolled back alone and its caller gets the error;
  the others are committed;
- a job's articles and its source's state are written by the same job, so they are committed together or not at
  all (a crash before the group's commit loses every job of the group, and their sources are polled again: no
  article is lost, none is stored twice);
- jobs run in arrival order, so a job sees what the jobs before it in the group wrote (cross-source dedup holds);
- a group waits at most ``max_wait_s`` for company, so a lone poll is not held back.

There is no background task: the first caller to find no group in progress leads: it waits for company, writes
the group in a worker thread, hands each caller its result, and goes on with what arrived meanwhile.

:class:`GroupReader` does the same for the reads every poll starts with (its source's state, its recent
publication dates): the polls asking together are answered by one query, not one query and one pooled connection
each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from monitor.store import Store, StoreTx

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")


class _Led:
    """No background task: the first caller to find nobody leading runs ``_lead`` until nothing is pending."""

    _leading = False

    async def _lead(self) -> None:
        raise NotImplementedError

    async def _join(self, future: asyncio.Future[T]) -> T:
        if not self._leading:
            self._leading = True
            try:
                await self._lead()
            finally:
                self._leading = False
        return await future


@dataclass(slots=True)
class _Job(Generic[T]):
    run: Callable[[StoreTx], T]
    future: asyncio.Future[T]


class GroupWriter(_Led):
    """Writes jobs (functions of a :class:`StoreTx`) in shared transactions; see the module docstring."""

    def __init__(self, store: Store, *, max_jobs: int = 64, max_wait_s: float = 0.01) -> None:
        if max_jobs < 1 or max_wait_s < 0:
            raise ValueError("max_jobs must be at least 1 and max_wait_s not negative")
        self.store = store
        self.max_jobs = max_jobs
        self.max_wait_s = max_wait_s
        self.groups = 0  # transactions committed (or tried): for benchmarks and tests
        self._pending: list[_Job[Any]] = []

    async def write(self, run: Callable[[StoreTx], T]) -> T:
        """Run ``run(tx)`` in the next group's transaction; its result, or the error it (or the commit) raised."""
        job: _Job[T] = _Job(run, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        return await self._join(job.future)

    async def _lead(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_jobs and self.max_wait_s:
                await asyncio.sleep(self.max_wait_s)  # the polls finishing now join this group
            group, self._pending = self._pending[: self.max_jobs], self._pending[self.max_jobs :]
            try:
                outcomes = await asyncio.to_thread(self._commit, group)
            except Exception as exc:  # noqa: BLE001 - the commit failed (database away, disk full): handed to
                # every job of the group, whose callers report it
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            except BaseException:  # the leader was cancelled: nobody leads these any more
                for job in [*group, *self._pending]:
                    job.future.cancel()
                self._pending = []
                raise
            for job, (ok, value) in zip(group, outcomes, strict=True):
                if job.future.done():  # its caller was cancelled meanwhile
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    def _commit(self, group: list[_Job[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.store.transaction() as tx:
            for job in group:
                savepoint = tx.connection.begin_nested()
                try:
                    value = job.run(tx)
                except Exception as exc:  # noqa: BLE001 - handed to this job's caller; the others go on
                    savepoint.rollback()
                    outcomes.append((False, exc))
                else:
                    savepoint.commit()
                    outcomes.append((True, value))
        self.groups += 1
        return outcomes


class GroupReader(_Led, Generic[V]):
    """``await reader.get(key)``: the value of ``key`` from ``load(keys)`` (a function of many keys, run in a
    worker thread), ``default`` when it has none. The keys asked for while a load runs go in the next one, up to
    ``max_keys`` a load; a failed load fails the callers of its keys only."""

    def __init__(
        self, load: Callable[[Sequence[str]], Mapping[str, V]], default: V, *, max_keys: int = 500
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.load = load
        self.default = default
        self.max_keys = max_keys
        self.loads = 0  # calls of load: for benchmarks and tests
        self._pending: dict[str, list[asyncio.Future[V]]] = {}

    async def get(self, key: str) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        return await self._join(future)

    async def _lead(self) -> None:
        await asyncio.sleep(0)  # the polls started in the same turn of the event loop join this load
        while self._pending:
            keys = list(self._pending)[: self.max_keys]
            waiting = {key: self._pending.pop(key) for key in keys}
            try:
                values = await asyncio.to_thread(self.load, keys)
                self.loads += 1
            except Exception as exc:  # noqa: BLE001 - handed to the callers of these keys, who report it
                for futures in waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            except BaseException:  # the leader was cancelled: nobody leads these any more
                for futures in [*waiting.values(), *self._pending.values()]:
                    for future in futures:
                        future.cancel()
                self._pending = {}
                raise
            for key, futures in waiting.items():
                for future in futures:
                    if not future.done():
                        future.set_result(values.get(key, self.default))
