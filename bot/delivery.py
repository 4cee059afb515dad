"""Delivery: the outbox's pending items go out to Telegram, paced, in order per chat, each part exactly once.

For each chat with due items (one worker per chat, a bounded number at once), items in id order, parts in order:

1. wait for the rate limiter (global, per chat, per group: ``bot.ratelimit``);
2. send the part (an item with ``reply_to_item``, a story update, is sent as a reply to the first message of
   that item: Telegram notifies a reply, not an edit; without that message, it goes as a plain message);
3. record the message id at once (``BotRepository.mark_part_sent``): a crash after this point resends nothing;
4. on an error, by its class: ``RateLimited`` -> the chat (or everything, for a global 429) waits
   ``retry_after`` and the item is retried then, not counted as a failure; ``Blocked`` -> the chat is
   deactivated and its pending items dropped; ``Transient`` (network, timeout, 5xx) -> retried with
   exponential backoff; ``Rejected`` (Telegram refuses the message itself) -> the item is marked failed and
   logged as an error (a bug to fix), the chat's next items go on.

The only window where a message can go twice is a crash between Telegram accepting a part and step 3's commit
(a few milliseconds); the Bot API has no idempotency key to close it. Items are never lost: they stay pending
until sent, failed for a reason, or dropped with their chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bot.ratelimit import RateLimiter
from bot.repository import BotRepository, OutboxItem

log = logging.getLogger(__name__)
T = TypeVar("T")


class SendError(Exception):
    """A message could not be sent; the subclass says what to do about it."""


class RateLimited(SendError):
    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"flood control: retry after {retry_after:g} s")
        self.retry_after = retry_after


class Blocked(SendError):
    """The chat will not receive anything: the bot was blocked, kicked, or the chat is gone."""


class Transient(SendError):
    """Network error, timeout or server error: try again later."""


class Rejected(SendError):
    """Telegram refused this message (bad HTML, too long, unknown topic...): retrying would not help."""


class Sender(Protocol):
    async def send(self, chat_id: int, text: str, *, thread_id: int | None, reply_to: int | None) -> int:
        """Send one HTML message (link previews off); its message id."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    """Seconds before retry number ``attempts`` (1, 2, ...): base doubled each time, capped."""
    return float(min(cap_s, base_s * 2 ** max(attempts - 1, 0)))


@dataclass(slots=True)
class DeliveryCounts:
    messages: int = 0  # messages Telegram accepted
    items: int = 0  # outbox items completed
    retried: int = 0
    failed: int = 0
    deactivated: int = 0
    chats: set[int] = field(default_factory=set)


class Deliverer:
    def __init__(
        self,
        repo: BotRepository,
        sender: Sender,
        limiter: RateLimiter,
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 64,
        backoff_base_s: float = 5.0,
        backoff_cap_s: float = 900.0,
        batch: int = 1000,
        quiet: Callable[[], bool] | None = None,
    ) -> None:
        self.repo = repo
        self.sender = sender
        self.limiter = limiter
        self.clock = clock
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.batch = batch
        self.quiet = quiet or (lambda: False)  # an outage already reported: failed sends are logged at DEBUG
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stop: asyncio.Event | None = None

    def wake(self) -> None:
        """New items were recorded: look at the outbox now instead of at the next due time."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, idle_s: float = 30.0) -> None:
        """Deliver until ``stop`` is set; in-flight sends finish and are recorded before this returns."""
        self._stop = stop
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # a database outage must not end delivery: log it, try again shortly
                log.exception("delivery round failed; retrying")
            next_due = await asyncio.to_thread(self.repo.next_due)
            wait = idle_s if next_due is None else (next_due - self.clock()).total_seconds()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(
                    waiters, timeout=min(max(wait, 0.05), idle_s), return_when="FIRST_COMPLETED"
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def drain(self) -> DeliveryCounts:
        """Deliver everything due now (items that become due meanwhile included); counts of this call."""
        counts = DeliveryCounts()
        while True:
            due = await asyncio.to_thread(self.repo.due, self.clock(), self.batch)
            by_chat: dict[int, list[OutboxItem]] = {}
            for item in due:
                by_chat.setdefault(item.chat_id, []).append(item)
            if not by_chat:
                return counts
            before = counts.items + counts.retried + counts.failed + counts.deactivated
            await asyncio.gather(*(self._chat(chat, items, counts) for chat, items in by_chat.items()))
            if counts.items + counts.retried + counts.failed + counts.deactivated == before:
                return counts  # nothing moved (e.g. all waiting on a hold): the caller waits for the next due time

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _chat(self, chat_id: int, items: list[OutboxItem], counts: DeliveryCounts) -> None:
        async with self._slots:
            for item in items:
                if self._stopping() or not await self._item(item, counts):
                    return  # the chat waits (rate limit, outage) or is gone: its later items wait too

    async def _item(self, item: OutboxItem, counts: DeliveryCounts) -> bool:
        """Send what is left of one item; False when the chat's remaining items must wait."""
        try:
            for part in range(item.sent_parts, len(item.parts)):
                if self._stopping():
                    return False  # the rest goes after the restart, from this part on
                message_id = await self._send_part(item, part)
                await asyncio.to_thread(self.repo.mark_part_sent, item, part, message_id, self.clock())
                counts.messages += 1
                counts.chats.add(item.chat_id)
        except RateLimited as exc:
            self.limiter.hold(item.chat_id, exc.retry_after)
            not_before = self.clock() + timedelta(seconds=exc.retry_after)
            await asyncio.to_thread(self.repo.retry_later, item.id, not_before, str(exc), count=False)
            log.warning(
                "rate limited chat_id=%s retry_after=%s item=%s", item.chat_id, exc.retry_after, item.id
            )
            counts.retried += 1
            return False
        except Blocked as exc:
            dropped = await asyncio.to_thread(self.repo.deactivate, item.chat_id, str(exc), self.clock())
            log.warning(
                "chat deactivated chat_id=%s reason=%r dropped_items=%s", item.chat_id, str(exc), dropped
            )
            counts.deactivated += 1
            return False
        except Transient as exc:
            delay = backoff(item.attempts + 1, self.backoff_base_s, self.backoff_cap_s)
            not_before = self.clock() + timedelta(seconds=delay)
            await asyncio.to_thread(self.repo.retry_later, item.id, not_before, str(exc))
            log.log(
                logging.DEBUG if self.quiet() else logging.WARNING,
                "send failed chat_id=%s item=%s retry_in_s=%s error=%r",
                item.chat_id,
                item.id,
                delay,
                str(exc),
            )
            counts.retried += 1
            return False
        except Rejected as exc:
            await asyncio.to_thread(self.repo.fail, item.id, str(exc))
            log.error(
                "message refused chat_id=%s item=%s key=%s error=%r",
                item.chat_id,
                item.id,
                item.item_key,
                str(exc),
            )
            counts.failed += 1
            return True
        counts.items += 1
        return True

    async def _send_part(self, item: OutboxItem, part: int) -> int:
        chat, text, thread = item.chat_id, item.parts[part], item.thread_id
        target = await self._reply_target(item) if part == 0 else None
        return await self._paced(
            chat, lambda: self.sender.send(chat, text, thread_id=thread, reply_to=target)
        )

    async def _paced(self, chat_id: int, request: Callable[[], Awaitable[T]]) -> T:
        """Run one Telegram request when the limits allow it (negative chat ids: groups and channels)."""
        ticket = await self.limiter.acquire(chat_id, chat_id < 0)
        try:
            return await request()
        finally:
            self.limiter.done(ticket)

    async def _reply_target(self, item: OutboxItem) -> int | None:
        """The message an item replies to: the first message of its ``reply_to_item``, when that went out."""
        if item.reply_to_item is None:
            return None
        original = await asyncio.to_thread(self.repo.item, item.reply_to_item)
        if original is None or not original.message_ids:
            return None
        return original.message_ids[0]
