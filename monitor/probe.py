"""``veille sources check --probe``: fetch each source once and say what it serves, storing nothing.

For each source: the HTTP status, the format (``rss20``, ``atom10``, ``json1``, ``html``...), the item count, the
language most items read as (detected offline, per item, whatever the source declares) and, when the fetch or
the parse failed, the error classified as a poll would classify it (a challenge page behind a 403/503 is
``blocked``). Nothing is written to the store and no conditional-GET validators are sent.

A probe is a check, not a poll: it also points out a declared language the items do not read as.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.config import SourceConfig
from monitor.errors import ErrorKind, SourceError
from monitor.fetch import Fetcher
from monitor.models import ParsedFeed
from monitor.normalize import normalize_items
from monitor.poller import fetch_source
from monitor.prepare import parse_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one fetch of one source showed."""

    id: str
    url: str
    declared: str  # the language of sources.yaml ("auto" or an ISO 639-1 code)
    status: int | None = None  # HTTP status, also for an HTTP error
    final_url: str | None = None  # after redirects
    type: str | None = None  # ParsedFeed.format: rss20, atom10, json1, html...
    items: int = 0
    language: str | None = None  # the language most items read as
    error_kind: ErrorKind | None = None
    error: str | None = None  # the error message, without its kind
    warnings: tuple[str, ...] = ()


def majority_language(languages: Sequence[str | None]) -> tuple[str, int] | None:
    """The most common known language and how many items read as it; None when none is known."""
    counts = Counter(lang for lang in languages if lang)
    return counts.most_common(1)[0] if counts else None


def language_warning(declared: str, languages: Sequence[str | None]) -> str | None:
    """A warning when the items mostly read as another language than the declared one ("auto": never)."""
    majority = majority_language(languages)
    if declared == "auto" or majority is None or majority[0] == declared:
        return None
    detected, count = majority
    known = sum(1 for lang in languages if lang)
    return (
        f"declared language {declared} but {count} of {known} items read as {detected}: "
        f"set language: {detected} (or auto for a mixed source)"
    )


def _languages(source: SourceConfig, parsed: ParsedFeed) -> list[str | None]:
    articles = normalize_items(
        parsed.items, source_id=source.id, declared_language="auto", now=datetime.now(UTC)
    )
    return [a.language for a in articles]


async def probe_source(fetcher: Fetcher, source: SourceConfig) -> ProbeResult:
    """Fetch and parse ``source`` once. Never raises for a source's failure: it is in the result."""
    base = ProbeResult(id=source.id, url=source.url, declared=source.language)
    status: int | None = None
    try:
        result = await fetch_source(fetcher, source)
        status = result.status
        parsed = await asyncio.to_thread(parse_body, source, result)
        languages = await asyncio.to_thread(_languages, source, parsed)
    except SourceError as exc:
        return _failed(base, exc.kind, exc.message, exc.status or status)
    except Exception as exc:  # a bug in veille: reported for this source, the others go on
        log.exception("bug while probing source_id=%s url=%s", source.id, source.url)
        return _failed(base, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", status)
    majority = majority_language(languages)
    mismatch = language_warning(source.language, languages)
    return ProbeResult(
        id=source.id,
        url=source.url,
        declared=source.language,
        status=result.status,
        final_url=result.final_url,
        type=parsed.format,
        items=len(parsed.items),
        language=majority[0] if majority else parsed.language,
        warnings=(*parsed.warnings, *([mismatch] if mismatch else [])),
    )


def _failed(base: ProbeResult, kind: ErrorKind, message: str, status: int | None) -> ProbeResult:
    return ProbeResult(
        id=base.id, url=base.url, declared=base.declared, status=status, error_kind=kind, error=message
    )


async def probe_sources(
    fetcher: Fetcher, sources: Sequence[SourceConfig], on_done: Callable[[], None] = lambda: None
) -> list[ProbeResult]:
    """Probe every source concurrently (the fetcher's caps apply); results in the order of ``sources``."""

    async def one(source: SourceConfig) -> ProbeResult:
        result = await probe_source(fetcher, source)
        on_done()
        return result

    return list(await asyncio.gather(*(one(s) for s in sources)))
