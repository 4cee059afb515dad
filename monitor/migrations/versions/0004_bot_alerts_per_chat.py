"""Alerts per chat and story, handled Telegram updates, per-chat subscription numbers.

- ``story_alerts`` (chat, story) replaces ``alerts`` (subscription, story): a chat gets one alert per story
  whatever the number of its matching subscriptions. The old records are carried over (the first alert of
  each chat and story); what they showed is unknown, so ``shown`` is NULL and the next check records the
  story as it is then without notifying.
- ``processed_updates``: the Telegram updates already handled, recorded in the same transaction as the
  change they cause, so an update delivered again changes nothing and is not answered twice.
- ``subscriptions.number``: the number a chat sees (#1, #2...), never reused within the chat
  (``subscribers.subscriptions_made`` counts them); existing subscriptions keep their id as number.
- ``outbox.edit_of`` becomes ``reply_to_item``: a story update is a reply to the chat's first alert.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Written by hand, checked against ``bot.tables`` by tests/bot/test_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "story_alerts",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.String(48), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=True),
        _ts("notified_at"),
        sa.PrimaryKeyConstraint("chat_id", "story_id", name="pk_story_alerts"),
    )
    op.execute(
        "INSERT INTO story_alerts (chat_id, story_id, outbox_id, shown, notified_at) "
        "SELECT s.chat_id, a.story_id, MIN(a.outbox_id), NULL, MAX(a.updated_at) "
        "FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id GROUP BY s.chat_id, a.story_id"
    )
    op.drop_table("alerts")
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        _ts("handled_at"),
        sa.PrimaryKeyConstraint("update_id", name="pk_processed_updates"),
    )
    op.create_index("ix_processed_updates_handled_at", "processed_updates", ["handled_at"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("subscriptions_made", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
    op.execute("UPDATE subscriptions SET number = id")
    op.execute(
        "UPDATE subscribers SET subscriptions_made = COALESCE("
        "(SELECT MAX(s.id) FROM subscriptions s WHERE s.chat_id = subscribers.chat_id), 0)"
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_subscriptions_chat_id_number", ["chat_id", "number"])
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("edit_of", new_column_name="reply_to_item", existing_type=sa.Integer())


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("reply_to_item", new_column_name="edit_of", existing_type=sa.Integer())
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint("uq_subscriptions_chat_id_number", type_="unique")
        batch.drop_column("number")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("subscriptions_made")
    op.drop_index("ix_processed_updates_handled_at", "processed_updates")
    op.drop_table("processed_updates")
    op.create_table(
        "alerts",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.String(48), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("subscription_id", "story_id", name="pk_alerts"),
    )
    op.drop_table("story_alerts")
