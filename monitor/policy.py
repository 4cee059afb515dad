"""When to check a source next: adaptive interval, caching hints, backoff, jitter, pausing. Pure functions.

Nothing here reads the clock or does I/O: callers pass ``now``, the stored values and a ``random.Random``,
so every rule is tested with literal inputs.

The rules, in the order the poller applies them:

1. **Base interval** (:func:`base_interval`): the configured interval, or, for adaptive sources with at least
   three publication dates in the last 30 days, half the mean gap between publications (the time since the
   newest item counts as one more gap, so a source that went quiet slows down). Clamped to the source's
   ``[min_interval, max_interval]``.
2. **Next check** (:func:`next_check`): the longest of the base interval, the feed's TTL, the response's
   freshness (Cache-Control / Expires) and Retry-After; hints over 7 days count as 7 days. After consecutive
   errors, exponential backoff ``backoff_base * 2**(errors-1)`` capped at ``backoff_cap``, but a Retry-After
   longer than the cap is honoured. Then jitter of ``+/- jitter_fraction`` so sources drift apart, never
   earlier than Retry-After. Hints come from servers and feeds: NaN, negative or absent is no hint, and
   infinity is 7 days (:func:`_hint`), so no hint can overflow the date arithmetic.
3. **Pause** (:func:`should_pause`): ``pause_after_errors`` consecutive failures of a permanent kind (404,
   410, a name that does not exist, blocked, ...) pause the source until an operator resumes it; ``0``
   never pauses. Transient kinds never pause, however long they last: with the default backoff, ten
   failures in a row take about 22 hours, so an outage of the network or of the DNS resolver, which fails
   every source at once, must classify as transient. That is why a resolver that cannot answer is
   ``connect`` and only a name that does not exist is ``dns`` (:func:`monitor.fetch.classify`).
4. **Restart** (:func:`startup_times`): overdue sources are spread evenly over a window, oldest due first,
   so a restart never polls everything in one burst.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.errors import ErrorKind

HINT_CAP_S = 7 * 86400.0  # TTL, caching and Retry-After hints longer than this are treated as this
ADAPTIVE_WINDOW = timedelta(days=30)  # publication dates older than this say nothing about the current rate
ADAPTIVE_MIN_DATES = 3  # fewer dates than this: keep the configured interval
ADAPTIVE_MAX_DATES = 20  # only the most recent dates count
_MAX_EXPONENT = 60  # 2**60 times any backoff base is far past any cap; avoids overflow


@dataclass(frozen=True, slots=True)
class Policy:
    """The scheduling rules of one source: its interval and bounds, and the settings' backoff and pausing."""

    interval_s: float
    min_interval_s: float
    max_interval_s: float
    adaptive: bool
    backoff_base_s: float
    backoff_cap_s: float
    jitter_fraction: float
    pause_after_errors: int  # 0: never pause

    def __post_init__(self) -> None:
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ValueError(
                f"need 0 < min_interval_s <= max_interval_s, got {self.min_interval_s}, {self.max_interval_s}"
            )
        if self.interval_s <= 0 or self.backoff_base_s <= 0 or self.backoff_cap_s <= 0:
            raise ValueError("interval_s, backoff_base_s and backoff_cap_s must be positive")
        if not 0 <= self.jitter_fraction < 1:
            raise ValueError(f"jitter_fraction must be in [0, 1), got {self.jitter_fraction}")
        if self.pause_after_errors < 0:
            raise ValueError(f"pause_after_errors must be >= 0, got {self.pause_after_errors}")

    def clamp(self, seconds: float) -> float:
        """``seconds`` brought within ``[min_interval_s, max_interval_s]``."""
        return min(self.max_interval_s, max(self.min_interval_s, seconds))


def base_interval(policy: Policy, published: Sequence[datetime], now: datetime) -> float:
    """The interval to use after a successful poll, in seconds, from the source's recent publication dates.

    ``published`` holds aware datetimes in any order. Dates in the future or older than 30 days are ignored;
    the 20 most recent of the rest give ``mean gap = (now - oldest) / count``, and the interval is half of it,
    so a source is checked about twice per publication. Not adaptive, or under 3 usable dates: the
    configured interval. Always clamped to the policy's bounds.
    """
    if not policy.adaptive:
        return policy.clamp(policy.interval_s)
    recent = sorted((d for d in published if now - ADAPTIVE_WINDOW <= d <= now), reverse=True)
    recent = recent[:ADAPTIVE_MAX_DATES]
    if len(recent) < ADAPTIVE_MIN_DATES:
        return policy.clamp(policy.interval_s)
    mean_gap_s = (now - recent[-1]).total_seconds() / len(recent)
    return policy.clamp(mean_gap_s / 2)


def backoff_s(policy: Policy, consecutive_errors: int) -> float:
    """The backoff after ``consecutive_errors`` failures in a row: base, 2 x base, 4 x base, ... capped."""
    if consecutive_errors <= 0:
        return 0.0
    exponent = min(consecutive_errors - 1, _MAX_EXPONENT)
    return min(policy.backoff_cap_s, policy.backoff_base_s * 2.0**exponent)


def _hint(seconds: float | None) -> float:
    """A server's hint in seconds, made sane: absent, NaN or negative is 0, longer than 7 days is 7 days."""
    if seconds is None or not seconds > 0:  # "not >": NaN too
        return 0.0
    return min(HINT_CAP_S, seconds)


def next_check(
    policy: Policy,
    *,
    now: datetime,
    base_s: float,
    ttl_s: float | None,
    cache_s: float | None,
    retry_after_s: float | None,
    consecutive_errors: int,
    rng: random.Random,
) -> datetime:
    """When to check the source again.

    ``base_s`` is the base interval (from :func:`base_interval`, or the stored one after a failure); ``ttl_s``
    the feed's own TTL; ``cache_s`` the response's freshness lifetime; ``retry_after_s`` the server's
    Retry-After; ``consecutive_errors`` the failures in a row including this one (0 after a success).
    """
    retry_after = _hint(retry_after_s)
    delay = max(base_s, _hint(ttl_s), _hint(cache_s), retry_after)
    delay = max(delay, backoff_s(policy, consecutive_errors))
    if policy.jitter_fraction > 0:
        delay *= 1 + rng.uniform(-policy.jitter_fraction, policy.jitter_fraction)
    delay = max(delay, retry_after, 0.0)
    return now + timedelta(seconds=delay)


def should_pause(policy: Policy, kind: ErrorKind, consecutive_errors: int) -> bool:
    """Whether a source that just failed with ``kind`` for the ``consecutive_errors``-th time should pause."""
    if policy.pause_after_errors <= 0:
        return False
    return kind.permanent and consecutive_errors >= policy.pause_after_errors


def startup_times(
    due: Mapping[str, datetime | None], *, now: datetime, spread_s: float, rng: random.Random
) -> dict[str, datetime]:
    """First check times after a (re)start, from each source's stored ``next_check_at`` (None: never polled).

    A source due in the future keeps its time. The others are ordered, never-polled first, then oldest due
    first (ties by id), and source ``i`` of ``n`` gets a random moment inside the ``i``-th of ``n`` equal
    slots of ``[now, now + spread_s)``: evenly spread, no burst, the order kept.
    """
    times: dict[str, datetime] = {}
    overdue: list[tuple[int, datetime, str]] = []
    for source_id, when in due.items():
        if when is not None and when > now:
            times[source_id] = when
        else:
            overdue.append((0, now, source_id) if when is None else (1, when, source_id))
    overdue.sort()
    slot_s = max(0.0, spread_s) / len(overdue) if overdue else 0.0
    for index, (_, _, source_id) in enumerate(overdue):
        times[source_id] = now + timedelta(seconds=(index + rng.random()) * slot_s)
    return times
