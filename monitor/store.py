"""The store stage: articles, sightings and per-source state in SQLite (default) or PostgreSQL.

1. ``Store.open(url)`` builds the engine and runs the alembic migrations to head, inside one write
   transaction (on PostgreSQL under an advisory lock), so two processes starting together do not race.
2. Reads (``get_article``, ``list_articles``, ``states``, ...) each take a pooled connection of their own:
   the store is shared by worker threads (``asyncio.to_thread``).
3. Writes go through ``with store.transaction() as tx:``, one transaction. On SQLite it starts with
   ``BEGIN IMMEDIATE`` (a reader never has to upgrade to a writer, the case where SQLite gives up at
   once with "database is locked") and an in-process lock serializes the writers of one Store;
   ``busy_timeout`` makes writers of other processes wait. Inserts are idempotent (ON CONFLICT DO NOTHING).

SQLite connections run in WAL mode with ``synchronous=NORMAL`` and foreign keys on. PostgreSQL goes
through psycopg 3 with ``pool_pre_ping``. Text is stored without NUL characters, which PostgreSQL refuses.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.dedup import bands
from monitor.errors import ConfigError, ErrorKind
from monitor.models import Article, SourceState
from monitor.normalize import identified_by_url
from monitor.settings import parse_database_url
from monitor.tables import ERROR_MESSAGE_LENGTH, UTCDateTime, article_sightings, articles, sources

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
# The newest migration (a test keeps it equal to alembic's head): a store already there opens without loading
# alembic, which saves a command about 0.3 s.
HEAD_REVISION = "0005"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "veille_write"  # execution option marking a connection that opens a write transaction
_PG_MIGRATION_LOCK = 0x7665_696C_6C65  # pg_advisory_xact_lock key: "veille" in ASCII
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg"})
_ALEMBIC_LOCK = threading.Lock()  # alembic's ``context`` and ``op`` are module globals: one run at a time


def normalize_database_url(url: str) -> str:
    """The URL SQLAlchemy should use: ``postgres://`` and ``postgresql://`` go through psycopg 3."""
    parsed = parse_database_url(url)  # a ConfigError never repeats the URL: it may hold a password
    if parsed.drivername in _POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
        raise ConfigError(
            "an in-memory SQLite database would be lost on exit and differs per connection",
            hint="use a file: sqlite:///path/to/veille.db",
        )
    return parsed.render_as_string(hide_password=False)


class MissingDatabase(ConfigError):
    """A command that only reads was pointed at an SQLite file that does not exist (nothing was created)."""


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite database URL; None for another database."""
    parsed = make_url(normalize_database_url(url))
    return Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None


def _missing_database(path: Path) -> MissingDatabase:
    where = path if path.is_absolute() else f"{path} (in {Path.cwd()})"
    return MissingDatabase(
        f"no database at {where}",
        hint="check database_url in [monitor] of veille.toml, or DATABASE_URL (a relative path is relative to "
        "the working directory); a command that stores, such as veille poll --once, creates it",
    )


def _create_owner_only(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), as the exports are: SQLite gives its -wal and
    -shm files the mode of the database file. An existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# libpq options that bound every wait on a PostgreSQL server that went away without closing its connections (a
# host down, a network cut): a connection attempt gives up after 10 s, an idle connection is probed after 30 s,
# and data left unacknowledged for 60 s fails the query, instead of a part hanging forever on a dead socket.
# Options given in DATABASE_URL's query win.
PG_CONNECT_BOUNDS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


def create_engine_for(url: str, *, create: bool = True) -> Engine:
    """An engine set up for the store: SQLite pragmas and BEGIN handling, or PostgreSQL with pre-ping.

    ``create=False`` (the commands that only read): a missing SQLite file is a :class:`MissingDatabase` error,
    and nothing is created, neither the file nor its folder. Otherwise a new SQLite file is created 0600."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "sqlite":
        bounded = {k: v for k, v in PG_CONNECT_BOUNDS.items() if k not in parsed.query}
        return create_engine(parsed, pool_pre_ping=True, connect_args=bounded)
    path = Path(parsed.database or "")
    if parsed.query.get("uri"):  # ``file:...?mode=ro&uri=true``: SQLite reads the name itself
        pass
    elif not create and not path.exists():
        raise _missing_database(path)
    elif create:
        _create_owner_only(path)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN; _on_sqlite_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (a no-op once done: the mode is stored in the file).

    Two processes converting a new file at once can get "database is locked" without SQLite calling the
    busy handler (each holds a shared lock and wants the exclusive one), so that case is retried here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        if mode != "wal":  # e.g. a file system without shared memory: still works, with more locking
            log.warning("SQLite stays in journal_mode=%s, not wal", mode)
        return


def _on_sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# A poll hashes each URL and GUID several times (lookup, insert, sightings).
@functools.lru_cache(maxsize=8192)
def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(value: str) -> str:
    return value.replace("\x00", "")


def _cleaned(value: object) -> object:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, tuple):
        return [_cleaned(item) for item in value]  # authors, tags -> JSON arrays
    return value


def url_key(article: Article) -> str | None:
    """The unique key of the canonical URL, only when that URL identifies the article.

    Items that all link to a home page, or have no link, keep their URL but do not claim it.
    """
    return sha256_hex(article.canonical_url) if identified_by_url(article.id) else None


def _sighting_values(
    article_id: str, source_id: str, guid: str | None, seen_at: datetime
) -> dict[str, object]:
    return {
        "article_id": article_id,
        "source_id": source_id,
        "guid": None if guid is None else _clean(guid),
        "guid_hash": None if guid is None else sha256_hex(guid),
        "seen_at": seen_at,
    }


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


@dataclass(slots=True)
class KnownKeys:
    """The keys of a batch already in the store (from ``StoreTx.lookup``), extended as a batch is ingested."""

    ids: set[str] = field(default_factory=set)
    urls: dict[str, str] = field(default_factory=dict)  # canonical_url_hash -> article id
    guids: dict[str, str] = field(default_factory=dict)  # guid_hash (of the looked-up source) -> article id
    contents: dict[str, tuple[str, str]] = field(default_factory=dict)  # content hash -> (oldest id, source)

    def existing(self, article: Article) -> str | None:
        """The stored article that IS this one: same id, canonical URL (when it identifies), or source GUID."""
        if article.id in self.ids:
            return article.id
        url_hash = url_key(article)
        if url_hash is not None and url_hash in self.urls:
            return self.urls[url_hash]
        if article.guid is not None:
            return self.guids.get(sha256_hex(article.guid))
        return None

    def remember(self, article: Article) -> None:
        self.ids.add(article.id)
        url_hash = url_key(article)
        if url_hash is not None:
            self.urls.setdefault(url_hash, article.id)
        if article.guid is not None:
            self.guids.setdefault(sha256_hex(article.guid), article.id)
        self.contents.setdefault(article.content_hash, (article.id, article.source_id))


_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
_ARTICLE_TEXTS = tuple(  # the fields that may carry text, and so NUL characters
    f.name for f in fields(Article) if "str" in str(f.type)
)


def _article_values(article: Article) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(article, name) for name in _ARTICLE_FIELDS}
    for name in _ARTICLE_TEXTS:
        values[name] = _cleaned(values[name])
    values.update(zip(("sh0", "sh1", "sh2", "sh3"), bands(article.simhash), strict=True))
    values["canonical_url_hash"] = url_key(article)
    values["fetch"] = dict(article.fetch)
    return values


def article_from_row(row: RowMapping) -> Article:
    values = {f.name: row[f.name] for f in fields(Article)}
    values.update(authors=tuple(row["authors"]), tags=tuple(row["tags"]), fetch=dict(row["fetch"]))
    return Article(**values)


def _state_values(state: SourceState, now: datetime) -> dict[str, object]:
    values = {f.name: _cleaned(getattr(state, f.name)) for f in fields(SourceState)}
    if state.last_error_kind is not None:
        values["last_error_kind"] = state.last_error_kind.value
    if state.last_error_message is not None:
        values["last_error_message"] = _clean(state.last_error_message)[:ERROR_MESSAGE_LENGTH]
    values["updated_at"] = now
    return values


def _error_kind(value: str | None, source_id: str) -> ErrorKind | None:
    if value is None:
        return None
    try:
        return ErrorKind(value)
    except ValueError:  # written by another version of veille: keep the source usable
        log.warning("unknown stored error kind source_id=%s kind=%s", source_id, value)
        return ErrorKind.INTERNAL


def _state_from(row: RowMapping) -> SourceState:
    values = {f.name: row[f.name] for f in fields(SourceState)}
    values["last_error_kind"] = _error_kind(row["last_error_kind"], row["source_id"])
    return SourceState(**values)


# --- SQLite's bulk inserts, past SQLAlchemy's per-row parameter processing ------------------------------------
# At 2,000 sources a round, SQLAlchemy's processing of each row's parameters cost the writer more than SQLite's
# own work. These write exactly what SQLAlchemy writes (tests/monitor/test_store.py compares the stored bytes):
# DATETIME as SQLAlchemy's SQLite text format of the UTC time, JSON through json.dumps, booleans as 0/1.

_SQLITE_ROWS_PER_STATEMENT = 500  # x 23 columns: under SQLite's 32,766 bound parameters


def _sqlite_time(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store; pass an aware UTC one")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_converter(column: Any) -> Callable[[Any], object] | None:
    """How SQLAlchemy turns a value of this column into SQLite's; None: as it is."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _sqlite_time
    if isinstance(kind, JSON):
        return json.dumps
    if isinstance(kind, Boolean):
        return int
    return None


def _sqlite_rows(table: Any, rows: Sequence[dict[str, object]]) -> tuple[list[str], list[tuple[object, ...]]]:
    columns = [column for column in table.columns if column.name in rows[0]]
    names = [column.name for column in columns]
    fixes = [(i, fix) for i, column in enumerate(columns) if (fix := _sqlite_converter(column)) is not None]
    get = operator.itemgetter(*names)
    out: list[tuple[object, ...]] = []
    for row in rows:
        values = list(get(row))
        for i, fix in fixes:
            if values[i] is not None:
                values[i] = fix(values[i])
        out.append(tuple(values))
    return names, out


def _sqlite_insert(conn: Connection, table: Any, rows: Sequence[dict[str, object]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of ``rows`` (dicts of the same keys), one executemany."""
    names, values = _sqlite_rows(table, rows)
    marks = ", ".join("?" * len(names))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608
    conn.exec_driver_sql(sql, values)


def _sqlite_insert_returning_ids(conn: Connection, table: Any, rows: Sequence[dict[str, object]]) -> set[str]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id of ``rows``: the ids actually inserted."""
    names, values = _sqlite_rows(table, rows)
    row_marks = f"({', '.join('?' * len(names))})"
    inserted: set[str] = set()
    for chunk in _chunks(values, _SQLITE_ROWS_PER_STATEMENT):
        sql = (  # names from our own table definitions; every value is a bound parameter
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {', '.join([row_marks] * len(chunk))} "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        flat = tuple(value for row in chunk for value in row)
        inserted.update(row[0] for row in conn.exec_driver_sql(sql, flat))
    return inserted


# The poll's lookups on SQLite, as plain driver queries: SQLAlchemy's expansion of the IN lists and its result
# processing cost the single writer more than SQLite's index probes (2,000 sources a round: a dozen lookups each).
# They return what the SQLAlchemy statements of _Statements return (tests/monitor/test_store.py runs both).

_SQLITE_IN_CHUNK = 500


def _sqlite_in(raw: sqlite3.Connection, sql: str, keys: Sequence[object], *head: object) -> list[Any]:
    """Rows of ``sql`` whose ``{}`` is the placeholders of ``keys`` (chunked), parameters ``head`` first."""
    rows: list[Any] = []
    for i in range(0, len(keys), _SQLITE_IN_CHUNK):
        chunk = keys[i : i + _SQLITE_IN_CHUNK]
        rows += raw.execute(sql.format(",".join("?" * len(chunk))), (*head, *chunk)).fetchall()
    return rows


def _sqlite_lookup(
    raw: sqlite3.Connection, batch: Sequence[Article], source_id: str, keys: KnownKeys
) -> None:
    keys.ids.update(
        row[0] for row in _sqlite_in(raw, "SELECT id FROM articles WHERE id IN ({})", [a.id for a in batch])
    )
    urls = [h for h in (url_key(a) for a in batch) if h is not None]
    keys.urls.update(
        _sqlite_in(raw, "SELECT canonical_url_hash, id FROM articles WHERE canonical_url_hash IN ({})", urls)
    )
    guids = [sha256_hex(a.guid) for a in batch if a.guid is not None]
    keys.guids.update(
        _sqlite_in(
            raw,
            "SELECT guid_hash, article_id FROM article_sightings WHERE source_id = ? AND guid_hash IN ({})",
            guids,
            source_id,
        )
    )
    # newest first within each chunk (a hash is in one chunk), so the oldest article of each hash is the one left
    rows = _sqlite_in(
        raw,
        "SELECT content_hash, id, source_id FROM articles WHERE content_hash IN ({}) "
        "ORDER BY first_seen_at DESC, id DESC",
        sorted({a.content_hash for a in batch}),
    )
    keys.contents.update({content: (article_id, source) for content, article_id, source in rows})


def _sqlite_band_matches(
    raw: sqlite3.Connection, simhashes: Sequence[int], since: datetime, limit: int | None
) -> list[tuple[str, int]]:
    """StoreTx.near_duplicate_pool on SQLite. The stored times are fixed-width UTC text (_sqlite_time), so they
    compare and sort as text; "+" keeps the planner on the band indexes."""
    since_text = _sqlite_time(since)
    rows: dict[str, tuple[int, str]] = {}
    for i in range(0, len(simhashes), 200):
        split = [bands(h) for h in simhashes[i : i + 200]]
        per_band = [sorted({b[k] for b in split}) for k in range(4)]
        sql = " UNION ALL ".join(  # column names are ours; every value is a bound parameter
            f"SELECT id, simhash, first_seen_at FROM articles WHERE sh{k} IN ({','.join('?' * len(values))}) "  # noqa: S608
            "AND +duplicate_of IS NULL AND +first_seen_at >= ?"
            for k, values in enumerate(per_band)
        )
        params = [p for values in per_band for p in (*values, since_text)]
        for article_id, simhash, first_seen in raw.execute(sql, params):
            rows[article_id] = (simhash, first_seen)
    by_id = sorted(rows.items())
    newest = sorted(by_id, key=lambda item: item[1][1], reverse=True)  # stable: ties stay in id order
    return [(article_id, simhash) for article_id, (simhash, _seen) in newest[:limit]]


def _keys(name: str = "keys") -> Any:
    return bindparam(name, expanding=True)


class _Statements:
    """The statements of the poll's write path, built once per dialect.

    A statement built anew at each call costs SQLAlchemy its construction and its cache key, several times the
    cost of running it on SQLite: at 2,000 sources a round, that was about a third of the writer's time."""

    def __init__(self, dialect: Any) -> None:
        def insert(table: Any) -> Any:
            # psycopg reports an INSERT's rowcount only when SQLAlchemy is asked to keep it.
            return dialect.insert(table).execution_options(preserve_rowcount=True)

        a, s = articles.c, article_sightings.c
        self.insert = insert
        self.known_ids = select(a.id).where(a.id.in_(_keys()))
        self.known_urls = select(a.canonical_url_hash, a.id).where(a.canonical_url_hash.in_(_keys()))
        self.known_guids = select(s.guid_hash, s.article_id).where(
            s.source_id == bindparam("source_id"), s.guid_hash.in_(_keys())
        )
        self.known_contents = (
            select(a.content_hash, a.id, a.source_id)
            .where(a.content_hash.in_(_keys()))
            .order_by(a.first_seen_at.desc(), a.id.desc())
        )
        # One indexed lookup per band column, filtered in Python: planners given an OR of the four columns plus
        # "duplicate_of IS NULL" pick the unselective index and scan every original (seen on SQLite).
        cols = (a.id, a.simhash, a.duplicate_of, a.first_seen_at)
        self.band_matches = union_all(
            *(
                select(*cols).where(col.in_(_keys(f"b{i}")))
                for i, col in enumerate((a.sh0, a.sh1, a.sh2, a.sh3))
            )
        )
        self.insert_articles = insert(articles).on_conflict_do_nothing().returning(a.id)
        self.insert_sightings = insert(article_sightings).on_conflict_do_nothing()
        upsert = insert(sources)
        names = _state_values(SourceState("-"), datetime.now(UTC))
        self.save_state = upsert.on_conflict_do_update(
            index_elements=[sources.c.source_id],
            set_={name: upsert.excluded[name] for name in names if name != "source_id"},
        )
        self.describe_source = (
            update(sources)
            .where(sources.c.source_id == bindparam("sid"))
            .values(name=bindparam("new_name"), official=bindparam("new_official"))
        )


_STATEMENTS = {"postgresql": _Statements(postgresql), "sqlite": _Statements(sqlite)}
# Reads of every poll, built once too.
_STATE_OF = select(sources).where(sources.c.source_id == bindparam("sid"))
_RECENT_PUBLISHED = (
    select(articles.c.published_at)
    .where(articles.c.source_id == bindparam("sid"), articles.c.published_estimated.is_(False))
    .order_by(articles.c.published_at.desc())
    .limit(bindparam("n"))
)


_STATES_OF = select(sources).where(sources.c.source_id.in_(_keys()))
_RANKED = (
    select(
        articles.c.source_id,
        articles.c.published_at,
        func.row_number()
        .over(partition_by=articles.c.source_id, order_by=(articles.c.published_at.desc(), articles.c.id))
        .label("rank"),
    )
    .where(articles.c.source_id.in_(_keys()), articles.c.published_estimated.is_(False))
    .subquery()
)
_RECENT_PUBLISHED_OF = (
    select(_RANKED.c.source_id, _RANKED.c.published_at)
    .where(_RANKED.c.rank <= bindparam("n"))
    .order_by(_RANKED.c.source_id, _RANKED.c.rank)
)


class StoreTx:
    """One write transaction. Only valid inside ``with store.transaction() as tx:``."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._sql = _STATEMENTS["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
        # SQLite: the poll's lookups and inserts go past SQLAlchemy, in the same transaction (see _sqlite_lookup)
        self._raw: sqlite3.Connection | None = None
        if connection.dialect.name == "sqlite":
            self._raw = connection.connection.driver_connection

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for packages that write their own tables in the same transaction."""
        return self._conn

    def lookup(self, batch: Sequence[Article], source_id: str) -> KnownKeys:
        """What the store already knows of a batch, in four indexed queries (whatever the batch size)."""
        keys = KnownKeys()
        if self._raw is not None:
            _sqlite_lookup(self._raw, batch, source_id, keys)
            return keys
        execute, sql = self._conn.execute, self._sql
        for chunk in _chunks([a.id for a in batch]):
            keys.ids.update(execute(sql.known_ids, {"keys": chunk}).scalars())
        for chunk in _chunks([h for h in (url_key(a) for a in batch) if h is not None]):
            keys.urls.update(iter(execute(sql.known_urls, {"keys": chunk})))
        for chunk in _chunks([sha256_hex(a.guid) for a in batch if a.guid is not None]):
            keys.guids.update(iter(execute(sql.known_guids, {"keys": chunk, "source_id": source_id})))
        for chunk in _chunks(sorted({a.content_hash for a in batch})):
            # newest first, so the oldest article of each hash is the one left in the dict
            rows = execute(sql.known_contents, {"keys": chunk})
            keys.contents.update({content: (article_id, source) for content, article_id, source in rows})
        return keys

    def find_existing(self, article: Article) -> str | None:
        """The id of the stored article that is this one: same id, same canonical URL, same (source, guid)."""
        return self.lookup([article], article.source_id).existing(article)

    def near_duplicate_pool(
        self, simhashes: Sequence[int], *, since: datetime, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """(id, simhash) of originals first seen since ``since`` sharing a 16-bit band with any of ``simhashes``.

        One query per chunk of fingerprints; newest first.
        """
        if self._raw is not None:
            return _sqlite_band_matches(self._raw, simhashes, since, limit)
        rows: dict[str, tuple[int, datetime]] = {}
        for chunk in _chunks(list(simhashes), 200):
            split = [bands(h) for h in chunk]
            values = {f"b{i}": sorted({b[i] for b in split}) for i in range(4)}
            for article_id, simhash, duplicate_of, first_seen in self._conn.execute(
                self._sql.band_matches, values
            ):
                if duplicate_of is None and first_seen >= since:
                    rows[article_id] = (simhash, first_seen)
        newest = sorted(rows.items(), key=lambda item: (-item[1][1].timestamp(), item[0]))
        return [(article_id, simhash) for article_id, (simhash, _seen) in newest[:limit]]

    def insert_articles(self, batch: Sequence[Article]) -> set[str]:
        """Insert each article unless its id or canonical URL is stored; the ids actually inserted.

        Inserted articles also get their (source, guid) sighting. Recording where an existing article was
        seen again is the caller's choice (``add_sightings``).
        """
        if not batch:
            return set()
        rows = [_article_values(a) for a in batch]
        if self._raw is not None:
            inserted = _sqlite_insert_returning_ids(self._conn, articles, rows)
        else:
            inserted = set(self._conn.execute(self._sql.insert_articles, rows).scalars())
        self.add_sightings([(a.id, a.source_id, a.guid, a.first_seen_at) for a in batch if a.id in inserted])
        return inserted

    def published_times(self, ids: Sequence[str]) -> dict[str, datetime]:
        """id -> publication time, for the stored articles of ``ids`` whose date came from the source (an
        estimated date, the first-seen fallback, is left out: it says nothing about who published first)."""
        found: dict[str, datetime] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            query = select(articles.c.id, articles.c.published_at).where(
                articles.c.id.in_(chunk), articles.c.published_estimated.is_(False)
            )
            found.update({row.id: row.published_at for row in self._conn.execute(query)})
        return found

    def official_articles(self, ids: Sequence[str]) -> set[str]:
        """The stored articles of ``ids`` whose source is marked official (as last polled)."""
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            query = (
                select(articles.c.id)
                .join(sources, articles.c.source_id == sources.c.source_id)
                .where(articles.c.id.in_(chunk), sources.c.official.is_(True))
            )
            found.update(self._conn.execute(query).scalars())
        return found

    def stored_by(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (the source that stored the article, its content hash), for the stored articles of ``ids``."""
        found: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            query = select(articles.c.id, articles.c.source_id, articles.c.content_hash).where(
                articles.c.id.in_(chunk)
            )
            found.update({row.id: (row.source_id, row.content_hash) for row in self._conn.execute(query)})
        return found

    def reclaim(self, article: Article, stored_id: str) -> None:
        """An official source's own article replaces the version another source stored first under its URL:
        the row is written anew under its id with the official title, text and dates (what every stage
        computed from the old text goes with it, through the foreign keys: the summarizer redoes the article);
        where it was seen and which copies point at it are kept."""
        seen = [
            dict(row)
            for row in self._conn.execute(
                select(article_sightings).where(article_sightings.c.article_id == stored_id)
            ).mappings()
        ]
        copies = list(
            self._conn.execute(select(articles.c.id).where(articles.c.duplicate_of == stored_id)).scalars()
        )
        first_seen = self._conn.execute(
            select(articles.c.first_seen_at).where(articles.c.id == stored_id)
        ).scalar_one()
        self._conn.execute(delete(articles).where(articles.c.id == stored_id))
        values = _article_values(replace(article, id=stored_id, duplicate_of=None))
        values["first_seen_at"] = min(first_seen, article.first_seen_at)
        self._conn.execute(self._insert(articles).values(values))
        if seen:
            self._conn.execute(self._insert(article_sightings).on_conflict_do_nothing(), seen)
        self.add_sightings([(stored_id, article.source_id, article.guid, article.first_seen_at)])
        if copies:
            self._conn.execute(
                update(articles).where(articles.c.id.in_(copies)).values(duplicate_of=stored_id)
            )

    def make_original(self, article_id: str, copy_of: str) -> None:
        """``article_id`` (stored) becomes the original of ``copy_of``, which was, and of that one's copies."""
        self._conn.execute(
            update(articles)
            .where(
                or_(articles.c.id == copy_of, articles.c.duplicate_of == copy_of), articles.c.id != article_id
            )
            .values(duplicate_of=article_id)
        )

    def insert_article(self, article: Article) -> bool:
        """Insert unless the id or canonical URL is already stored; True if inserted (see ``insert_articles``)."""
        return article.id in self.insert_articles([article])

    def add_sightings(self, rows: Sequence[tuple[str, str, str | None, datetime]]) -> None:
        """Record (article_id, source_id, guid, seen_at) sightings; already known ones are left as they are."""
        if not rows:
            return
        values = [_sighting_values(*row) for row in rows]
        if self._raw is not None:
            _sqlite_insert(self._conn, article_sightings, values)
        else:
            self._conn.execute(self._sql.insert_sightings, values)

    def add_sighting(self, article_id: str, source_id: str, guid: str | None, seen_at: datetime) -> bool:
        """Record that ``source_id`` served the article; False if this source or its guid is already known."""
        stmt = self._insert(article_sightings).values(_sighting_values(article_id, source_id, guid, seen_at))
        return bool(self._conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1)

    def describe_source(self, source_id: str, name: str, official: bool) -> None:
        """Record the source's display name and official flag (its row exists: ``save_state`` first)."""
        values = {"sid": source_id, "new_name": name[:200], "new_official": official}
        self._conn.execute(self._sql.describe_source, values)

    def save_state(self, state: SourceState) -> None:
        """Insert or replace the source's row."""
        self._conn.execute(self._sql.save_state, _state_values(state, datetime.now(UTC)))

    def _insert(self, table: Any) -> Any:
        return self._sql.insert(table)

    def _first(self, query: Select[Any]) -> str | None:
        value = self._conn.execute(query.limit(1)).scalar()
        return None if value is None else str(value)


class Store:
    """Articles and source states. Thread-safe: share one per process and call it from worker threads."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by :func:`create_engine_for` (it sets up SQLite); usually via ``open``."""
        self._engine = engine
        sqlite_lock = engine.dialect.name == "sqlite"
        self._write_lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if sqlite_lock else contextlib.nullcontext()
        )

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Store:
        """Connect and migrate to head. ``sqlite:///path.db``, ``postgresql://...`` or ``postgres://...``.

        ``create=False``: a missing SQLite file is a :class:`MissingDatabase` error (nothing is created)."""
        store = cls(create_engine_for(url, create=create))
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def engine(self) -> Engine:
        return self._engine

    def _revision(self) -> str | None:
        """The store's migration revision; None when it has none yet (a new store) or it cannot be read."""
        try:
            with self._engine.connect() as conn:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None
        return None if found is None else str(found)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A connection inside one write transaction (committed on success, rolled back on error)."""
        with self._write_lock, self._engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreTx]:
        """One write transaction: ``with store.transaction() as tx: tx.insert_article(...)``."""
        with self.write_connection() as conn:
            yield StoreTx(conn)

    def get_state(self, source_id: str) -> SourceState | None:
        with self._engine.connect() as conn:
            row = conn.execute(_STATE_OF, {"sid": source_id}).mappings().first()
        return None if row is None else _state_from(row)

    def source_names(self) -> dict[str, tuple[str, bool]]:
        """source id -> (display name, official), for the sources polled with a configured name."""
        query = select(sources.c.source_id, sources.c.name, sources.c.official).where(
            sources.c.name.is_not(None)
        )
        with self._engine.connect() as conn:
            return {row.source_id: (row.name, bool(row.official)) for row in conn.execute(query)}

    def states(self) -> dict[str, SourceState]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(sources).order_by(sources.c.source_id)).mappings().all()
        return {row["source_id"]: _state_from(row) for row in rows}

    def get_article(self, article_id: str) -> Article | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).mappings().first()
        return None if row is None else article_from_row(row)

    def list_articles(
        self,
        *,
        since: datetime | None = None,
        source_id: str | None = None,
        limit: int | None = None,
        include_duplicates: bool = True,
        by_publication: bool = False,
    ) -> list[Article]:
        """Newest first by first-seen time (``by_publication``: by publication time); optionally since a time
        (first seen), of one source, without duplicates."""
        newest = articles.c.published_at if by_publication else articles.c.first_seen_at
        query = select(articles).order_by(newest.desc(), articles.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(articles.c.first_seen_at >= since)
        if source_id is not None:
            query = query.where(articles.c.source_id == source_id)
        if not include_duplicates:
            query = query.where(articles.c.duplicate_of.is_(None))
        with self._engine.connect() as conn:
            return [article_from_row(row) for row in conn.execute(query).mappings()]

    def count_articles(self, source_id: str | None = None) -> int:
        query = select(func.count()).select_from(articles)
        if source_id is not None:
            query = query.where(articles.c.source_id == source_id)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def recent_published(self, source_id: str, limit: int = 20) -> list[datetime]:
        """The source's latest real (not estimated) publication dates, newest first."""
        with self._engine.connect() as conn:
            return list(conn.execute(_RECENT_PUBLISHED, {"sid": source_id, "n": limit}).scalars())

    def states_of(self, source_ids: Sequence[str]) -> dict[str, SourceState]:
        """The stored states of ``source_ids`` (those that have one), one query per 500 ids."""
        found: dict[str, SourceState] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(source_ids))):
                rows = conn.execute(_STATES_OF, {"keys": chunk}).mappings()
                found.update((row["source_id"], _state_from(row)) for row in rows)
        return found

    def recent_published_of(self, source_ids: Sequence[str], limit: int = 20) -> dict[str, list[datetime]]:
        """``recent_published`` of many sources in one query per 500 ids (every id is a key, [] for none)."""
        found: dict[str, list[datetime]] = {source_id: [] for source_id in source_ids}
        with self._engine.connect() as conn:
            for chunk in _chunks(list(found)):
                for source_id, published in conn.execute(_RECENT_PUBLISHED_OF, {"keys": chunk, "n": limit}):
                    found[source_id].append(published)
        return found

    def sightings(self, article_id: str) -> list[tuple[str, str | None, datetime]]:
        """(source_id, guid, seen_at) of every source that served the article, earliest first."""
        table = article_sightings
        query = (
            select(table.c.source_id, table.c.guid, table.c.seen_at)
            .where(table.c.article_id == article_id)
            .order_by(table.c.seen_at, table.c.source_id)
        )
        with self._engine.connect() as conn:
            return [(row.source_id, row.guid, row.seen_at) for row in conn.execute(query)]

    def _migrate(self) -> None:
        if self._revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        with _ALEMBIC_LOCK, self.write_connection() as conn:
            if conn.dialect.name == "postgresql":  # two processes starting at once: one migrates
                conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
