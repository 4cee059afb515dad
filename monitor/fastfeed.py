"""The fast parse path: feedparser-rs for the plain feeds on which it reads exactly what feedparser reads.

feedparser is the reference and the fallback; :func:`monitor.feed.parse_feed` asks :func:`parse_fast` first,
and gets ``None`` for any document the rule below refuses, which then goes to feedparser as before. The
fast path returns feedparser's own shapes (``version``, ``feed`` and ``entries`` as plain dicts, dates as
``struct_time``), so :mod:`monitor.feed` turns either into the same RawItems by the same code.

The rule, checked in this order (the first that fails sends the document to feedparser):

1. **Before parsing, on the bytes.** The body starts with ``<`` (after an optional UTF-8 BOM and white
   space: no JSON, no UTF-16/32); it has no DOCTYPE and no ``<!ENTITY`` anywhere (so no entity can expand,
   internal or external); it is UTF-8: its XML declaration names no other encoding, the Content-Type is an
   XML or feed type whose charset, if any, is UTF-8 (``text/xml`` only with an explicit UTF-8 charset,
   as RFC 3023 makes it US-ASCII otherwise), and the bytes decode as strict UTF-8; it has no ``xml:base``
   and no relative id that feedparser would resolve itself (:func:`monitor.feed._relative_references`);
   no ``type="xhtml"`` content; every namespace it declares is in :data:`KNOWN_NAMESPACES` (the ones whose
   elements both parsers were checked to read alike, or that neither reads).
2. **The XML, by lxml** (strict, no DTD, no entity resolution, no network, default tree limits): it is
   well-formed; its root is ``<rss version="2.0">``, an Atom 1.0 ``<feed>`` or an RSS 1.0 ``<rdf:RDF>``;
   every element is one of its format's checked elements (:data:`_STRUCTURE`) or in a namespace of
   :data:`KNOWN_NAMESPACES`, and only containers hold elements (no markup inside a text field); no
   ``xml:base``, no ``xml:lang`` in RSS, no Atom text of a type other than text/html, no ``mode`` or
   ``src``, no Atom link without ``href``; no ``<!`` or ``<?`` inside a text (HTML comments, CDATA); no
   empty Dublin Core element (feedparser-rs reads ``<dc:creator/>`` as the next element); and the number of
   ``item`` (RSS) or ``entry`` (Atom) elements anywhere in it equals the number in their proper place. Atom
   entries without their own author get none (feedparser-rs would give them the feed's).
3. **After the fast parse**: feedparser-rs reports no error, the same version as the root says, as many
   entries as lxml counted, no list (tags, authors, content blocks) at its limit, which could have
   been cut, no link it emptied (it drops ``https://localhost`` links), no C1 control character in a text
   (feedparser reads those as windows-1252), and no ``<`` in the feed's title.

Equality is checked on the Articles (tests/monitor/test_fastfeed.py, the whole shared corpus): the RawItems
can differ in HTML markup (feedparser-rs' sanitizer adds ``rel="nofollow ..."``) and in ``updated``
(feedparser-rs copies ``pubDate`` there), neither of which changes an Article.

The monitor's guarantees hold on this path as on feedparser's: no entity is expanded (none may be declared),
no DTD is loaded, nothing is fetched (the body is bytes that start with ``<``, never a URL; lxml has
``no_network``), the document is at most ``max_bytes`` (feedparser-rs's own size limit, over which it
errors and feedparser takes the document), lxml's default limits (depth, text node size) hold, and entries
past feedparser-rs' 10,000 fail the count check. feedparser-rs is imported on first use only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
RSS10 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
KNOWN_NAMESPACES: frozenset[str] = frozenset({
    ATOM,
    RSS10,
    RDF,
    "http://purl.org/rss/1.0/modules/content/",
    "http://purl.org/dc/elements/1.1/",
    "http://purl.org/rss/1.0/modules/syndication/",
    "http://purl.org/rss/1.0/modules/slash/",
    "http://wellformedweb.org/CommentAPI/",
    "http://www.w3.org/XML/1998/namespace",
    "http://search.yahoo.com/mrss/",
    "http://rssnamespace.org/feedburner/ext/1.0",
    "http://a9.com/-/spec/opensearchrss/1.0/",
    "http://purl.org/syndication/thread/1.0",
    "http://www.youtube.com/xml/schemas/2015",
    "http://schemas.google.com/g/2005",
    "http://www.georss.org/georss",
    "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "http://purl.org/dc/terms/",
    "http://purl.org/rss/1.0/modules/prism/",
    "http://purl.oclc.org/net/rss_2.0/enc#",
    "http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html",
    "http://purl.org/rss/1.0/modules/event/",
    "http://purl.org/rss/1.0/modules/taxonomy/",
    "http://webns.net/mvcb/",
    "http://schemas.google.com/blogger/2008",
    "http://www.w3.org/2001/XMLSchema-instance",
    "http://www.google.com/schemas/play-podcasts/1.0",
    "http://www.microsoft.com/schemas/rss/core/2005",
})  # fmt: skip
_A = f"{{{ATOM}}}"
_R = f"{{{RSS10}}}"
_RDF = f"{{{RDF}}}"
# Elements of each format whose reading by both parsers is checked (Clark notation), those of them that may
# hold elements, and the entry element. An element outside these sets sends the document to feedparser.
_RSS20_LEAVES = (
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "url", "width", "height", "rating",
    "name", "hour", "day", "author", "comments", "enclosure", "guid", "source", _A + "link",
)  # fmt: skip
_RSS20_CONTAINERS = ("rss", "channel", "image", "textInput", "skipHours", "skipDays", "item")
_ATOM_LEAVES = tuple(
    _A + name
    for name in ("title", "subtitle", "id", "link", "updated", "published", "name", "email", "uri", "category",
                 "content", "summary", "rights", "generator", "icon", "logo")
)  # fmt: skip
_ATOM_CONTAINERS = tuple(_A + name for name in ("feed", "entry", "author", "contributor"))
_RSS10_LEAVES = (*(_R + name for name in ("title", "link", "description", "url", "name")), _RDF + "li")
_RSS10_CONTAINERS = (_RDF + "RDF", _RDF + "Seq", *(_R + name for name in ("channel", "items", "image", "item",
                                                                            "textinput")))  # fmt: skip
_STRUCTURE = {
    "rss20": (frozenset(_RSS20_LEAVES + _RSS20_CONTAINERS), frozenset(_RSS20_CONTAINERS), "item"),
    "atom10": (frozenset(_ATOM_LEAVES + _ATOM_CONTAINERS), frozenset(_ATOM_CONTAINERS), _A + "entry"),
    "rss10": (frozenset(_RSS10_LEAVES + _RSS10_CONTAINERS), frozenset(_RSS10_CONTAINERS), _R + "item"),
}
_PLACED = {"rss20": "channel/item", "atom10": _A + "entry", "rss10": _R + "item"}
# Namespaces whose leaf elements may appear anywhere (in KNOWN_NAMESPACES, read alike or not read at all).
_FREE_NAMESPACES = tuple(
    f"{{{uri}}}"
    for uri in sorted(KNOWN_NAMESPACES)
    if uri not in (ATOM, RSS10, RDF, "http://www.w3.org/XML/1998/namespace")
)
_DC = "{http://purl.org/dc/elements/1.1/}"
_REFUSED: tuple[None, int, list[int]] = (None, 0, [])
_XML_BASE_ATTR = "{http://www.w3.org/XML/1998/namespace}base"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ATOM_LINK = _A + "link"
_ATOM_TEXT = frozenset(_A + name for name in ("title", "subtitle", "summary", "content", "rights"))
_TEXT_TYPES = ("text", "html", "text/html", "text/plain")
_LIST_LIMIT = 1000  # tags, authors and content blocks per entry; a list this long may have been cut
_MEDIA_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "")
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_NAMESPACE = re.compile(rb"""xmlns(?::[^\s=]*)?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XHTML_TYPE = re.compile(rb"""type\s*=\s*["']xhtml["']""")
_UTF8 = ("utf-8", "utf8")
_DOUBTFUL_TEXT = re.compile("[\x80-\x9f]|<[!?]")
_VERSIONS = {"rss": "rss20", f"{{{ATOM}}}feed": "atom10", f"{{{RDF}}}RDF": "rss10"}
_xml_parser = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


def parse_fast(data: bytes, headers: Mapping[str, str], *, max_bytes: int) -> dict[str, Any] | None:
    """feedparser's result for ``data`` (``version``, ``feed``, ``entries``), or None when the rule refuses it.

    ``headers`` have lower-cased names. The caller has already checked what :func:`monitor.feed.parse_feed`
    checks first (JSON, the DOCTYPE's entities) and that no relative reference needs feedparser.
    """
    if not _plain_bytes(data, headers.get("content-type", "")):
        return None
    version, expected, anonymous = _checked_tree(data)
    if version is None:
        return None
    return _run(data, version, expected, anonymous, max_bytes)


def _plain_bytes(data: bytes, content_type: str) -> bool:
    """Step 1 of the rule (the relative references are checked by the caller)."""
    start = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start.startswith(b"<") or not _utf8_declared(start, content_type):
        return False
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered or _XHTML_TYPE.search(lowered):
        return False
    for found in _NAMESPACE.finditer(data):
        uri = found.group(1) if found.group(1) is not None else found.group(2)
        if uri.decode("utf-8", "replace") not in KNOWN_NAMESPACES:
            return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_declared(start: bytes, content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = _CHARSET.search(params)
    declared = charset.group(1).lower() if charset else None
    if declared is not None and declared not in _UTF8:
        return False
    if media not in _MEDIA_TYPES and not (media == "text/xml" and declared is not None):
        return False
    encoding = _DECLARED_ENCODING.match(start)
    return encoding is None or encoding.group(1).strip().lower() in (b"utf-8", b"utf8")


def _checked_tree(data: bytes) -> tuple[str | None, int, list[int]]:
    """Step 2 of the rule: (feedparser's version name, the number of entries, the Atom entries without an
    author), or (None, 0, []) when refused."""
    try:
        root = etree.fromstring(data, _xml_parser)
    except (etree.XMLSyntaxError, ValueError):
        return _REFUSED
    version = _VERSIONS.get(root.tag)
    if version is None or (version == "rss20" and root.get("version") != "2.0"):
        return _REFUSED
    known, containers, entry_tag = _STRUCTURE[version]
    entries = 0
    anonymous: list[int] = []
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction
        if tag not in known and not tag.startswith(_FREE_NAMESPACES):
            return _REFUSED
        if len(element) and tag not in containers and not tag.startswith(_FREE_NAMESPACES):
            return _REFUSED  # markup inside a text field, or an unknown structure
        if _doubtful_attributes(element, version):
            return _REFUSED
        text = element.text
        if text and "<" in text and ("<!" in text or "<?" in text):
            return _REFUSED  # a comment, CDATA or declaration inside HTML: the sanitizers part there
        if tag.startswith(_DC) and not (text and not text.isspace()):
            return _REFUSED  # an empty Dublin Core field: feedparser-rs fills <dc:creator/> with the next one
        if tag == entry_tag:
            if version == "atom10" and element.find(_A + "author") is None:
                anonymous.append(entries)  # feedparser-rs gives it the feed's author, feedparser none
            entries += 1
    placed = len(root.findall(_PLACED[version]))
    return (version, placed, anonymous) if placed == entries else _REFUSED


def _doubtful_attributes(element: Any, version: str) -> bool:
    """An attribute feedparser reads and feedparser-rs may not: xml:lang in RSS, xml:base, base64 or
    non-HTML Atom content, an Atom link without href."""
    attributes = element.attrib
    if not attributes:
        return False
    if _XML_BASE_ATTR in attributes or (version != "atom10" and _XML_LANG in attributes):
        return True
    tag = element.tag
    if tag == _ATOM_LINK:
        return attributes.get("href") is None
    if tag in _ATOM_TEXT:
        return (
            attributes.get("type", "text") not in _TEXT_TYPES or "mode" in attributes or "src" in attributes
        )
    return False


def _run(
    data: bytes, version: str, expected: int, anonymous: list[int], max_bytes: int
) -> dict[str, Any] | None:
    """Step 3 of the rule: feedparser-rs' result in feedparser's shapes, or None when it is doubtful."""
    import feedparser_rs

    limits = feedparser_rs.ParserLimits(
        max_entries=10_000,
        max_feed_size_bytes=max_bytes,
        max_tags=_LIST_LIMIT,
        max_authors=_LIST_LIMIT,
        max_contributors=_LIST_LIMIT,
        max_content_blocks=_LIST_LIMIT,
    )
    if len(data) > max_bytes:
        return None
    try:
        result = feedparser_rs.parse_with_limits(
            data, limits=limits, sanitize_html=True, resolve_relative_uris=False
        )
    except ValueError:  # a document it cannot read: feedparser's turn
        return None
    if result.bozo or (result.version or "") != version or len(result.entries) != expected:
        return None
    entries = [_entry(entry) for entry in result.entries]
    if any(entry.pop("doubtful_link") for entry in entries):
        return None
    for index in anonymous:
        entries[index].pop("author", None)
        entries[index]["authors"] = []
    if any(len(entry[key]) >= _LIST_LIMIT for entry in entries for key in ("tags", "authors", "content")):
        return None
    channel = _channel(result.feed)
    if "<" in channel.get("title", "") or any(_doubtful_text(entry) for entry in entries):
        return None
    return {"version": version, "feed": channel, "entries": entries}


def _doubtful_text(entry: dict[str, Any]) -> bool:
    """Text on which the two sanitizers part: C1 controls (feedparser reads them as windows-1252), and HTML
    comments, CDATA sections, declarations or processing instructions inside a field."""
    values = [entry.get("title", ""), entry.get("summary", "")]
    values += [block["value"] or "" for block in entry["content"] if block is not None]
    return any(_DOUBTFUL_TEXT.search(value) for value in values)


def _detail(construct: Any) -> dict[str, Any] | None:
    if construct is None:
        return None
    return {"type": construct.type, "language": construct.language, "value": construct.value}


def _entry(entry: Any) -> dict[str, Any]:
    get = entry.get
    out: dict[str, Any] = {
        key: value
        for key in ("id", "link", "title", "summary", "author")
        if isinstance(value := get(key), str)
    }
    for key in ("published_parsed", "updated_parsed"):
        if isinstance(value := get(key), time.struct_time):
            out[key] = value
    out["title_detail"] = _detail(get("title_detail"))
    out["summary_detail"] = _detail(get("summary_detail"))
    out["content"] = [_detail(block) for block in get("content") or ()]
    out["authors"] = [{"name": person.name, "email": person.email} for person in get("authors") or ()]
    out["tags"] = [{"term": tag.term} for tag in get("tags") or ()]
    # feedparser-rs empties a link it finds unsafe (https://localhost...), feedparser keeps it
    out["doubtful_link"] = get("link") == "" or any(not link.href for link in get("links") or ())
    return out


def _channel(channel: Any) -> dict[str, Any]:
    get = channel.get
    out: dict[str, Any] = {
        key: value for key in ("title", "link", "language", "ttl") if isinstance(value := get(key), str)
    }
    out["title_detail"] = _detail(get("title_detail"))
    syndication = get("syndication")
    if syndication is not None:
        out["sy_updateperiod"] = _string(syndication.update_period)
        out["sy_updatefrequency"] = _string(syndication.update_frequency)
    return out


def _string(value: object) -> str | None:
    return None if value is None else str(value)
