"""HTTP date and caching headers (RFC 9110, RFC 9111), parsed into plain numbers. Pure functions.

Every value comes from a server and is bounded here, so that nothing a server sends can raise:

- A delta-seconds value (``max-age``, ``s-maxage``, ``Retry-After``) longer than :data:`MAX_DELTA_S` (2**31 s,
  as RFC 9111 1.2.2 says a cache must read an unrepresentable value) counts as that; its digits are never
  converted when there are more than a dozen of them (Python refuses ints of over 4,300 digits, and a float
  overflows past 308).
- An HTTP date that cannot be represented in UTC (``Fri, 31 Dec 9999 23:59:59 -0500`` is in year 10000 in
  UTC) is clamped to the first or last representable moment: the server meant "very far in the future" (or
  past), and the policy caps any hint at 7 days anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_DELTA_S = float(2**31)  # the longest delta-seconds read (RFC 9111 1.2.2); longer ones count as this
_DELTA_DIGITS = len(str(2**31))  # more digits than this: over MAX_DELTA_S, not converted
_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?([0-9]+)\"?", re.IGNORECASE)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime, or None.

    A date that falls outside what a datetime holds once converted to UTC is clamped to the earliest or the
    latest UTC datetime.
    """
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 9999 west of Greenwich, or year 1 east of it
        return _LATEST if parsed.year > 1 else _EARLIEST


def delta_seconds(digits: str) -> float:
    """A delta-seconds value of ASCII digits, as seconds, at most :data:`MAX_DELTA_S`."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > _DELTA_DIGITS:
        return MAX_DELTA_S
    return min(MAX_DELTA_S, float(int(digits)))


def _seconds_until(when: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``when``: never negative, at most :data:`MAX_DELTA_S`."""
    return min(MAX_DELTA_S, max(0.0, (when - now).total_seconds()))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date. Within ``[0, MAX_DELTA_S]``;
    None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return delta_seconds(value)
    when = parse_http_date(value)
    if when is None:
        return None
    return _seconds_until(when, now)


def cache_lifetime_s(headers: Mapping[str, str], now: datetime) -> float | None:
    """How long the response says it stays fresh: Cache-Control max-age (s-maxage wins), else Expires.

    ``no-cache``/``no-store`` give None (no hint), as does the absence of both headers. The lifetime is
    within ``[0, MAX_DELTA_S]``.
    """
    control = headers.get("cache-control", "")
    lowered = control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    ages = {name.lower(): delta_seconds(num) for name, num in _MAX_AGE.findall(control)}
    if "s-maxage" in ages:
        return ages["s-maxage"]
    if "max-age" in ages:
        return ages["max-age"]
    expires = headers.get("expires")
    if expires is not None:
        when = parse_http_date(expires)
        if when is None:
            return 0.0  # an invalid Expires means "already expired" (RFC 9111 5.3)
        return _seconds_until(when, now)
    return None
