"""The bot migration creates exactly the tables of bot/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import bot.tables  # noqa: F401 - registers the bot's tables on the shared metadata
from monitor.store import Store
from monitor.tables import metadata


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.open(database_url)
    yield s
    s.close()


def test_migrations_create_exactly_the_bot_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        names = set(metadata.tables)
    assert {
        "subscribers",
        "subscriptions",
        "outbox",
        "story_alerts",
        "processed_updates",
        "email_exports",
        "bot_state",
    } <= names
