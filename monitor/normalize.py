"""Normalizing: one poll's batch of RawItems from one source -> Articles ready to store.

For a batch, in order:

1. **Identifying keys.** A GUID that two items with different links or titles share does not identify
   an item: those items get ``guid=None``. A canonical link that several items with different titles
   share (every item pointing at the home page) does not identify an item either.
2. **Per item** (one bad item is logged with its ``source_id`` and skipped; the others go on):
   the link must be an absolute http(s) URL; HTML becomes plain text (:func:`clean_html`); the text is the
   content, else the summary, cut to :data:`MAX_TEXT_CHARS` whichever it is; the title
   falls back to the first words of the text, then to the URL; dates become UTC, a missing, far-future or
   implausible date (outside 1990-2100, or not representable in UTC) becomes ``now`` with
   ``published_estimated=True``; the language is the source's,
   else the item's, else detected, and is corrected when a long text is confidently in another language;
   tags and authors are de-duplicated; content hash and SimHash fingerprint are computed.
3. **Id** (:func:`article_id`): ``u`` + hash of the canonical URL when the link identifies the article,
   else ``g`` + hash of (source, GUID), else ``c`` + hash of (source, content hash). Deriving it from
   the URL first is what makes feeds whose GUIDs change at every poll yield nothing new.

Items with neither link, title nor text are dropped. Everything here is pure and fast: it runs on every
item of every poll (lxml only for strings that hold markup, language detection only when needed).

:func:`canonicalize_url`: scheme and host lower-cased, IDNA host as punycode, default port, fragment,
tracking parameters (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`) and empty pairs removed, the
other parameters kept in their order; percent-escapes in upper case, unreserved characters decoded,
other characters encoded as UTF-8; dot segments resolved, ``//`` kept, an empty path made ``/``.

:func:`clean_html`: control characters removed; markup parsed by lxml's HTML parser (forgiving, no
network); scripts, styles and the like dropped with their content; one line per block element.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from lxml import etree

from monitor.dedup import dedup_text, simhash64
from monitor.langid import choose_language, language_code
from monitor.models import Article, RawItem
from monitor.page import plausible

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 2000
MAX_TEXT_CHARS = 200_000  # an article's text, whatever it comes from (content, summary, full text)
UNTITLED_WORDS = 12  # an item without a title is named by its first words
FUTURE_TOLERANCE = timedelta(days=1)  # a later date is a wrong clock or a wrong time zone: use now

_ID_HEX = 20

# ---------------------------------------------------------------------------------------------------- URLs

# Lower-case names; matched case-insensitively, as are the prefixes below.
TRACKING_PARAMS: frozenset[str] = frozenset({
    "fbclid", "gclid", "gclsrc", "gbraid", "wbraid", "dclid", "msclkid", "twclid", "ttclid", "yclid",
    "igshid", "li_fat_id", "mc_cid", "mc_eid", "mkt_tok", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
    "hsctatracking", "_ga", "_gl", "_openstat", "ref_src", "ref_url", "xtor", "xtref", "wt_mc", "wt_mc_id",
    "cmp", "intcmp", "ocid", "cmpid", "ncid", "icid", "s_cid", "s_kwcid", "ef_id", "smid", "smtyp",
    "sr_share", "soc_src", "soc_trk", "guccounter", "guce_referrer", "guce_referrer_sig", "spm", "scm",
    "vero_id", "vero_conv", "oly_enc_id", "oly_anon_id", "rb_clickid", "wickedid", "_branch_match_id",
    "__twitter_impression", "fb_action_ids", "fb_action_types", "fb_source", "fb_ref", "ito", "dicbo",
    "mbid", "trk", "trkcampaign", "sc_cid",
})  # fmt: skip
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_", "pk_", "mtm_", "matomo_", "piwik_", "hsa_", "wt.", "ns_")
URL_ID_PREFIX = "u"  # ids derived from an identifying canonical URL start with this


def identified_by_url(article_id: str) -> bool:
    """True when the article's canonical URL identifies it (so another item with that URL is the same article)."""
    return article_id.startswith(URL_ID_PREFIX)


_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = "/?:@!$&'()*+,;=%"
_CLEAN_PART = re.compile(r"[A-Za-z0-9\-._~/?:@!$&'()*+,;=]*")  # nothing to re-encode in such a part


def canonicalize_url(url: str) -> str:
    """The URL that identifies a page (see the module docstring); other URLs come back stripped."""
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return stripped
        netloc = _canonical_netloc(parts.netloc, parts.hostname, parts.port, scheme)
    except ValueError:  # a bad port, a bad IPv6 literal, a host IDNA cannot encode (UnicodeError)
        return stripped
    path = _remove_dot_segments(_normalize_escapes(parts.path, _PATH_SAFE)) or "/"
    return urlunsplit((scheme, netloc, path, _clean_query(parts.query), ""))


def _canonical_netloc(netloc: str, hostname: str, port: int | None, scheme: str) -> str:
    host = hostname.rstrip(".")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # Python's codec: IDNA 2003 (ß -> ss), consistently
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    userinfo = netloc.rpartition("@")[0]
    if userinfo:
        host = f"{userinfo}@{host}"
    return host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _normalize_escapes(part: str, safe: str) -> str:
    """Upper-case hex escapes, unreserved characters decoded, everything else that needs it encoded."""
    if "%" not in part and _CLEAN_PART.fullmatch(part):
        return part
    part = _ESCAPE.sub(_fix_escape, _LONE_PERCENT.sub("%25", part))
    return quote(part, safe=safe)


def _fix_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: "/a/./b/../c" -> "/a/c". Empty segments ("//") are kept."""
    if "/." not in path:
        return path
    segments = path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out)


def _clean_query(query: str) -> str:
    """The query without tracking parameters nor empty pairs, in its original order."""
    kept: list[str] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote_plus(pair.partition("=")[0]).strip().lower()
        if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
            continue
        kept.append(_normalize_escapes(pair, _QUERY_SAFE))
    return "&".join(kept)


# ---------------------------------------------------------------------------------------------------- HTML

_BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul",
)  # fmt: skip
_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "head",
    "svg",
    "iframe",
    "object",
    "canvas",
    "select",
)
# Marks a line break while spaces are collapsed: a private-use character, removed from the input first.
_BREAK = "\ue000"
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ue000\ufeff\ufffe\uffff\ud800-\udfff]")
_ESCAPED_TAG = re.compile(
    r"<\s*/?\s*(?:p|br|div|span|a|img|b|i|em|strong|ul|ol|li|h[1-6]|blockquote|table|tr|td|figure|iframe)\b[^>]*>",
    re.IGNORECASE,
)
MAX_HTML_CHARS = 2_000_000  # longer markup is cut before parsing: the text is capped far below anyway
_parsers = threading.local()


def clean_html(html: str) -> str:
    """Plain text of HTML: one line per block, entities decoded, scripts and styles dropped, spaces collapsed.

    Plain text goes through a fast path (no parser) unless it holds ``<`` or ``&``. A summary whose
    markup was escaped once more ("&lt;p&gt;...") is cleaned twice.
    """
    text = _CONTROL.sub("", html[:MAX_HTML_CHARS])
    if "<" not in text and "&" not in text:
        return _tidy_lines(text.splitlines())
    text = _markup_to_text(text)
    if "<" in text and _ESCAPED_TAG.search(text):
        text = _markup_to_text(text)
    return text


def _parser() -> etree.HTMLParser:
    parser: etree.HTMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, recover=True
        )
        _parsers.parser = parser
    return parser


def _markup_to_text(markup: str) -> str:
    root = etree.fromstring(markup.encode("utf-8"), _parser())
    if root is None:  # only whitespace
        return ""
    etree.strip_elements(root, *_DROPPED_TAGS, with_tail=False)
    for element in root.iter(*_BLOCK_TAGS):
        element.text = _BREAK + (element.text or "")
        element.tail = _BREAK + (element.tail or "")
    return _tidy_lines(etree.tostring(root, method="text", encoding="unicode").split(_BREAK))


def _tidy_lines(lines: Sequence[str]) -> str:
    """Lines with their spaces collapsed and stripped, empty ones dropped, joined by newlines."""
    tidy = (" ".join(line.split()) for line in lines)
    return "\n".join(line for line in tidy if line)


@dataclass(frozen=True, slots=True)
class _Batch:
    """What every item of one batch is normalized with."""

    source_id: str
    language: str | None  # the source's declared ISO 639-1 code; None for "auto"
    now: datetime
    fetch: Mapping[str, str | int | None]
    source_tags: tuple[str, ...]
    shared_guids: frozenset[str]
    shared_links: frozenset[str]


def content_hash(title: str, text: str) -> str:
    """Hex sha256 of the title and text, each case-folded with whitespace collapsed (NFKC)."""
    return hashlib.sha256(f"{_fold(title)}\n{_fold(text)}".encode("utf-8", "surrogatepass")).hexdigest()


def _fold(text: str) -> str:
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def article_id(canonical_url: str | None, source_id: str, guid: str | None, content_hash: str) -> str:
    """A stable id: ``u`` + URL hash, else ``g`` + (source, GUID) hash, else ``c`` + (source, content) hash.

    The first letter tells what identifies the article; 21 characters in all.
    """
    if canonical_url:
        return URL_ID_PREFIX + _hex(canonical_url)
    if guid:
        return "g" + _hex(f"{source_id}\n{guid}")
    return "c" + _hex(f"{source_id}\n{content_hash}")


def _hex(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_ID_HEX]


def normalize_items(
    items: Sequence[RawItem],
    *,
    source_id: str,
    declared_language: str,
    now: datetime,
    fetch_meta: Mapping[str, str | int | None] | None = None,
    source_tags: Sequence[str] = (),
) -> list[Article]:
    """The articles of one poll's items, in feed order. Bad items are logged and skipped."""
    links = [canonicalize_url(item.link) if item.link and item.link.strip() else None for item in items]
    shared_guids, shared_links = _unidentifying_keys(items, links)
    batch = _Batch(
        source_id=source_id,
        language=language_code(declared_language),
        now=_as_utc(now),
        fetch=dict(fetch_meta or {}),
        source_tags=tuple(source_tags),
        shared_guids=shared_guids,
        shared_links=shared_links,
    )
    articles: list[Article] = []
    for index, (item, link) in enumerate(zip(items, links, strict=True)):
        try:
            article = _normalize_item(item, link, batch)
        except (ValueError, ArithmeticError) as exc:  # a value no check foresaw: this item only
            link_text = (item.link or "")[:200]
            log.warning("skipping item source_id=%s index=%d link=%r: %s", source_id, index, link_text, exc)
            continue
        if article is not None:
            articles.append(article)
    return articles


def _unidentifying_keys(
    items: Sequence[RawItem], links: Sequence[str | None]
) -> tuple[frozenset[str], frozenset[str]]:
    """GUIDs shared by items with other links or titles, and links shared by items with other titles."""
    by_guid: defaultdict[str, set[tuple[str | None, str]]] = defaultdict(set)
    by_link: defaultdict[str, set[str]] = defaultdict(set)
    for item, link in zip(items, links, strict=True):
        title = " ".join((item.title or "").split())
        if item.guid:
            by_guid[item.guid.strip()].add((link, title))
        if link:
            by_link[link].add(title)
    guids = frozenset(guid for guid, seen in by_guid.items() if len(seen) > 1)
    shared = frozenset(link for link, titles in by_link.items() if len(titles) > 1)
    return guids, shared


def _normalize_item(item: RawItem, link: str | None, batch: _Batch) -> Article | None:
    url = (item.link or "").strip()
    if url and not _is_http_url(url):
        raise ValueError(f"the link is not an absolute http(s) URL: {url[:200]!r}")
    summary_text = _clean(item.summary)
    content_text = summary_text if item.content == item.summary else _clean(item.content)  # Atom: often equal
    text = (content_text or summary_text)[:MAX_TEXT_CHARS]
    raw_title = " ".join(clean_html(item.title).split()) if item.title else ""
    if not (url or raw_title or text):
        return None
    title = _cut(raw_title, MAX_TITLE_CHARS) if raw_title else _untitled(text, url)
    guid = (item.guid or "").strip() or None
    if guid in batch.shared_guids:
        guid = None
    chash = content_hash(title, text)
    identifying = link if link and link not in batch.shared_links else None
    published_at, estimated = _published(item, batch.now)
    return Article(
        id=article_id(identifying, batch.source_id, guid, chash),
        source_id=batch.source_id,
        url=url,
        canonical_url=link or "",
        guid=guid,
        title=title,
        summary=_cut(summary_text or text, MAX_SUMMARY_CHARS),
        text=text,
        language=choose_language(batch.language, item.language, raw_title, text),
        published_at=published_at,
        published_estimated=estimated,
        first_seen_at=batch.now,
        authors=_unique(item.authors),
        tags=_unique((*item.tags, *batch.source_tags)),
        content_hash=chash,
        simhash=simhash64(dedup_text(title, text)),
        fetch=dict(batch.fetch),
    )


def _clean(html: str | None) -> str:
    return clean_html(html) if html else ""


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ", limit * 3 // 4)
    return (head[:space] if space > 0 else head).rstrip() + "…"


def _untitled(text: str, url: str) -> str:
    """A title for an item without one: its first words, else its URL."""
    words = text.split(None, UNTITLED_WORDS)
    if not words:
        return _cut(url, MAX_TITLE_CHARS)
    if len(words) > UNTITLED_WORDS:
        return _cut(" ".join(words[:UNTITLED_WORDS]), MAX_TITLE_CHARS - 1) + "…"
    return _cut(" ".join(words), MAX_TITLE_CHARS)


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _published(item: RawItem, now: datetime) -> tuple[datetime, bool]:
    """(published_at, estimated): the item's date in UTC, or ``now`` when it has none, one in the future, or
    an implausible one (:func:`monitor.page.plausible`)."""
    dates = (plausible(d) for d in (item.published, item.updated) if d is not None)
    when = next((d for d in dates if d is not None), None)
    if when is None or when > now + FUTURE_TOLERANCE:
        return now, True
    return when, False


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    """Stripped, non-empty values without repeats (case-insensitive), in their first order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        cleaned = " ".join(value.split())
        key = cleaned.casefold()
        if cleaned and key not in seen:
            seen.add(key)
            out.append(cleaned)
    return tuple(out)
