"""The ``veille`` command line end to end: the real program in a subprocess, feeds on the loopback server.

Each run is ``python -m tests.guarded_run ARGS`` (the loopback-only network guard installed) in a temporary
working directory, with the store in an SQLite file there (or the local PostgreSQL for the poll scenario).
Human output is read at rich's default width for a pipe (80 columns), so the tables are checked for what a
person sees: ids not cut, one row per source, a note that says what happened and what to do next.

Pure helpers of the CLI (relative times, statuses, hints, the probe's language check) are tested in-process,
table-driven.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import source_status
from monitor.cli_output import NEXT_STEP, ago, next_check_text
from monitor.config import SourceConfig, format_duration
from monitor.errors import ErrorKind
from monitor.models import SourceState
from monitor.probe import language_warning, majority_language
from tests.conftest import ROOT
from tests.httpserver import LoopbackServer, Request, Response

pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ETAG = '"v1"'
ITEMS = (
    (
        "La police démantèle un réseau de trafic de drogue à Marseille",
        "Les enquêteurs ont interpellé douze personnes lors d'une opération menée mardi matin dans "
        "plusieurs quartiers de la ville, selon le parquet.",
    ),
    (
        "[/update] Le ministre annonce de nouvelles mesures contre la fraude en ligne",
        "Le gouvernement présentera un projet de loi au parlement afin de renforcer la protection des "
        "consommateurs face aux escroqueries.",
    ),
    (
        "Europol coordonne une journée d'action contre la propagande terroriste",
        "Les plateformes ont reçu plusieurs milliers de signalements de contenus illicites au cours de "
        "cette opération européenne.",
    ),
)


def feed_xml(items: Sequence[tuple[str, str]] = ITEMS) -> bytes:
    date = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    entries = "".join(
        f"<item><title>{title}</title><link>https://interieur.example.fr/actu/{n}</link>"
        f"<guid>actu-{n}</guid><pubDate>{date}</pubDate><description>{text}</description></item>"
        for n, (title, text) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ministère</title>'
        f"<link>https://interieur.example.fr/</link>{entries}</channel></rss>"
    ).encode()


def conditional_feed(body: bytes) -> Any:
    """A feed that answers 304 to a request carrying its ETag, as real servers do."""

    def handle(req: Request) -> Response:
        if req.headers.get("if-none-match") == ETAG:
            return Response(304, headers={"ETag": ETAG})
        return Response(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": ETAG})

    return handle


def write_sources(path: Path, server: LoopbackServer, *, language: str = "auto") -> Path:
    path.write_text(
        "sources:\n"
        "  - id: ministere\n"
        "    name: Ministère de l'Intérieur (test)\n"
        "    kind: feed\n"
        f"    url: {server.url('/feed.xml')}\n"
        f"    language: {language}\n"
        "    interval: 30m\n"
        "  - id: missing\n"
        "    name: A feed that moved\n"
        "    kind: feed\n"
        f"    url: {server.url('/moved.xml')}\n"
        "    language: en\n",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def jsonl(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def row(self, first_cell: str) -> list[str]:
        """The cells of the table line that starts with ``first_cell`` (split on runs of spaces)."""
        lines = [line for line in self.out.splitlines() if line.split()[:1] == [first_cell]]
        assert len(lines) == 1, f"one row for {first_cell!r} expected in:\n{self.out}"
        return lines[0].split()

    def __str__(self) -> str:
        return f"veille {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Veille:
    """Runs the CLI in ``cwd`` with a clean environment: only the variables a test gives reach veille."""

    def __init__(self, cwd: Path, database_url: str) -> None:
        self.cwd = cwd
        dropped = ("VEILLE_", "DATABASE_URL", "COLUMNS", "LINES", "FORCE_COLOR", "TTY_", "NO_COLOR")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        self.env.update(PYTHONPATH=str(ROOT), DATABASE_URL=database_url, VEILLE_ALLOW_PRIVATE="1")

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        merged = {**self.env, **(env or {})}
        return subprocess.Popen(
            [sys.executable, "-m", "tests.guarded_run", *args],
            cwd=self.cwd,
            env={k: v for k, v in merged.items() if v},  # "" removes a variable
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    @staticmethod
    def finish(proc: subprocess.Popen[str], args: Sequence[str]) -> Run:
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"veille {' '.join(args)} did not finish in 60 s\n{out}\n{err}")
        return Run(tuple(args), proc.returncode, out, err)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        return self.finish(self.start(*args, env=env), args)

    def many(self, *arg_lists: Sequence[str], env: Mapping[str, str] | None = None) -> list[Run]:
        """Run several commands at once (they share nothing but the read-only sources file)."""
        procs = [(self.start(*args, env=env), args) for args in arg_lists]
        return [self.finish(proc, args) for proc, args in procs]


@pytest.fixture
def veille(tmp_path: Path) -> Veille:
    return Veille(tmp_path, f"sqlite:///{tmp_path / 'veille.db'}")


@pytest.fixture
def feeds(http_server: LoopbackServer, tmp_path: Path) -> Path:
    """The loopback server with a good French feed (/feed.xml) and a 404 (/moved.xml); the sources file."""
    http_server.route("/feed.xml", handler=conditional_feed(feed_xml()))
    return write_sources(tmp_path / "sources.yaml", http_server)


# --- poll ---------------------------------------------------------------------------------------------------


def test_poll_once_table_then_not_modified(
    database_url: str, http_server: LoopbackServer, feeds: Path, tmp_path: Path
) -> None:
    veille = Veille(tmp_path, database_url)
    first = veille("poll", "--once")
    assert first.code == 0, first
    assert first.row("ministere")[:6] == ["ministere", "new", "3", "3", "0", "0"], first
    missing = first.row("missing")
    assert missing[:6] == ["missing", "failed", "0", "0", "0", "0"] and missing[-1] == "not_found", first
    assert "1 with new articles; 1 failed; 3 new articles" in first.out
    assert "missing: not_found: HTTP 404 Not Found" in first.out  # what happened, to what
    assert "next: the url is wrong or has moved" in first.out  # and what to do next
    assert first.err == "", first

    second = veille("poll", "--once", "--json")
    assert second.code == 0, second
    rows = {r["source_id"]: r for r in second.jsonl()}
    assert set(rows) == {"ministere", "missing"}, second
    assert rows["ministere"] | {"next_check_at": None, "elapsed_s": None} == {
        "source_id": "ministere",
        "status": "not_modified",
        "items": 0,
        "new": 0,
        "duplicates": 0,
        "unchanged": 0,
        "error_kind": None,
        "error_message": None,
        "warnings": [],
        "next_check_at": None,
        "paused": False,
        "elapsed_s": None,
    }
    assert datetime.fromisoformat(rows["ministere"]["next_check_at"]) > datetime.now(UTC)
    assert (rows["missing"]["status"], rows["missing"]["error_kind"]) == ("failed", "not_found")
    conditional = http_server.requests_to("/feed.xml")[-1]
    assert conditional.headers.get("if-none-match") == ETAG


def test_poll_one_source_and_an_unknown_one(veille: Veille, http_server: LoopbackServer, feeds: Path) -> None:
    one, unknown = veille.many(
        ["poll", "--once", "--json", "--source", "ministere"], ["poll", "--source", "nope"]
    )
    assert one.code == 0, one
    assert [r["source_id"] for r in one.jsonl()] == ["ministere"]
    assert http_server.requests_to("/moved.xml") == []
    assert unknown.code == 2, unknown
    assert (
        "unknown source id(s): nope; known ids: ministere, missing (see: veille sources list)" in unknown.err
    ), unknown
    assert "Traceback" not in unknown.err


def test_loopback_refused_without_allow_private(
    veille: Veille, http_server: LoopbackServer, feeds: Path
) -> None:
    run = veille("poll", "--once", "--json", env={"VEILLE_ALLOW_PRIVATE": ""})
    assert run.code == 0, run
    assert {(r["source_id"], r["status"], r["error_kind"]) for r in run.jsonl()} == {
        ("ministere", "failed", "refused_address"),
        ("missing", "failed", "refused_address"),
    }
    assert http_server.requests == []  # refused before connecting, not after


def test_human_output_is_readable_and_markup_safe(veille: Veille, feeds: Path) -> None:
    """At 80 columns the poll table keeps ids whole; a title with rich markup syntax prints as it is."""
    polled = veille("poll", "--once")
    assert polled.code == 0, polled
    table = polled.out.split("\n\n")[0].splitlines()
    assert all(len(line) <= 80 for line in table) and "…" not in polled.out, polled
    listed = veille("articles", "list")
    assert listed.code == 0, listed
    assert listed.out.splitlines()[0].strip() == "3 articles first seen in the last 24h", listed
    assert "[/update]" in listed.out and "Traceback" not in listed.err, listed


# --- sources ------------------------------------------------------------------------------------------------


def test_sources_check_valid_bad_and_missing_files(veille: Veille, feeds: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "sources:\n"
        "  - id: europol-news\n"
        "    name: Europol\n"
        "    kind: feed\n"
        "    url: https://www.europol.europa.eu/rss.xml\n"
        "    intervall: 30m\n",
        encoding="utf-8",
    )
    valid, valid_json, bad, missing = veille.many(
        ["sources", "check"],
        ["sources", "check", "--json"],
        ["sources", "check", "--sources", "bad.yaml"],
        ["sources", "check", "--sources", "absent.yaml"],
    )
    assert (valid.code, valid.out.strip()) == (0, "sources.yaml: valid; 2 sources; languages: auto 1, en 1")
    assert valid_json.jsonl() == [
        {"valid": True, "sources": 2, "enabled": 2, "languages": {"auto": 1, "en": 1}}
    ]
    assert bad.code == 2, bad
    assert "bad.yaml:6: sources[0] (id=europol-news): unknown key 'intervall'" in bad.err, bad
    assert "fix: did you mean 'interval'?" in bad.err, bad
    assert missing.code == 2 and "absent.yaml: file not found" in missing.err, missing
    assert "pass --sources PATH" in missing.err
    broken = veille("sources", "check", "--probe", env={"VEILLE_PER_HOST_CONCURRENCY": "lots"})
    assert broken.code == 2, broken
    assert (
        "VEILLE_PER_HOST_CONCURRENCY='lots'" in broken.err
        and "fix: set VEILLE_PER_HOST_CONCURRENCY" in broken.err
    )
    for run in (bad, missing, broken):
        assert "Traceback" not in run.err, run


def test_probe_reports_status_type_items_language(
    veille: Veille, http_server: LoopbackServer, feeds: Path, tmp_path: Path
) -> None:
    write_sources(feeds, http_server, language="en")  # the feed is French: the probe must say so
    run = veille("sources", "check", "--probe", "--json")
    assert run.code == 1, run  # one source fails
    rows = {r["id"]: r for r in run.jsonl()}
    good, bad = rows["ministere"], rows["missing"]
    assert (good["status"], good["type"], good["items"], good["language"], good["declared"]) == (
        200,
        "rss20",
        3,
        "fr",
        "en",
    )
    assert good["error_kind"] is None and good["error"] is None
    assert good["warnings"] == [
        "declared language en but 3 of 3 items read as fr: set language: fr (or auto for a mixed source)"
    ]
    assert (bad["status"], bad["error_kind"], bad["error"]) == (404, "not_found", "HTTP 404 Not Found")
    assert "1 of 2 sources failed the probe: missing (not_found)" in run.err, run
    assert not (tmp_path / "veille.db").exists()  # a probe stores nothing
    assert all("if-none-match" not in r.headers for r in http_server.requests)

    human = veille("sources", "check", "--probe")
    assert human.code == 1, human
    assert human.row("ministere") == ["ministere", "200", "rss20", "3", "fr", "en", "ok,", "1", "warning"]
    assert human.row("missing") == ["missing", "404", "-", "0", "-", "en", "not_found"]
    assert "ministere: warning: declared language en but 3 of 3 items read as fr" in human.out


def test_sources_list_after_a_poll(veille: Veille, feeds: Path) -> None:
    assert veille("poll", "--once", "--json").code == 0
    listed, human = veille.many(["sources", "list", "--json"], ["sources", "list"])
    assert listed.code == 0, listed
    rows = {r["id"]: r for r in listed.jsonl()}
    ok, failing = rows["ministere"], rows["missing"]
    assert (ok["status"], ok["error_count"], ok["last_error_kind"]) == ("ok", 0, None)
    assert datetime.fromisoformat(ok["last_success_at"]) <= datetime.now(UTC)
    assert (failing["status"], failing["error_count"], failing["consecutive_errors"]) == ("failing", 1, 1)
    assert (failing["last_error_kind"], failing["last_error_message"]) == ("not_found", "HTTP 404 Not Found")
    assert failing["last_success_at"] is None and failing["paused_reason"] is None
    assert human.code == 0, human
    # the interval each is polled at now, and why: the feed's rate (adaptive), the backoff after its error
    assert ok["interval_reason"] in ("configured", "adaptive") and ok["interval_s"] == 1800
    assert failing["interval_reason"] == "backoff: 1 error" and failing["effective_interval_s"] > 0
    every = format_duration(timedelta(seconds=round(ok["effective_interval_s"])))
    mark = ["~"] if ok["interval_reason"] == "adaptive" else []  # cells split on spaces: the mark is one
    assert human.row("ministere")[: 4 + len(mark)] == ["ministere", "ok", "auto", every, *mark], human
    assert human.row("ministere")[-1] == "0"
    assert human.row("missing")[:3] == ["missing", "failing", "en"] and human.row("missing")[4] == "+"
    assert human.row("missing")[-1] == "1/1", human
    assert "missing: not_found: HTTP 404 Not Found" in human.out


def test_resume_a_source_paused_by_permanent_errors(
    veille: Veille, http_server: LoopbackServer, feeds: Path
) -> None:
    env = {"VEILLE_PAUSE_AFTER_ERRORS": "1"}
    first = veille("poll", "--once", "--json", env=env)
    assert {r["source_id"]: r["paused"] for r in first.jsonl()} == {"ministere": False, "missing": True}
    skipped = veille("poll", "--once", "--json", env=env)
    assert {r["source_id"]: r["status"] for r in skipped.jsonl()}["missing"] == "paused", skipped
    assert len(http_server.requests_to("/moved.xml")) == 1  # a paused source is not fetched

    resumed = veille("sources", "resume", "missing", "ministere", env=env)
    assert resumed.code == 0, resumed
    assert resumed.out.splitlines() == [
        "missing: resumed (was paused: not_found on 1 polls in a row: HTTP 404 Not Found); polled at the next round",
        "ministere: not paused, nothing to do",
    ]
    state = {r["id"]: r for r in veille("sources", "list", "--json").jsonl()}["missing"]
    assert (state["status"], state["consecutive_errors"], state["error_count"]) == ("pending", 0, 1)

    again = veille("poll", "--once", "--json", env=env)
    assert {r["source_id"]: r["status"] for r in again.jsonl()}["missing"] == "failed", again
    assert len(http_server.requests_to("/moved.xml")) == 2


# --- articles -----------------------------------------------------------------------------------------------


def test_articles_list_json_and_bad_since(veille: Veille, feeds: Path) -> None:
    assert veille("poll", "--once", "--json").code == 0
    listed, other, garbage = veille.many(
        ["articles", "list", "--since", "24h", "--json"],
        ["articles", "list", "--source", "missing", "--json"],
        ["articles", "list", "--since", "garbage"],
    )
    assert listed.code == 0, listed
    rows = listed.jsonl()
    assert sorted(r["title"] for r in rows) == sorted(title for title, _ in ITEMS)
    assert {r["source_id"] for r in rows} == {"ministere"} and {r["language"] for r in rows} == {"fr"}
    assert {r["url"] for r in rows} == {f"https://interieur.example.fr/actu/{n}" for n in range(3)}
    for r in rows:
        assert set(r) >= {"id", "source_id", "title", "url", "language", "published_at", "first_seen_at"}
        published = datetime.fromisoformat(r["published_at"])
        assert timedelta(minutes=50) < datetime.now(UTC) - published < timedelta(hours=2)
        assert r["published_estimated"] is False and r["duplicate_of"] is None
    assert (other.code, other.out) == (0, "")
    assert garbage.code == 2, garbage
    assert "Invalid value for --since: 'garbage' is not a duration" in garbage.err


# --- process-level behaviour ----------------------------------------------------------------------------------


def test_unreachable_database_is_a_clear_runtime_error(veille: Veille, feeds: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody:s3cret@127.0.0.1:1/x"}
    for run in veille.many(["poll", "--once"], ["sources", "list"], ["articles", "list", "--json"], env=env):
        assert run.code == 1, run
        # only the scheme and the host of the URL: no user, port nor database name (issue 12, point 7)
        assert run.err.startswith("database error with postgresql://127.0.0.1: OperationalError")
        assert "check DATABASE_URL" in run.err and "Traceback" not in run.err and "s3cret" not in run.err
        assert run.out == ""


def test_help_and_version(veille: Veille) -> None:
    commands = [[], ["poll"], ["run"], ["sources"], ["sources", "list"], ["sources", "check"]]
    commands += [["sources", "resume"], ["articles"], ["articles", "list"]]
    runs = veille.many(*([*c, "--help"] for c in commands), ["--version"])
    for run in runs[:-1]:
        assert run.code == 0 and run.out.startswith("Usage: veille"), run
    assert "--sources FILE" in runs[2].out  # veille run takes the sources file like every command
    with (ROOT / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert runs[-1].code == 0 and runs[-1].out.startswith(f"veille {version}"), runs[-1]


def test_run_polls_until_sigterm_and_finishes_its_polls(
    veille: Veille, http_server: LoopbackServer, feeds: Path, tmp_path: Path
) -> None:
    proc = veille.start("run", "--sources", str(feeds), env={"VEILLE_STARTUP_SPREAD_S": "0"})
    deadline = time.monotonic() + 30
    while not http_server.requests_to("/feed.xml") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert http_server.requests_to("/feed.xml"), Veille.finish(proc, ["run"])
    proc.send_signal(signal.SIGTERM)
    run = Veille.finish(proc, ["run"])
    assert run.code == 0, run
    assert "Traceback" not in run.err
    stored = veille("articles", "list", "--json")
    assert len(stored.jsonl()) == 3, stored  # the poll in flight at SIGTERM was committed


# --- pure helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(None, "-", id="never"),
        pytest.param(NOW - timedelta(seconds=12), "12s ago", id="seconds-ago"),
        pytest.param(NOW - timedelta(minutes=5), "5m ago", id="minutes-ago"),
        pytest.param(NOW - timedelta(hours=2, minutes=10), "2h ago", id="hours-ago"),
        pytest.param(NOW - timedelta(days=3), "3d ago", id="days-ago"),
        pytest.param(NOW + timedelta(minutes=30), "in 30m", id="minutes-ahead"),
        pytest.param(NOW + timedelta(hours=6), "in 6h", id="hours-ahead"),
    ],
)
def test_ago(when: datetime | None, expected: str) -> None:
    assert ago(when, NOW) == expected


@pytest.mark.parametrize(
    ("when", "paused", "expected"),
    [
        pytest.param(NOW + timedelta(minutes=5), False, "in 5m", id="scheduled"),
        pytest.param(NOW - timedelta(minutes=5), False, "due now", id="overdue"),
        pytest.param(NOW + timedelta(minutes=5), True, "paused", id="paused"),
        pytest.param(None, False, "-", id="unknown"),
    ],
)
def test_next_check_text(when: datetime | None, paused: bool, expected: str) -> None:
    assert next_check_text(when, NOW, paused=paused) == expected


def _source(enabled: bool = True) -> SourceConfig:
    return SourceConfig(id="s", name="S", kind="feed", url="https://example.org/feed", enabled=enabled)


@pytest.mark.parametrize(
    ("enabled", "state", "expected"),
    [
        pytest.param(True, None, "pending", id="never-polled"),
        pytest.param(False, SourceState("s", last_success_at=NOW), "disabled", id="disabled"),
        pytest.param(True, SourceState("s", last_success_at=NOW), "ok", id="ok"),
        pytest.param(
            True, SourceState("s", last_success_at=NOW, consecutive_errors=2), "failing", id="failing"
        ),
        pytest.param(True, SourceState("s", consecutive_errors=3, paused=True), "paused", id="paused"),
        pytest.param(True, SourceState("s", last_checked_at=NOW, error_count=4), "pending", id="resumed"),
    ],
)
def test_source_status(enabled: bool, state: SourceState | None, expected: str) -> None:
    assert source_status(_source(enabled), state) == expected


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_every_error_kind_says_what_to_do_next(kind: ErrorKind) -> None:
    assert len(NEXT_STEP[kind]) > 20


@pytest.mark.parametrize(
    ("declared", "languages", "majority", "warned"),
    [
        pytest.param("fr", ["fr", "fr", None], ("fr", 2), False, id="as-declared"),
        pytest.param("auto", ["fr", "de", "fr"], ("fr", 2), False, id="auto-never-warns"),
        pytest.param("en", ["fr", "fr", "en"], ("fr", 2), True, id="mostly-another"),
        pytest.param("en", [None, None], None, False, id="nothing-detected"),
        pytest.param("en", [], None, False, id="no-items"),
    ],
)
def test_probe_language_check(
    declared: str, languages: list[str | None], majority: tuple[str, int] | None, warned: bool
) -> None:
    assert majority_language(languages) == majority
    warning = language_warning(declared, languages)
    assert (warning is not None) == warned
    if warning is not None and majority is not None:
        assert f"read as {majority[0]}" in warning and f"set language: {majority[0]}" in warning


def test_a_closed_pipe_is_not_an_error() -> None:
    """``veille ... | head``: the reader stopped reading; the command ends quietly with 0, no "Broken pipe"."""
    from monitor.cli import handles_errors

    @handles_errors
    def printing() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(SystemExit) as ended:
        printing()
    assert ended.value.code == 0


def test_sources_list_says_at_what_interval_and_why() -> None:
    from datetime import UTC, datetime, timedelta

    from monitor.cli import effective_interval
    from monitor.config import SourceConfig
    from monitor.models import SourceState

    source = SourceConfig(
        id="s", name="S", kind="feed", url="https://s.example.org/feed", interval=timedelta(minutes=30)
    )
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert effective_interval(source, None) == (1800.0, "configured")
    assert effective_interval(source, SourceState("s", interval_s=600.0)) == (600.0, "adaptive")
    failing = SourceState(
        "s", consecutive_errors=3, last_checked_at=at, next_check_at=at + timedelta(hours=2)
    )
    assert effective_interval(source, failing) == (7200.0, "backoff: 3 errors")
    assert effective_interval(source, SourceState("s", paused=True))[1] == "paused"


def test_polling_hands_the_gil_on_sooner_and_restores_the_interval() -> None:
    import sys

    from monitor.cli import POLL_SWITCH_INTERVAL_S, gil_handed_on_sooner

    before = sys.getswitchinterval()
    with gil_handed_on_sooner():
        assert sys.getswitchinterval() == pytest.approx(POLL_SWITCH_INTERVAL_S) != pytest.approx(before)
    assert sys.getswitchinterval() == before
