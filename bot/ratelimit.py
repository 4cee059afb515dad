"""Telegram's sending limits, as a pacer the deliverer awaits before each message.

Telegram asks bots to stay under about 30 messages per second overall, one message per second to a chat, and
20 messages per minute to a group or channel; beyond that it answers 429 with ``retry_after``. ``RateLimiter``
keeps the send times of the last window (pure bookkeeping on a clock passed in, so it is tested with literal
times) and says how long to wait before the next message to a chat may go; ``hold`` records a 429's
``retry_after`` for one chat or for everything.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    global_per_s: float = 30.0  # messages per second, all chats together
    chat_interval_s: float = 1.0  # seconds between two messages to one chat
    group_per_min: int = 20  # messages per minute to one group or channel

    def ideal_seconds(self, messages: int, chats: int, *, groups: bool = False) -> float:
        """The least time ``messages`` spread evenly over ``chats`` can take under these limits."""
        if messages <= 0:
            return 0.0
        last = -(-messages // max(chats, 1)) - 1  # index of a chat's last message
        if groups:  # bursts of group_per_min at chat_interval_s, one burst a minute
            chat_bound = (last // self.group_per_min) * 60.0 + (last % self.group_per_min) * self.chat_interval_s
        else:
            chat_bound = last * self.chat_interval_s
        return max((messages - 1) / self.global_per_s, chat_bound)


class RateLimiter:
    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._recent: deque[float] = deque()  # send times within the last second, all chats
        self._last: dict[int, float] = {}  # chat -> last send time
        self._group_recent: dict[int, deque[float]] = {}  # group/channel -> send times within the last minute
        self._held: dict[int | None, float] = {}  # chat (None: all) -> not before

    def delay(self, chat_id: int, is_group: bool, now: float) -> float:
        """Seconds to wait before one more message may go to ``chat_id`` (0: now)."""
        waits = [self._held.get(None, 0.0) - now, self._held.get(chat_id, 0.0) - now]
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.limits.global_per_s:
            waits.append(self._recent[int(len(self._recent) - self.limits.global_per_s)] + 1.0 - now)
        if chat_id in self._last:
            waits.append(self._last[chat_id] + self.limits.chat_interval_s - now)
        if is_group:
            sent = self._group_recent.get(chat_id)
            while sent and sent[0] <= now - 60.0:
                sent.popleft()
            if sent and len(sent) >= self.limits.group_per_min:
                waits.append(sent[len(sent) - self.limits.group_per_min] + 60.0 - now)
        return max(0.0, *waits)

    def record(self, chat_id: int, is_group: bool, now: float) -> None:
        self._recent.append(now)
        self._last[chat_id] = now
        if is_group:
            self._group_recent.setdefault(chat_id, deque()).append(now)

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said to wait ``seconds`` (for one chat, or for all with None)."""
        until = self.clock() + seconds
        self._held[chat_id] = max(self._held.get(chat_id, 0.0), until)

    async def acquire(self, chat_id: int, is_group: bool) -> None:
        """Wait until a message may go to ``chat_id``, then count it as sent."""
        while (wait := self.delay(chat_id, is_group, self.clock())) > 0:  # noqa: ASYNC110 - pacing, not polling
            await asyncio.sleep(wait)
        self.record(chat_id, is_group, self.clock())
