"""alembic environment for veille's tables.

At run time :meth:`monitor.store.Store.open` runs ``upgrade head`` itself and hands over its own
connection, already inside the write transaction, through ``config.attributes["connection"]``; no
alembic.ini is involved. For writing a new migration by hand against a scratch database, a developer
may instead set ``sqlalchemy.url`` on the Config (online), or run in ``--sql`` mode (offline).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from monitor.tables import metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():  # a no-op when the caller's transaction is already open
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _configure(given)
        return
    from monitor.store import create_engine_for  # only for a developer's command-line use

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set config.attributes['connection'] or the sqlalchemy.url option")
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
