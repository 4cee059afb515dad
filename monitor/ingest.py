"""Store a poll's articles exactly once: the dedup decisions, inside one store transaction.

For each normalized article, in feed order:

1. **known** — the same id, canonical URL, or (source, GUID) is already stored, or the same content from the same
   source: record a sighting (which source saw it, with which GUID) and count it ``unchanged``. This is what makes
   a feed that re-orders or re-serves old items, or changes its GUIDs at each poll, yield nothing new.
2. **copy** — another stored article has the same content hash, or a SimHash within
   ``NEAR_DUPLICATE_MAX_DISTANCE`` bits among recent articles (a syndicated wire copy, a re-titled
   republication): store it with ``duplicate_of`` set, so downstream stages skip it but nothing is lost.
3. **new** — store it.

Inserts are idempotent (``ON CONFLICT DO NOTHING``): a retried poll after a crash stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.dedup import dedup_text, hamming, is_near_duplicate, token_count
from monitor.models import Article
from monitor.store import Store, StoreTx

NEAR_DUPLICATE_WINDOW = timedelta(days=7)  # how far back a copy is looked for


@dataclass(slots=True)
class IngestCounts:
    new: int = 0
    duplicates: int = 0
    unchanged: int = 0
    new_ids: list[str] = field(default_factory=list)
    new_published: list[datetime] = field(default_factory=list)  # real (not estimated) dates of new articles


def original_of(tx: StoreTx, article: Article, now: datetime) -> tuple[str, bool] | None:
    """The stored article this one copies, and whether the copy is exact (same content hash)."""
    same = tx.find_by_content_hash(article.content_hash)
    if same is not None:
        return same, True
    tokens = token_count(dedup_text(article.title, article.text))
    best: tuple[int, str] | None = None
    for cand_id, cand_hash in tx.near_duplicate_candidates(
        article.simhash, since=now - NEAR_DUPLICATE_WINDOW
    ):
        if cand_id != article.id and is_near_duplicate(article.simhash, cand_hash, tokens):
            dist = hamming(article.simhash, cand_hash)
            if best is None or (dist, cand_id) < best:
                best = (dist, cand_id)
    return (best[1], False) if best else None


def ingest(tx: StoreTx, articles: Sequence[Article], source_id: str, now: datetime) -> IngestCounts:
    counts = IngestCounts()
    for article in articles:
        existing = tx.find_existing(article)
        if existing is None:
            match = original_of(tx, article, now)
            if match is not None and match[1] and tx.article_source(match[0]) == source_id:
                existing = match[0]  # the same content again from the same source, under a new URL or GUID
            elif match is not None:
                article = replace(article, duplicate_of=match[0])
        if existing is not None:
            tx.add_sighting(existing, source_id, article.guid, now)
            counts.unchanged += 1
            continue
        if not tx.insert_article(article):
            counts.unchanged += 1
        elif article.duplicate_of is not None:
            counts.duplicates += 1
        else:
            counts.new += 1
            counts.new_ids.append(article.id)
            if not article.published_estimated:
                counts.new_published.append(article.published_at)
    return counts


def unseen(store: Store, articles: Sequence[Article]) -> list[Article]:
    """The articles of a batch that the store does not know yet (read-only; for full-text fetching)."""
    with store.transaction() as tx:
        return [a for a in articles if tx.find_existing(a) is None]
