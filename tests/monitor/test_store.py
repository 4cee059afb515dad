"""The article store on a real SQLite file and on the local PostgreSQL (each test using ``database_url``)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from monitor.errors import ConfigError, ErrorKind
from monitor.models import Article, SourceState
from monitor.store import MIGRATIONS, Store, create_engine_for, normalize_database_url
from monitor.tables import metadata

# The store's migration history also creates the summarizer's tables (one engine, one history): register them
# on the shared metadata so that schema comparisons see every table the migrations create.
importlib.import_module("summarizer.tables")

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def article(n: int, **changes: object) -> Article:
    base = Article(
        id="u" + hashlib.sha1(f"article-{n}".encode()).hexdigest()[:20],
        source_id="src-a",
        url=f"https://example.org/news/{n}?utm_source=feed",
        canonical_url=f"https://example.org/news/{n}",
        guid=f"urn:example:{n}",
        title=f"Title {n}",
        summary=f"Summary {n}",
        text=f"Text of article {n}. Ünïcødé — 東京.",
        language="fr",
        published_at=T0 - timedelta(hours=n),
        published_estimated=False,
        first_seen_at=T0 + timedelta(minutes=n),
        authors=("Ann Author", "Bob"),
        tags=("politics",),
        content_hash=hashlib.sha256(f"content-{n}".encode()).hexdigest(),
        simhash=0x0123_4567_89AB_CDEF + n,
        fetch={"status": 200, "final_url": f"https://example.org/news/{n}", "etag": None},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as opened:
        yield opened


def insert(store: Store, *items: Article) -> list[bool]:
    with store.transaction() as tx:
        return [tx.insert_article(item) for item in items]


def run_together(*calls: Callable[[], object]) -> list[BaseException]:
    """Run each call in its own thread, all released at once; the exceptions they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


# --- URLs: pure --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/veille.db", "sqlite:///data/veille.db"),
        (
            "postgres://bot:s3cret@db.local:5433/veille",
            "postgresql+psycopg://bot:s3cret@db.local:5433/veille",
        ),
        (
            "postgresql://bot@db.local/veille?sslmode=require",
            "postgresql+psycopg://bot@db.local/veille?sslmode=require",
        ),
        ("postgresql+psycopg://bot@db.local/veille", "postgresql+psycopg://bot@db.local/veille"),
    ],
    ids=["sqlite-file", "postgres-scheme", "postgresql-scheme-with-query", "already-psycopg"],
)
def test_normalize_database_url(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://root@localhost/veille", "unsupported database 'mysql'"),
        ("postgres//bot:s3cret@db", "not a database URL"),
    ],
    ids=["sqlite-memory-empty", "sqlite-memory-named", "mysql", "garbage"],
)
def test_normalize_database_url_refuses(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        normalize_database_url(given)
    assert caught.value.hint
    assert "s3cret" not in str(caught.value)


# --- schema and migrations ---------------------------------------------------------------------------


def test_migrations_match_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        # The comparison does see differences: an index the database lacks is reported.
        extra = sa.MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(extra)
        sa.Index("ix_articles_language_extra", extra.tables["articles"].c.language)
        diffs = compare_metadata(MigrationContext.configure(conn), extra)
    assert [diff[0] for diff in diffs] == ["add_index"]


def _current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_env_without_a_store_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A developer's path: alembic driven by a URL (online), or printing the SQL (offline)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://nobody@127.0.0.1/none")
    command.upgrade(config, "head", sql=True)
    partial_index = "ON article_sightings (source_id, guid_hash) WHERE guid_hash IS NOT NULL"
    assert (
        f"CREATE UNIQUE INDEX uq_article_sightings_source_id_guid_hash {partial_index}"
        in capsys.readouterr().out
    )
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'dev.db'}")
    command.upgrade(config, "head")
    with Store.open(f"sqlite:///{tmp_path / 'dev.db'}") as store:
        assert _current_revision(store) == _head()


def _head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_open_twice_is_a_noop_and_data_survives(database_url: str) -> None:
    head = _head()
    with Store.open(database_url) as first:
        assert _current_revision(first) == head
        insert(first, article(1))
    with Store.open(database_url) as second:
        assert _current_revision(second) == head
        assert second.get_article(article(1).id) == article(1)
        with second.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_concurrent_first_opens_in_threads(database_url: str) -> None:
    opened: list[Store] = []
    errors = run_together(*[lambda: opened.append(Store.open(database_url))] * 3)
    try:
        assert errors == []
        insert(opened[0], article(1))
        assert [store.count_articles() for store in opened] == [1, 1, 1]
    finally:
        for store in opened:
            store.close()


_OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from tests import netguard
netguard.install()
from monitor.store import Store
folder, name, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(folder / f"ready-{name}").touch()
deadline = time.monotonic() + 30
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
Store.open(url).close()
"""


@pytest.mark.slow
def test_concurrent_first_opens_in_processes(database_url: str, tmp_path: Path) -> None:
    """Processes starting together on a fresh database: BEGIN IMMEDIATE / the advisory lock serialize them."""
    signals = tmp_path / "signals"
    signals.mkdir()
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", _OPEN_WHEN_TOLD, str(signals)]
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                subprocess.Popen([*command, name, database_url], cwd=root, stderr=subprocess.PIPE, text=True)
            )
            for name in ("a", "b", "c")
        ]
        deadline = time.monotonic() + 60
        while len(list(signals.glob("ready-*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        (signals / "go").touch()
        outputs = [proc.communicate(timeout=60)[1] for proc in procs]
    failures = [err for proc, err in zip(procs, outputs, strict=True) if proc.returncode != 0]
    assert failures == []
    with Store.open(database_url) as store, store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [_head()]


@pytest.mark.postgres
def test_postgres_tables_land_in_the_search_path_schema(pg_url: str) -> None:
    with Store.open(pg_url) as store, store.engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        query = sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema")
        names = set(conn.execute(query, {"schema": schema}).scalars())
    assert schema.startswith("t_")
    assert names == {"alembic_version", *metadata.tables}


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        settings = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert settings == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 30000}


def _connect_once(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_new_file_switched_to_wal_by_many_connections_at_once(tmp_path: Path) -> None:
    """Converting a new file to WAL can fail at once with "database is locked" (no busy handler): retried."""
    for attempt in range(40):  # without the retry, the race shows up in about one attempt out of five
        engines = [create_engine_for(f"sqlite:///{tmp_path / f'race-{attempt}.db'}") for _ in range(6)]
        errors = run_together(*(functools.partial(_connect_once, engine) for engine in engines))
        for engine in engines:
            engine.dispose()
        assert errors == [], f"attempt {attempt}"


def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "veille.db"
    with Store.open(f"sqlite:///{path}") as store:
        insert(store, article(1))
    assert path.is_file()


# --- articles ----------------------------------------------------------------------------------------


def test_article_round_trip(store: Store) -> None:
    original = article(1, guid=None, language=None, published_estimated=True, fetch={})
    assert insert(store, original) == [True]
    loaded = store.get_article(original.id)
    assert loaded == original
    assert loaded is not None and loaded.first_seen_at.tzinfo is UTC
    assert store.get_article("0" * 40) is None


def test_insert_is_idempotent(store: Store) -> None:
    assert insert(store, article(1)) == [True]
    assert insert(store, article(1), article(2)) == [False, True]
    same_url = article(3, canonical_url=article(2).canonical_url)
    assert insert(store, same_url) == [False]
    assert store.count_articles() == 2
    assert store.get_article(same_url.id) is None


def test_non_utc_and_naive_datetimes(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    local = article(1, first_seen_at=datetime(2025, 3, 1, 13, 0, tzinfo=paris))
    insert(store, local)
    loaded = store.get_article(local.id)
    assert loaded is not None
    assert loaded.first_seen_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert loaded.first_seen_at.utcoffset() == timedelta(0)
    with pytest.raises(
        (sa.exc.StatementError, ValueError), match="naive datetime"
    ):  # SQLAlchemy or the bulk path
        insert(store, article(2, published_at=datetime(2025, 3, 1, 12, 0)))
    assert store.count_articles() == 1  # the failed transaction left nothing behind


def test_nul_characters_are_dropped(store: Store) -> None:
    dirty = article(1, title="Bad\x00title", text="a\x00b", authors=("x\x00y",), guid="g\x00")
    insert(store, dirty)
    loaded = store.get_article(dirty.id)
    assert loaded is not None
    assert (loaded.title, loaded.text, loaded.authors, loaded.guid) == ("Badtitle", "ab", ("xy",), "g")
    with store.transaction() as tx:
        assert tx.find_existing(article(9, guid="g\x00")) == dirty.id


def test_long_canonical_url_is_unique_by_hash(store: Store) -> None:
    long_url = "https://example.org/" + "x" * 10_000
    first = article(1, canonical_url=long_url, url=long_url)
    assert insert(store, first, article(2, canonical_url=long_url)) == [True, False]
    loaded = store.get_article(first.id)
    assert loaded is not None and loaded.canonical_url == long_url


def test_a_url_that_does_not_identify_its_article_claims_nothing(store: Store) -> None:
    # Items that all link to a home page get guid/content ids ("g", "c"): they share the URL but are distinct.
    home = "https://ministry.example/"
    items = [article(n, id=f"g{n:020d}", canonical_url=home, url=home, guid=f"item-{n}") for n in (1, 2, 3)]
    assert insert(store, *items) == [True, True, True]
    with store.transaction() as tx:
        assert tx.find_existing(article(4, id="g" + "4" * 20, canonical_url=home, guid="item-4")) is None
        assert tx.find_existing(article(5, canonical_url=home, guid=None)) is None  # a URL id finds no claim


@pytest.mark.parametrize(
    ("probe", "found"),
    [
        (article(1, canonical_url="https://other.example/x", guid="other"), 1),
        (article(99, guid="other-guid"), None),
        (article(99, canonical_url=article(1).canonical_url, guid=None), 1),
        (article(99, canonical_url="https://other.example/y", guid="urn:example:1"), 1),
        (article(99, canonical_url="https://other.example/y", source_id="src-b", guid="urn:example:1"), None),
        (article(99, canonical_url="https://other.example/y", guid=None), None),
        (article(2, canonical_url=article(1).canonical_url), 2),
    ],
    ids=[
        "same-id",
        "nothing-in-common",
        "same-canonical-url",
        "same-source-and-guid",
        "same-guid-other-source",
        "no-guid",
        "id-wins-over-url",
    ],
)
def test_find_existing(store: Store, probe: Article, found: int | None) -> None:
    insert(store, article(1), article(2))
    with store.transaction() as tx:
        assert tx.find_existing(probe) == (None if found is None else article(found).id)


def test_lookup_gives_the_oldest_article_of_a_content_hash_with_its_source(store: Store) -> None:
    shared = "f" * 64
    insert(
        store, article(3, content_hash=shared), article(1, content_hash=shared), article(2, source_id="src-b")
    )
    with store.transaction() as tx:
        tx.add_sighting(article(1).id, "src-c", None, T0)
        keys = tx.lookup([article(9, content_hash=shared), article(8, content_hash="0" * 64)], "src-a")
    assert keys.contents == {shared: (article(1).id, "src-a")}


def test_sightings(store: Store) -> None:
    first = article(1)
    insert(store, first, article(2))
    later = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        assert tx.add_sighting(first.id, "src-b", "b-guid", later) is True
        assert tx.add_sighting(first.id, "src-b", "b-guid-2", later) is False  # this source already counted
        assert tx.add_sighting(article(2).id, "src-b", "b-guid", later) is False  # guid taken in src-b
        assert tx.add_sighting(article(2).id, "src-c", None, later) is True
        assert tx.add_sighting(first.id, "src-c", None, later) is True  # null guids never collide
    assert store.sightings(first.id) == [
        ("src-a", "urn:example:1", first.first_seen_at),
        ("src-b", "b-guid", later),
        ("src-c", None, later),
    ]
    with store.transaction() as tx:
        assert tx.find_existing(article(99, source_id="src-b", guid="b-guid")) == first.id


def test_sighting_of_an_unknown_article_fails(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        tx.add_sighting("0" * 40, "src-a", None, T0)


def _with_bands(n: int, *values: int, **changes: object) -> Article:
    simhash = sum(value << (16 * i) for i, value in enumerate(values))
    return article(n, simhash=simhash - (1 << 64) if simhash >= 1 << 63 else simhash, **changes)


NEAR = {
    1: _with_bands(1, 1, 2, 3, 4),
    2: _with_bands(2, 5, 6, 7, 0xFFFF),
    3: _with_bands(3, 1, 2, 8, 8, first_seen_at=T0 + timedelta(hours=5)),
    4: _with_bands(4, 1, 2, 3, 4, duplicate_of=article(1).id),  # copies are never candidates
    5: _with_bands(5, 1, 2, 3, 0xFFFF, first_seen_at=T0 - timedelta(days=30)),  # too old
}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ((1, 2, 3, 4), [3, 1]),
        ((1, 9, 9, 9), [3, 1]),
        ((9, 9, 9, 0xFFFF), [2]),
        ((9, 9, 3, 9), [1]),
        ((9, 9, 9, 9), []),
    ],
    ids=["same-hash", "band-0", "band-3-high-bit", "band-2", "no-band"],
)
def test_near_duplicate_pool(store: Store, probe: tuple[int, ...], expected: list[int]) -> None:
    insert(store, *NEAR.values())
    with store.transaction() as tx:
        found = tx.near_duplicate_pool([_with_bands(0, *probe).simhash], since=T0 - timedelta(days=1))
    assert found == [(NEAR[n].id, NEAR[n].simhash) for n in expected]


def test_near_duplicate_pool_newest_first_and_limited(store: Store) -> None:
    insert(store, *(_with_bands(n, 7, n, n, n) for n in range(1, 6)))
    with store.transaction() as tx:
        found = tx.near_duplicate_pool([_with_bands(0, 7, 0, 0, 0).simhash], since=T0, limit=3)
    assert [i for i, _ in found] == [article(5).id, article(4).id, article(3).id]


def test_list_and_count_articles(store: Store) -> None:
    insert(
        store,
        article(1),
        article(2, source_id="src-b"),
        article(3),
        article(4, duplicate_of=article(1).id),
    )
    ids = {article(n).id: n for n in range(1, 5)}

    def listed(**kwargs: object) -> list[int]:
        return [ids[a.id] for a in store.list_articles(**kwargs)]  # type: ignore[arg-type]

    assert listed() == [4, 3, 2, 1]
    assert listed(since=T0 + timedelta(minutes=2)) == [4, 3, 2]
    assert listed(source_id="src-a") == [4, 3, 1]
    assert listed(limit=2) == [4, 3]
    assert listed(include_duplicates=False, source_id="src-a") == [3, 1]
    assert (store.count_articles(), store.count_articles("src-a"), store.count_articles("nope")) == (4, 3, 0)


def test_recent_published(store: Store) -> None:
    insert(
        store,
        article(1),
        article(2, published_estimated=True),
        article(3),
        article(4, source_id="src-b"),
        article(5),
    )
    assert store.recent_published("src-a") == [article(n).published_at for n in (1, 3, 5)]
    assert store.recent_published("src-a", limit=2) == [article(1).published_at, article(3).published_at]
    assert store.recent_published("unknown") == []


def test_failed_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.insert_article(article(1))
        tx.save_state(SourceState("src-a"))
        raise RuntimeError("boom")
    assert store.count_articles() == 0
    assert store.states() == {}


# --- source states -----------------------------------------------------------------------------------


FULL_STATE = SourceState(
    source_id="src-a",
    etag='W/"abc"',
    last_modified="Sat, 01 Mar 2025 11:00:00 GMT",
    last_checked_at=T0,
    last_success_at=T0 - timedelta(hours=2),
    next_check_at=T0 + timedelta(minutes=15),
    interval_s=900.5,
    last_status=503,
    error_count=7,
    consecutive_errors=3,
    last_error_kind=ErrorKind.SERVER_ERROR,
    last_error_message="503 Service Unavailable",
    last_error_at=T0,
    paused=True,
    paused_reason="too many errors",
)


def test_state_round_trip_and_upsert(store: Store) -> None:
    assert store.get_state("src-a") is None
    with store.transaction() as tx:
        tx.save_state(FULL_STATE)
        tx.save_state(SourceState("src-b"))
    loaded = store.get_state("src-a")
    assert loaded == FULL_STATE
    assert loaded is not None and loaded.last_error_kind is ErrorKind.SERVER_ERROR
    assert loaded.next_check_at is not None and loaded.next_check_at.tzinfo is UTC

    recovered = SourceState("src-a", etag='"new"', last_success_at=T0, error_count=7)
    with store.transaction() as tx:
        tx.save_state(recovered)
    assert store.states() == {"src-a": recovered, "src-b": SourceState("src-b")}


def test_state_error_message_is_cut(store: Store) -> None:
    with store.transaction() as tx:
        tx.save_state(SourceState("src-a", last_error_message="é" * 5000))
    loaded = store.get_state("src-a")
    assert loaded is not None and loaded.last_error_message == "é" * 1000


def test_unknown_stored_error_kind_reads_as_internal(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with store.transaction() as tx:
        tx.save_state(SourceState("src-a", last_error_kind=ErrorKind.TIMEOUT))
        tx.connection.execute(sa.text("UPDATE sources SET last_error_kind = 'retired_kind'"))
    loaded = store.get_state("src-a")
    assert loaded is not None and loaded.last_error_kind is ErrorKind.INTERNAL
    assert "retired_kind" in caplog.text


# --- concurrency -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stores", [1, 2], ids=["one-shared-store", "one-store-per-thread"])
def test_concurrent_writers(database_url: str, stores: int) -> None:
    """Read-then-write transactions from two threads: with a deferred BEGIN SQLite would say "locked"."""
    opened = [Store.open(database_url) for _ in range(stores)]
    per_thread = 40

    def work(worker: int) -> None:
        store = opened[worker % stores]
        for i in range(per_thread):
            item = article(worker * 1000 + i, source_id=f"src-{worker}")
            with store.transaction() as tx:
                if tx.find_existing(item) is None:
                    tx.insert_article(item)
                tx.save_state(SourceState(f"src-{worker}", error_count=i))

    try:
        assert run_together(functools.partial(work, 0), functools.partial(work, 1)) == []
        assert opened[0].count_articles() == 2 * per_thread
        assert {s.error_count for s in opened[-1].states().values()} == {per_thread - 1}
    finally:
        for store in opened:
            store.close()


def test_head_revision_is_alembics_head(tmp_path: Path) -> None:
    """``Store.open`` skips alembic when the store is at ``HEAD_REVISION``: it must be the newest migration (and a
    store at head opens without importing alembic at all)."""
    from monitor.store import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    url = f"sqlite:///{tmp_path / 'v.db'}"
    Store.open(url).close()
    probe = (
        "import sys; from monitor.store import Store; Store.open(sys.argv[1]).close(); "
        "print('alembic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_sqlite_bulk_inserts_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    """The SQLite write path skips SQLAlchemy's per-row processing (StoreTx.insert_articles, add_sightings): the
    bytes it stores must be the ones SQLAlchemy's own INSERT stores, for every column and odd value."""
    from monitor.store import _STATEMENTS, _article_values, _sighting_values
    from monitor.tables import article_sightings, articles

    paris = timezone(timedelta(hours=2))
    batch = [
        article(1),
        article(2, guid=None, authors=(), tags=(), language=None, duplicate_of=article(1).id),
        article(3, published_at=datetime(2026, 6, 1, 8, 30, 15, 123, tzinfo=paris), published_estimated=True),
        article(
            4, title='Quote " and \x00 NUL', authors=('Zoë "Z"', "عبد الله"), tags=("ü", "a,b"), simhash=-1
        ),
        article(5, fetch={"status": 304, "etag": 'W/"x"', "content_type": None, "format": "rss20"}),
    ]
    sightings = [(a.id, "src-b", a.guid, a.first_seen_at.astimezone(paris)) for a in batch]

    fast, slow = tmp_path / "fast.db", tmp_path / "slow.db"
    with Store.open(f"sqlite:///{fast}") as store, store.transaction() as tx:
        assert tx.insert_articles(batch) == {a.id for a in batch}
        tx.add_sightings(sightings)
    with Store.open(f"sqlite:///{slow}") as store, store.transaction() as tx:
        sql = _STATEMENTS["sqlite"]
        tx.connection.execute(sql.insert_articles, [_article_values(a) for a in batch])
        rows = [(a.id, a.source_id, a.guid, a.first_seen_at) for a in batch]
        tx.connection.execute(sql.insert_sightings, [_sighting_values(*row) for row in [*rows, *sightings]])

    def stored(path: Path) -> list[list[tuple[object, ...]]]:
        import sqlite3

        with contextlib.closing(sqlite3.connect(path)) as conn:
            return [
                [
                    tuple((type(v).__name__, v) for v in row)
                    for row in conn.execute(f"SELECT * FROM {table.name} ORDER BY 1, 2")
                ]
                for table in (articles, article_sightings)
            ]

    got, expected = stored(fast), stored(slow)
    assert got == expected and len(got[0]) == 5 and len(got[1]) == 10
    with Store.open(f"sqlite:///{fast}") as store:
        assert store.get_article(batch[2].id) == replace(
            batch[2], published_at=batch[2].published_at.astimezone(UTC)
        )
        assert store.get_article(batch[3].id) == replace(batch[3], title='Quote " and  NUL')


def test_sqlite_driver_lookups_give_what_the_sqlalchemy_statements_give(tmp_path: Path) -> None:
    """On SQLite the poll's lookups bypass SQLAlchemy (StoreTx._raw); the portable statements, which PostgreSQL
    runs, must agree with them on the same rows."""
    shared = "f" * 64
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as sqlite_store:
        insert(sqlite_store, *NEAR.values(), article(6, content_hash=shared), article(7, content_hash=shared))
        with sqlite_store.transaction() as tx:
            tx.add_sighting(article(6).id, "src-b", "guid-b", T0)
        probes = [
            article(1),
            article(2, source_id="src-b", guid="guid-b"),
            article(9, content_hash=shared),
            article(10, canonical_url=article(3).canonical_url),
            *(_with_bands(20 + i, *p) for i, p in enumerate([(1, 2, 3, 4), (9, 9, 3, 9), (9, 9, 9, 0xFFFF)])),
        ]
        found = []
        for driver in (True, False):
            with sqlite_store.transaction() as tx:
                assert (tx._raw is not None) is True
                if not driver:
                    tx._raw = None
                keys = tx.lookup(probes, "src-b")
                pool = tx.near_duplicate_pool([p.simhash for p in probes], since=T0 - timedelta(days=1))
                limited = tx.near_duplicate_pool([p.simhash for p in probes], since=T0, limit=2)
            found.append((keys, pool, limited))
    assert found[0] == found[1]
    keys, pool, _ = found[0]
    assert (
        keys.ids == {article(1).id, article(2).id}
        and keys.guids
        and keys.urls
        and keys.contents[shared][0] == article(6).id
    )
    ids = {article_id for article_id, _ in pool}
    assert {NEAR[n].id for n in (1, 2, 3)} <= ids and not ids & {
        NEAR[4].id,
        NEAR[5].id,
    }  # no copy, none too old
