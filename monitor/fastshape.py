"""The fast parse path's adapter: feedparser-rs' result -> feedparser's shapes, with feedparser's own text steps.

:mod:`monitor.fastfeed` decides which documents take the fast path; this module turns feedparser-rs' entries
and channel into the plain dicts :mod:`monitor.feed` reads from feedparser (``title``, ``summary``,
``content``, ``*_detail``, ``*_parsed``, ``authors``, ``tags``), so that the RawItems are the same.

feedparser-rs parses without its own sanitizer; each text field then goes through what feedparser's
``pop`` does to it after parsing, with feedparser's own functions (:func:`feedparser_text`):

1. In RSS, a ``text/plain`` field that looks like HTML (feedparser's ``looks_like_html``) is HTML.
2. An HTML field (title, summary, content) is cleaned by feedparser's sanitizer (``_sanitize_html``); a
   text without ``<`` nor ``&`` comes out of it stripped only, and skips it.
3. Text that is UTF-8 read as ISO-8859-1 is decoded again, and C1 controls become their windows-1252
   characters, as feedparser does to every value it stores.

What feedparser-rs reads differently is fixed here from the facts :mod:`monitor.fastfeed` collected on the
document (:class:`EntryFacts`): an entry's ``updated`` exists only when the entry has its own element for
it (feedparser-rs copies ``pubDate`` there); iTunes ``summary`` is an entry's content when it follows its
description (its summary when there is none), iTunes ``keywords`` and ``category`` are tags; an Atom entry
without an author of its own has none (feedparser-rs gives it the feed's).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _sanitize_html

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TYPE_NAMES = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}
_DEFAULT_TYPES = {"title": "text/plain", "summary": "text/html"}
_looks_like_html = _FeedParserMixin.looks_like_html


@dataclass(slots=True)
class EntryFacts:
    """What the document says of one entry that feedparser-rs does not report as feedparser reads it."""

    published: bool = False  # the entry has its own published element (pubDate, atom:published, ...)
    updated: bool = False  # the entry has its own updated element (atom:updated, dc:date, dcterms:modified)
    anonymous: bool = False  # an Atom entry without an author of its own
    description: str | None = None  # the raw text of its description, when it has an iTunes summary
    itunes_summary: str | None = None  # the raw text of its itunes:summary
    itunes_content_at: int | None = None  # where feedparser puts it among the content blocks; None: summary
    itunes_tags: list[str | None] = field(default_factory=list)  # keywords and category texts, in order


def feedparser_text(value: str, kind: str, *, guess: bool) -> tuple[str, str]:
    """(value, type) as feedparser stores a field of that type; ``guess``: RSS, where text/plain may be HTML."""
    kind = _TYPE_NAMES.get(kind.lower(), kind.lower())
    if guess and kind == "text/plain" and _looks_like_html(value):
        kind = "text/html"
    if kind in _HTML_TYPES:
        if "<" in value or "&" in value:
            value = _sanitize_html(value, "utf-8", kind)
        else:
            value = value.strip().replace("\r\n", "\n")
    return fixed(value), kind


def fixed(value: str) -> str:
    """feedparser's last steps on a stored value: UTF-8 read as ISO-8859-1 decoded again, C1 as windows-1252."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_cp1252)


def _detail(raw: Any, key: str, guess: bool) -> dict[str, Any] | None:
    """``key``'s detail in feedparser's shape; feedparser-rs gives none for some (dc:title, dc:description):
    those get feedparser's default type for the field."""
    construct = raw.get(key + "_detail")
    if construct is not None:
        value, kind, language = construct.value or "", construct.type or "text/plain", construct.language
    elif isinstance(plain := raw.get(key), str):
        value, kind, language = plain, _DEFAULT_TYPES[key], None
    else:
        return None
    value, kind = feedparser_text(value, kind, guess=guess)
    return {"type": kind, "language": language, "value": value}


def _block(construct: Any, guess: bool) -> dict[str, Any]:
    value, kind = feedparser_text(construct.value or "", construct.type or "text/plain", guess=guess)
    return {"type": kind, "language": construct.language, "value": value}


def entry(raw: Any, facts: EntryFacts, guess: bool) -> dict[str, Any]:
    """One entry in feedparser's shape (``guess``: RSS, where feedparser guesses HTML in plain text)."""
    get = raw.get
    out: dict[str, Any] = {
        key: fixed(value) for key in ("id", "link", "author") if isinstance(value := get(key), str)
    }
    for key, own in (("published_parsed", facts.published), ("updated_parsed", facts.updated)):
        if own and isinstance(value := get(key), time.struct_time):
            out[key] = value
    for key in ("title", "summary"):
        detail = _detail(raw, key, guess)
        out[key + "_detail"] = detail
        if detail is not None:
            out[key] = detail["value"]
    out["content"] = [_block(block, guess) for block in get("content") or ()]
    authors = get("authors") or ()
    out["authors"] = [{"name": _fixed_or_none(a.name), "email": _fixed_or_none(a.email)} for a in authors]
    out["tags"] = [{"term": _fixed_or_none(tag.term)} for tag in get("tags") or ()]
    _apply_facts(out, facts, guess)
    return {key: value for key, value in out.items() if value is not None or key.endswith("_detail")}


def _apply_facts(out: dict[str, Any], facts: EntryFacts, guess: bool) -> None:
    if facts.anonymous:
        out.pop("author", None)
        out["authors"] = []
    if facts.itunes_summary is not None:
        value, kind = feedparser_text(facts.itunes_summary.strip(), "text/plain", guess=guess)
        detail = {"type": kind, "language": None, "value": value}
        if facts.itunes_content_at is not None:
            out["content"].insert(facts.itunes_content_at, detail)
            if facts.description is not None:  # feedparser-rs put the iTunes summary in its place
                value, kind = feedparser_text(facts.description.strip(), "text/html", guess=guess)
                out["summary"], out["summary_detail"] = (
                    value,
                    {"type": kind, "language": None, "value": value},
                )
        else:
            out["summary"], out["summary_detail"] = value, detail
    out["tags"] += [{"term": term} for term in facts.itunes_tags]


def _fixed_or_none(value: object) -> str | None:
    return fixed(value) if isinstance(value, str) else None


def channel(raw: Any, guess: bool) -> dict[str, Any]:
    """The channel fields :mod:`monitor.feed` reads, in feedparser's shape."""
    get = raw.get
    out: dict[str, Any] = {
        key: fixed(value) for key in ("link", "language", "ttl") if isinstance(value := get(key), str)
    }
    detail = _detail(raw, "title", guess)
    out["title_detail"] = detail
    if detail is not None:
        out["title"] = detail["value"]
    syndication = get("syndication")
    if syndication is not None:
        out["sy_updateperiod"] = _string(syndication.update_period)
        out["sy_updatefrequency"] = _string(syndication.update_frequency)
    return out


def _string(value: object) -> str | None:
    return None if value is None else str(value)
