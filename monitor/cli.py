"""The monitor's commands: ``veille poll``, ``veille sources list|check|resume``, ``veille articles list``.

Conventions shared by every command: ``--sources PATH`` (default ``./sources.yaml``); the settings through
``configured``, from the configuration the root group loaded (``veille --config``: a file and the environment); the
store from ``DATABASE_URL`` (default an SQLite file ``veille.db`` in the working directory); ``--json`` on list
commands prints JSON Lines; private and loopback addresses are fetched only with ``VEILLE_ALLOW_PRIVATE=1``. Exit
codes: 0 on success (a failing source is a result, not a failure of the command, except for ``sources check
--probe``), 1 on a runtime failure (database unreachable, a probed source failing), 2 on bad usage or
configuration.

Human output is a table on stdout, then one note per failing source: what happened, to what, and what to do
next. Text that comes from a feed or a server is never read as rich markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import click
from pydantic import BaseModel
from rich.logging import RichHandler
from rich.markup import escape
from rich.text import Text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from monitor.cli_output import (
    articles_table,
    err,
    out,
    outcomes_table,
    print_jsonl,
    print_notes,
    probe_table,
    problem_notes,
    progress_bar,
    say,
    sources_table,
)
from monitor.config import SourceConfig, load_sources, parse_duration
from monitor.errors import ConfigError, Unavailable, cause_text, disk_full
from monitor.models import Article, SourceState
from monitor.settings import MonitorSettings, model_from_env, shown_database_url
from monitor.store import Store, sqlite_path

if TYPE_CHECKING:  # imported where they run: the commands that only read start faster
    from monitor.fetch import FetchSettings
    from monitor.poller import Poller, PollOutcome
    from monitor.probe import ProbeResult
    from monitor.workers import ParsePool

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound=click.Command)

log = logging.getLogger("veille")


def setup_logging(level: int = logging.WARNING) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(name)s: %(message)s", force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic", "trafilatura", "htmldate", "courlan"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _shown_database_url() -> str:
    """The configured database's scheme and host (or SQLite file): never a password, user or database name."""
    try:
        return shown_database_url(load_settings().database_url)
    except ConfigError:
        return "DATABASE_URL"


def _database_folder() -> Path | None:
    """The folder of the configured SQLite database (absolute); None for PostgreSQL or a broken setting."""
    try:
        path = sqlite_path(load_settings().database_url)
    except ConfigError:
        return None
    return None if path is None else path.absolute().parent


def _database_failure(exc: SQLAlchemyError) -> tuple[str, str]:
    """What went wrong with the database and what to do, for an error that reached a command."""
    what = f"with {_shown_database_url()}: {cause_text(exc)}"  # the driver's words, not SQLAlchemy's
    if disk_full(exc):
        folder = _database_folder()
        where = f"the disk that holds {folder}" if folder else "the database server's disk"
        return f"{what}\n{where} is full", f"free some space on {where}, then run the command again"
    if isinstance(exc, IntegrityError):
        return (
            f"{what}\na write conflicts with what is stored: a bug in veille, or data changed by another "
            "program",
            "run the command again; if it fails again, please report it with this message",
        )
    return what, (
        "check DATABASE_URL (or database_url in [monitor] of veille.toml) and that the database server is running "
        "and reachable"
    )


def _failure(message: str, fix: str | None = None, *, title: str = "error:") -> None:
    """One error on stderr, never read as markup: ``title message``, then ``fix: ...`` on the next line."""
    text = Text.assemble((title, "red"), " ", message)
    if fix:
        text.append(f"\nfix: {fix}")
    err.print(text, highlight=False, soft_wrap=True)


def _os_failure(exc: OSError) -> tuple[str, str | None]:
    if disk_full(exc):
        where = f" (writing {exc.filename})" if exc.filename else ""
        return (
            f"the disk is full{where}: {exc.strerror or exc}",
            "free some space on that disk, then run again",
        )
    return str(exc), None


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map configuration errors to exit code 2 and runtime failures to exit code 1, with a readable message."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _failure(str(exc), title="configuration error:")
            sys.exit(2)
        except SQLAlchemyError as exc:
            _failure(*_database_failure(exc), title="database error")
            sys.exit(1)
        except Unavailable as exc:
            _failure(str(exc), title="unavailable:")
            sys.exit(1)
        except BrokenPipeError:  # `veille ... | head`: the reader has all it wanted; not an error
            _quiet_stdout()
            sys.exit(0)
        except OSError as exc:
            _failure(*_os_failure(exc))
            sys.exit(1)

    return wrapper


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's capture): nothing to quiet
        pass


sources_option = click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sources.yaml"),
    show_default=True,
    help="The sources file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON Lines instead of a table.")


class SettingsLoader(Protocol):
    """Gives the validated settings of a model, from the configuration the ``veille`` group loaded."""

    def __call__(self, model: type[M], /) -> M: ...


SETTINGS_KEY = "veille.settings"  # in click's ``ctx.meta``: the SettingsLoader of the loaded configuration


def configured(model: type[M]) -> M:
    """The settings ``model`` from the configuration of ``veille --config`` (its file and the environment).

    The root group (``bot.cli``) puts a :class:`SettingsLoader` in ``ctx.meta``; without one (a command run on its
    own, a test), the settings come from the environment alone.
    """
    ctx = click.get_current_context(silent=True)
    loader: SettingsLoader | None = ctx.meta.get(SETTINGS_KEY) if ctx is not None else None
    return loader(model) if loader is not None else model_from_env(model, os.environ)


def load_settings() -> MonitorSettings:
    return configured(MonitorSettings)


def fetch_settings(settings: MonitorSettings) -> FetchSettings:
    from monitor.fetch import FetchSettings

    return FetchSettings(
        user_agent=settings.user_agent,
        contact=settings.contact,
        global_concurrency=settings.global_concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        total_timeout_s=settings.total_timeout_s,
        max_body_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
        allow_private=settings.allow_private,
    )


READ_ONLY_COMMANDS: set[click.Command] = set()  # commands that only read the store (``reads_only``)


def reads_only(command: C) -> C:
    """Mark a command that only reads the store: ``open_store`` refuses a missing SQLite database (exit code 2)
    instead of creating it, its folders and an empty schema, and answering "nothing" from it."""
    READ_ONLY_COMMANDS.add(command)
    return command


def _running_reads_only() -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command in READ_ONLY_COMMANDS


@contextlib.contextmanager
def open_store(settings: MonitorSettings, *, create: bool | None = None) -> Iterator[Store]:
    """The store of ``settings``. ``create`` (default: unless the running command ``reads_only``): create a
    missing SQLite database (0600); without it, a missing one is a ``MissingDatabase`` error (exit code 2)."""
    store = Store.open(settings.database_url, create=not _running_reads_only() if create is None else create)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def parse_pool(settings: MonitorSettings, sources: int) -> Iterator[ParsePool | None]:
    """Worker processes that parse the bodies of a round of ``sources`` sources, when worth it (see
    :func:`monitor.workers.processes_for`); None: the poller parses in a thread."""
    from monitor.workers import ParsePool, cap_malloc_arenas, processes_for

    cap_malloc_arenas()
    processes = processes_for(settings.parse_processes, sources)
    if processes < 1:
        yield None
        return
    with ParsePool(processes) as pool:
        yield pool


def pick_sources(all_sources: Sequence[SourceConfig], wanted: Sequence[str]) -> list[SourceConfig]:
    """The enabled sources, or exactly the ``wanted`` ones (even disabled); BadParameter for an unknown id."""
    if not wanted:
        return [s for s in all_sources if s.enabled]
    by_id = {s.id: s for s in all_sources}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        known = sorted(by_id)
        shown = ", ".join(known[:30]) + (f" and {len(known) - 30} more" if len(known) > 30 else "")
        raise click.BadParameter(
            f"unknown source id(s): {', '.join(unknown)}; known ids: {shown} (see: veille sources list)",
            param_hint="--source",
        )
    return [by_id[w] for w in dict.fromkeys(wanted)]


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The store's writer
# thread gives the GIL up at every SQLite call and then waits for it behind the event loop's thread: a dozen
# calls a poll, 2,000 polls a round. At 0.5 ms, bench/vs_reader.py's first round took 55 s instead of 64 s on
# 2 cores (0.2 ms: 57 s, 1 ms: 59 s); the second round was unchanged.
POLL_SWITCH_INTERVAL_S = 0.0005


@contextlib.contextmanager
def gil_handed_on_sooner() -> Iterator[None]:
    """The GIL switch interval of polling (POLL_SWITCH_INTERVAL_S) inside the block; the previous one after."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(POLL_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


async def poll_round(
    poller: Poller, sources: Sequence[SourceConfig], *, force: bool, advance: Callable[[], None]
) -> list[PollOutcome]:
    async def one(source: SourceConfig) -> PollOutcome:
        outcome = await poller.poll(source, force=force)
        advance()
        return outcome

    return list(await asyncio.gather(*(one(s) for s in sources)))


def _outcome_row(o: PollOutcome) -> dict[str, Any]:
    row = asdict(o)
    row["warnings"] = list(o.warnings)
    return row


async def _poll_once(
    settings: MonitorSettings, sources: list[SourceConfig], *, force: bool, as_json: bool
) -> list[PollOutcome]:
    from monitor.fetch import Fetcher
    from monitor.poller import Poller

    with gil_handed_on_sooner(), open_store(settings) as store, parse_pool(settings, len(sources)) as workers:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings, workers=workers)
            with progress_bar("polling", len(sources), show=not as_json) as advance:
                return await poll_round(poller, sources, force=force, advance=advance)


async def _poll_forever(settings: MonitorSettings, sources: list[SourceConfig]) -> None:
    from monitor.fetch import Fetcher
    from monitor.poller import Poller
    from monitor.scheduler import MonitorScheduler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def report(o: PollOutcome) -> None:
        if o.status == "new":
            log.info("source_id=%s new=%d duplicates=%d", o.source_id, o.new, o.duplicates)

    with gil_handed_on_sooner(), open_store(settings) as store, parse_pool(settings, len(sources)) as workers:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings, workers=workers)
            scheduler = MonitorScheduler(poller, sources, on_poll=report)
            log.info("watching %d sources (Ctrl-C or SIGTERM stops)", len(sources))
            await scheduler.run_until(stop)
    log.info("stopped")


@click.command("poll")
@click.option("--once", is_flag=True, help="Poll each source once, print a table and exit.")
@click.option(
    "--source",
    "source_ids",
    multiple=True,
    metavar="ID",
    help="Only this source (repeatable); polls it even when paused.",
)
@sources_option
@json_option
@handles_errors
def poll_cmd(once: bool, source_ids: tuple[str, ...], sources_path: Path, as_json: bool) -> None:
    """Poll the sources: once with --once, else each on its own schedule until interrupted."""
    setup_logging(logging.ERROR if once else logging.INFO)
    settings = load_settings()
    sources = pick_sources(load_sources(sources_path), source_ids)
    if not sources:
        err.print(Text(f"nothing to poll: every source in {sources_path} is disabled"), soft_wrap=True)
        return
    if not once:
        asyncio.run(_poll_forever(settings, sources))
        return
    outcomes = asyncio.run(_poll_once(settings, sources, force=bool(source_ids), as_json=as_json))
    if as_json:
        print_jsonl([_outcome_row(o) for o in outcomes])
        return
    out.print(outcomes_table(outcomes, datetime.now(UTC)))
    print_notes(
        [
            line
            for o in sorted(outcomes, key=lambda o: o.source_id)
            for line in problem_notes(
                o.source_id, o.error_kind, o.error_message, paused=o.paused, warnings=o.warnings
            )
        ]
    )


# --- sources ------------------------------------------------------------------------------------------------


@click.group("sources")
def sources_group() -> None:
    """List, check and resume the sources of sources.yaml."""


def source_status(source: SourceConfig, state: SourceState | None) -> str:
    """disabled; paused; failing (errors since the last success); ok; pending (no success and no error yet)."""
    if not source.enabled:
        return "disabled"
    if state is not None and state.paused:
        return "paused"
    if state is not None and state.consecutive_errors:
        return "failing"
    return "ok" if state is not None and state.last_success_at is not None else "pending"


def effective_interval(source: SourceConfig, state: SourceState | None) -> tuple[float, str]:
    """The interval the source is polled at now, in seconds, and why it is not simply the configured one."""
    configured = source.interval.total_seconds()
    if state is None:
        return configured, "configured"
    if state.paused:
        return configured, "paused"
    current = state.interval_s or configured
    if state.consecutive_errors and state.last_checked_at and state.next_check_at:
        waited = (state.next_check_at - state.last_checked_at).total_seconds()
        errors = state.consecutive_errors
        return max(waited, 0.0), f"backoff: {errors} error{'s' if errors > 1 else ''}"
    if abs(current - configured) >= 1:
        return current, "adaptive"  # the feed's publishing rate, within the bounds
    return current, "configured"


def _state_row(source: SourceConfig, state: SourceState | None) -> dict[str, Any]:
    s = state or SourceState(source.id)
    effective, why = effective_interval(source, state)
    return {
        "id": source.id,
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "language": source.language,
        "interval_s": source.interval.total_seconds(),
        "effective_interval_s": effective,
        "interval_reason": why,
        "tags": list(source.tags),
        "enabled": source.enabled,
        "status": source_status(source, state),
        "last_checked_at": s.last_checked_at,
        "last_success_at": s.last_success_at,
        "next_check_at": s.next_check_at,
        "error_count": s.error_count,
        "consecutive_errors": s.consecutive_errors,
        "last_error_kind": s.last_error_kind,
        "last_error_message": s.last_error_message,
        "last_error_at": s.last_error_at,
        "paused_reason": s.paused_reason,
    }


@reads_only
@sources_group.command("list")
@sources_option
@json_option
@handles_errors
def sources_list(sources_path: Path, as_json: bool) -> None:
    """The sources with their health: status, last success, next check, errors."""
    setup_logging()
    sources = load_sources(sources_path)
    with open_store(load_settings()) as store:
        states = store.states()
    rows = [_state_row(s, states.get(s.id)) for s in sources]
    if as_json:
        print_jsonl(rows)
        return
    out.print(sources_table(rows, f"{len(rows)} sources in {sources_path}", datetime.now(UTC)))
    print_notes(
        [
            line
            for r in rows
            if r["status"] in ("failing", "paused")
            for line in problem_notes(
                r["id"], r["last_error_kind"], r["last_error_message"], paused=r["status"] == "paused"
            )
        ]
    )


async def _probe(
    settings: MonitorSettings, sources: Sequence[SourceConfig], *, show_progress: bool
) -> list[ProbeResult]:
    from monitor.fetch import Fetcher
    from monitor.probe import probe_sources

    async with Fetcher(fetch_settings(settings)) as fetcher:
        with progress_bar("probing", len(sources), show=show_progress) as advance:
            return await probe_sources(fetcher, sources, advance)


def _report_valid(sources_path: Path, sources: Sequence[SourceConfig], *, as_json: bool) -> None:
    langs = Counter(s.language for s in sources)
    enabled = sum(1 for s in sources if s.enabled)
    if as_json:
        print_jsonl([{"valid": True, "sources": len(sources), "enabled": enabled, "languages": dict(langs)}])
        return
    disabled = f" ({len(sources) - enabled} disabled)" if enabled < len(sources) else ""
    languages = ", ".join(f"{k} {v}" for k, v in sorted(langs.items()))
    say(f"{sources_path}: valid; {len(sources)} sources{disabled}; languages: {languages}")


def _report_probe(results: Sequence[ProbeResult], *, as_json: bool) -> None:
    if as_json:
        print_jsonl([{**asdict(r), "warnings": list(r.warnings)} for r in results])
        return
    out.print(probe_table(results))
    print_notes(
        [
            line
            for r in results
            for line in problem_notes(r.id, r.error_kind, r.error, paused=False, warnings=r.warnings)
        ]
    )


@sources_group.command("check")
@click.option("--probe", is_flag=True, help="Also fetch each source once and report what it serves.")
@click.option("--source", "source_ids", multiple=True, metavar="ID", help="Only this source (repeatable).")
@sources_option
@json_option
@handles_errors
def sources_check(probe: bool, source_ids: tuple[str, ...], sources_path: Path, as_json: bool) -> None:
    """Validate the sources file; with --probe, fetch each source once (status, type, items, language)."""
    setup_logging(logging.ERROR)
    all_sources = load_sources(sources_path)
    sources = pick_sources(all_sources, source_ids)
    if not probe:
        _report_valid(sources_path, sources if source_ids else all_sources, as_json=as_json)
        return
    results = asyncio.run(_probe(load_settings(), sources, show_progress=not as_json))
    _report_probe(results, as_json=as_json)
    failed = [r for r in results if r.error_kind is not None]
    if failed:
        err.print(
            f"[red]{len(failed)} of {len(results)} sources failed the probe:[/] "
            + escape(", ".join(f"{r.id} ({r.error_kind})" for r in failed)),
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


@sources_group.command("resume")
@click.argument("source_ids", metavar="ID...", nargs=-1, required=True)
@sources_option
@handles_errors
def sources_resume(source_ids: tuple[str, ...], sources_path: Path) -> None:
    """Resume paused sources: polled at the next round, error counters restart from zero."""
    setup_logging()
    pick_sources(load_sources(sources_path), source_ids)
    with open_store(load_settings()) as store:
        for sid in dict.fromkeys(source_ids):
            state = store.get_state(sid)
            if state is None or not state.paused:
                say(f"{sid}: not paused, nothing to do")
                continue
            resumed = replace(
                state, paused=False, paused_reason=None, consecutive_errors=0, next_check_at=datetime.now(UTC)
            )
            with store.transaction() as tx:
                tx.save_state(resumed)
            say(f"{sid}: resumed (was paused: {state.paused_reason}); polled at the next round")


# --- articles -----------------------------------------------------------------------------------------------


@click.group("articles")
def articles_group() -> None:
    """Look at the stored articles."""


def article_row(a: Article) -> dict[str, Any]:
    return {
        "id": a.id,
        "source_id": a.source_id,
        "title": a.title,
        "url": a.url,
        "canonical_url": a.canonical_url,
        "language": a.language,
        "published_at": a.published_at,
        "published_estimated": a.published_estimated,
        "first_seen_at": a.first_seen_at,
        "authors": list(a.authors),
        "tags": list(a.tags),
        "duplicate_of": a.duplicate_of,
        "summary": a.summary,
    }


@reads_only
@articles_group.command("list")
@click.option("--since", default="24h", show_default=True, help="How far back (first seen): 90m, 24h, 7d...")
@click.option("--source", "source_id", default=None, metavar="ID", help="Only this source.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100000))
@click.option(
    "--duplicates/--no-duplicates",
    default=False,
    show_default=True,
    help="Include articles recorded as copies of another.",
)
@sources_option
@json_option
@handles_errors
def articles_list(
    since: str, source_id: str | None, limit: int, duplicates: bool, sources_path: Path, as_json: bool
) -> None:
    """Articles first seen in the last --since, the most recently published first."""
    setup_logging()
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    now = datetime.now(UTC)
    with open_store(load_settings()) as store:
        articles = store.list_articles(
            since=now - window,
            source_id=source_id,
            limit=limit,
            include_duplicates=duplicates,
            by_publication=True,
        )
    if as_json:
        print_jsonl([article_row(a) for a in articles])
    elif not articles:
        which = f" from {source_id}" if source_id else ""
        say(f"no articles{which} first seen in the last {since}; fetch some with: veille poll --once")
    else:
        out.print(articles_table(articles, since))
