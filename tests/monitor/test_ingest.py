"""Ingest decisions on a real store: known items, copies within and across batches, constant query count."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from monitor.ingest import ingest, unseen
from monitor.models import Article, RawItem
from monitor.normalize import normalize_items
from monitor.store import Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WORDS = [f"w{n}" for n in range(3000)]


def body(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def articles(source: str, items: list[tuple[str, str, str]]) -> list[Article]:
    raw = [
        RawItem(guid=guid, link=link, title=title, content=text, published=NOW)
        for link, title, text, guid in [
            (link, title, text, f"{source}:{link}") for link, title, text in items
        ]
    ]
    return normalize_items(raw, source_id=source, declared_language="en", now=NOW)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.open(database_url)
    yield s
    s.close()


def run(store: Store, batch: list[Article], source: str) -> tuple[int, int, int]:
    with store.transaction() as tx:
        c = ingest(tx, batch, source, NOW)
    return c.new, c.duplicates, c.unchanged


def test_same_url_twice_in_one_batch_is_stored_once(store: Store) -> None:
    batch = articles(
        "a", [("https://x.org/1", "One", body(1)), ("https://x.org/1?utm_source=rss", "One", body(1))]
    )
    assert run(store, batch, "a") == (1, 0, 1)
    assert store.count_articles() == 1


def test_near_copy_in_the_same_batch_points_at_the_first(store: Store) -> None:
    text = body(2)
    batch = articles(
        "a", [("https://x.org/1", "Wire", text), ("https://y.org/2", "Re-titled", text + " w1 w2")]
    )
    assert run(store, batch, "a") == (1, 1, 0)
    copy = store.get_article(batch[1].id)
    assert copy is not None and copy.duplicate_of == batch[0].id


def test_same_content_same_source_new_url_is_not_new(store: Store) -> None:
    text = body(3)
    assert run(store, articles("a", [("https://x.org/1?session=1", "T", text)]), "a") == (1, 0, 0)
    assert run(store, articles("a", [("https://x.org/1?session=2", "T", text)]), "a") == (0, 0, 1)
    # the same content from another source is a copy, stored and marked
    assert run(store, articles("b", [("https://z.org/9", "T", text)]), "b") == (0, 1, 0)


def test_reingest_is_idempotent_and_records_sightings(store: Store) -> None:
    batch = articles("a", [(f"https://x.org/{k}", f"T{k}", body(10 + k)) for k in range(5)])
    assert run(store, batch, "a") == (5, 0, 0)
    assert run(store, batch, "a") == (0, 0, 5)
    other = [replace(a, source_id="b") for a in batch]
    assert run(store, other, "b") == (0, 0, 5)
    assert sorted(s[0] for s in store.sightings(batch[0].id)) == ["a", "b"]
    assert unseen(store, batch) == []


def test_query_count_does_not_grow_with_the_batch(store: Store) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:30])

    def queries(n: int, offset: int) -> int:
        batch = articles(
            "a", [(f"https://q.org/{offset + k}", f"Q{k}", body(1000 + offset + k)) for k in range(n)]
        )
        statements.clear()
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            assert run(store, batch, "a")[0] == n
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        return len(statements)

    assert queries(10, 0) == queries(200, 100)
