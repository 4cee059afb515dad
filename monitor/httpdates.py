"""HTTP date and caching headers (RFC 9110, RFC 9111), parsed into plain numbers. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date. Never negative; None if absent."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def cache_lifetime_s(headers: Mapping[str, str], now: datetime) -> float | None:
    """How long the response says it stays fresh: Cache-Control max-age (s-maxage wins), else Expires.

    ``no-cache``/``no-store`` give None (no hint), as does the absence of both headers.
    """
    control = headers.get("cache-control", "")
    lowered = control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    ages = {name.lower(): int(num) for name, num in _MAX_AGE.findall(control)}
    if "s-maxage" in ages:
        return float(ages["s-maxage"])
    if "max-age" in ages:
        return float(ages["max-age"])
    expires = headers.get("expires")
    if expires is not None:
        when = parse_http_date(expires)
        if when is None:
            return 0.0  # an invalid Expires means "already expired" (RFC 9111 5.3)
        return max(0.0, (when - now).total_seconds())
    return None
