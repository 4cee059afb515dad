"""Press-release listings without a feed: an HTML page and CSS selectors -> ParsedFeed (format "html").

Stages of :func:`parse_page`:

1. Decode the body (:func:`decode_html`): byte-order mark, else the HTTP charset, else ``<meta charset>`` or
   ``http-equiv``, else UTF-8; undecodable bytes are replaced, never fatal.
2. Parse with lxml.html (libxml2 caps nesting, so deep markup cannot exhaust the stack).
3. Select the entries with the ``item`` selector; inside each, the link (``link`` selector or the first
   ``a[href]``), the title (``title`` selector or the link's text), the date (``date`` selector or the first
   ``<time>``; ``datetime``/``content`` attributes before the text) and an optional summary.
4. Resolve links against ``<base href>`` and the page URL; keep http(s) only (``javascript:``, ``data:``,
   ``mailto:`` and bare fragments are skipped), drop ``#anchors`` and keep the first entry of each link.
5. Nothing matched: a challenge page is ``blocked``, anything else ``unparseable`` naming the selector.

Dates in listings come in every local style; :func:`parse_date_text` reads ISO 8601, RFC 2822 and
day-month-year forms with month names in English, French, German, Spanish, Italian, Portuguese, Dutch,
Russian and Arabic, and any digits (Arabic-Indic, Persian, Devanagari, full-width). Numeric dates are read
day first (``03/04/2026`` is 3 April) unless the first number cannot be a day. Dates without a zone are UTC.
A date outside 1990-2100 once in UTC (a typo, epoch zero, or a hostile ``9999-12-31T23:00:00-05:00`` that no
datetime can hold in UTC) is no date: the entry is kept without one (:func:`plausible`).
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NoReturn
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from cssselect import SelectorError
from lxml import etree
from lxml.cssselect import CSSSelector

from monitor.challenge import detect_challenge
from monitor.errors import ErrorKind, ParseError
from monitor.models import ParsedFeed, RawItem

MIN_YEAR, MAX_YEAR = 1990, 2100  # dates outside are parser accidents (epoch zero, typos), not news
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "text/xml",
        "application/xml",
    }
)

_PARSER = lxml.html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True)
_WEB_SCHEMES = ("http", "https")
_SPACE = re.compile(r"\s+")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*>")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_WINDOWS_1252_ALIASES = frozenset({"iso8859-1", "latin-1", "ascii"})  # as browsers read them (WHATWG)


@dataclass(frozen=True, slots=True)
class PageSelectors:
    """CSS selectors describing a listing. Invalid syntax raises ValueError when the object is built."""

    item: str  # one press-release entry
    link: str | None = None  # inside item: the <a>; default: the first a[href] in the item
    title: str | None = None  # default: the link's text
    date: str | None = None  # <time datetime> / datetime / content attributes, else the text
    summary: str | None = None

    def __post_init__(self) -> None:
        for name in ("item", "link", "title", "date", "summary"):
            value = getattr(self, name)
            if value is not None:
                _compile(value, name)


def parse_page(
    body: bytes, headers: Mapping[str, str], base_url: str, selectors: PageSelectors
) -> ParsedFeed:
    """The entries of a listing page. Raises ParseError (UNPARSEABLE, or BLOCKED for a challenge page)."""
    root = _parse_html(body, headers, base_url)
    base = document_base(root, base_url)
    matched = _compile(selectors.item, "item")(root)
    if not matched:
        _raise_unmatched(
            body, headers, base_url, f"selector {selectors.item!r} matched nothing on {base_url}"
        )
    items: list[RawItem] = []
    seen: set[str] = set()
    language = _clean(root.get("lang"))
    for element in matched:
        item = _item(element, base, selectors, language)
        if item is not None and item.link not in seen:
            seen.add(str(item.link))
            items.append(item)
    if not items:
        raise ParseError(
            ErrorKind.UNPARSEABLE,
            f"selector {selectors.item!r} matched {len(matched)} elements on {base_url} but none has an "
            "http(s) link; check the 'link' selector",
        )
    skipped = len(matched) - len(items)
    warnings = (f"{skipped} matched entries had no usable link or repeated one",) if skipped else ()
    title = _clean(root.findtext(".//title"))
    return ParsedFeed("html", title, base_url, language, None, tuple(items), warnings)


def discover_feeds(body: bytes, headers: Mapping[str, str], base_url: str) -> list[str]:
    """Absolute URLs of the feeds a page advertises with ``<link rel="alternate" type="...">``, in order."""
    try:
        root = _parse_html(body, headers, base_url)
    except ParseError:
        return []
    base = document_base(root, base_url)
    found: list[str] = []
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        url = absolute_url(link.get("href"), base)
        if "alternate" in rels and kind in FEED_TYPES and url and url not in found:
            found.append(url)
    return found


def decode_html(body: bytes, headers: Mapping[str, str]) -> str:
    """The text of an HTML body: BOM, else HTTP charset, else <meta> charset, else UTF-8 (errors replaced)."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace")
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    declared = _CHARSET_PARAM.search(content_type)
    charset = _codec(declared.group(1)) if declared else None
    if charset is None:
        meta = _META_CHARSET.search(body[:4096])
        charset = _codec(meta.group(1).decode("ascii", errors="replace")) if meta else None
    return body.decode(charset or "utf-8", errors="replace")


def document_base(root: etree._Element, page_url: str) -> str:
    """The URL relative links resolve against: ``<base href>`` (itself resolved) or the page URL."""
    for base in root.iter("base"):
        resolved = absolute_url(base.get("href"), page_url)
        if resolved:
            return resolved
    return page_url


def page_link(href: str | None, base: str) -> str | None:
    """An entry's link: absolute http(s), without a plain ``#fragment`` (kept when it is a ``#/route``)."""
    url = absolute_url(href, base)
    if url is None:
        return None
    bare, fragment = urldefrag(url)
    return url if fragment.startswith(("/", "!")) else bare


def absolute_url(href: str | None, base: str) -> str | None:
    """``href`` resolved against ``base`` when the result is an http(s) URL; None otherwise."""
    if href is None:
        return None
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.netloc:
        return None
    return url


def _codec(label: str) -> str | None:
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return "cp1252" if name in _WINDOWS_1252_ALIASES else name


def _parse_html(body: bytes, headers: Mapping[str, str], url: str) -> etree._Element:
    text = decode_html(body, headers)
    data = _XML_DECLARATION.sub(b"", text.encode("utf-8", errors="replace"))
    try:
        return lxml.html.document_fromstring(data, parser=_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        _raise_unmatched(body, headers, url, f"not an HTML page at {url}: {exc}")


def _raise_unmatched(body: bytes, headers: Mapping[str, str], url: str, message: str) -> NoReturn:
    wall = detect_challenge(200, headers, body)
    if wall:
        raise ParseError(ErrorKind.BLOCKED, f"{wall} challenge page instead of the listing at {url}")
    raise ParseError(ErrorKind.UNPARSEABLE, message)


@functools.lru_cache(maxsize=512)
def _compile(selector: str, field: str) -> CSSSelector:
    try:
        return CSSSelector(selector, translator="html")
    except SelectorError as exc:
        raise ValueError(f"invalid CSS selector for {field}: {selector!r} ({exc})") from exc


def _item(
    element: etree._Element, base: str, selectors: PageSelectors, language: str | None
) -> RawItem | None:
    anchor = _first(element, selectors.link) if selectors.link else _first_link(element)
    link = page_link(anchor.get("href"), base) if anchor is not None else None
    if link is None or anchor is None:
        return None
    title_node = _first(element, selectors.title) if selectors.title else anchor
    title = _text(title_node) or _text(anchor) or _clean(anchor.get("title"))
    date_node = _first(element, selectors.date) if selectors.date else _first(element, "time")
    summary = _text(_first(element, selectors.summary)) if selectors.summary else None
    return RawItem(
        guid=link, link=link, title=title, summary=summary, published=_node_date(date_node), language=language
    )


def _first(element: etree._Element, selector: str) -> etree._Element | None:
    found = _compile(selector, "inner")(element)
    return found[0] if found else None


def _first_link(element: etree._Element) -> etree._Element | None:
    if element.tag == "a" and element.get("href"):
        return element
    return _first(element, "a[href]")


def _text(node: etree._Element | None) -> str | None:
    return _clean(node.text_content()) if node is not None else None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    collapsed = _SPACE.sub(" ", text).strip()
    return collapsed or None


def _node_date(node: etree._Element | None) -> datetime | None:
    if node is None:
        return None
    for attribute in ("datetime", "content"):
        value = node.get(attribute)
        if value and (parsed := parse_date_text(value)) is not None:
            return parsed
    return parse_date_text(_text(node) or "")


# --- dates -------------------------------------------------------------------------------------------

_MONTH_NAMES = {
    1: "january janvier januar enero gennaio janeiro januari января يناير",
    2: "february fevrier februar febrero febbraio fevereiro februari февраля فبراير شباط",
    3: "march mars marz maerz marzo marco maart марта مارس اذار",
    4: "april avril abril aprile апреля ابريل نيسان",
    5: "may mai mayo maggio maio mei мая май مايو ايار",
    6: "june juin juni junio giugno junho июня يونيو حزيران",
    7: "july juillet juli julio luglio julho июля يوليو تموز",
    8: "august aout agosto augustus августа اغسطس اب",
    9: "september septembre settembre setembro septiembre setiembre сентября سبتمبر ايلول",
    10: "october octobre oktober octubre ottobre outubro октября اكتوبر",
    11: "november novembre noviembre novembro ноября نوفمبر",
    12: "december decembre dezember diciembre dicembre dezembro декабря ديسمبر",
}


def _month_prefixes() -> dict[str, int]:
    """Month names, and every prefix of 3+ letters that points to a single month ("sept", "janv", "dez")."""
    owners: dict[str, set[int]] = {}
    for month, names in _MONTH_NAMES.items():
        for name in names.split():
            for end in range(3, len(name)):
                owners.setdefault(name[:end], set()).add(month)
    prefixes = {prefix: months.pop() for prefix, months in owners.items() if len(months) == 1}
    exact = {name: month for month, names in _MONTH_NAMES.items() for name in names.split()}
    return prefixes | exact


_MONTHS = _month_prefixes()
_DIGITS = {
    zero + i: str(i) for zero in (0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10) for i in range(10)
}  # Arabic-Indic, Persian, Devanagari, Bengali, full-width
_TIME = re.compile(r"(?<!\d)(\d{1,2})\s*[:h]\s*(\d{2})(?:\s*:\s*(\d{2}))?(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4}|\d{2})(?!\d)")
_WORDS = re.compile(r"\d+|[^\W\d_]+")


def parse_date_text(text: str) -> datetime | None:
    """A date as people write it, as an aware UTC datetime; None when unknown or outside 1990-2100."""
    text = _SPACE.sub(" ", text.translate(_DIGITS)).strip()
    if not text or len(text) > 200:
        return None
    for reader in (_iso_date, _rfc2822_date, _numeric_date, _worded_date):
        parsed = reader(text)
        if parsed is not None:
            return plausible(parsed)
    return None


def plausible(value: datetime) -> datetime | None:
    """``value`` in UTC (naive means UTC) when its year is between 1990 and 2100, else None.

    A date outside that range is "no date", never an error: ``9999-12-31T23:00:00-05:00`` is not even
    representable in UTC, and is None like any other out-of-range date.
    """
    if not MIN_YEAR - 1 <= value.year <= MAX_YEAR + 1:  # far outside: no UTC conversion to overflow
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware if MIN_YEAR <= aware.year <= MAX_YEAR else None


def _iso_date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace(" UTC", "Z"))
    except ValueError:
        return None


def _rfc2822_date(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _numeric_date(text: str) -> datetime | None:
    if match := _YMD.search(text):
        year, month, day = (int(group) for group in match.groups())
    elif match := _DMY.search(text):
        day, month, year = (int(group) for group in match.groups())
        if month > 12 >= day:
            day, month = month, day
    else:
        return None
    return _build(_full_year(year), month, day, text)


def _worded_date(text: str) -> datetime | None:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    without_time = _TIME.sub(" ", folded)
    words = _WORDS.findall(without_time)
    month = next((_MONTHS[word] for word in words if not word.isdigit() and word in _MONTHS), None)
    numbers = [word for word in words if word.isdigit()]
    year = next((int(n) for n in numbers if len(n) == 4), None)
    day = next((int(n) for n in numbers if len(n) <= 2 and 1 <= int(n) <= 31), None)
    if month is None or year is None or day is None:
        return None
    return _build(year, month, day, folded)


def _build(year: int, month: int, day: int, text: str) -> datetime | None:
    hour = minute = second = 0
    if clock := _TIME.search(text):
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        try:
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            return None


def _full_year(year: int) -> int:
    if year >= 100:
        return year
    return 2000 + year if year < 70 else 1900 + year
