"""The bot's data: subscribers, subscriptions, the delivery outbox, alert records and small named state.

Every write is one transaction on the shared store (``Store.write_connection``). The outbox is the heart of
delivery: a message is recorded (``enqueue``) before anything is sent, at most once per (chat, item key), then
each part is marked sent with its Telegram message id as soon as Telegram has accepted it, so a restart goes on
from the first unsent part of each pending item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from bot.tables import bot_state, outbox, processed_updates, story_alerts, subscribers, subscriptions
from monitor.store import Store

DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEZONE = "UTC"
KEEP_UPDATES = timedelta(days=7)  # Telegram keeps an unconfirmed update 24 hours; its id is kept a week


@dataclass(frozen=True, slots=True)
class Subscriber:
    chat_id: int
    kind: str  # private, group, supergroup, channel
    title: str | None
    language: str
    timezone: str
    active: bool
    deactivated_reason: str | None
    muted_until: datetime | None
    created_at: datetime

    @property
    def is_group(self) -> bool:
        """Groups and channels have their own, slower, Telegram rate limit."""
        return self.kind != "private"

    def muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    chat_id: int
    number: int  # what the chat sees: #1, #2... never reused within the chat
    thread_id: int | None
    query: str
    digest_times: tuple[time, ...]
    alerts: bool
    last_digest_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to record in the outbox; ``item_key`` makes it unique per chat."""

    chat_id: int
    item_key: str
    kind: str  # digest, alert, update, broadcast, reply
    parts: tuple[str, ...]
    thread_id: int | None = None
    subscription_id: int | None = None
    reply_to_item: int | None = None  # an outbox id: this message replies to that item's first message


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    chat_id: int
    thread_id: int | None
    subscription_id: int | None
    item_key: str
    kind: str
    parts: tuple[str, ...]
    sent_parts: int
    message_ids: tuple[int, ...]
    reply_to_item: int | None
    status: str  # pending, sent, failed, dropped
    attempts: int
    not_before: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def parse_times(text: str) -> tuple[time, ...]:
    """``"08:00, 18:30"`` -> sorted distinct times; a ``ValueError`` names the bad one."""
    found: set[time] = set()
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part:
            continue
        try:
            hours, _, minutes = part.partition(":")
            found.add(time(int(hours), int(minutes or 0)))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a time of day (write HH:MM, e.g. 08:00)") from exc
    return tuple(sorted(found))


def format_times(times: Sequence[time]) -> str:
    return ",".join(t.strftime("%H:%M") for t in times)


def _subscriber(row: RowMapping) -> Subscriber:
    return Subscriber(
        chat_id=row["chat_id"],
        kind=row["kind"],
        title=row["title"],
        language=row["language"],
        timezone=row["timezone"],
        active=row["active"],
        deactivated_reason=row["deactivated_reason"],
        muted_until=row["muted_until"],
        created_at=row["created_at"],
    )


def _subscription(row: RowMapping) -> Subscription:
    return Subscription(
        id=row["id"],
        chat_id=row["chat_id"],
        number=row["number"],
        thread_id=row["thread_id"],
        query=row["query"],
        digest_times=parse_times(row["digest_times"]),
        alerts=row["alerts"],
        last_digest_at=row["last_digest_at"],
        created_at=row["created_at"],
    )


def _item(row: RowMapping) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        subscription_id=row["subscription_id"],
        item_key=row["item_key"],
        kind=row["kind"],
        parts=tuple(row["parts"]),
        sent_parts=row["sent_parts"],
        message_ids=tuple(row["message_ids"]),
        reply_to_item=row["reply_to_item"],
        status=row["status"],
        attempts=row["attempts"],
        not_before=row["not_before"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )


def _insert_ignore(
    conn: Connection, table: Any, values: Mapping[str, Any], keys: Sequence[str], returning: str | None = None
) -> Any | None:
    """Insert unless a row with the same ``keys`` exists; the ``returning`` column (default: the first key) of
    the new row, None when one existed. RETURNING, not rowcount: psycopg gives no reliable rowcount here."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    row = conn.execute(stmt.returning(table.c[returning or keys[0]])).first()
    return None if row is None else row[0]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A chat's alert of a story: its first outbox item, what the chat was shown, when last notified."""

    outbox_id: int
    sources: frozenset[str] | None  # None: not known (a record carried over from per-subscription alerts)
    sentences: frozenset[str] | None
    notified_at: datetime


class BotRepository:
    """The bot's data. ``once`` gives a repository bound to one write transaction that also records a Telegram
    update as handled; every method of that bound repository reads and writes in that transaction."""

    def __init__(self, store: Store, conn: Connection | None = None) -> None:
        self.store = store
        self._conn = conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with self.store.write_connection() as conn:
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with self.store.engine.connect() as conn:
                yield conn

    # --- Telegram updates handled once ------------------------------------------------------------------

    @contextmanager
    def once(self, update_id: int, chat_id: int | None, now: datetime) -> Iterator[BotRepository | None]:
        """One write transaction that records ``update_id`` as handled: the repository bound to it, or None
        when the update was handled already (Telegram delivered it again): then nothing is to be done."""
        values = {"update_id": update_id, "chat_id": chat_id, "handled_at": now}
        with self._write() as conn:
            if _insert_ignore(conn, processed_updates, values, ["update_id"]) is None:
                yield None
                return
            if update_id % 100 == 0:  # now and then, forget the updates Telegram can no longer send again
                conn.execute(
                    delete(processed_updates).where(processed_updates.c.handled_at < now - KEEP_UPDATES)
                )
            yield BotRepository(self.store, conn)

    def mark_handled(self, update_id: int, chat_id: int | None, now: datetime) -> bool:
        """Record an update that changes nothing (a question) as handled; False when it was already."""
        with self.once(update_id, chat_id, now) as bound:
            return bound is not None

    def was_handled(self, update_id: int) -> bool:
        query = select(processed_updates.c.update_id).where(processed_updates.c.update_id == update_id)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    # --- subscribers -------------------------------------------------------------------------------------

    def ensure_subscriber(
        self, chat_id: int, kind: str, title: str | None, now: datetime, *, language: str = DEFAULT_LANGUAGE
    ) -> Subscriber:
        """The chat's subscriber row, created on first contact; a chat that comes back is active again."""
        with self._write() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.chat_id == chat_id)).mappings().first()
            if row is None:
                values = {
                    "chat_id": chat_id,
                    "kind": kind,
                    "title": title,
                    "language": language,
                    "timezone": DEFAULT_TIMEZONE,
                    "active": True,
                    "deactivated_reason": None,
                    "muted_until": None,
                    "created_at": now,
                    "updated_at": now,
                }
                conn.execute(insert(subscribers).values(**values))
            else:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.chat_id == chat_id)
                    .values(kind=kind, title=title, active=True, deactivated_reason=None, updated_at=now)
                )
            found = conn.execute(select(subscribers).where(subscribers.c.chat_id == chat_id)).mappings().one()
            return _subscriber(found)

    def subscriber(self, chat_id: int) -> Subscriber | None:
        with self._read() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.chat_id == chat_id)).mappings().first()
        return None if row is None else _subscriber(row)

    def subscribers(self, *, active_only: bool = True) -> list[Subscriber]:
        query = select(subscribers).order_by(subscribers.c.chat_id)
        if active_only:
            query = query.where(subscribers.c.active.is_(True))
        with self._read() as conn:
            return [_subscriber(row) for row in conn.execute(query).mappings()]

    def update_subscriber(self, chat_id: int, now: datetime, **values: Any) -> None:
        """Set ``language``, ``timezone`` or ``muted_until`` (and ``kind``/``title``)."""
        allowed = {"language", "timezone", "muted_until", "kind", "title"}
        if not values or set(values) - allowed:
            raise ValueError(f"can only update {sorted(allowed)}, not {sorted(set(values) - allowed)}")
        with self._write() as conn:
            conn.execute(
                update(subscribers).where(subscribers.c.chat_id == chat_id).values(**values, updated_at=now)
            )

    def deactivate(self, chat_id: int, reason: str, now: datetime) -> int:
        """The chat gets nothing more (it blocked the bot, left, was deleted): its pending messages are dropped.

        Returns the number of outbox items dropped."""
        with self._write() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.chat_id == chat_id)
                .values(active=False, deactivated_reason=reason[:500], updated_at=now)
            )
            dropped = conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == chat_id, outbox.c.status == "pending")
                .values(status="dropped", last_error=reason[:500])
            )
            return int(dropped.rowcount)

    # --- subscriptions ----------------------------------------------------------------------------------

    def add_subscription(
        self,
        chat_id: int,
        query: str,
        now: datetime,
        *,
        digest_times: Sequence[time] = (),
        alerts: bool = False,
        thread_id: int | None = None,
    ) -> Subscription:
        values: dict[str, Any] = {
            "chat_id": chat_id,
            "thread_id": thread_id,
            "query": query,
            "digest_times": format_times(digest_times),
            "alerts": alerts,
            "last_digest_at": now,  # the first digest covers what comes after subscribing
            "created_at": now,
        }
        same = select(subscriptions).where(
            subscriptions.c.chat_id == chat_id,
            subscriptions.c.thread_id.is_(None)
            if thread_id is None
            else subscriptions.c.thread_id == thread_id,
            subscriptions.c.query == query,
            subscriptions.c.digest_times == values["digest_times"],
            subscriptions.c.alerts.is_(alerts),
        )
        with self._write() as conn:
            # the same request again (Telegram re-delivers an update after a crash): one subscription, not two
            row = conn.execute(same).mappings().first()
            if row is None:
                made = conn.execute(
                    select(subscribers.c.subscriptions_made).where(subscribers.c.chat_id == chat_id)
                ).scalar_one()
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.chat_id == chat_id)
                    .values(subscriptions_made=made + 1)
                )
                values["number"] = made + 1
                new_id = conn.execute(insert(subscriptions).values(**values)).inserted_primary_key
                assert new_id is not None
                row = (
                    conn.execute(select(subscriptions).where(subscriptions.c.id == new_id[0]))
                    .mappings()
                    .one()
                )
        return _subscription(row)

    def subscriptions(self, chat_id: int | None = None, *, active_only: bool = True) -> list[Subscription]:
        """Subscriptions of one chat, or of every chat (only active chats unless ``active_only`` is False)."""
        query = select(subscriptions).order_by(subscriptions.c.id)
        if chat_id is not None:
            query = query.where(subscriptions.c.chat_id == chat_id)
        if active_only:
            active = select(subscribers.c.chat_id).where(subscribers.c.active.is_(True))
            query = query.where(subscriptions.c.chat_id.in_(active))
        with self._read() as conn:
            return [_subscription(row) for row in conn.execute(query).mappings()]

    def update_subscription(self, chat_id: int, subscription_id: int, **values: Any) -> bool:
        """Set ``query``, ``digest_times`` (a sequence of times), ``alerts`` or ``thread_id`` of a subscription
        (by its id); False if the chat has no such subscription."""
        allowed = {"query", "digest_times", "alerts", "thread_id"}
        if not values or set(values) - allowed:
            raise ValueError(f"can only update {sorted(allowed)}, not {sorted(set(values) - allowed)}")
        if "digest_times" in values:
            values["digest_times"] = format_times(values["digest_times"])
        with self._write() as conn:
            result = conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id, subscriptions.c.chat_id == chat_id)
                .values(**values)
            )
            return bool(result.rowcount)

    def remove_subscriptions(self, chat_id: int, number: int | None = None) -> int:
        """Remove the chat's subscription #``number`` (or all of them); how many were removed."""
        query = delete(subscriptions).where(subscriptions.c.chat_id == chat_id)
        if number is not None:
            query = query.where(subscriptions.c.number == number)
        with self._write() as conn:
            return int(conn.execute(query).rowcount)

    # --- outbox -----------------------------------------------------------------------------------------

    @staticmethod
    def _enqueue(conn: Connection, message: NewMessage, now: datetime) -> int | None:
        values = {
            "chat_id": message.chat_id,
            "thread_id": message.thread_id,
            "subscription_id": message.subscription_id,
            "item_key": message.item_key,
            "kind": message.kind,
            "parts": list(message.parts),
            "sent_parts": 0,
            "message_ids": [],
            "reply_to_item": message.reply_to_item,
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
        }
        if not message.parts or not all(message.parts):
            raise ValueError(f"outbox item {message.item_key!r} has an empty part")
        if not _insert_ignore(conn, outbox, values, ["chat_id", "item_key"]):
            return None
        found = conn.execute(
            select(outbox.c.id).where(
                outbox.c.chat_id == message.chat_id, outbox.c.item_key == message.item_key
            )
        ).scalar_one()
        return int(found)

    def enqueue(self, messages: Sequence[NewMessage], now: datetime) -> list[int]:
        """Record messages; one already recorded for its (chat, item key) is skipped. The ids of the new ones."""
        with self._write() as conn:
            return [i for m in messages if (i := self._enqueue(conn, m, now)) is not None]

    def enqueue_digest(
        self, subscription_id: int, until: datetime, message: NewMessage | None, now: datetime
    ) -> int | None:
        """Record a subscription's digest and move its window to ``until``, in one transaction."""
        with self._write() as conn:
            new_id = self._enqueue(conn, message, now) if message else None
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(last_digest_at=until)
            )
            return new_id

    def enqueue_alert(
        self,
        message: NewMessage,
        story_id: str,
        sources: Sequence[str],
        sentences: Sequence[str],
        now: datetime,
        *,
        record: AlertRecord | None = None,
    ) -> int | None:
        """Record a chat's alert of a story (``record`` None) or an update of it, and what the chat has now been
        shown of the story, in one transaction; the outbox id, None when that message was recorded before."""
        shown = {"sources": sorted(sources), "sentences": sorted(sentences)}
        where = (story_alerts.c.chat_id == message.chat_id, story_alerts.c.story_id == story_id)
        with self._write() as conn:
            new_id = self._enqueue(conn, message, now)
            if new_id is None:
                return None
            if record is None:
                row = {"chat_id": message.chat_id, "story_id": story_id, "outbox_id": new_id}
                conn.execute(insert(story_alerts).values(**row, shown=shown, notified_at=now))
            else:
                conn.execute(update(story_alerts).where(*where).values(shown=shown, notified_at=now))
            return new_id

    def remember_shown(
        self, chat_id: int, story_id: str, sources: Sequence[str], sentences: Sequence[str]
    ) -> None:
        """What a carried-over alert record shows, taken as the story is now (nothing is sent)."""
        shown = {"sources": sorted(sources), "sentences": sorted(sentences)}
        with self._write() as conn:
            conn.execute(
                update(story_alerts)
                .where(story_alerts.c.chat_id == chat_id, story_alerts.c.story_id == story_id)
                .values(shown=shown)
            )

    def alert_records(self, story_ids: Sequence[str]) -> dict[tuple[int, str], AlertRecord]:
        """(chat id, story id) -> the chat's alert record, for the given stories."""
        found: dict[tuple[int, str], AlertRecord] = {}
        ids = list(dict.fromkeys(story_ids))
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                query = select(story_alerts).where(story_alerts.c.story_id.in_(ids[start : start + 500]))
                for row in conn.execute(query).mappings():
                    shown = row["shown"]
                    found[row["chat_id"], row["story_id"]] = AlertRecord(
                        row["outbox_id"],
                        frozenset(shown["sources"]) if shown else None,
                        frozenset(shown["sentences"]) if shown else None,
                        row["notified_at"],
                    )
        return found

    def due(self, now: datetime, limit: int = 500) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first (per chat, items go out in id order)."""
        query = (
            select(outbox)
            .where(outbox.c.status == "pending", outbox.c.not_before <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    def next_due(self) -> datetime | None:
        query = select(func.min(outbox.c.not_before)).where(outbox.c.status == "pending")
        with self._read() as conn:
            found: datetime | None = conn.execute(query).scalar_one_or_none()
        return found

    def item(self, item_id: int) -> OutboxItem | None:
        with self._read() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == item_id)).mappings().first()
        return None if row is None else _item(row)

    def mark_part_sent(self, item: OutboxItem, part: int, message_id: int, now: datetime) -> None:
        """Part ``part`` of ``item`` was accepted by Telegram as ``message_id`` (the last part: item sent)."""
        done = part + 1 >= len(item.parts)
        with self._write() as conn:
            current = conn.execute(select(outbox.c.message_ids).where(outbox.c.id == item.id)).scalar_one()
            ids = [*current, message_id]
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item.id, outbox.c.sent_parts == part)
                .values(
                    sent_parts=part + 1,
                    message_ids=ids,
                    status="sent" if done else "pending",
                    sent_at=now if done else None,
                    last_error=None,
                )
            )

    def retry_later(self, item_id: int, not_before: datetime, error: str, *, count: bool = True) -> None:
        """Try again at ``not_before``; ``count`` False for a rate-limit wait, which is not a failure."""
        values: dict[str, Any] = {"not_before": not_before, "last_error": error[:500]}
        if count:
            values["attempts"] = outbox.c.attempts + 1
        with self._write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == item_id).values(**values))

    def fail(self, item_id: int, error: str) -> None:
        """A permanent failure (Telegram refused the message itself): kept for the operator, not retried."""
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(status="failed", attempts=outbox.c.attempts + 1, last_error=error[:500])
            )

    def outbox_counts(self) -> dict[str, int]:
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with self._read() as conn:
            return {status: int(n) for status, n in conn.execute(query).all()}

    def problems(self, limit: int = 10) -> list[OutboxItem]:
        """The latest items that failed, were dropped or are waiting for a retry, with their reason, newest
        first."""
        query = (
            select(outbox)
            .where(outbox.c.last_error.is_not(None), outbox.c.status.in_(("failed", "dropped", "pending")))
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    def recent(self, limit: int = 10, *, status: str = "sent") -> list[OutboxItem]:
        order = outbox.c.sent_at.desc() if status == "sent" else outbox.c.id.desc()
        query = (
            select(outbox).where(outbox.c.status == status).order_by(order, outbox.c.id.desc()).limit(limit)
        )
        with self._read() as conn:
            return [_item(row) for row in conn.execute(query).mappings()]

    # --- named state ------------------------------------------------------------------------------------

    def state(self, name: str) -> Any:
        with self._read() as conn:
            return conn.execute(
                select(bot_state.c.value).where(bot_state.c.name == name)
            ).scalar_one_or_none()

    def set_state(self, name: str, value: Any, now: datetime) -> None:
        with self._write() as conn:
            if not _insert_ignore(
                conn, bot_state, {"name": name, "value": value, "updated_at": now}, ["name"]
            ):
                conn.execute(
                    update(bot_state).where(bot_state.c.name == name).values(value=value, updated_at=now)
                )
