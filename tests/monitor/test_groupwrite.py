"""Group commit (``monitor.groupwrite``) on a real store, SQLite and PostgreSQL: many polls' writes share a few
transactions, each poll's writes stay all-or-nothing, and a write sees the writes before it in its group."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence

import pytest

from monitor.groupwrite import GroupReader, GroupWriter
from monitor.models import SourceState
from monitor.store import Store, StoreTx
from tests.monitor.test_store import article


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as s:
        yield s


async def test_concurrent_writes_share_transactions_and_each_gets_its_result(store: Store) -> None:
    writer = GroupWriter(store, max_jobs=16, max_wait_s=0.01)

    def job(n: int) -> Callable[[StoreTx], int]:
        def run(tx: StoreTx) -> int:
            tx.save_state(SourceState(f"src-{n}", consecutive_errors=n))
            return n * 10

        return run

    results = await asyncio.gather(*(writer.write(job(n)) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert writer.groups <= 8  # 50 writes, at most 16 a group: not 50 transactions
    states = store.states()
    assert len(states) == 50 and states["src-7"].consecutive_errors == 7


async def test_a_failing_write_is_rolled_back_alone(store: Store) -> None:
    """A write that fails after writing part of its work leaves nothing; the writes around it are committed."""
    writer = GroupWriter(store, max_jobs=8, max_wait_s=0.05)

    def good(n: int) -> Callable[[StoreTx], bool]:
        def run(tx: StoreTx) -> bool:
            return tx.insert_article(article(n))

        return run

    def half_then_fail(tx: StoreTx) -> None:
        tx.insert_article(article(99))
        tx.save_state(SourceState("src-bad"))
        raise RuntimeError("bad item")

    results: list[object] = list(
        await asyncio.gather(
            writer.write(good(1)), writer.write(half_then_fail), writer.write(good(2)), return_exceptions=True
        )
    )
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "bad item"
    assert writer.groups == 1
    assert store.get_article(article(1).id) and store.get_article(article(2).id)
    assert store.get_article(article(99).id) is None and store.get_state("src-bad") is None


async def test_a_write_sees_the_writes_before_it_in_its_group(store: Store) -> None:
    """Cross-source dedup holds inside a group: the second poll finds the article the first one stored."""
    writer = GroupWriter(store, max_jobs=8, max_wait_s=0.05)

    def first(tx: StoreTx) -> bool:
        return tx.insert_article(article(5))

    def second(tx: StoreTx) -> bool:
        return tx.insert_article(article(5, source_id="src-b"))  # same id and URL: already stored

    assert list(await asyncio.gather(writer.write(first), writer.write(second))) == [True, False]
    assert writer.groups == 1


async def test_a_lone_write_is_not_held_back_long(store: Store) -> None:
    writer = GroupWriter(store, max_jobs=64, max_wait_s=0.0)
    assert await writer.write(lambda tx: tx.insert_article(article(8))) is True
    assert writer.groups == 1


async def test_reads_asked_together_are_one_load_and_each_caller_gets_its_value() -> None:
    asked: list[list[str]] = []

    def load(keys: Sequence[str]) -> dict[str, int]:
        asked.append(list(keys))
        return {key: int(key[1:]) for key in keys if key != "s3"}

    reader: GroupReader[int] = GroupReader(load, -1, max_keys=4)
    values = await asyncio.gather(*(reader.get(f"s{n}") for n in [1, 2, 3, 4, 5, 1]))
    assert values == [1, 2, -1, 4, 5, 1]  # s3 has no value: the default; s1 asked twice, loaded once
    assert asked == [["s1", "s2", "s3", "s4"], ["s5"]]  # one load per max_keys, not one per caller
    assert await reader.get("s9") == 9 and reader.loads == 3


async def test_a_failed_read_fails_its_callers_only() -> None:
    def load(keys: Sequence[str]) -> dict[str, int]:
        if "bad" in keys:
            raise OSError("database away")
        return dict.fromkeys(keys, 1)

    reader: GroupReader[int] = GroupReader(load, 0, max_keys=1)
    results = await asyncio.gather(
        reader.get("a"), reader.get("bad"), reader.get("b"), return_exceptions=True
    )
    assert results[0] == 1 and isinstance(results[1], OSError) and results[2] == 1


async def test_the_poll_reads_states_and_dates_in_batches(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_articles([article(n, source_id=f"src-{n % 2}") for n in range(1, 6)])
        tx.save_state(SourceState("src-0", consecutive_errors=3))
    states = store.states_of(["src-0", "src-1", "src-x"])
    assert list(states) == ["src-0"] and states["src-0"].consecutive_errors == 3
    recent = store.recent_published_of(["src-1", "src-0", "src-x"], limit=2)
    assert recent == {
        "src-1": store.recent_published("src-1", limit=2),
        "src-0": store.recent_published("src-0", limit=2),
        "src-x": [],
    }
    assert len(recent["src-1"]) == 2 and recent["src-1"][0] > recent["src-1"][1]  # newest first, bounded
