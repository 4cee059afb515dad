"""The monitor's tables, on one shared ``MetaData`` that later packages extend with their own tables.

Three tables, written only through :mod:`monitor.store`::

    sources            one row per source: conditional-GET validators, schedule, error counters, pause
    articles           one row per normalized article; unique canonical URL (by its sha256), SimHash bands
    article_sightings  where an article was seen: (article, source) once, and (source, guid) once

Every timestamp column is :class:`UTCDateTime`: aware UTC in, aware UTC out, on SQLite (which stores
naive text) as on PostgreSQL. The schema is created by the hand-written alembic migrations under
``monitor/migrations/versions``; a test checks that they match this module exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

SOURCE_ID_LENGTH = 200
ARTICLE_ID_LENGTH = 40
ERROR_MESSAGE_LENGTH = 1000


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive values and always returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store; pass an aware UTC one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # SQLite keeps no offset; we only ever write UTC
        return value.astimezone(UTC)


def _source_id(*, primary_key: bool = False, index: bool = False) -> Column[str]:
    return Column("source_id", String(SOURCE_ID_LENGTH), nullable=False, primary_key=primary_key, index=index)


sources = Table(
    "sources",
    metadata,
    _source_id(primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_checked_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("next_check_at", UTCDateTime),
    Column("interval_s", Float),
    Column("last_status", Integer),
    Column("error_count", Integer, nullable=False),
    Column("consecutive_errors", Integer, nullable=False),
    Column("last_error_kind", String(32)),
    Column("last_error_message", String(ERROR_MESSAGE_LENGTH)),
    Column("last_error_at", UTCDateTime),
    Column("paused", Boolean, nullable=False),
    Column("paused_reason", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("name", Text),  # the configured display name (readers see it, not the id)
    Column("official", Boolean),  # an agency, ministry...: listed first, the original on a publication tie
)

articles = Table(
    "articles",
    metadata,
    Column("id", String(ARTICLE_ID_LENGTH), primary_key=True),
    _source_id(index=True),
    Column("url", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("canonical_url_hash", String(64), nullable=True, unique=True),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(16)),
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("published_estimated", Boolean, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False, index=True),
    Column("authors", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("simhash", BigInteger, nullable=False),
    Column("sh0", Integer, nullable=False, index=True),
    Column("sh1", Integer, nullable=False, index=True),
    Column("sh2", Integer, nullable=False, index=True),
    Column("sh3", Integer, nullable=False, index=True),
    Column("fetch", JSON, nullable=False),
    Column(
        "duplicate_of", String(ARTICLE_ID_LENGTH), ForeignKey("articles.id", ondelete="SET NULL"), index=True
    ),
)

article_sightings = Table(
    "article_sightings",
    metadata,
    Column(
        "article_id", String(ARTICLE_ID_LENGTH), ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
    ),
    _source_id(),
    Column("guid", Text),
    Column("guid_hash", String(64)),
    Column("seen_at", UTCDateTime, nullable=False),
    # A re-served item adds nothing: one sighting per (article, source).
    PrimaryKeyConstraint("article_id", "source_id"),
)

# One article per (source, guid) when the guid is usable; rows without a guid are not constrained.
Index(
    "uq_article_sightings_source_id_guid_hash",
    article_sightings.c.source_id,
    article_sightings.c.guid_hash,
    unique=True,
    sqlite_where=article_sightings.c.guid_hash.is_not(None),
    postgresql_where=article_sightings.c.guid_hash.is_not(None),
)
