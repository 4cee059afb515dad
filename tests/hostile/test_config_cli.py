"""Issue 12, points 7, 9 (configuration and command line), 10, 11 and 12: bad input gets a clear error and exit
code 2, never a traceback; no secret is printed; a read-only command creates nothing.

The commands run in-process with click's runner (``bot.cli``), in ``tmp_path``, with only the variables a test
gives among veille's; their logs go to the runner's stderr, which ``Result.output`` includes. The store is a
real SQLite file; a full disk is SQLite's own "database or disk is full", made by ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import monitor.store
from bot.cli import cli
from bot.config import load_config
from bot.email import EmailConfig
from monitor.cli import fetch_settings
from monitor.config import SourceConfig
from monitor.errors import ConfigError
from monitor.fetch import Fetcher
from monitor.models import SourceState
from monitor.poller import Poller
from monitor.settings import MonitorSettings
from monitor.store import Store
from tests.httpserver import LoopbackServer

MALFORMED = {  # each holds the password "pw", which no output may show
    "bad-port": "postgresql://u:pw@127.0.0.1:notaport/db",
    "open-bracket": "postgresql://u:pw@[::1/db",
    "no-scheme": "u:pw@host/db",
}
SOURCES = "sources:\n  - id: a\n    name: A\n    kind: feed\n    url: http://127.0.0.1:9/feed.xml\n"


def veille(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, **env: str) -> Result:
    """``veille ARGS`` in-process in ``tmp_path``, with only ``env`` among veille's variables."""
    monkeypatch.chdir(tmp_path)
    ours = ("VEILLE_", "DATABASE_URL", "TELEGRAM_BOT_TOKEN")
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith(ours)}
    return CliRunner().invoke(cli, list(args), env={**cleared, "COLUMNS": "200", **env})


def refused(result: Result, *expected: str) -> str:
    """The command stopped with exit code 2 and a message (each of ``expected`` in it), without a traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, (text, result.output)
    return result.output


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def database(tmp_path: Path) -> str:
    """An existing SQLite store (migrated, empty) in ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    Store.open(url).close()
    return url


# --- point 7: no part of a database URL but its scheme and host in any error or log -------------------------


@pytest.mark.parametrize("url", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize("where", ["env", "toml"])
def test_p7_a_malformed_database_url_never_shows_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, where: str
) -> None:
    """Point 7: the database password was printed when DATABASE_URL is malformed, also in config check."""
    write(tmp_path / "sources.yaml", SOURCES)
    if where == "toml":
        write(tmp_path / "veille.toml", f"[monitor]\ndatabase_url = '{url}'\n")
        env = {}
    else:
        env = {"DATABASE_URL": url}
    for args in (("config", "check"), ("articles", "list"), ("poll", "--once")):
        output = refused(veille(tmp_path, monkeypatch, *args, **env), "not a database URL")
        assert "pw" not in output, output
    with pytest.raises(ConfigError) as caught:
        load_config(None, env)
    assert "pw" not in str(caught.value)


def test_p7_errors_show_only_the_scheme_and_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 7: no part of a database URL but its scheme and host in any error (an '@' left in the password made
    part of it the "host"; a port out of range reached the driver)."""
    for url, host in (
        ("postgresql://u:p@pw@127.0.0.1/db", "postgresql://(not shown)"),
        ("postgresql://u:pw@127.0.0.1:99999/db", "postgresql://127.0.0.1"),
    ):
        output = refused(veille(tmp_path, monkeypatch, "config", "check", DATABASE_URL=url), host)
        assert "pw" not in output, output
    unreachable = veille(
        tmp_path, monkeypatch, "bot", "outbox", DATABASE_URL="postgresql://u:pw@127.0.0.1:1/db"
    )
    assert unreachable.exit_code == 1 and "database error with postgresql://127.0.0.1:" in unreachable.output
    assert "pw" not in unreachable.output and "/db" not in unreachable.output, unreachable.output


# --- point 9: bad input is exit code 2 and a message, never a traceback -------------------------------------


def test_p9_durations_out_of_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 9: an interval of 99999999999999999999999d or .inf (sources.yaml interval, veille.toml durations)
    raised OverflowError: a traceback and exit code 1."""
    for interval in ("99999999999999999999999d", ".inf", "99999999999999999999999"):
        write(tmp_path / "sources.yaml", SOURCES + f"    interval: {interval}\n")
        refused(veille(tmp_path, monkeypatch, "sources", "check"), "sources.yaml:6:", "out of bounds")
    for name, text in (
        ("veille.toml", "[monitor]\nmin_interval_s = inf\n"),
        ("veille.toml", "[bot]\nretry_cap_s = 99999999999999999999999.0\n"),
        ("veille.yaml", "monitor:\n  backoff_cap_s: .inf\n"),
    ):
        write(tmp_path / name, text)
        refused(veille(tmp_path, monkeypatch, "--config", name, "config", "check"), f"{name}:2:")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("sources.yaml", SOURCES + "    tags: " + "[" * 3000 + "]" * 3000 + "\n", 6),
        ("sources.yaml", SOURCES + "    interval: " + "9" * 5000 + "\n", 6),
        ("sources.yaml", "sources:\n" + "".join("  " * i + "-\n" for i in range(1, 3000)), None),
        ("veille.toml", "[monitor]\nglobal_concurrency = " + "[" * 3000 + "]" * 3000 + "\n", 2),
        ("veille.toml", "[monitor]\nglobal_concurrency = " + "9" * 5000 + "\n", 2),
        ("veille.yaml", "monitor:\n  global_concurrency: " + "[" * 3000 + "]" * 3000 + "\n", 2),
        ("veille.yaml", "monitor:\n  global_concurrency: " + "9" * 5000 + "\n", 2),
        ("veille.yaml", "monitor:\n  contact: 2024-02-30\n", None),
    ],
    ids=[
        "sources-deep",
        "sources-digits",
        "sources-deep-indent",
        "toml-deep",
        "toml-digits",
        "yaml-deep",
        "yaml-digits",
        "yaml-no-such-date",
    ],
)
def test_p9_files_nested_deep_or_with_huge_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, line: int | None
) -> None:
    """Point 9: a 5,000-digit integer or arrays nested 3,000 deep in sources.yaml or veille.toml (ValueError,
    RecursionError: a traceback and exit code 1)."""
    write(tmp_path / name, text)
    args = ("sources", "check") if name == "sources.yaml" else ("--config", name, "config", "check")
    output = refused(veille(tmp_path, monkeypatch, *args), f"{name}:{line}:" if line else f"{name}: ")
    assert "9" * 100 not in output  # the number is described, not repeated


@pytest.mark.parametrize(
    "args",
    [("articles", "list"), ("stories", "list"), ("digest",)],
    ids=["articles", "stories", "digest"],
)
def test_p9_a_cli_duration_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str, args: tuple[str, ...]
) -> None:
    """Point 9: --since 99999999999d (any CLI duration option) raised OverflowError."""
    write(tmp_path / "sources.yaml", SOURCES)
    result = veille(tmp_path, monkeypatch, *args, "--since", "99999999999d", DATABASE_URL=database)
    refused(result, "'99999999999d' is too long a duration", "--since")
    fine = veille(tmp_path, monkeypatch, *args, "--since", "36500d", DATABASE_URL=database)
    assert fine.exit_code == 0, fine.output


def test_p9_email_send_a_day_out_of_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    """Point 9: veille email send --day 0001-01-01 raised OverflowError (its window starts the day before)."""
    result = veille(
        tmp_path, monkeypatch, "email", "send", "--day", "0001-01-01",
        DATABASE_URL=database, VEILLE_EMAIL_TO="team@example.org", VEILLE_EXPORT_DIR=str(tmp_path / "exports"),
    )  # fmt: skip
    refused(result, "day 0001-01-01 is out of range")
    assert not (tmp_path / "exports").exists()


def test_p9_eval_files_that_are_not_the_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 9: veille eval clustering /etc/passwd (ValueError) and veille eval summaries /dev/urandom
    (UnicodeDecodeError): tracebacks; a clear error instead."""
    passwd = write(tmp_path / "passwd", "root:x:0:0:root:/root:/bin/bash\n")
    refused(
        veille(tmp_path, monkeypatch, "eval", "clustering", str(passwd)), "passwd:1: not a clustering record"
    )
    refused(
        veille(tmp_path, monkeypatch, "eval", "summaries", "/dev/urandom"), "/dev/urandom: not UTF-8 text"
    )
    listed = write(tmp_path / "list.jsonl", "[1, 2]\n")
    refused(veille(tmp_path, monkeypatch, "eval", "summaries", str(listed)), "list.jsonl: TypeError")
    binary = tmp_path / "binary.conll"
    binary.write_bytes(os.urandom(4096) + b"\xff\xfe")
    refused(veille(tmp_path, monkeypatch, "eval", "entities", "--lang", "en", str(binary)), "not UTF-8 text")


def test_p9_a_line_break_in_the_unsubscribe_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 9: a CRLF in email_unsubscribe_url was accepted (and would add a header to every email)."""
    url = "https://example.org/u\r\nBcc: all@example.net"
    refused(
        veille(tmp_path, monkeypatch, "config", "check", VEILLE_EMAIL_UNSUBSCRIBE_URL=url),
        "VEILLE_EMAIL_UNSUBSCRIBE_URL: email_unsubscribe_url",
        "is not an absolute http(s) URL on one line",
    )
    write(
        tmp_path / "veille.toml", '[bot]\nemail_unsubscribe_url = "https://example.org/u\\r\\nBcc: x@y.z"\n'
    )
    refused(veille(tmp_path, monkeypatch, "config", "check"), "veille.toml:2: [bot] email_unsubscribe_url")


@pytest.mark.parametrize(
    "content", ["123:abc\ndef\n", "123:abc\x00def", "123:abc\n\n"], ids=["newline", "nul", "two-newlines"]
)
def test_p9_a_token_file_with_a_line_break_or_nul(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    """Point 9: a bot token file holding a newline or NUL was accepted by config check (traceback at run time):
    refused by config check and at load, with a clear message."""
    token = write(tmp_path / "token", content, 0o600)
    refused(
        veille(tmp_path, monkeypatch, "config", "check", VEILLE_TELEGRAM_TOKEN_FILE=str(token)),
        f"VEILLE_TELEGRAM_TOKEN_FILE={token}: secret file {token} holds a line break or another control character",
    )
    write(tmp_path / "veille.toml", f"[bot]\ntelegram_token_file = '{token}'\n")
    with pytest.raises(ConfigError, match="holds a line break") as caught:
        load_config(tmp_path / "veille.toml", {})
    assert "abc" not in str(caught.value)
    refused(veille(tmp_path, monkeypatch, "bot", "run"), "veille.toml:2: [bot] telegram_token_file")
    (tmp_path / "veille.toml").unlink()
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN: the secret holds a line break"):
        load_config(None, {"TELEGRAM_BOT_TOKEN": content.strip(" ") + "x"})


def test_p9_a_token_file_ending_with_one_line_break_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 9: one final line break is what files end with: it is removed, the token kept; one inside is not."""
    monkeypatch.chdir(tmp_path)
    token = write(tmp_path / "token", " 123:abc \r\n", 0o600)
    config = load_config(None, {"VEILLE_TELEGRAM_TOKEN_FILE": str(token)})
    assert config.bot.telegram_token is not None and config.bot.telegram_token.get_secret_value() == "123:abc"
    with pytest.raises(ConfigError, match="holds a line break"):
        load_config(None, {"VEILLE_TELEGRAM_TOKEN_FILE": str(write(token, "123:\nabc\n", 0o600))})


# --- point 10: config check and the email commands share one rule -------------------------------------------


@pytest.mark.parametrize(
    ("env", "email"),
    [
        (
            {"VEILLE_SMTP_SECURITY": "none", "VEILLE_SMTP_USERNAME": "veille"},
            {"security": "none", "username": "veille"},
        ),
        ({"VEILLE_EMAIL_UNSUBSCRIBE_MAILTO": "list@example.org"}, {"unsubscribe_mailto": "list@example.org"}),
        (
            {"VEILLE_EMAIL_UNSUBSCRIBE_URL": "javascript:alert(1)"},
            {"unsubscribe_url": "javascript:alert(1)"},
        ),
    ],
    ids=["login-in-clear", "not-mailto", "javascript-url"],
)
def test_p10_config_check_refuses_what_the_email_commands_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], email: dict[str, Any]
) -> None:
    """Point 10: config check accepted what the email commands then refused (SMTP login with security none, a
    non-mailto unsubscribe address, a javascript: unsubscribe URL); now one rule, one message."""
    with pytest.raises(ConfigError) as caught:
        EmailConfig(recipients=("team@example.org",), **email)
    message = caught.value.detail
    (var,) = env.keys() - {"VEILLE_SMTP_SECURITY"}
    refused(veille(tmp_path, monkeypatch, "config", "check", **env), f"{var}: {message}")
    for run in (("email", "send"), ("bot", "run")):
        refused(veille(tmp_path, monkeypatch, *run, VEILLE_EMAIL_TO="team@example.org", **env), message)


# --- point 11: the database errors say what happened and what to do -----------------------------------------


def test_p11_a_database_error_names_the_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 11: "check DATABASE_URL (or database_url in of veille.toml)": rich read [monitor] as markup."""
    result = veille(tmp_path, monkeypatch, "bot", "outbox", DATABASE_URL="postgresql://veille@127.0.0.1:1/x")
    assert result.exit_code == 1, result.output
    assert "check DATABASE_URL (or database_url in [monitor] of veille.toml)" in result.output, result.output


def test_p11_an_integrity_error_is_a_bug_or_a_conflict_not_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    """Point 11: an IntegrityError was reported as "check DATABASE_URL": it is a bug or a data conflict."""
    write(tmp_path / "sources.yaml", SOURCES)
    with Store.open(database) as store, store.transaction() as tx:
        tx.save_state(SourceState("a", paused=True, paused_reason="test"))
    with sqlite3.connect(tmp_path / "veille.db") as conn:  # a constraint the write breaks (SQLITE_CONSTRAINT)
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON sources BEGIN SELECT RAISE(ABORT, 'conflict'); END"
        )
    result = veille(tmp_path, monkeypatch, "sources", "resume", "a", DATABASE_URL=database)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "IntegrityError: conflict" in result.output and "a bug in veille" in result.output, result.output
    assert "check DATABASE_URL" not in result.output and "report it" in result.output


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """SQLite stores opened from now on cannot grow past ``pages[0]`` pages: "database or disk is full"."""
    pages = [1]
    connect = monitor.store._on_sqlite_connect

    def limited(dbapi_connection: Any, record: object) -> None:
        connect(dbapi_connection, record)
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages[0]}")

    monkeypatch.setattr(monitor.store, "_on_sqlite_connect", limited)
    yield pages


def test_p11_a_full_disk_says_so_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_disk: list[int]
) -> None:
    """Point 11: SQLite's "database or disk is full" was reported as "check DATABASE_URL"; an OSError ENOSPC as
    a bare errno: the disk is full, and where."""
    write(tmp_path / "sources.yaml", SOURCES)
    folder = tmp_path / "data"
    result = veille(tmp_path, monkeypatch, "poll", "--once", DATABASE_URL="sqlite:///data/veille.db")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "database or disk is full" in result.output and "check DATABASE_URL" not in result.output
    assert f"the disk that holds {folder} is full" in " ".join(result.output.split()), result.output

    def no_space(path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(monitor.store, "_create_owner_only", no_space)
    result = veille(tmp_path, monkeypatch, "poll", "--once", DATABASE_URL="sqlite:///other.db")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "the disk is full (writing other.db): No space left on device" in " ".join(result.output.split())


def rss(items: int) -> bytes:
    date = format_datetime(datetime.now(UTC), usegmt=True)
    body = "".join(
        f"<item><title>Item {n} {'word ' * 20}</title><link>https://example.org/{n}</link><guid>g{n}</guid>"
        f"<pubDate>{date}</pubDate><description>{f'Sentence {n} of a long text. ' * 60}</description></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


async def test_p11_a_full_disk_while_polling_is_not_logged_as_a_bug(
    tmp_path: Path, http_server: LoopbackServer, full_disk: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    """Point 11: a full disk while polling was logged as "bug while polling" with a traceback."""
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    full_disk[0] = 1_000_000
    with Store.open(url) as store, store.engine.connect() as conn:
        full_disk[0] = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())  # room for nothing more
    http_server.route("/feed", body=rss(40), headers={"Content-Type": "application/rss+xml"})
    settings = MonitorSettings(database_url=url, allow_private=True)
    source = SourceConfig(id="full", name="Full", kind="feed", url=http_server.url("/feed"), language="en")
    with Store.open(url) as store:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            outcome = await Poller(store, fetcher, settings).poll(source)
    assert outcome.status == "failed", outcome
    bugs = [r for r in caplog.records if "bug while polling" in r.getMessage()]
    assert not bugs, bugs
    (full,) = [r for r in caplog.records if "disk full" in r.getMessage()]
    assert f"source_id=full in sqlite:///{tmp_path / 'veille.db'}" in full.getMessage()
    assert "database or disk is full" in full.getMessage() and full.exc_info is None


# --- point 12: a read-only command creates nothing; the database is the owner's only -------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("articles", "list"),
        ("sources", "list"),
        ("stories", "list"),
        ("stories", "show", "abc"),
        ("digest",),
        ("bot", "outbox"),
        ("bot", "subscribers"),
    ],
    ids=lambda args: "-".join(args),
)
def test_p12_a_read_only_command_refuses_a_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """Point 12: a read-only command with a mistyped SQLite path created the folders and an empty database and
    answered "no articles"; it refuses with a clear message and exit code 2, creating nothing."""
    write(tmp_path / "sources.yaml", SOURCES)
    before = sorted(tmp_path.rglob("*"))
    result = veille(tmp_path, monkeypatch, *args, DATABASE_URL="sqlite:///typo/veille.db")
    refused(result, f"no database at typo/veille.db (in {tmp_path})", "veille poll --once")
    assert sorted(tmp_path.rglob("*")) == before


def test_p12_the_database_is_created_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 12: database files were created 0644 while the exports are 0600; now the file, its -wal and -shm
    are the owner's only (whatever the umask), and a command that stores still creates them."""
    old = os.umask(0o022)
    try:
        with Store.open(f"sqlite:///{tmp_path / 'new' / 'veille.db'}") as store:
            with store.transaction() as tx:
                tx.save_state(SourceState("a"))
            files = [tmp_path / "new" / f"veille.db{suffix}" for suffix in ("", "-wal", "-shm")]
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    finally:
        os.umask(old)
    write(tmp_path / "sources.yaml", SOURCES)
    result = veille(tmp_path, monkeypatch, "poll", "--once", DATABASE_URL="sqlite:///made/veille.db")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "made" / "veille.db").stat().st_mode) == 0o600
