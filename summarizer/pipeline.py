"""The summarizer's recipe for the articles the monitor stored: one batch at a time, resumable.

1. take the oldest pending articles (no NLP row yet) from the store;
2. entities for each (spaCy + gazetteer), in one ``pipe`` call per language; an article that fails gets a
   recorded error and goes on without entities;
3. embeddings of title + opening text, in one batched call (a stored vector of the same model is reused);
4. clustering, one article at a time, in publication order within the batch (deterministic); duplicates join
   their original's story;
5. for every story the batch touched: headline, extractive summary with provenance, importance, and for a
   story told in several languages the headline and summary a reader of each of them gets;
6. write it all, with the clusterer's state, in ONE transaction: a crash before the commit means the batch is
   pending again and is redone the same way; after it, nothing is redone.

CPU work is synchronous here; an asyncio caller runs ``process_pending`` with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from monitor.faults import brief, is_unreachable
from monitor.models import Article
from monitor.store import Store
from summarizer.clustering import ClusterInput, state_from_dict
from summarizer.clustering_model import ClusteringModel
from summarizer.embeddings import Embedder, decode_vector, embedding_text, encode_vector
from summarizer.entities import ArticleEntities, EntityExtractor
from summarizer.hybrid import HybridClusterer
from summarizer.repository import NlpRepository, ProcessedArticle, StoryRow
from summarizer.summaries import (
    FULL_WORDS,
    StorySummary,
    SummaryArticle,
    importance,
    normalize_lang,
    sentence_record,
    summarize_each,
)
from summarizer.tables import cluster_state

log = logging.getLogger(__name__)


def state_name(model_id: str) -> str:
    """One clusterer state per embedding model: centroids of one model mean nothing in another's space."""
    return f"default:{model_id}"[:64]


@dataclass(frozen=True, slots=True)
class BatchCounts:
    articles: int = 0
    errors: int = 0  # processed with a recorded error (entities failed), still clustered
    stories_touched: int = 0
    failed: int = 0  # failed alone and skipped: recorded as ``failed`` with the error


def utcnow() -> datetime:
    return datetime.now(UTC)


class Summarizer:
    """Turns pending articles into stories in the store. Not thread-safe: one per process."""

    def __init__(
        self,
        store: Store,
        extractor: EntityExtractor,
        embedder: Embedder,
        *,
        model: ClusteringModel | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = NlpRepository(store)
        self.store = store
        self.extractor = extractor
        self.embedder = embedder
        self.clock = clock
        self._model = model
        self.clusterer = HybridClusterer(model)
        self._load_state()

    def _load_state(self) -> None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(cluster_state.c.state).where(
                    cluster_state.c.name == state_name(self.embedder.model_id)
                )
            ).first()
        if row is None:
            return
        if row.state.get("kind") == "hybrid":
            self.clusterer.restore(row.state)
        else:
            self._migrate(row.state)

    def _migrate(self, saved: Mapping[str, Any]) -> None:
        """Rebuilds the clusterer from a state saved by an earlier version (dense centroids only): each story
        of it is rebuilt under its id from its articles, their stored vectors and entities; the new state is
        saved with the next batch. A state that cannot be read is set aside with a warning: new articles then
        start new stories, none is lost."""
        try:
            old = state_from_dict(saved)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "clusterer state %s unreadable (%s): starting a new one",
                state_name(self.embedder.model_id),
                exc,
            )
            return
        ids = [a for story in old.stories for a in story.articles]
        by_id = {a.id: a for a in self.repo.articles(ids)}
        stored = self.repo.embeddings(ids, self.embedder.model_id)
        keys = self.repo.entity_keys(ids)
        for story in sorted(old.stories, key=lambda s: s.seq):
            items = [
                _input(a, decode_vector(stored[aid], self.embedder.dim), keys.get(aid, frozenset()))
                for aid in story.articles
                if (a := by_id.get(aid)) is not None and aid in stored
            ]
            self.clusterer.adopt(
                story.story_id, story.seq, sorted(items, key=lambda i: i.published), active=story.active
            )
        log.info("clusterer state migrated: %d stories rebuilt from their stored articles", len(old.stories))

    def process_pending(self, batch_size: int = 64) -> BatchCounts:
        """Process one batch; returns what it did (0 articles: nothing was pending).

        A batch that fails for anything but an unreachable database is redone article by article from the last
        saved state; an article that fails alone is recorded as ``failed`` with its error and skipped for good
        (a poison article costs itself, never the articles after it: issue 12, point 1). A database that cannot
        be reached raises: nothing is marked, the caller retries later."""
        pending = self.repo.pending(batch_size, self.embedder.model_id)
        if not pending:
            return BatchCounts()
        try:
            return self._process(pending)
        except Exception as exc:
            if is_unreachable(exc):
                self._reload()
                raise
            log.warning(
                "summarizer batch of %d failed (%s): retrying article by article", len(pending), brief(exc)
            )
            self._reload()
        total, failures = BatchCounts(), []
        for article in pending:
            try:
                done = self._process([article])
            except Exception as exc:
                self._reload()
                if is_unreachable(exc):
                    raise
                failures.append((article, exc))
                continue
            total = BatchCounts(
                total.articles + done.articles,
                total.errors + done.errors,
                total.stories_touched + done.stories_touched,
            )
        if (
            len(failures) == len(pending) > 1
        ):  # every article fails alone: a broken stage, not a poison article
            raise failures[-1][1]
        for article, failure in failures:
            error = brief(failure)
            log.error("article %s (%s) failed and is skipped: %s", article.id, article.url, error)
            self.repo.mark_failed(article, self.clock(), error)
        return replace(total, articles=total.articles + len(failures), failed=len(failures))

    def _reload(self) -> None:
        """Back to the clusterer state of the last saved batch (the store's, consistent with its tables)."""
        self.clusterer = HybridClusterer(self._model)
        self._load_state()

    def _process(self, pending: Sequence[Article]) -> BatchCounts:
        now = self.clock()
        entities = self._entities(pending)
        vectors = self._vectors(pending)
        results: list[ProcessedArticle] = []
        touched: set[str] = set()
        # The clusterer's clock follows publication times: within a batch, feed articles in that order.
        for article in sorted(pending, key=publication_order):
            found, error = entities[article.id]
            story = self.clusterer.add(_input(article, vectors[article.id], frozenset(found.counts)))
            touched.add(story)
            results.append(
                ProcessedArticle(article, now, found, encode_vector(vectors[article.id]), story, error)
            )
        # a story made earlier in this batch may have merged into another since: its articles go to the survivor
        results = [
            replace(r, story_id=self.clusterer.resolve(r.story_id)) if r.story_id else r for r in results
        ]
        rows = [self._story_row(sid) for sid in sorted({self.clusterer.resolve(s) for s in touched})]
        # Closed stories are complete in the store: the clusterer forgets them, so its saved state stays small.
        self.clusterer.drop_closed()
        snapshot = self.clusterer.snapshot()
        merged = {old: self.clusterer.resolve(old) for old, _into in snapshot["aliases"]}
        self.repo.save(
            results,
            rows,
            self.embedder.model_id,
            self.embedder.dim,
            clusterer=(state_name(self.embedder.model_id), snapshot, now),
            merged=merged,
        )
        errors = sum(1 for r in results if r.error)
        return BatchCounts(len(results), errors, len(rows))

    def process_all(self, batch_size: int = 64) -> BatchCounts:
        total = BatchCounts()
        while (done := self.process_pending(batch_size)).articles:
            total = BatchCounts(
                total.articles + done.articles,
                total.errors + done.errors,
                total.stories_touched + done.stories_touched,
                total.failed + done.failed,
            )
        return total

    def _entities(self, batch: Sequence[Article]) -> dict[str, tuple[ArticleEntities, str | None]]:
        """Entities per article; an article the extractor failed on carries its note as the recorded error."""
        found = self.extractor.extract_many([(f"{a.title}\n\n{a.text}", a.language) for a in batch])
        return {a.id: (e, _failure(e)) for a, e in zip(batch, found, strict=True)}

    def _vectors(self, batch: Sequence[Article]) -> dict[str, tuple[float, ...]]:
        stored = self.repo.embeddings([a.id for a in batch], self.embedder.model_id)
        vectors = {aid: tuple(decode_vector(data, self.embedder.dim)) for aid, data in stored.items()}
        missing = [a for a in batch if a.id not in vectors]
        if missing:
            computed = self.embedder.embed([embedding_text(a.title, a.text) for a in missing])
            vectors.update({a.id: tuple(v) for a, v in zip(missing, computed, strict=True)})
        return vectors

    def _story_row(self, story_id: str) -> StoryRow:
        state = self.clusterer.story(story_id)
        members = self._members(state.articles, set(state.duplicates))
        languages = sorted({normalize_lang(m.lang) for m in members} - {"und"})
        languages = languages if len(languages) > 1 else []  # one language: the summary is already in it
        by_lang = summarize_each(members, self.embedder.embed, (None, *languages), full_words=FULL_WORDS)
        summary = by_lang[None]
        gazetteer = self.extractor.gazetteer
        agencies = sum(1 for key, _n in state.entities if (e := gazetteer.get(key)) and e.type == "agency")
        hours = max((state.last_seen - state.first_seen).total_seconds() / 3600, 1.0)
        score = importance(summary, agencies=agencies, growth_per_hour=len(state.articles) / hours)
        lang_of = {m.id: normalize_lang(m.lang) for m in members}
        return StoryRow(
            id=story_id,
            first_seen=state.first_seen,
            last_update=state.last_seen,
            articles=len(state.articles),
            sources=summary.sources,
            languages=summary.languages,
            headline=summary.headline,
            summary={
                **_summary_json(summary, lang_of),
                "entities": [key for key, _n in sorted(state.entities, key=lambda kv: (-kv[1], kv[0]))[:10]],
                # the headline and sentences a reader of each of the story's languages gets (digest.localize)
                "by_lang": {lang: _summary_json(by_lang[lang], lang_of) for lang in languages},
            },
            importance=score,
        )

    def _members(self, article_ids: Sequence[str], duplicates: set[str]) -> list[SummaryArticle]:
        by_id = {a.id: a for a in self._articles(article_ids)}
        return [
            SummaryArticle(
                a.id, a.language or "und", a.title, a.text, a.published_at, a.source_id, a.id in duplicates
            )
            for aid in article_ids
            if (a := by_id.get(aid))
        ]

    def _articles(self, ids: Sequence[str]) -> list[Article]:
        return self.repo.articles(ids)


def publication_order(article: Article) -> tuple[datetime, bool, str, str, str]:
    """Published first; at the same time originals before copies, then by source and title (an id hashes the
    URL, which can change between runs, e.g. its port: it only breaks what is left)."""
    return (
        article.published_at,
        article.duplicate_of is not None,
        article.source_id,
        article.title,
        article.id,
    )


def _input(article: Article, vector: Sequence[float], keys: frozenset[str]) -> ClusterInput:
    """The clusterer's input for a stored article: ``keys`` are its entity keys (canonical and unknown)."""
    return ClusterInput.from_keys(
        article.id, vector, keys, article.published_at, article.duplicate_of, article.language or "",
        article.title, article.text,
    )  # fmt: skip


def _summary_json(summary: StorySummary, lang_of: Mapping[str, str]) -> dict[str, Any]:
    return {
        "headline": summary.headline,
        "headline_article_id": summary.headline_article_id,
        "headline_lang": lang_of.get(summary.headline_article_id),
        "sentences": [sentence_record(s) for s in summary.sentences],
        "full": [sentence_record(s) for s in summary.full],
    }


def _failure(found: ArticleEntities) -> str | None:
    failed = [note for note in found.notes if "fail" in note.lower() or "error" in note.lower()]
    return "; ".join(failed)[:500] or None
