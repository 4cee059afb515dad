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


def test_upgrading_an_install_keeps_its_subscriptions_and_alerts(database_url: str) -> None:
    """An install at 0003 (per-subscription alerts) upgraded to head: each chat's first alert of a story carried
    over, subscriptions numbered by their id, the chats' counters past them, outbox replies renamed."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from monitor.store import MIGRATIONS

    engine = create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def upgrade(to: str) -> None:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, to)

    upgrade("0003")
    at = "'2026-12-01 08:00:00+00:00'"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO subscribers VALUES (7, 'private', NULL, 'fr', 'UTC', true, NULL, NULL, {at}, {at})"
            )
        )
        for sub in (3, 5):
            conn.execute(
                text(f"INSERT INTO subscriptions VALUES ({sub}, 7, NULL, 'europol', '', true, NULL, {at})")
            )
        conn.execute(text(f"INSERT INTO alerts VALUES (3, 's1', 11, 2, {at}), (5, 's1', 12, 3, {at})"))
    upgrade("head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT chat_id, story_id, outbox_id, shown FROM story_alerts")).all() == [
            (7, "s1", 11, None)
        ]
        assert conn.execute(text("SELECT id, number FROM subscriptions ORDER BY id")).all() == [
            (3, 3),
            (5, 5),
        ]
        assert conn.execute(text("SELECT subscriptions_made FROM subscribers")).scalar_one() == 5
        assert conn.execute(text("SELECT count(reply_to_item) FROM outbox")).scalar_one() == 0
    engine.dispose()
    store = Store.open(database_url)  # and the store works on it: a new subscription is #6
    try:
        from bot.repository import BotRepository

        repo = BotRepository(store)
        assert repo.add_subscription(7, "interpol", repo.subscribers()[0].created_at).number == 6
    finally:
        store.close()
