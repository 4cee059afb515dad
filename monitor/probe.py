"""``veille sources check --probe``: fetch each source once and say what it serves, storing nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from monitor.challenge import detect_challenge
from monitor.config import SourceConfig, page_selectors
from monitor.errors import ErrorKind, FetchError, SourceError
from monitor.feed import parse_feed
from monitor.fetch import Fetcher
from monitor.models import ParsedFeed
from monitor.normalize import normalize_items
from monitor.page import parse_page


def _parse(source: SourceConfig, body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    selectors = page_selectors(source)
    if source.kind == "page" and selectors is not None:
        return parse_page(body, headers, url, selectors)
    return parse_feed(body, headers, url)


async def probe_source(fetcher: Fetcher, source: SourceConfig) -> dict[str, Any]:
    """One row: status, type (feed format or html), item count, majority language, error."""
    row: dict[str, Any] = {
        "id": source.id,
        "url": source.url,
        "status": None,
        "type": None,
        "items": 0,
        "language": None,
        "declared": source.language,
        "final_url": None,
        "error": None,
    }
    try:
        result = await fetcher.fetch(source.url, headers=source.headers)
        row.update(status=result.status, final_url=result.final_url)
        parsed = await asyncio.to_thread(_parse, source, result.body, dict(result.headers), result.final_url)
        articles = await asyncio.to_thread(
            normalize_items,
            parsed.items,
            source_id=source.id,
            declared_language="auto",
            now=datetime.now(UTC),
        )
        langs = Counter(a.language for a in articles if a.language)
        row.update(
            type=parsed.format,
            items=len(parsed.items),
            language=langs.most_common(1)[0][0] if langs else parsed.language,
        )
        if parsed.warnings:
            row["warning"] = "; ".join(parsed.warnings)[:300]
    except FetchError as exc:
        wall = detect_challenge(exc.status, exc.headers, exc.body) if exc.status else None
        kind = ErrorKind.BLOCKED if wall else exc.kind
        row.update(status=exc.status, error=f"{kind}: {exc.message}")
    except SourceError as exc:
        row["error"] = f"{exc.kind}: {exc.message}"
    return row
