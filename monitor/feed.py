"""Feeds: bytes + response headers -> ParsedFeed of RawItem (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.x).

Stages of :func:`parse_feed`:

1. JSON Feed (a body starting with ``{``, or a JSON content type on a body that is not markup) is read
   with :mod:`json` here; feedparser 6 does not know it.
2. The XML prolog is defused (:func:`defuse_doctype`): feedparser keeps "safe" entity declarations with a
   line-based regex, so a DOCTYPE written on one line reaches expat intact, and expat then expands a
   billion-laughs document for seconds and tens of MB before its amplification limit stops it. Here every
   declaration that is external (SYSTEM/PUBLIC), a parameter entity, nested (its value references another
   entity) or long is dropped, with a warning; short literal entities are kept, one per line, as feedparser
   expects. External DTDs are never fetched: feedparser turns off external general entities, expat never
   loads external parameter entities, and the body is always bytes, so feedparser does no I/O.
   A short entity still expands ~20 times when it is referenced millions of times (a 10 MB feed of ``&e;``
   with a 64-character ``e`` is 220 MB of text, and nearly 1 GB of memory in one poll). So the size of the
   document once its references are expanded is computed before parsing, and counts against the body
   cap (``max_bytes``, the fetcher's cap): over it, the feed is refused as ``too_large``, as a
   decompression bomb is.
3. feedparser parses the bytes with the response headers (charset by RFC 3023 and sniffing). It is told
   the final URL (as ``Content-Location``) only for an ``xml:base`` or relative ids that it must resolve
   itself (:func:`_relative_references`): knowing it costs feedparser a third of its time. Otherwise
   links and ids are resolved here as feedparser would, and the relative URLs of the few HTML fields that
   have any by feedparser's own resolver: the result is the same (a corpus test checks it).
4. No entries: a well-formed feed is a valid empty feed; an HTML page is a challenge (``blocked``) or a
   page that is not a feed (``unparseable``, naming the feeds it advertises); anything else is
   ``unparseable``. Entries with a malformed body are kept, with the parser's complaint as a warning.
5. Entries become RawItems: absolute http(s) links, UTC dates from ``*_parsed`` within 1990-2100, authors,
   tags, language (entry, else feed); ``ttl_s`` from ``<ttl>`` or ``sy:updatePeriod``/``updateFrequency``.

Numbers and dates from the feed are bounded before use, so that one of them costs at most its item, never
the feed: a date outside 1990-2100, or one that no datetime holds in UTC (``9999-12-31T23:00:00-05:00``),
is no date (:func:`monitor.page.plausible`); ``ttl_s`` is at most 7 days (:data:`monitor.policy.HINT_CAP_S`,
longer hints count as that anyway); a number of over 40 characters in a JSON Feed reads as null (Python
refuses to convert integers of over 4,300 digits, which would fail the whole document).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from time import struct_time
from typing import Any, NoReturn
from urllib.parse import urljoin

import feedparser
from feedparser.exceptions import ThingsNobodyCaresAboutButMe
from feedparser.urls import resolve_relative_uris

from monitor.challenge import detect_challenge
from monitor.errors import ErrorKind, ParseError
from monitor.fastfeed import parse_fast
from monitor.models import ParsedFeed, RawItem
from monitor.page import absolute_url, discover_feeds, parse_date_text, plausible
from monitor.policy import HINT_CAP_S

PROLOG_LIMIT = 64 * 1024  # a DOCTYPE must end within this many bytes
MAX_ENTITY_VALUE = 64  # longer literal entities are dropped (bounds any expansion to a small multiple)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # default cap on the expanded document: the fetcher's default body cap
MAX_JSON_NUMBER = 40  # characters; longer JSON numbers read as null
_FEW_ENTITIES = 16  # up to this many kept entities, references are counted by name (bytes.count)
_REFERENCE = re.compile(rb"&([^\s&;<>]+);")
_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}
_JSON_TYPES = ("application/feed+json", "application/json")
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+([^\s\[>]+)", re.IGNORECASE)
_PROLOG_PART = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:(<!DOCTYPE\b)|<\?|<!--)", re.IGNORECASE)
_EXTERNAL_ID = re.compile(
    rb"""((?:"[^"]*"|'[^']*'|[^"'\[>])*)[\[>]"""
)  # up to the internal subset or the end
_DECLARATION = re.compile(rb"""<!ENTITY\s+(%\s*)?([^\s"'>]+)\s+((?:"[^"]*"|'[^']*'|[^'">])*)>""")
_SAFE_VALUE = re.compile(rb"""^(?:"(&#\w+;|[^&%"]*)"|'(&#\w+;|[^&%"']*)')\s*$""")
_RSS_AUTHOR = re.compile(r"^\s*\S+@\S+\s+\((.+)\)\s*$")  # "press@example.org (Press Office)"
_NAMED_ADDRESS = re.compile(r"^\s*(.+?)\s*<[^<>@]+@[^<>]+>\s*$")  # "Press Office <press@example.org>"
_WIDE_STARTS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
# Relative references feedparser would need the feed's URL for, searched in the lower-cased body after its
# prolog; each pattern starts with a literal, so the scan is fast. _XML_BASE: an xml:base (or base)
# attribute. _RELATIVE_ID: a permalink <guid> or an Atom <id> (isPermaLink absent or "true") without a
# scheme. _RELATIVE_URL: a URL attribute without a scheme in an HTML field as feedparser's sanitizer writes
# it (lower-case name, double quotes), found in the field itself.
_XML_BASE = re.compile(rb"=(?<=[\s:]base=)")
_XML_BASE_SPACED = re.compile(rb"base\s++=")  # xml:base = "..."
_NOT_A_SCHEME = rb"\s*+(?![a-z][a-z0-9+.-]*:)"
_RELATIVE_ID = re.compile(
    rb"""id\b(?:(?<=[<:]id)|(?<=[<:]guid))(?![^<>]{0,2000}?ispermalink\s*+=\s*+["'](?!true["']))"""
    rb"[^<>]{0,2000}>\s*+(?:<!\[cdata\[)?+" + _NOT_A_SCHEME + rb"(?!<)"
)
# The attributes feedparser's RelativeURIResolver rewrites.
_URL_ATTRIBUTES = ("href", "src", "cite", "background", "action", "longdesc", "profile", "usemap", "classid",
                   "codebase", "data", "poster")  # fmt: skip
_RELATIVE_URL = re.compile(
    '="(?:'
    + "|".join(rf"(?<=\s{name}=\")" for name in _URL_ATTRIBUTES)
    + r')\s*+(?![A-Za-z][A-Za-z0-9+.-]*:|")'  # not empty: the sanitizer empties unsafe URLs (javascript:)
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_PERMALINK_ATTRIBUTE = re.compile(rb"""ispermalink\s*+=\s*+["']""")  # its value must be exactly "true"
_RDF_VERSIONS = ("rss090", "rss10")  # item ids come from rdf:about, which feedparser never resolves
_ROOT = re.compile(rb"<[^?!]")  # the first element: the prolog (declaration, PIs, DOCTYPE) is before it
# Plain dict lookups: FeedParserDict.get maps aliases ("guid", "description", ...; none read here) and
# raises and catches KeyError for every missing key, at five times the cost.
_get = dict.get
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    base_url: str,
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    fast: bool = True,
) -> ParsedFeed:
    """Parse a feed body. Raises ParseError(UNPARSEABLE) or, for a challenge page, ParseError(BLOCKED).

    ``max_bytes`` caps the document once its XML entities are expanded: ParseError(TOO_LARGE) over it.
    The fast path (:mod:`monitor.fastfeed`) is asked first; it takes only documents on which its result is
    feedparser's. ``fast=False`` asks feedparser alone (benchmarks, and the tests that compare the two).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if not body.strip():
        raise ParseError(ErrorKind.UNPARSEABLE, "empty body where a feed was expected")
    if _is_json(body, lowered.get("content-type", "")):
        return _parse_json_feed(body, lowered.get("content-type", ""), base_url)
    data, warnings = defuse_doctype(body, max_bytes=max_bytes)
    result, bases = _run_parser(data, lowered, base_url, max_bytes if fast else None)
    version = str(_get(result, "version") or "")
    problem = _get(result, "bozo_exception") if _get(result, "bozo") else None
    malformed = problem is not None and not isinstance(problem, ThingsNobodyCaresAboutButMe)
    entries, channel = result["entries"], result["feed"]
    if not entries and (malformed or not version):
        _refuse(body, lowered, base_url, problem)
    if problem is not None:
        warnings += (f"{'malformed feed' if malformed else 'feed'}: {type(problem).__name__}: {problem}",)
    language = _text(_get(channel, "language"))
    return ParsedFeed(
        format=version or "unknown",
        title=_html(_get(channel, "title"), _get(channel, "title_detail"), bases.html),
        link=absolute_url(_text(_get(channel, "link")), base_url),
        language=language,
        ttl_s=_ttl_s(channel),
        items=tuple(_item(entry, bases, language, version) for entry in entries),
        warnings=warnings,
    )


@dataclass(frozen=True, slots=True)
class _Bases:
    """What entry fields are resolved against here; None where feedparser did it, or nothing is to do."""

    links: str  # the feed's URL: links are always resolved here
    ids: str | None  # ids are joined with it (every <guid> is a permalink and feedparser was not told it)
    html: str | None  # relative URLs in HTML fields are resolved against it (feedparser was not told it)


def _run_parser(
    data: bytes, headers: Mapping[str, str], base_url: str, fast_max_bytes: int | None
) -> tuple[dict[str, Any], _Bases]:
    """feedparser's result (or the fast path's, in the same shapes), and what is still to resolve here.

    The fast path (:func:`monitor.fastfeed.parse_fast`, when ``fast_max_bytes`` is given) is asked first for
    a document that needs no base URL; it refuses what it may read differently. feedparser is told the
    feed's URL (as ``Content-Location``) only when it needs it (:func:`_relative_references`); a server's own
    Content-Location is never used.
    """
    base_needed, join_ids = _relative_references(data)
    fast = None
    if fast_max_bytes is not None and not base_needed:
        fast = parse_fast(data, headers, max_bytes=fast_max_bytes)
    result = fast if fast is not None else _run_feedparser(data, headers, base_url, base_needed=base_needed)
    join_ids = join_ids and _get(result, "version") not in _RDF_VERSIONS
    return result, _Bases(base_url, base_url if join_ids else None, None if base_needed else base_url)


def _run_feedparser(
    data: bytes, headers: Mapping[str, str], base_url: str, *, base_needed: bool
) -> dict[str, Any]:
    response_headers = {name: value for name, value in headers.items() if name != "content-location"}
    if base_needed:
        response_headers["content-location"] = base_url
    result: dict[str, Any] = feedparser.parse(
        data, response_headers=response_headers, resolve_relative_uris=base_needed, sanitize_html=True
    )
    return result


def defuse_doctype(body: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[bytes, tuple[str, ...]]:
    """The body with unsafe entity declarations removed from its DOCTYPE, and a warning when any was.

    Raises ParseError(UNPARSEABLE) for a DOCTYPE that does not end within 64 KB, and for entity
    declarations in a UTF-16/32 document (rare enough that refusing beats rewriting); ParseError(TOO_LARGE)
    when the references to the entities kept would expand the document past ``max_bytes``.
    """
    head = body[:PROLOG_LIMIT]
    wide = None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4]:  # what a BOM or UTF-16/32 starts with
        wide = next((codec for start, codec in _WIDE_STARTS if head.startswith(start)), None)
    if wide is not None:
        if "<!ENTITY" in head.decode(wide, errors="replace"):
            raise ParseError(ErrorKind.UNPARSEABLE, f"feed declares XML entities ({wide} document)")
        return body, ()
    doctype = _find_doctype(head)
    if doctype is None:
        return body, ()
    end = _declaration_end(head, doctype.end())
    if end is None:
        raise ParseError(ErrorKind.UNPARSEABLE, "feed has a DOCTYPE longer than 64 KB")
    external = _EXTERNAL_ID.match(head, doctype.end(), end)
    if external is None or head[external.end() - 1 : external.end()] != b"[":
        return body, ()  # no internal subset: nothing is declared here
    kept, dropped = _safe_entities(head[external.end() : end])
    expanded = len(body) + _expansion(body, end, kept, max_bytes - len(body))
    if expanded > max_bytes:
        raise ParseError(
            ErrorKind.TOO_LARGE,
            f"XML entity references expand the feed past the {max_bytes}-byte cap "
            "(possible entity expansion bomb)",
        )
    identifiers = external.group(1).strip()  # SYSTEM/PUBLIC ids: feedparser reads "netscape" in them
    rebuilt = b" ".join(part for part in (b"<!DOCTYPE", doctype.group(1), identifiers, b"[\n") if part)
    rebuilt += b"".join(b"<!ENTITY " + name + b" " + value + b">\n" for name, value in kept) + b"]>"
    warnings = (f"ignored {dropped} unsafe XML entity declaration(s) (external, nested or long)",)
    return body[: doctype.start()] + b"\n" + rebuilt + body[end:], warnings if dropped else ()


def _relative_references(data: bytes) -> tuple[bool, bool]:
    """Whether feedparser must be told the feed's URL, and whether entry ids are joined with it here.

    Told it, feedparser joins that URL with each element's base at every start tag and re-parses every
    HTML field to resolve links: a third of its time. Here links are resolved against ``base_url``, and so
    are relative URLs in the few HTML fields that have any (:func:`_html`); ids are joined as feedparser
    would join them when every ``<guid>`` is a permalink. feedparser needs the URL only for an
    ``xml:base``, or for relative permalink ids among ids that are not permalinks. A body that is not
    ASCII-compatible (UTF-16, EBCDIC) cannot be scanned and always gets it.
    """
    if not data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return True, False
    lowered = data.lower()
    root = _ROOT.search(lowered)  # the prolog (XML declaration, PIs, DOCTYPE) is not scanned
    start = root.start() if root else 0
    if _XML_BASE.search(lowered, start) or _XML_BASE_SPACED.search(lowered, start):
        return True, False
    permalinks = all(
        data[found.end() : found.end() + 5] in (b'true"', b"true'")
        for found in _PERMALINK_ATTRIBUTE.finditer(lowered, start)
    )
    if not permalinks and _RELATIVE_ID.search(lowered, start):
        return True, False
    return False, permalinks


def _find_doctype(head: bytes) -> re.Match[bytes] | None:
    """The DOCTYPE of the prolog: found after the XML declaration, PIs, comments and white space only."""
    pos = 0
    while (markup := _PROLOG_PART.match(head, pos)) is not None:
        if markup.group(1) is not None:
            return _DOCTYPE.match(head, markup.start(1))
        closer = b"?>" if markup.group(0).endswith(b"<?") else b"-->"
        end = head.find(closer, markup.end())
        if end < 0:
            return None
        pos = end + len(closer)
    return None


def _declaration_end(data: bytes, pos: int) -> int | None:
    """The index just after the ``>`` closing a markup declaration, skipping quotes, comments and [...]."""
    depth, quote, size = 0, 0, len(data)
    while pos < size:
        char = data[pos]
        if quote:
            quote = 0 if char == quote else quote
        elif data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 4)
            if close < 0:
                return None
            pos = close + 2
        elif char in b"\"'":
            quote = char
        elif char == ord("["):
            depth += 1
        elif char == ord("]"):
            depth -= 1
        elif char == ord(">") and depth <= 0:
            return pos + 1
        pos += 1
    return None


def _safe_entities(subset: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """The short, literal, non-nested general entities of an internal subset, and how many were dropped."""
    kept: list[tuple[bytes, bytes]] = []
    found = _DECLARATION.findall(subset)
    for percent, name, value in found:
        literal = _SAFE_VALUE.match(value.strip())
        if percent or literal is None or len(value) > MAX_ENTITY_VALUE + 2:
            continue
        text = literal.group(1) if literal.group(1) is not None else literal.group(2)
        kept.append((name, b'"' + text + b'"'))
    return kept, len(found) - len(kept)


def _expansion(body: bytes, start: int, kept: list[tuple[bytes, bytes]], budget: int) -> int:
    """How many bytes the references to the ``kept`` entities in ``body[start:]`` add once expanded.

    An upper bound: references in comments or CDATA sections count too. With many entities, counting stops
    once past ``budget``.
    """
    growth = {name: len(value) - 2 - (len(name) + 2) for name, value in kept}  # value: quoted
    growth = {name: extra for name, extra in growth.items() if extra > 0}
    if len(growth) <= _FEW_ENTITIES:
        return sum(body.count(b"&" + name + b";", start) * extra for name, extra in growth.items())
    total = 0
    for reference in _REFERENCE.finditer(body, start):
        total += growth.get(reference.group(1), 0)
        if total > budget:
            break
    return total


def _parse_json_feed(body: bytes, content_type: str, base_url: str) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1); relative URLs resolve against ``base_url``."""
    doc = _load_json(body, content_type)
    entries = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(entries, list):
        raise ParseError(ErrorKind.UNPARSEABLE, "JSON document is not a JSON Feed (no 'items' list)")
    version = _text(doc.get("version")) or ""
    warnings: tuple[str, ...] = ()
    if "jsonfeed.org/version/1" not in version:
        warnings += (f"unknown JSON Feed version {version!r}, read as 1.0",)
    language = _text(doc.get("language"))
    authors = _json_authors(doc)
    items = tuple(_json_item(e, base_url, language, authors) for e in entries if isinstance(e, dict))
    if len(items) < len(entries):
        warnings += (f"{len(entries) - len(items)} items are not JSON objects",)
    return ParsedFeed(
        format="json11" if version.rstrip("/").endswith("1.1") else "json1",
        title=_text(doc.get("title")),
        link=absolute_url(_text(doc.get("home_page_url")), base_url),
        language=language,
        ttl_s=None,
        items=items,
        warnings=warnings,
    )


def _load_json(body: bytes, content_type: str) -> Any:
    declared = _CHARSET.search(content_type)
    charset = declared.group(1) if declared else "utf-8"
    try:
        text = body.decode("utf-8-sig" if charset.lower() in ("utf-8", "utf8") else charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8-sig", errors="replace")
    try:
        return json.loads(text, parse_int=_json_int)
    except (ValueError, RecursionError) as exc:
        raise ParseError(ErrorKind.UNPARSEABLE, f"invalid JSON: {exc}") from exc


def _json_item(
    data: dict[str, Any], base_url: str, language: str | None, authors: tuple[str, ...]
) -> RawItem:
    tags = data.get("tags")
    guid = data.get("id")  # a string by the spec; numbers are common
    return RawItem(
        guid=_text(str(guid)) if isinstance(guid, (str, int)) and not isinstance(guid, bool) else None,
        link=absolute_url(_text(data.get("url")) or _text(data.get("external_url")), base_url),
        title=_text(data.get("title")),
        summary=_text(data.get("summary")),
        content=_text(data.get("content_html")) or _text(data.get("content_text")),
        published=parse_date_text(_text(data.get("date_published")) or ""),
        updated=parse_date_text(_text(data.get("date_modified")) or ""),
        authors=_json_authors(data) or authors,
        tags=tuple(dict.fromkeys(t for tag in tags if (t := _text(tag)))) if isinstance(tags, list) else (),
        language=_text(data.get("language")) or language,
    )


def _json_int(digits: str) -> int | None:
    """A JSON integer; None when it is too long to be a number a feed means (see the module docstring)."""
    return int(digits) if len(digits) <= MAX_JSON_NUMBER else None


def _json_authors(data: dict[str, Any]) -> tuple[str, ...]:
    """Names from ``authors`` (1.1) or ``author`` (1.0)."""
    people = data.get("authors")
    if not isinstance(people, list):
        people = [data.get("author")]
    names = (_text(person.get("name")) for person in people if isinstance(person, dict))
    return tuple(dict.fromkeys(name for name in names if name))


def _is_json(body: bytes, content_type: str) -> bool:
    start = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"{"):
        return True
    media = content_type.split(";")[0].strip().lower()
    return media in _JSON_TYPES and not start.startswith(b"<")


def _refuse(body: bytes, headers: Mapping[str, str], base_url: str, problem: object) -> NoReturn:
    wall = detect_challenge(200, headers, body)
    if wall:
        raise ParseError(ErrorKind.BLOCKED, f"{wall} challenge page instead of the feed at {base_url}")
    if _looks_like_html(body):
        feeds = discover_feeds(body, headers, base_url)
        hint = f"; it advertises these feeds: {', '.join(feeds)}" if feeds else "; it advertises no feed"
        raise ParseError(ErrorKind.UNPARSEABLE, f"{base_url} is an HTML page, not a feed{hint}")
    if problem is not None:
        raise ParseError(ErrorKind.UNPARSEABLE, f"malformed feed without entries: {problem}")
    raise ParseError(ErrorKind.UNPARSEABLE, "not a feed: no RSS, Atom or RDF root element")


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lower()
    if re.search(rb"<(rss|feed|rdf:rdf)\b", head):
        return False
    return re.search(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", head) is not None


def _item(entry: dict[str, Any], bases: _Bases, feed_language: str | None, version: str) -> RawItem:
    content = _get(entry, "content") or [{}]
    summary_detail = _get(entry, "summary_detail") or content[0]  # a copy of Atom content has no detail
    return RawItem(
        guid=_guid(_get(entry, "id"), bases.ids),
        link=absolute_url(_text(_get(entry, "link")), bases.links),
        title=_html(_get(entry, "title"), _get(entry, "title_detail"), bases.html),
        summary=_html(_get(entry, "summary"), summary_detail, bases.html),
        content=_html(_get(content[0], "value"), content[0], bases.html),
        published=_date(_get(entry, "published_parsed")),
        updated=_date(_get(entry, "updated_parsed")),
        authors=_authors(entry, version),
        tags=tuple(dict.fromkeys(t for tag in _get(entry, "tags") or () if (t := _text(_get(tag, "term"))))),
        language=_entry_language(entry, content[0]) or feed_language,
    )


def _html(value: object, detail: object, base: str | None) -> str | None:
    """A text field; when it is HTML, its relative URLs resolved against ``base`` by feedparser's resolver."""
    text = _text(value)
    if text is None or base is None or not isinstance(detail, dict) or not _RELATIVE_URL.search(text):
        return text
    kind = _get(detail, "type")
    return _text(resolve_relative_uris(text, base, "utf-8", kind)) if kind in _HTML_TYPES else text


def _guid(value: object, base: str | None) -> str | None:
    """The entry's id, joined with ``base`` when given, as feedparser joins a permalink id with its base."""
    guid = _text(value)
    if guid is None or base is None:
        return guid
    try:
        return _text(urljoin(base, guid))
    except ValueError:  # feedparser stores "" then
        return None


def _authors(entry: dict[str, Any], version: str) -> tuple[str, ...]:
    """Author names. RSS ``<author>`` strings are read here: feedparser's e-mail regex mangles long TLDs."""
    people = _get(entry, "authors") or ()
    if not version.startswith("atom") and (raw := _text(_get(entry, "author"))):
        for pattern in (_RSS_AUTHOR, _NAMED_ADDRESS):
            if match := pattern.match(raw):
                return (match.group(1).strip(),)
        if len(people) <= 1:
            return (raw,)
    names = (_text(_get(a, "name")) or _text(_get(a, "email")) for a in people)
    return tuple(dict.fromkeys(name for name in names if name))


def _entry_language(entry: dict[str, Any], content: dict[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = _get(entry, key)
        if detail and (language := _text(_get(detail, "language"))):
            return language
    return _text(_get(content, "language"))


def _date(value: struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return plausible(datetime(*value[:6], tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def _ttl_s(channel: dict[str, Any]) -> int | None:
    """The feed's own refresh hint in seconds, at most 7 days: ``<ttl>`` minutes, else the sy: module."""
    ttl = _number(_get(channel, "ttl"))
    if ttl is not None and ttl > 0:
        return min(ttl * 60, int(HINT_CAP_S))
    period = (_text(_get(channel, "sy_updateperiod")) or "").lower()
    if period not in _PERIOD_S:
        return None
    frequency = _number(_get(channel, "sy_updatefrequency")) or 1
    return min(max(1, _PERIOD_S[period] // max(1, frequency)), int(HINT_CAP_S))


def _number(value: object) -> int | None:
    text = _text(value)
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) < 10 else None


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    return stripped or None
