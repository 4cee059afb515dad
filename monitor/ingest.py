"""Store a poll's articles exactly once: the dedup decisions, inside one store transaction.

For each normalized article, in feed order:

1. **known** — the same id, canonical URL, or (source, GUID) is already stored, or the same content from the same
   source: record a sighting (which source saw it, with which GUID) and count it ``unchanged``. This is what makes
   a feed that re-orders or re-serves old items, or changes its GUIDs at each poll, yield nothing new.
2. **copy** — another stored article has the same content hash, or a SimHash within
   ``NEAR_DUPLICATE_MAX_DISTANCE`` bits among recent articles (a syndicated wire copy, a re-titled
   republication): store it with ``duplicate_of`` set, so downstream stages skip it but nothing is lost.
   The original is the earliest published: when the one arriving was published before the stored one (both
   dates given by their sources, not estimated), or at the same time by an official source when the stored
   one's is not, the roles swap (decided for the whole batch at once): it is stored as the original, and the
   stored one and its copies become its copies (an agency's release polled after a wire's copy of it stays the
   original, whatever the order of the polls); other ties: the first seen.
3. **new** — store it.

Trust: an official source's own article found stored under its URL (or id) by another, non-official source with
other content is written anew with the official version (``StoreTx.reclaim``): publishing an agency's URL first
does not let a low-trust source put its text under it (issue 12, point 5).

Inserts are idempotent (``ON CONFLICT DO NOTHING``): a retried poll after a crash stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.dedup import (
    NEAR_DUPLICATE_MAX_DISTANCE,
    bands,
    dedup_text,
    hamming,
    is_near_duplicate,
    token_count,
)
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
    reclaimed: int = 0  # stored first by another source under an official source's URL: the official text now


class NearDuplicateIndex:
    """Fingerprints of recent originals, indexed by 16-bit band (pigeonhole: <= 3 bits apart shares a band)."""

    def __init__(self, pool: Sequence[tuple[str, int]]) -> None:
        self._by_band: dict[tuple[int, int], list[tuple[str, int]]] = {}
        for article_id, simhash in pool:
            self.add(article_id, simhash)

    def add(self, article_id: str, simhash: int) -> None:
        for i, band in enumerate(bands(simhash)):
            self._by_band.setdefault((i, band), []).append((article_id, simhash))

    def closest(self, article: Article) -> str | None:
        """The nearest original within the near-duplicate distance (ties: smallest id), if any."""
        best: tuple[int, str] | None = None
        tokens: int | None = None  # counted only when a candidate is close: most articles have none
        for i, band in enumerate(bands(article.simhash)):
            for cand_id, cand_hash in self._by_band.get((i, band), ()):
                if cand_id == article.id or hamming(article.simhash, cand_hash) > NEAR_DUPLICATE_MAX_DISTANCE:
                    continue
                if tokens is None:
                    tokens = token_count(dedup_text(article.title, article.text))
                if is_near_duplicate(article.simhash, cand_hash, tokens):
                    candidate = (hamming(article.simhash, cand_hash), cand_id)
                    best = candidate if best is None or candidate < best else best
        return best[1] if best else None


def ingest(
    tx: StoreTx, articles: Sequence[Article], source_id: str, now: datetime, *, official: bool = False
) -> IngestCounts:
    """Store a batch; a constant number of queries whatever its size (lookups, one insert, one sighting write).
    ``official``: the source is official (an agency's release wins a publication-time tie against a copy)."""
    counts = IngestCounts()
    known = tx.lookup(articles, source_id)
    near = NearDuplicateIndex(
        tx.near_duplicate_pool([a.simhash for a in articles], since=now - NEAR_DUPLICATE_WINDOW)
    )
    fresh: list[Article] = []
    sightings: list[tuple[str, str, str | None, datetime]] = []
    claims: dict[str, Article] = {}  # stored id -> this official source's own version of it
    for article in articles:
        existing = known.existing(article)
        if existing is not None and official:
            claims.setdefault(existing, article)
        if existing is None:
            same = known.contents.get(article.content_hash)
            if same is not None and same[1] == source_id:
                existing = same[0]  # the same content again from the same source, under a new URL or GUID
            else:
                original = same[0] if same is not None else near.closest(article)
                if original != article.duplicate_of:  # most are originals: no copy of the article to make
                    article = replace(article, duplicate_of=original)
        if existing is not None:
            sightings.append((existing, source_id, article.guid, now))
            continue
        known.remember(article)
        if article.duplicate_of is None:
            near.add(article.id, article.simhash)
        fresh.append(article)
    fresh, swaps = _earliest_first(tx, fresh, official=official)
    inserted = tx.insert_articles(fresh)
    tx.add_sightings(sightings)
    counts.reclaimed = _reclaim(tx, claims, source_id)
    for new, old in swaps:
        if new in inserted:
            tx.make_original(new, old)
    counts.unchanged = len(articles) - len(inserted)
    for article in fresh:
        if article.id not in inserted:
            continue
        if article.duplicate_of is not None:
            counts.duplicates += 1
        else:
            counts.new += 1
            counts.new_ids.append(article.id)
            if not article.published_estimated:
                counts.new_published.append(article.published_at)
    return counts


def _reclaim(tx: StoreTx, claims: dict[str, Article], source_id: str) -> int:
    """An official source's own articles that another, non-official source stored first under the same URL
    (or id), with other content: the official version replaces it (trust: a low-trust source cannot plant its
    text under an agency's URL by publishing it first). Returns how many."""
    if not claims:
        return 0
    stored = tx.stored_by(list(claims))
    officials = tx.official_articles(list(claims))
    done = 0
    for stored_id, article in claims.items():
        owner = stored.get(stored_id)
        if (
            owner is None
            or owner[0] == source_id
            or stored_id in officials
            or owner[1] == article.content_hash
        ):
            continue
        tx.reclaim(article, stored_id)
        done += 1
    return done


def _earliest_first(
    tx: StoreTx, fresh: Sequence[Article], *, official: bool
) -> tuple[list[Article], list[tuple[str, str]]]:
    """The batch with each copy that comes before its stored original made an original, and the swaps to do
    after the insert as (new original, former original). A copy comes first when it was published earlier
    (both dates from their sources), or at the same time from an official source when the original's is not.
    Two queries for the whole batch, none when it has no dated copy."""
    copies = [a for a in fresh if a.duplicate_of is not None and not a.published_estimated]
    if not copies:
        return list(fresh), []
    originals = [a.duplicate_of for a in copies if a.duplicate_of is not None]
    times = tx.published_times(originals)
    officials = tx.official_articles(originals) if official else set()
    swaps = {
        a.id: a.duplicate_of
        for a in copies
        if a.duplicate_of in times
        and (
            a.published_at < times[a.duplicate_of]
            or (a.published_at == times[a.duplicate_of] and official and a.duplicate_of not in officials)
        )
    }
    batch = [replace(a, duplicate_of=None) if a.id in swaps else a for a in fresh]
    return batch, [(new, old) for new, old in swaps.items() if old is not None]


def unseen(store: Store, articles: Sequence[Article]) -> list[Article]:
    """The articles of a batch that the store does not know yet (for full-text fetching)."""
    if not articles:
        return []
    with store.transaction() as tx:
        known = tx.lookup(articles, articles[0].source_id)
    return [a for a in articles if known.existing(a) is None]
