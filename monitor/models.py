"""Values passed between the stages of the monitor. Frozen and slotted; no library object inside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.errors import ErrorKind


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successful HTTP exchange (2xx with a body, or 304 Not Modified)."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200..299 or 304
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes  # content-decoded (gzip/deflate removed); b"" on 304
    fetched_at: datetime  # aware, UTC
    elapsed_s: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass(frozen=True, slots=True)
class RawItem:
    """One entry as a parser found it, before normalizing. Text fields may hold HTML."""

    guid: str | None = None
    link: str | None = None  # absolute when the parser could resolve it
    title: str | None = None
    summary: str | None = None
    content: str | None = None  # full content when the feed carries it
    published: datetime | None = None  # aware, UTC
    updated: datetime | None = None  # aware, UTC
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None  # declared by the item or the feed (xml:lang, dc:language)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a parser made of one body."""

    format: str  # feedparser's version ("rss20", "atom10", "rss10", ...), "json1"/"json11", "html"
    title: str | None
    link: str | None
    language: str | None
    ttl_s: int | None  # RSS <ttl> or sy:updatePeriod/Frequency, in seconds
    items: tuple[RawItem, ...]
    warnings: tuple[str, ...] = ()  # e.g. a malformed feed that still gave entries


@dataclass(frozen=True, slots=True)
class Article:
    """A normalized article, ready to store."""

    id: str  # stable: derived from the canonical URL (or source+guid, or source+content hash)
    source_id: str
    url: str  # as published (absolute)
    canonical_url: str  # host lower-cased, fragment and tracking parameters removed
    guid: str | None  # None when the feed's GUIDs are not usable (shared by several items)
    title: str
    summary: str  # plain text
    text: str  # plain text; full text when fetched, else the feed content or summary
    language: str | None  # ISO 639-1 code
    published_at: datetime  # aware UTC; first_seen_at when the item has no usable date
    published_estimated: bool  # True when published_at is the first-seen fallback
    first_seen_at: datetime  # aware UTC
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    content_hash: str  # hex sha256 of the normalized title + text
    simhash: int  # 64-bit SimHash of the text, as a signed int64 (fits BIGINT)
    fetch: Mapping[str, str | int | None] = field(default_factory=dict)  # status, final_url, etag, ...
    duplicate_of: str | None = None  # id of the article this one repeats (near or exact copy)


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the monitor remembers about a source between polls (one row per source)."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    next_check_at: datetime | None = None
    interval_s: float | None = None  # current adaptive base interval
    last_status: int | None = None
    error_count: int = 0  # total failures since the source was added
    consecutive_errors: int = 0  # reset by a success
    last_error_kind: ErrorKind | None = None
    last_error_message: str | None = None
    last_error_at: datetime | None = None
    paused: bool = False
    paused_reason: str | None = None
