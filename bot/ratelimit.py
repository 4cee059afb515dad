"""Telegram's sending limits, as a pacer the deliverer awaits before each message.

Telegram asks bots to stay under about 30 messages per second overall, one message per second to a chat, and
20 messages per minute to a group or channel; beyond that it answers 429 with ``retry_after``. Telegram counts
messages when they arrive, which is somewhere between our start of a request and its answer; so a message
counts against the limits from its start until one window after its answer (while in flight it counts as
"now"). Any N+1 messages then arrive more than one window apart, whatever the network delays.

``RateLimiter`` is pure bookkeeping on a clock passed in (tested with literal times): ``delay`` says how long
before one more message may go to a chat, ``start`` and ``done`` bracket a request, ``hold`` records a 429's
``retry_after`` for one chat or for everything, and ``acquire`` waits then starts.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

IN_FLIGHT = math.inf  # a request without its answer yet counts as sent "now" until it is done


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
            chat_bound = (last // self.group_per_min) * 60.0 + (
                last % self.group_per_min
            ) * self.chat_interval_s
        else:
            chat_bound = last * self.chat_interval_s
        global_bound = math.floor((messages - 1) / self.global_per_s)  # bursts of global_per_s each second
        return max(global_bound, chat_bound)


@dataclass(slots=True)
class _Send:
    chat_id: int
    is_group: bool
    end: float = IN_FLIGHT  # when the answer came


class RateLimiter:
    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._ids = itertools.count()
        self._sends: dict[int, _Send] = {}  # sends that still count against a limit (within a minute)
        self._held: dict[int | None, float] = {}  # chat (None: all) -> not before

    def delay(self, chat_id: int, is_group: bool, now: float) -> float:
        """Seconds to wait before one more message may go to ``chat_id`` (0: now)."""
        self._forget(now)
        waits = [self._held.get(None, 0.0) - now, self._held.get(chat_id, 0.0) - now]
        ends = sorted(s.end for s in self._sends.values() if s.end > now - 1.0)
        if len(ends) >= self.limits.global_per_s:
            waits.append(ends[int(len(ends) - self.limits.global_per_s)] + 1.0 - now)
        mine = sorted(s.end for s in self._sends.values() if s.chat_id == chat_id)
        if mine:
            waits.append(mine[-1] + self.limits.chat_interval_s - now)
        if is_group:
            recent = [end for end in mine if end > now - 60.0]
            if len(recent) >= self.limits.group_per_min:
                waits.append(recent[len(recent) - self.limits.group_per_min] + 60.0 - now)
        wait = max(0.0, *waits)
        return 0.01 if wait == math.inf else wait  # blocked by a request in flight: look again shortly

    def start(self, chat_id: int, is_group: bool) -> int:
        """Count a request to ``chat_id`` from now on; the ticket to pass to ``done``."""
        ticket = next(self._ids)
        self._sends[ticket] = _Send(chat_id, is_group)
        return ticket

    def done(self, ticket: int, now: float | None = None) -> None:
        """The request's answer came (or it failed): it counts until one window after ``now``."""
        if (send := self._sends.get(ticket)) is not None:
            send.end = self.clock() if now is None else now

    def record(self, chat_id: int, is_group: bool, now: float) -> None:
        """A request started and answered at ``now`` (bookkeeping shortcut)."""
        self.done(self.start(chat_id, is_group), now)

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said to wait ``seconds`` (for one chat, or for all with None)."""
        until = self.clock() + seconds
        self._held[chat_id] = max(self._held.get(chat_id, 0.0), until)

    async def acquire(self, chat_id: int, is_group: bool) -> int:
        """Wait until a message may go to ``chat_id``, then start it; the ticket for ``done``."""
        while (wait := self.delay(chat_id, is_group, self.clock())) > 0:  # noqa: ASYNC110 - pacing, not polling
            await asyncio.sleep(wait)
        return self.start(chat_id, is_group)

    def _forget(self, now: float) -> None:
        horizon = now - 60.0 - max(self.limits.chat_interval_s, 1.0)
        if len(self._sends) > 64:
            self._sends = {k: s for k, s in self._sends.items() if s.end > horizon}
