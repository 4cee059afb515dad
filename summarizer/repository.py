"""The summarizer's reads and writes on the shared store (tables in ``summarizer/tables.py``).

- ``pending``: stored articles not processed yet (no ``article_nlp`` row), oldest first, so a crash or a restart
  resumes exactly where it stopped: an article's results are written in one transaction with its NLP row.
- ``save``: one transaction per batch: NLP status, entity counts, mentions, the embedding under its model id,
  the story membership, and the stories' rows.
- ``embeddings``: stored vectors of one model (a model change means recompute: other models' rows are ignored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from monitor.models import Article
from monitor.store import Store, article_from_row
from monitor.tables import articles
from summarizer.digest import DigestSentence, StoryVariant, StoryView
from summarizer.entities import ArticleEntities
from summarizer.tables import (
    article_embeddings,
    article_entities,
    article_mentions,
    article_nlp,
    bounded_key,
    cluster_state,
    stories,
    story_articles,
)

FAILED = "failed"  # article_nlp.status of an article that failed alone and is skipped (ok / error / failed)


@dataclass(frozen=True, slots=True)
class ProcessedArticle:
    """Everything the summarizer computed for one article (or the error that stopped it)."""

    article: Article
    processed_at: datetime
    entities: ArticleEntities | None = None
    vector: bytes | None = None  # float32, from summarizer.embeddings.encode_vector
    story_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StoryRow:
    id: str
    first_seen: datetime
    last_update: datetime
    articles: int
    sources: int
    languages: tuple[str, ...]
    headline: str | None
    summary: Mapping[str, Any] | None
    importance: float


def _upsert(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    changed = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changed), list(rows))


class NlpRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, limit: int, model_id: str) -> list[Article]:
        """Articles not processed yet, or processed with another embedding model (a model change recomputes),
        oldest first (first seen, then id: a stable order)."""
        done = select(article_nlp.c.article_id)
        failed = select(article_nlp.c.article_id).where(article_nlp.c.status == FAILED)
        current = select(article_embeddings.c.article_id).where(article_embeddings.c.model_id == model_id)
        query = (
            select(articles)
            .where(
                or_(articles.c.id.not_in(done), articles.c.id.not_in(current)),
                articles.c.id.not_in(failed),
            )
            .order_by(articles.c.first_seen_at, articles.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [article_from_row(row) for row in conn.execute(query).mappings()]

    def articles(self, ids: Sequence[str]) -> list[Article]:
        """The stored articles of ``ids``, in that order (missing ones left out)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(articles).where(articles.c.id.in_(list(ids)))).mappings()
            by_id = {row["id"]: article_from_row(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def entity_keys(self, article_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Each article's stored entity keys (canonical ids and ``unk:<type>:<name>``), by article id."""
        found: dict[str, set[str]] = {}
        with self.store.engine.connect() as conn:
            for chunk in range(0, len(article_ids), 500):
                ids = list(article_ids[chunk : chunk + 500])
                query = select(article_entities.c.article_id, article_entities.c.entity_key).where(
                    article_entities.c.article_id.in_(ids)
                )
                for row in conn.execute(query):
                    found.setdefault(row.article_id, set()).add(row.entity_key)
        return {aid: frozenset(keys) for aid, keys in found.items()}

    def embeddings(self, article_ids: Sequence[str], model_id: str) -> dict[str, bytes]:
        query = select(article_embeddings.c.article_id, article_embeddings.c.vector).where(
            article_embeddings.c.model_id == model_id, article_embeddings.c.article_id.in_(list(article_ids))
        )
        with self.store.engine.connect() as conn:
            return {row.article_id: row.vector for row in conn.execute(query)}

    def save(
        self,
        results: Sequence[ProcessedArticle],
        story_rows: Sequence[StoryRow],
        model_id: str,
        dim: int,
        *,
        clusterer: tuple[str, Mapping[str, Any], datetime] | None = None,
        merged: Mapping[str, str] | None = None,
    ) -> None:
        """Write a batch, the stories it touched and the clusterer's state (name, state, time): one transaction."""
        with self.store.write_connection() as conn:
            if clusterer is not None:
                name, state, when = clusterer
                row = {"name": name, "state": dict(state), "updated_at": when}
                _upsert(conn, cluster_state, [row], ["name"])
            _upsert(conn, stories, [_story_values(s) for s in story_rows], ["id"])
            for result in results:
                self._save_one(conn, result, model_id, dim)
            for old, into in (
                merged or {}
            ).items():  # stories that merged: members move, the old row points on
                conn.execute(
                    update(story_articles).where(story_articles.c.story_id == old).values(story_id=into)
                )
                conn.execute(update(stories).where(stories.c.id == old).values(merged_into=into))

    @staticmethod
    def _save_one(conn: Connection, result: ProcessedArticle, model_id: str, dim: int) -> None:
        aid = result.article.id
        for table in (article_entities, article_mentions):
            conn.execute(delete(table).where(table.c.article_id == aid))
        if result.entities is not None:
            counts = [
                {
                    "article_id": aid,
                    "entity_key": bounded_key(k),
                    "count": n,
                    "seen_at": result.article.published_at,  # the stories' clock (first seen when undated)
                }
                for k, n in result.entities.counts.items()
            ]
            if counts:
                conn.execute(article_entities.insert(), counts)
            mentions = [
                {
                    "article_id": aid,
                    "position": i,
                    "text": m.text,
                    "start": m.start,
                    "end": m.end,
                    "label": m.label,
                    "entity_id": m.entity_id,
                }
                for i, m in enumerate(result.entities.mentions)
            ]
            if mentions:
                conn.execute(article_mentions.insert(), mentions)
        if result.vector is not None:
            _upsert(
                conn,
                article_embeddings,
                [{"article_id": aid, "model_id": model_id, "dim": dim, "vector": result.vector}],
                ["article_id", "model_id"],
            )
        if result.story_id is not None:
            _upsert(
                conn,
                story_articles,
                [
                    {
                        "article_id": aid,
                        "story_id": result.story_id,
                        "is_duplicate": result.article.duplicate_of is not None,
                        "added_at": result.processed_at,
                    }
                ],
                ["article_id"],
            )
        _upsert(
            conn,
            article_nlp,
            [
                {
                    "article_id": aid,
                    "language": result.article.language,
                    "status": "error" if result.error else "ok",
                    "error": result.error,
                    "processed_at": result.processed_at,
                }
            ],
            ["article_id"],
        )

    def mark_failed(self, article: Article, when: datetime, error: str) -> None:
        """Records an article that failed alone: status ``failed`` and its error; it is not pending any more
        (``veille stories failed`` lists them, ``veille summarize --retry-failed`` puts them back)."""
        row = {
            "article_id": article.id,
            "language": article.language,
            "status": FAILED,
            "error": error[:2000],
            "processed_at": when,
        }
        with self.store.write_connection() as conn:
            _upsert(conn, article_nlp, [row], ["article_id"])

    def failed(self, limit: int = 100) -> list[tuple[Article, datetime, str]]:
        """The articles that failed alone, newest failure first: (article, when, error)."""
        query = (
            select(articles, article_nlp.c.processed_at.label("failed_at"), article_nlp.c.error.label("why"))
            .join(article_nlp, article_nlp.c.article_id == articles.c.id)
            .where(article_nlp.c.status == FAILED)
            .order_by(article_nlp.c.processed_at.desc(), articles.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [
                (article_from_row(row), row["failed_at"], row["why"] or "")
                for row in conn.execute(query).mappings()
            ]

    def count_failed(self) -> int:
        query = select(func.count()).select_from(article_nlp).where(article_nlp.c.status == FAILED)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def retry_failed(self) -> int:
        """Puts the failed articles back in the queue (after a fix); returns how many."""
        with self.store.write_connection() as conn:
            return conn.execute(delete(article_nlp).where(article_nlp.c.status == FAILED)).rowcount or 0

    def stories_since(self, since: datetime) -> list[StoryRow]:
        query = (
            select(stories)
            .where(stories.c.last_update >= since, stories.c.merged_into.is_(None))
            .order_by(stories.c.last_update.desc(), stories.c.id)
        )
        with self.store.engine.connect() as conn:
            return [_story_from(row) for row in conn.execute(query).mappings()]

    def stories_touched(self, since: datetime, until: datetime) -> list[StoryRow]:
        """Stories that got an article processed in [since, until) (by processing time, not publication time:
        an old article processed late still counts as news for digests and alerts), merges followed."""
        query = (
            select(story_articles.c.story_id)
            .where(story_articles.c.added_at >= since, story_articles.c.added_at < until)
            .distinct()
        )
        found: dict[str, StoryRow] = {}
        merged: list[str] = []
        with self.store.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
            for start in range(0, len(ids), 500):
                chunk = select(stories).where(stories.c.id.in_(ids[start : start + 500]))
                for row in conn.execute(chunk).mappings():
                    if row["merged_into"] is None:
                        found[row["id"]] = _story_from(row)
                    else:
                        merged.append(row["id"])
        for story_id in merged:  # rare: follow the merge to the surviving story
            if (target := self.story(story_id)) is not None:
                found[target.id] = target
        return sorted(found.values(), key=lambda s: (s.last_update, s.id), reverse=True)

    def first_processed(self, story_ids: Sequence[str]) -> dict[str, datetime]:
        """Story id -> when its first article was processed (the story appeared for a reader)."""
        found: dict[str, datetime] = {}
        ids = list(dict.fromkeys(story_ids))
        with self.store.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = (
                    select(story_articles.c.story_id, func.min(story_articles.c.added_at))
                    .where(story_articles.c.story_id.in_(ids[start : start + 500]))
                    .group_by(story_articles.c.story_id)
                )
                found.update({story: when for story, when in conn.execute(query).all()})
        return found

    def story_ids_starting(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of the stories (merged ones included) starting with ``prefix``, at most ``limit``."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (
            select(stories.c.id).where(stories.c.id.like(f"{escaped}%", escape="\\")).order_by(stories.c.id)
        )
        with self.store.engine.connect() as conn:
            return list(conn.execute(query.limit(limit)).scalars())

    def story(self, story_id: str) -> StoryRow | None:
        """One story by id; a story merged into another gives the one it was merged into."""
        with self.store.engine.connect() as conn:
            for _hop in range(16):  # merges chain at most a few times; the bound only guards against a cycle
                row = conn.execute(select(stories).where(stories.c.id == story_id)).mappings().first()
                if row is None or row["merged_into"] is None:
                    return None if row is None else _story_from(row)
                story_id = row["merged_into"]
        return None

    def story_members(self, story_id: str) -> list[tuple[Article, bool]]:
        query = (
            select(articles, story_articles.c.is_duplicate)
            .join(story_articles, story_articles.c.article_id == articles.c.id)
            .where(story_articles.c.story_id == story_id)
            .order_by(articles.c.first_seen_at, articles.c.id)
        )
        with self.store.engine.connect() as conn:
            return [
                (article_from_row(row), bool(row["is_duplicate"])) for row in conn.execute(query).mappings()
            ]

    def members_of(self, story_ids: Sequence[str]) -> dict[str, list[tuple[Article, bool]]]:
        """``story_members`` for many stories, in a few queries (chunks of 500 ids)."""
        found: dict[str, list[tuple[Article, bool]]] = {sid: [] for sid in story_ids}
        ids = list(found)
        for start in range(0, len(ids), 500):
            query = (
                select(articles, story_articles.c.is_duplicate, story_articles.c.story_id.label("_story"))
                .join(story_articles, story_articles.c.article_id == articles.c.id)
                .where(story_articles.c.story_id.in_(ids[start : start + 500]))
                .order_by(articles.c.first_seen_at, articles.c.id)
            )
            with self.store.engine.connect() as conn:
                for row in conn.execute(query).mappings():
                    found[row["_story"]].append((article_from_row(row), bool(row["is_duplicate"])))
        return found

    def story_views(self, rows: Sequence[StoryRow]) -> list[StoryView]:
        """Stories as digests see them: summary with source links (by display name, official sources first),
        tags, per-language variants."""
        members = self.members_of([s.id for s in rows])
        names = self.store.source_names() if rows else {}
        return [_view(s, members[s.id], names) for s in rows]

    def entity_counts(self, since: datetime, until: datetime) -> dict[str, int]:
        query = select(article_entities.c.entity_key, article_entities.c.count).where(
            article_entities.c.seen_at >= since, article_entities.c.seen_at < until
        )
        totals: dict[str, int] = {}
        with self.store.engine.connect() as conn:
            for key, count in conn.execute(query).all():
                totals[key] = totals.get(key, 0) + int(count)
        return totals


def _sentences(items: Sequence[Mapping[str, Any]], urls: Mapping[str, str]) -> tuple[DigestSentence, ...]:
    return tuple(
        DigestSentence(x["text"], x["article_id"], x["position"], x.get("lang"), urls.get(x["article_id"]))
        for x in items
    )


def _sources_list(
    members: Sequence[tuple[Article, bool]], names: Mapping[str, tuple[str, bool]]
) -> tuple[tuple[str, str], ...]:
    """(display name, url) of the story's original articles: official sources first, then first seen first."""
    pairs = [(names.get(a.source_id, (a.source_id, False)), a.url) for a, dup in members if not dup]
    ordered = sorted(enumerate(pairs), key=lambda item: (not item[1][0][1], item[0]))
    return tuple((name, url) for _n, ((name, _official), url) in ordered)


def _view(
    s: StoryRow, members: Sequence[tuple[Article, bool]], names: Mapping[str, tuple[str, bool]] | None = None
) -> StoryView:
    summary = s.summary or {}
    urls = {a.id: a.url for a, _dup in members}
    headline_id = summary.get("headline_article_id")
    variants = tuple(
        StoryVariant(
            lang,
            v["headline"],
            v.get("headline_lang"),
            _sentences(v.get("sentences", []), urls),
            _sentences(v.get("full", []), urls),
        )
        for lang, v in sorted((summary.get("by_lang") or {}).items())
    )
    return StoryView(
        story_id=s.id,
        headline=s.headline or "",
        sentences=_sentences(summary.get("sentences", []), urls),
        entities=tuple(summary.get("entities", [])),
        languages=s.languages,
        tags=frozenset(t for a, _dup in members for t in a.tags),
        sources=s.sources,
        articles=s.articles,
        first_seen=s.first_seen,
        last_update=s.last_update,
        importance=s.importance,
        text=" ".join(f"{a.title} {a.summary}" for a, _dup in members),
        urls=tuple(urls.values()),
        headline_lang=summary.get("headline_lang")
        or next((a.language for a, _ in members if a.id == headline_id), None),
        variants=variants,
        sources_list=_sources_list(members, names or {}),
        full_sentences=_sentences(summary.get("full", []), urls),
    )


def _story_values(s: StoryRow) -> dict[str, Any]:
    return {
        "id": s.id,
        "first_seen": s.first_seen,
        "last_update": s.last_update,
        "articles": s.articles,
        "sources": s.sources,
        "languages": list(s.languages),
        "headline": s.headline,
        "summary": dict(s.summary) if s.summary is not None else None,
        "importance": s.importance,
        "merged_into": None,
    }


def _story_from(row: RowMapping) -> StoryRow:
    return StoryRow(
        row["id"],
        row["first_seen"],
        row["last_update"],
        row["articles"],
        row["sources"],
        tuple(row["languages"]),
        row["headline"],
        row["summary"],
        row["importance"],
    )
