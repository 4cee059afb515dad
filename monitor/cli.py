"""The monitor's commands: ``veille poll``, ``veille sources list|check|resume``, ``veille articles list``.

Conventions shared by every command: ``--sources PATH`` (default ``./sources.yaml``); the store from
``DATABASE_URL`` (default an SQLite file ``veille.db`` in the working directory); ``--json`` on list commands prints
JSON Lines; private and loopback addresses are fetched only with ``VEILLE_ALLOW_PRIVATE=1``. Exit codes: 0 on
success, 1 on a runtime failure, 2 on bad usage or configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from monitor.config import MonitorSettings, SourceConfig, load_sources, parse_duration, settings_from_env
from monitor.errors import ConfigError
from monitor.fetch import Fetcher, FetchSettings
from monitor.models import Article, SourceState
from monitor.poller import Poller, PollOutcome
from monitor.scheduler import MonitorScheduler
from monitor.store import Store

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("veille")
out = Console()
err = Console(stderr=True)


def setup_logging(level: int = logging.WARNING) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(name)s: %(message)s", force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic", "trafilatura", "htmldate", "courlan"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map configuration errors to exit code 2 and runtime failures to exit code 1, with a readable message."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[red]configuration error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except SQLAlchemyError as exc:
            err.print(
                f"[red]database error:[/] {exc.__class__.__name__}: {escape(str(exc).splitlines()[0])}\n"
                "check DATABASE_URL and that the database server is running",
                highlight=False,
            )
            sys.exit(1)
        except OSError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(1)

    return wrapper


sources_option = click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sources.yaml"),
    show_default=True,
    help="The sources file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON Lines instead of a table.")


def load_settings() -> MonitorSettings:
    return settings_from_env(os.environ)


def fetch_settings(settings: MonitorSettings) -> FetchSettings:
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


@contextlib.contextmanager
def open_store(settings: MonitorSettings) -> Iterator[Store]:
    store = Store.open(settings.database_url)
    try:
        yield store
    finally:
        store.close()


def pick_sources(all_sources: Sequence[SourceConfig], wanted: Sequence[str]) -> list[SourceConfig]:
    if not wanted:
        return [s for s in all_sources if s.enabled]
    by_id = {s.id: s for s in all_sources}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise click.BadParameter(
            f"unknown source id(s): {', '.join(unknown)}; known ids: {', '.join(sorted(by_id))[:500]}",
            param_hint="--source",
        )
    return [by_id[w] for w in wanted]


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_jsonl(rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=_json_default))


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    secs = (now - when).total_seconds()
    sign, secs = ("in ", -secs) if secs < 0 else ("", secs)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{sign}{secs / size:.0f}{unit}{'' if sign else ' ago'}"
    return f"{sign}{secs:.0f}s{'' if sign else ' ago'}"


# --- poll ---------------------------------------------------------------------------------------------------


async def poll_round(
    poller: Poller, sources: Sequence[SourceConfig], *, force: bool, progress: Progress | None
) -> list[PollOutcome]:
    task_id = progress.add_task("polling", total=len(sources)) if progress else None

    async def one(source: SourceConfig) -> PollOutcome:
        outcome = await poller.poll(source, force=force)
        if progress is not None and task_id is not None:
            progress.advance(task_id)
        return outcome

    return list(await asyncio.gather(*(one(s) for s in sources)))


def outcomes_table(outcomes: Sequence[PollOutcome], now: datetime) -> Table:
    table = Table(title="poll results", header_style="bold")
    for col, justify in (
        ("source", "left"),
        ("result", "left"),
        ("items", "right"),
        ("new", "right"),
        ("dup", "right"),
        ("unchanged", "right"),
        ("next check", "right"),
        ("error", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colours = {"new": "green", "failed": "red", "paused": "yellow"}
    for o in sorted(outcomes, key=lambda o: (o.status != "failed", o.source_id)):
        colour = colours.get(o.status, "")
        result = f"[{colour}]{o.status}[/]" if colour else o.status
        error = f"{o.error_kind}: {o.error_message}" if o.error_kind else (o.error_message or "")
        table.add_row(
            o.source_id,
            result,
            str(o.items),
            str(o.new),
            str(o.duplicates),
            str(o.unchanged),
            _ago(o.next_check_at, now) if not o.paused else "paused",
            error[:80],
        )
    counts = Counter(
        "failed" if o.status in ("failed", "paused") else "new" if o.status == "new" else "unchanged"
        for o in outcomes
    )
    table.caption = (
        f"{counts['new']} with new articles, {counts['unchanged']} unchanged, "
        f"{counts['failed']} failed; {sum(o.new for o in outcomes)} new articles"
    )
    return table


def _outcome_row(o: PollOutcome) -> dict[str, Any]:
    row = asdict(o)
    row["warnings"] = list(o.warnings)
    return row


async def _poll_once(
    settings: MonitorSettings, sources: list[SourceConfig], *, force: bool, as_json: bool
) -> list[PollOutcome]:
    with open_store(settings) as store:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings)
            if as_json or not out.is_terminal:
                return await poll_round(poller, sources, force=force, progress=None)
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=err, transient=True) as progress:
                return await poll_round(poller, sources, force=force, progress=progress)


async def _poll_forever(settings: MonitorSettings, sources: list[SourceConfig]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def report(o: PollOutcome) -> None:
        if o.status == "new":
            log.info("source_id=%s new=%d duplicates=%d", o.source_id, o.new, o.duplicates)

    with open_store(settings) as store:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            scheduler = MonitorScheduler(Poller(store, fetcher, settings), sources, on_poll=report)
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
    """Poll the sources: once with --once, else on their schedules until interrupted."""
    setup_logging(logging.ERROR if once else logging.INFO)
    settings = load_settings()
    sources = pick_sources(load_sources(sources_path), source_ids)
    if not once:
        asyncio.run(_poll_forever(settings, sources))
        return
    outcomes = asyncio.run(_poll_once(settings, sources, force=bool(source_ids), as_json=as_json))
    if as_json:
        print_jsonl([_outcome_row(o) for o in outcomes])
    else:
        out.print(outcomes_table(outcomes, datetime.now(UTC)))


# --- sources ------------------------------------------------------------------------------------------------


@click.group("sources")
def sources_group() -> None:
    """List, check and resume the sources of sources.yaml."""


def _state_row(source: SourceConfig, state: SourceState | None) -> dict[str, Any]:
    status = "new"
    if state is not None:
        status = "paused" if state.paused else ("failing" if state.consecutive_errors else "ok")
    return {
        "id": source.id,
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "language": source.language,
        "interval_s": source.interval.total_seconds(),
        "tags": list(source.tags),
        "enabled": source.enabled,
        "status": status,
        "last_success_at": state.last_success_at if state else None,
        "next_check_at": state.next_check_at if state else None,
        "error_count": state.error_count if state else 0,
        "consecutive_errors": state.consecutive_errors if state else 0,
        "last_error_kind": state.last_error_kind if state else None,
        "last_error_message": state.last_error_message if state else None,
        "paused_reason": state.paused_reason if state else None,
    }


@sources_group.command("list")
@sources_option
@json_option
@handles_errors
def sources_list(sources_path: Path, as_json: bool) -> None:
    """The sources with their health: last success, errors, pause, next check."""
    setup_logging()
    sources = load_sources(sources_path)
    with open_store(load_settings()) as store:
        states = store.states()
    rows = [_state_row(s, states.get(s.id)) for s in sources]
    if as_json:
        print_jsonl(rows)
        return
    now = datetime.now(UTC)
    table = Table(title=f"{len(rows)} sources in {sources_path}", header_style="bold")
    for col in (
        "id",
        "kind",
        "lang",
        "every",
        "tags",
        "status",
        "last success",
        "next check",
        "errors",
        "last error",
    ):
        table.add_column(col)
    for r in rows:
        error = f"{r['last_error_kind']}: {r['last_error_message']}" if r["last_error_kind"] else ""
        table.add_row(
            r["id"],
            r["kind"],
            r["language"],
            f"{r['interval_s'] / 60:.0f}m",
            ",".join(r["tags"]),
            r["status"],
            _ago(r["last_success_at"], now),
            _ago(r["next_check_at"], now),
            str(r["error_count"]),
            error[:60],
        )
    out.print(table)


async def _probe(
    settings: MonitorSettings, sources: Sequence[SourceConfig], progress: Progress | None
) -> list[dict[str, Any]]:
    from monitor.probe import probe_source

    async with Fetcher(fetch_settings(settings)) as fetcher:
        task_id = progress.add_task("probing", total=len(sources)) if progress else None

        async def one(source: SourceConfig) -> dict[str, Any]:
            row = await probe_source(fetcher, source)
            if progress is not None and task_id is not None:
                progress.advance(task_id)
            return row

        return list(await asyncio.gather(*(one(s) for s in sources)))


@sources_group.command("check")
@click.option("--probe", is_flag=True, help="Also fetch each source once and report what it serves.")
@click.option("--source", "source_ids", multiple=True, metavar="ID", help="Only this source (repeatable).")
@sources_option
@json_option
@handles_errors
def sources_check(probe: bool, source_ids: tuple[str, ...], sources_path: Path, as_json: bool) -> None:
    """Validate the sources file; with --probe, fetch each source once (status, type, items, language)."""
    setup_logging(logging.ERROR)
    sources = pick_sources(load_sources(sources_path), source_ids)
    langs = Counter(s.language for s in sources)
    if not probe:
        if as_json:
            print_jsonl([{"valid": True, "sources": len(sources), "languages": dict(langs)}])
        else:
            out.print(
                f"{sources_path}: {len(sources)} sources, valid; languages: "
                + ", ".join(f"{k} {v}" for k, v in sorted(langs.items()))
            )
        return
    settings = load_settings()
    rows = asyncio.run(_probe(settings, sources, None))
    if as_json:
        print_jsonl(rows)
    else:
        table = Table(title=f"probe of {len(rows)} sources", header_style="bold")
        for col in ("id", "status", "type", "items", "language", "declared", "error"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["id"],
                str(r["status"] or "-"),
                r["type"] or "-",
                str(r["items"]),
                r["language"] or "-",
                r["declared"],
                (r["error"] or "")[:70],
            )
        out.print(table)
    if any(r["error"] for r in rows):
        sys.exit(1)


@sources_group.command("resume")
@click.argument("source_ids", nargs=-1, required=True)
@sources_option
@handles_errors
def sources_resume(source_ids: tuple[str, ...], sources_path: Path) -> None:
    """Resume paused sources (their error counters restart from zero)."""
    setup_logging()
    pick_sources(load_sources(sources_path), source_ids)
    with open_store(load_settings()) as store:
        for sid in source_ids:
            state = store.get_state(sid) or SourceState(sid)
            with store.transaction() as tx:
                tx.save_state(
                    replace(
                        state,
                        paused=False,
                        paused_reason=None,
                        consecutive_errors=0,
                        next_check_at=datetime.now(UTC),
                    )
                )
            out.print(f"{sid}: resumed")


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
    """Articles first seen in the last --since, newest first."""
    setup_logging()
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    now = datetime.now(UTC)
    with open_store(load_settings()) as store:
        articles = store.list_articles(
            since=now - window, source_id=source_id, limit=limit, include_duplicates=duplicates
        )
    if as_json:
        print_jsonl([article_row(a) for a in articles])
        return
    table = Table(title=f"{len(articles)} articles since {since}", header_style="bold")
    for col in ("published", "source", "lang", "title", "url"):
        table.add_column(col, overflow="fold" if col == "url" else "ellipsis")
    for a in articles:
        when = a.published_at.strftime("%Y-%m-%d %H:%M") + ("~" if a.published_estimated else "")
        title = a.title if a.duplicate_of is None else f"[dim]{a.title} (copy of {a.duplicate_of})[/]"
        table.add_row(when, a.source_id, a.language or "?", title, a.url)
    out.print(table)


COMMANDS: tuple[click.Command, ...] = (poll_cmd, sources_group, articles_group)
