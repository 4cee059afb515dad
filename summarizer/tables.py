"""The summarizer's tables, on the monitor's shared ``MetaData`` (one engine, one migration history).

    article_nlp          one row per processed article: language, status (ok / error) and the error, when
    article_entities     (article, entity key) -> mention count, with the article's first-seen time for windows
    article_mentions     every mention with its offsets, label and canonical id (None for unknown entities)
    article_embeddings   (article, model id) -> float32 vector of ``dim`` values: a model change recomputes
    stories              one row per story: first seen, last update, counts, languages, headline, importance
    story_articles       article -> story (one story per article); duplicates flagged, not counted as sources
    cluster_state        the online clusterer's state (JSON), saved with each batch so a restart goes on exactly

Created by the hand-written migration ``monitor/migrations/versions/0002_summarizer.py``; a test checks that it
matches this module exactly.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from monitor.tables import ARTICLE_ID_LENGTH, UTCDateTime, metadata

ENTITY_KEY_LENGTH = 200
_KEY_DIGEST = 16


def bounded_key(key: str) -> str:
    """An entity key that fits its column and stays distinct: a key longer than ``ENTITY_KEY_LENGTH`` keeps its
    start and ends with ``~`` and 16 hex digits of its SHA-256 (two long names sharing their first 200 characters
    used to collide on a plain cut, and the batch failed at every retry: issue 12, point 1)."""
    if len(key) <= ENTITY_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_KEY_DIGEST]
    return f"{key[: ENTITY_KEY_LENGTH - _KEY_DIGEST - 1]}~{digest}"


MODEL_ID_LENGTH = 200
STORY_ID_LENGTH = 48


def _article_fk() -> ForeignKey:
    return ForeignKey("articles.id", ondelete="CASCADE")


article_nlp = Table(
    "article_nlp",
    metadata,
    Column("article_id", String(ARTICLE_ID_LENGTH), _article_fk(), primary_key=True),
    Column("language", String(16), nullable=True),
    Column("status", String(16), nullable=False),  # "ok", "error" (entities failed) or "failed" (skipped)
    Column("error", Text, nullable=True),
    Column("processed_at", UTCDateTime, nullable=False),
)

article_entities = Table(
    "article_entities",
    metadata,
    Column("article_id", String(ARTICLE_ID_LENGTH), _article_fk(), nullable=False),
    Column("entity_key", String(ENTITY_KEY_LENGTH), nullable=False),  # canonical id, or "unk:<type>:<name>"
    Column("count", Integer, nullable=False),
    Column(
        "seen_at", UTCDateTime, nullable=False
    ),  # the article's publication time (stories' clock), for trending
    PrimaryKeyConstraint("article_id", "entity_key"),
    Index(None, "entity_key", "seen_at"),
)

article_mentions = Table(
    "article_mentions",
    metadata,
    Column("article_id", String(ARTICLE_ID_LENGTH), _article_fk(), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("label", String(32), nullable=False),
    Column("entity_id", String(ENTITY_KEY_LENGTH), nullable=True),
    PrimaryKeyConstraint("article_id", "position"),
)

article_embeddings = Table(
    "article_embeddings",
    metadata,
    Column("article_id", String(ARTICLE_ID_LENGTH), _article_fk(), nullable=False),
    Column("model_id", String(MODEL_ID_LENGTH), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian, dim values
    PrimaryKeyConstraint("article_id", "model_id"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", String(STORY_ID_LENGTH), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False, index=True),
    Column("last_update", UTCDateTime, nullable=False, index=True),
    Column("articles", Integer, nullable=False),
    Column("sources", Integer, nullable=False),
    Column("languages", JSON, nullable=False),
    Column("headline", Text, nullable=True),
    Column("summary", JSON, nullable=True),  # sentences with provenance, key entities
    Column("importance", Float, nullable=False, default=0.0),
    Column("merged_into", String(STORY_ID_LENGTH), nullable=True, index=True),
)

story_articles = Table(
    "story_articles",
    metadata,
    Column("article_id", String(ARTICLE_ID_LENGTH), _article_fk(), primary_key=True),
    Column("story_id", String(STORY_ID_LENGTH), ForeignKey("stories.id"), nullable=False, index=True),
    Column("is_duplicate", Boolean, nullable=False, default=False),
    Column("added_at", UTCDateTime, nullable=False),
)

cluster_state = Table(
    "cluster_state",
    metadata,
    Column("name", String(64), primary_key=True),  # "default": one clusterer per store
    Column("state", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
