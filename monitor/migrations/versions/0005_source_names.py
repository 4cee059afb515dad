"""Sources' display names and official flag, as configured: readers see names, official sources first; trending
counts on the stories' clock.

- ``sources.name``, ``sources.official``: written by the monitor at each poll from the configuration.
- ``article_entities.seen_at`` becomes the article's publication time (first seen when the source gave no date),
  the clock stories and digests use: trending and stories now count the same window.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Written by hand, checked against ``monitor.tables`` by tests/monitor/test_store.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("official", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE article_entities SET seen_at = "
        "(SELECT a.published_at FROM articles a WHERE a.id = article_entities.article_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("official")
        batch.drop_column("name")
