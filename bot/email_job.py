"""The daily email job: one export per local day, recorded in ``email_exports``, sent with retries.

Each ``tick`` (run in a worker thread: the database and SMTP calls block) reads like a recipe:

1. ``due(now)``: the local day (in ``EmailConfig.timezone``) whose send time (``hour``) has passed and that
   has no row yet, else None.
2. ``prepare(day, now)``: loads the digest of the day's window, the 24 hours up to the send time
   (``window``), writes ``veille-YYYY-MM-DD.eml/.html/.json`` and records a pending row in one transaction.
   A day that has a row is never prepared again.
3. ``send_due(now)``: every pending row whose ``next_attempt_at`` has come is claimed (moved a lease ahead,
   so a second process skips it), re-read from its .eml (a restart sends exactly what was exported; a
   missing file is rebuilt from the digest) and sent. Success marks it sent; a transient ``MailError``
   schedules a retry after ``backoff`` (60 s doubled per attempt, at most 1 h); a permanent one marks it
   failed for the operator, the export staying on disk.

Scheduling is pure (``scheduled_at``, ``window``, ``due_day``, ``backoff``) and tested with literal times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from bot.email import (
    EmailConfig,
    ExportPaths,
    MailError,
    build_message,
    send,
    stories_json,
    write_export,
)
from bot.tables import email_exports
from monitor.errors import ConfigError
from monitor.store import Store
from monitor.tables import ERROR_MESSAGE_LENGTH
from summarizer.digest import Digest

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=10)  # a claimed row becomes due again after this if the process died

Status = Literal["sent", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    day: date
    status: Status
    attempts: int  # attempts made so far, this one included
    next_attempt_at: datetime | None = None  # for a retry
    error: str | None = None


def scheduled_at(day: date, hour: int | time, tz: ZoneInfo) -> datetime:
    """The UTC time of ``day``'s email at ``hour`` (or a time of day); a local time skipped by a DST change counts
    with the old offset."""
    at = hour if isinstance(hour, time) else time(hour)
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def window(day: date, hour: int | time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[since, until) of ``day``'s digest: from the previous day's send time to this day's."""
    return scheduled_at(day - timedelta(days=1), hour, tz), scheduled_at(day, hour, tz)


def check_day(day: date, hour: int | time, tz: ZoneInfo) -> None:
    """A ``ConfigError`` when ``day`` has no window (its eve or its send time falls outside the years 1 to 9999)."""
    try:
        window(day, hour, tz)
    except (OverflowError, ValueError) as exc:
        hint = "a day between 0001-01-02 and 9999-12-30, e.g. yesterday's"
        raise ConfigError(
            f"day {day.isoformat()} is out of range: its window is not a time", hint=hint
        ) from exc


def due_day(now: datetime, hour: int | time, tz: ZoneInfo) -> date | None:
    """The local day of ``now`` when its send time has passed, else None."""
    day = now.astimezone(tz).date()
    return day if now >= scheduled_at(day, hour, tz) else None


def backoff(attempts: int, *, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """The wait after ``attempts`` consecutive failures: base, 2 base, 4 base, ... at most ``cap``."""
    return min(base * (1 << min(max(attempts - 1, 0), 20)), cap)


def _insert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(email_exports).execution_options(preserve_rowcount=True)


class DailyEmail:
    """The daily email of one ``EmailConfig``; ``load_digest(since, until)`` gives a window's stories."""

    def __init__(
        self,
        store: Store,
        cfg: EmailConfig,
        load_digest: Callable[[datetime, datetime], Digest],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._cfg = cfg
        self._load_digest = load_digest
        self._clock = clock
        self._tz = ZoneInfo(cfg.timezone)

    async def tick(self, now: datetime | None = None) -> list[SendOutcome]:
        """``run_once`` in a worker thread, at ``now`` or the clock's time."""
        return await asyncio.to_thread(self.run_once, now or self._clock())

    def run_once(self, now: datetime) -> list[SendOutcome]:
        """due -> prepare -> send_due."""
        day = self.due(now)
        if day is not None:
            self.prepare(day, now)
        return self.send_due(now)

    def due(self, now: datetime) -> date | None:
        day = due_day(now, time(self._cfg.hour, self._cfg.minute), self._tz)
        return None if day is None or self._row(day) is not None else day

    def prepare(self, day: date, now: datetime, *, until: datetime | None = None) -> ExportPaths | None:
        """Export the day's email and record it as pending; None (and nothing done) if the day has a row.
        ``until``: the 24 hours before it instead of the day's scheduled window (a send by hand)."""
        check_day(day, time(self._cfg.hour, self._cfg.minute), self._tz)
        if self._row(day) is not None:
            return None
        paths, stories = self._export(day, now, until)
        values = {
            "day": day.isoformat(),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "stories": stories,
            "eml_path": str(paths.eml),
            "created_at": now,
        }
        with self._store.write_connection() as conn:
            inserted = conn.execute(_insert(conn).values(values).on_conflict_do_nothing()).rowcount == 1
        if inserted:
            log.info("email prepared day=%s stories=%d eml=%s", day, stories, paths.eml)
        return paths if inserted else None

    def send_due(self, now: datetime) -> list[SendOutcome]:
        """Send every pending export whose next attempt has come, oldest day first."""
        query = (
            select(email_exports)
            .where(email_exports.c.status == "pending", email_exports.c.next_attempt_at <= now)
            .order_by(email_exports.c.day)
        )
        with self._store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._send_row(row, now) for row in rows if self._claim(row["day"], now)]

    def _row(self, day: date) -> RowMapping | None:
        query = select(email_exports).where(email_exports.c.day == day.isoformat())
        with self._store.engine.connect() as conn:
            return conn.execute(query).mappings().first()

    def _export(self, day: date, now: datetime, until: datetime | None = None) -> tuple[ExportPaths, int]:
        since_until = (
            (until - timedelta(days=1), until)
            if until is not None
            else window(day, time(self._cfg.hour, self._cfg.minute), self._tz)
        )
        digest = self._load_digest(*since_until)
        message = build_message(digest, self._cfg, day=day, now=now)
        body = message.get_body(("html",))
        html_text = "" if body is None else str(body.get_content())
        paths = write_export(message, html_text, stories_json(digest), self._cfg.export_dir, day)
        return paths, len(digest.stories)

    def _claim(self, day: str, now: datetime) -> bool:
        """Move the row's next attempt a lease ahead; False if another process got it first."""
        stmt = (
            update(email_exports)
            .where(
                email_exports.c.day == day,
                email_exports.c.status == "pending",
                email_exports.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + CLAIM_LEASE)
        )
        with self._store.write_connection() as conn:
            return conn.execute(stmt).rowcount == 1

    def _message(self, day: date, row: RowMapping, now: datetime) -> EmailMessage:
        path = Path(row["eml_path"])
        if path.is_file():
            return message_from_bytes(path.read_bytes(), policy=policy.default)
        log.warning("email export missing, rebuilding day=%s eml=%s", day, path)
        paths, stories = self._export(day, now)
        self._update(day, eml_path=str(paths.eml), stories=stories)
        return message_from_bytes(paths.eml.read_bytes(), policy=policy.default)

    def _send_row(self, row: RowMapping, now: datetime) -> SendOutcome:
        day = date.fromisoformat(row["day"])
        attempts = row["attempts"] + 1
        message = self._message(day, row, now)
        try:
            send(message, self._cfg)
        except MailError as exc:
            return self._failed(day, attempts, exc, now)
        self._update(day, status="sent", attempts=attempts, sent_at=self._clock(), last_error=None)
        log.info("email sent day=%s attempts=%d recipients=%d", day, attempts, len(self._cfg.recipients))
        return SendOutcome(day, "sent", attempts)

    def _failed(self, day: date, attempts: int, exc: MailError, now: datetime) -> SendOutcome:
        error = str(exc)[:ERROR_MESSAGE_LENGTH]
        if not exc.transient:
            self._update(day, status="failed", attempts=attempts, last_error=error)
            log.error(
                "email failed permanently day=%s attempts=%d kind=%s error=%s (export kept; fix the settings)",
                day,
                attempts,
                exc.kind,
                exc.message,
            )
            return SendOutcome(day, "failed", attempts, error=error)
        retry_at = now + backoff(attempts)
        self._update(day, attempts=attempts, next_attempt_at=retry_at, last_error=error)
        log.warning(
            "email send failed day=%s attempts=%d kind=%s next_attempt_at=%s error=%s",
            day,
            attempts,
            exc.kind,
            retry_at.isoformat(),
            exc.message,
        )
        return SendOutcome(day, "retry", attempts, retry_at, error)

    def _update(self, day: date, **values: object) -> None:
        stmt = update(email_exports).where(email_exports.c.day == day.isoformat()).values(**values)
        with self._store.write_connection() as conn:
            conn.execute(stmt)
