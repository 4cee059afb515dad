"""Initial schema: sources, articles, article_sightings.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand: explicit ``op`` calls, checked against ``monitor.tables`` by tests/monitor/test_store.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        _ts("last_checked_at"),
        _ts("last_success_at"),
        _ts("next_check_at"),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("last_error_kind", sa.String(32), nullable=True),
        sa.Column("last_error_message", sa.String(1000), nullable=True),
        _ts("last_error_at"),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_sources"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("canonical_url_hash", sa.String(64), nullable=True),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        _ts("published_at", nullable=False),
        sa.Column("published_estimated", sa.Boolean(), nullable=False),
        _ts("first_seen_at", nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("simhash", sa.BigInteger(), nullable=False),
        sa.Column("sh0", sa.Integer(), nullable=False),
        sa.Column("sh1", sa.Integer(), nullable=False),
        sa.Column("sh2", sa.Integer(), nullable=False),
        sa.Column("sh3", sa.Integer(), nullable=False),
        sa.Column("fetch", sa.JSON(), nullable=False),
        sa.Column("duplicate_of", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("canonical_url_hash", name="uq_articles_canonical_url_hash"),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["articles.id"], name="fk_articles_duplicate_of_articles", ondelete="SET NULL"
        ),
    )
    for column in ("source_id", "published_at", "first_seen_at", "content_hash", "sh0", "sh1", "sh2", "sh3"):
        op.create_index(f"ix_articles_{column}", "articles", [column])
    op.create_index("ix_articles_duplicate_of", "articles", ["duplicate_of"])

    op.create_table(
        "article_sightings",
        sa.Column("article_id", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("guid_hash", sa.String(64), nullable=True),
        _ts("seen_at", nullable=False),
        sa.PrimaryKeyConstraint("article_id", "source_id", name="pk_article_sightings"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_sightings_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "uq_article_sightings_source_id_guid_hash",
        "article_sightings",
        ["source_id", "guid_hash"],
        unique=True,
        sqlite_where=sa.text("guid_hash IS NOT NULL"),
        postgresql_where=sa.text("guid_hash IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("article_sightings")
    op.drop_table("articles")
    op.drop_table("sources")
