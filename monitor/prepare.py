"""A fetched body to stored-ready articles: parse, normalize, language, fingerprints. Pure CPU work on plain data.

:func:`prepare` is what the poller runs for each fetched body, in a worker process of :mod:`monitor.workers` when
it polls many sources (so that every core parses), else in a thread. Its arguments and its result are plain,
picklable data: what it needs of the source's configuration (:class:`SourceView`, so that a worker does not load
the configuration's libraries), the :class:`FetchResult`, the poll's time; back come the :class:`Prepared`
articles and what the poll reports about the document. It reads no database and no network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.feed import MAX_DOCUMENT_BYTES, parse_feed
from monitor.models import Article, FetchResult, ParsedFeed
from monitor.normalize import normalize_items
from monitor.page import PageSelectors, parse_page

if TYPE_CHECKING:
    from monitor.config import SourceConfig


@dataclass(frozen=True, slots=True)
class SourceView:
    """What parsing and normalizing read of a source's configuration."""

    id: str
    kind: str
    language: str  # a code, or "auto"
    tags: tuple[str, ...]
    selectors: PageSelectors | None  # a page source's; None for a feed

    @classmethod
    def of(cls, source: SourceConfig) -> SourceView:
        from monitor.config import page_selectors

        return cls(source.id, source.kind, source.language, tuple(source.tags), page_selectors(source))


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one fetched body gave: its articles, and the document's facts the poll records or reports."""

    articles: tuple[Article, ...]
    items: int  # items in the document (before normalization dropped unusable ones)
    ttl_s: int | None  # the feed's own refresh hint
    warnings: tuple[str, ...]


def parse_body(
    source: SourceView | SourceConfig, result: FetchResult, max_bytes: int = MAX_DOCUMENT_BYTES
) -> ParsedFeed:
    """Items of a fetched body: a press-release page through its selectors, else a feed (whose expanded XML
    entities count against ``max_bytes``, the body cap; the fetcher's default unless given)."""
    view = source if isinstance(source, SourceView) else SourceView.of(source)
    if view.kind == "page" and view.selectors is not None:
        return parse_page(result.body, result.headers, result.final_url, view.selectors)
    return parse_feed(result.body, result.headers, result.final_url, max_bytes=max_bytes)


def normalize(source: SourceView, parsed: ParsedFeed, result: FetchResult, now: datetime) -> list[Article]:
    """The parsed items as articles of ``source``, with the fetch's metadata."""
    meta: dict[str, str | int | None] = {
        "status": result.status,
        "final_url": result.final_url,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "content_type": result.content_type,
        "fetched_at": result.fetched_at.isoformat(),
        "format": parsed.format,
    }
    items = parsed.items
    if parsed.language and source.language == "auto":
        items = tuple(it if it.language else replace(it, language=parsed.language) for it in items)
    return normalize_items(
        items,
        source_id=source.id,
        declared_language=source.language,
        now=now,
        fetch_meta=meta,
        source_tags=source.tags,
    )


def prepare(source: SourceView, result: FetchResult, now: datetime, max_bytes: int) -> Prepared:
    """Parse and normalize one fetched body. Raises :class:`monitor.errors.ParseError` for a body that is not a
    feed (or not the page its selectors expect)."""
    parsed = parse_body(source, result, max_bytes)
    articles = normalize(source, parsed, result, now)
    return Prepared(tuple(articles), len(parsed.items), parsed.ttl_s, parsed.warnings)
