"""Human output of the ``veille`` commands: tables, notes under them, relative times, JSON Lines.

Tables go to stdout and progress bars to stderr (drawn only on a terminal). Under a table, each failing source
gets a note that says what happened, to what, and what to do next (``NEXT_STEP``, one line per
:class:`~monitor.errors.ErrorKind`). Text that comes from a feed or a server (titles, error messages) is wrapped
in :class:`rich.text.Text`, never read as rich markup: a title such as ``"[/update] raid"`` prints as it is.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from monitor.config import format_duration
from monitor.errors import ErrorKind
from monitor.models import Article

if TYPE_CHECKING:  # the commands that poll import them; listing commands start faster without
    from monitor.poller import PollOutcome
    from monitor.probe import ProbeResult

out = Console()
err = Console(stderr=True)

NEXT_STEP: dict[ErrorKind, str] = {
    ErrorKind.DNS: "check the host name of the url in the sources file",
    ErrorKind.CONNECT: "retried with backoff; if it lasts, check that the site is up",
    ErrorKind.TIMEOUT: "retried with backoff; raise VEILLE_READ_TIMEOUT_S if the site is just slow",
    ErrorKind.TLS: "the site's certificate or TLS setup is broken; check the url's host name",
    ErrorKind.PROTOCOL: "the server answered malformed HTTP; retried with backoff",
    ErrorKind.UNAUTHORIZED: "the site refuses access: check the url, or add the needed headers: to the source",
    ErrorKind.NOT_FOUND: "the url is wrong or has moved: find the current address and update the sources file",
    ErrorKind.GONE: "the site removed it: find the current address or disable the source",
    ErrorKind.CLIENT_ERROR: "the site rejects the request: check the url and the source's headers:",
    ErrorKind.RATE_LIMITED: "the site asks to slow down: retried after its Retry-After; raise interval if it lasts",
    ErrorKind.SERVER_ERROR: "the site has a problem on its side; retried with backoff",
    ErrorKind.TOO_MANY_REDIRECTS: "put the final address in the sources file (sources check --probe shows it)",
    ErrorKind.TOO_LARGE: "raise VEILLE_MAX_BODY_BYTES if the body is legitimately that large",
    ErrorKind.BLOCKED: "an anti-bot wall answered: set VEILLE_CONTACT, ask the site, or find an official feed",
    ErrorKind.REFUSED_ADDRESS: "the url points to a private or loopback address: set VEILLE_ALLOW_PRIVATE=1 "
    "only if that is intended",
    ErrorKind.INVALID_URL: "fix the url in the sources file",
    ErrorKind.UNPARSEABLE: "the url does not serve a feed: find the feed's address, or use kind: page with "
    "selectors",
    ErrorKind.INTERNAL: "a bug in veille: please report it with the log above",
}


# --- text ---------------------------------------------------------------------------------------------------


def json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_jsonl(rows: Sequence[dict[str, Any]]) -> None:
    """One JSON object per line on stdout; datetimes in ISO 8601, enums by value."""
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=json_default))


def ago(when: datetime | None, now: datetime) -> str:
    """``"5m ago"``, ``"in 2h"``, ``"-"`` for None: the largest whole unit, rounded."""
    if when is None:
        return "-"
    secs = (now - when).total_seconds()
    future, secs = (True, -secs) if secs < 0 else (False, secs)
    amount = f"{secs:.0f}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            amount = f"{secs / size:.0f}{unit}"
            break
    return f"in {amount}" if future else f"{amount} ago"


def next_check_text(when: datetime | None, now: datetime, *, paused: bool) -> str:
    """``"paused"``, ``"due now"`` when the time has passed, else ``ago``'s ``"in 25m"``."""
    if paused:
        return "paused"
    return "due now" if when is not None and when <= now else ago(when, now)


def problem_notes(
    source_id: str, kind: ErrorKind | None, message: str | None, *, paused: bool, warnings: Sequence[str] = ()
) -> list[Text]:
    """The lines printed under a table for one source: its error, what to do next, its warnings."""
    lines: list[Text] = []
    if kind is not None or message:
        what = f"{kind}: {message}" if kind is not None and message else str(kind or message)
        lines.append(Text.assemble((source_id, "bold"), ": ", (what, "red")))
        if kind is not None:
            lines.append(Text(f"    next: {NEXT_STEP[kind]}"))
    if paused:
        lines.append(Text(f"    paused: fix the cause, then run: veille sources resume {source_id}"))
    lines += [Text.assemble((source_id, "bold"), ": ", ("warning: " + w, "yellow")) for w in warnings]
    return lines


def say(text: str) -> None:
    """One plain message on stdout, never wrapped nor read as markup."""
    out.print(Text(text), soft_wrap=True, highlight=False)


def print_notes(notes: Sequence[Text]) -> None:
    """The notes under a table, each on one line however wide the terminal (long URLs stay whole)."""
    if notes:
        out.print()
    for line in notes:
        out.print(line, soft_wrap=True, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int, *, show: bool) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``; the bar is drawn on stderr, only when ``show`` and stderr is a terminal."""
    if not show or not err.is_terminal:
        yield lambda: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda: progress.advance(task_id)


# --- tables -------------------------------------------------------------------------------------------------


def new_table(title: str) -> Table:
    """A table without vertical rules: narrow enough for 80 columns, and easy to copy as text."""
    return Table(
        title=title,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


_RESULT_STYLE = {"new": "green", "failed": "red", "paused": "yellow"}
_CAPTION = (
    ("new", "with new articles"),
    ("unchanged", "unchanged"),
    ("failed", "failed"),
    ("paused", "paused (skipped)"),
)
_STATUS_STYLE = {
    "ok": "green",
    "failing": "red",
    "paused": "yellow",
    "disabled": "dim",
    "pending": "dim",
}


def outcomes_table(outcomes: Sequence[PollOutcome], now: datetime) -> Table:
    """``poll --once``: one row per source, failures first; the caption counts results and new articles."""
    table = new_table("poll results")
    table.add_column("source", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for col in ("items", "new", "dup", "unchanged"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("next check", justify="right", no_wrap=True)
    table.add_column("error", no_wrap=True)
    for o in sorted(outcomes, key=lambda o: (o.status not in ("failed", "paused"), o.source_id)):
        table.add_row(
            Text(o.source_id),
            Text(o.status, _RESULT_STYLE.get(o.status, "")),
            str(o.items),
            str(o.new),
            str(o.duplicates),
            str(o.unchanged),
            next_check_text(o.next_check_at, now, paused=o.paused),
            Text(str(o.error_kind or ""), "red"),
        )
    counts: Counter[str] = Counter("unchanged" if o.status == "not_modified" else o.status for o in outcomes)
    parts = [f"{counts[k]} {label}" for k, label in _CAPTION if counts[k]]
    table.caption = f"{'; '.join(parts) or 'no sources'}; {sum(o.new for o in outcomes)} new articles"
    return table


def sources_table(rows: Sequence[dict[str, Any]], title: str, now: datetime) -> Table:
    """``sources list``: the rows of ``monitor.cli`` (the same dicts as its JSON Lines), one per source."""
    table = new_table(title)
    for col in ("id", "status", "lang", "every", "last ok", "next check"):
        table.add_column(col, no_wrap=True)
    table.add_column("errors", justify="right", no_wrap=True)
    for r in rows:
        status = r["status"]
        next_check = next_check_text(r["next_check_at"], now, paused=status == "paused")
        table.add_row(
            Text(r["id"]),
            Text(status, _STATUS_STYLE[status]),
            r["language"],
            format_duration(timedelta(seconds=round(r["effective_interval_s"])))
            + _WHY_MARK.get(r["interval_reason"].split(":")[0], ""),
            ago(r["last_success_at"], now),
            "-" if status == "disabled" else next_check,
            f"{r['consecutive_errors']}/{r['error_count']}" if r["error_count"] else "0",
        )
    table.caption = (
        "every: the interval now (~ adaptive: the feed's rate; + backoff after errors) · "
        "errors: in a row / in all"
    )
    return table


_WHY_MARK = {"adaptive": " ~", "backoff": " +"}


def articles_table(articles: Sequence[Article], since: str) -> Table:
    """``articles list``: newest first; copies of another article are dimmed and name their original."""
    table = new_table(f"{len(articles)} articles first seen in the last {since}")
    table.add_column("published (UTC)", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("lang", no_wrap=True)
    table.add_column("title", ratio=3)
    table.add_column("url", overflow="fold", ratio=2)
    for a in articles:
        when = a.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + (
            "~" if a.published_estimated else ""
        )
        title = (
            Text(a.title) if a.duplicate_of is None else Text(f"{a.title} (copy of {a.duplicate_of})", "dim")
        )
        table.add_row(when, Text(a.source_id), a.language or "?", title, Text(a.url))
    table.caption = "~: date estimated (the item had none); newest first" if articles else None
    return table


def probe_table(results: Sequence[ProbeResult]) -> Table:
    """``sources check --probe``: one row per source; error messages and warnings are printed below it."""
    table = new_table(f"probe of {len(results)} sources")
    table.add_column("id", no_wrap=True)
    for col in ("status", "type", "items", "language", "declared"):
        table.add_column(col, no_wrap=True, justify="right" if col in ("status", "items") else "left")
    table.add_column("result", overflow="fold")
    for r in results:
        if r.error_kind is not None:
            verdict = Text(str(r.error_kind), "red")
        elif r.warnings:
            verdict = Text(f"ok, {len(r.warnings)} warning{'s' if len(r.warnings) > 1 else ''}", "yellow")
        else:
            verdict = Text("ok", "green")
        table.add_row(
            Text(r.id),
            str(r.status or "-"),
            r.type or "-",
            str(r.items),
            r.language or "-",
            r.declared,
            verdict,
        )
    return table
