"""The summarizer's tables: article_nlp, article_entities, article_mentions, article_embeddings, stories,
story_articles, cluster_state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Written by hand (explicit ``op`` calls), checked against ``summarizer.tables`` by tests/summarizer/test_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _article_id() -> sa.Column[str]:
    return sa.Column("article_id", sa.String(40), nullable=False)


def _article_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["article_id"], ["articles.id"], name=f"fk_{table}_article_id_articles", ondelete="CASCADE"
    )


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "article_nlp",
        _article_id(),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("processed_at"),
        _article_fk("article_nlp"),
        sa.PrimaryKeyConstraint("article_id", name="pk_article_nlp"),
    )
    op.create_table(
        "article_entities",
        _article_id(),
        sa.Column("entity_key", sa.String(200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _ts("seen_at"),
        _article_fk("article_entities"),
        sa.PrimaryKeyConstraint("article_id", "entity_key", name="pk_article_entities"),
    )
    op.create_index("ix_article_entities_entity_key_seen_at", "article_entities", ["entity_key", "seen_at"])
    op.create_table(
        "article_mentions",
        _article_id(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=True),
        _article_fk("article_mentions"),
        sa.PrimaryKeyConstraint("article_id", "position", name="pk_article_mentions"),
    )
    op.create_table(
        "article_embeddings",
        _article_id(),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        _article_fk("article_embeddings"),
        sa.PrimaryKeyConstraint("article_id", "model_id", name="pk_article_embeddings"),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.String(48), nullable=False),
        _ts("first_seen"),
        _ts("last_update"),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("importance", sa.Float(), nullable=False),
        sa.Column("merged_into", sa.String(48), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stories"),
    )
    for column in ("first_seen", "last_update", "merged_into"):
        op.create_index(f"ix_stories_{column}", "stories", [column])
    op.create_table(
        "story_articles",
        _article_id(),
        sa.Column("story_id", sa.String(48), nullable=False),
        sa.Column("is_duplicate", sa.Boolean(), nullable=False),
        _ts("added_at"),
        _article_fk("story_articles"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], name="fk_story_articles_story_id_stories"),
        sa.PrimaryKeyConstraint("article_id", name="pk_story_articles"),
    )
    op.create_index("ix_story_articles_story_id", "story_articles", ["story_id"])
    op.create_table(
        "cluster_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_cluster_state"),
    )


def downgrade() -> None:
    for table in (
        "cluster_state",
        "story_articles",
        "stories",
        "article_embeddings",
        "article_mentions",
        "article_entities",
        "article_nlp",
    ):
        op.drop_table(table)
