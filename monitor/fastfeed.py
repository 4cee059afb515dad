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
   ``src``, no Atom link without ``href``; and the number of ``item`` (RSS) or ``entry`` (Atom) elements
   anywhere in it equals the number in their proper place. Each entry's children give the facts that
   feedparser-rs does not report as feedparser reads them (:class:`monitor.fastshape.EntryFacts`): whether
   it has its own published (``pubDate``, ``atom:published``) and updated (``atom:updated``, ``dc:date``)
   elements, its author (Atom), its description and iTunes summary, keywords and categories. Refused:
   an entry with ``dc:author``, ``dcterms:issued`` or ``dcterms:modified`` (feedparser-rs does not read
   them), an iTunes element it does not map (:data:`_ITUNES_ENTRY_ELEMENTS`) or below another element, an
   ``itunes:summary`` before a description or twice, a description that feedparser would make a content
   block, a ``category`` after iTunes tags, ``itunes:author`` with another author element.
3. **The fast parse** (feedparser-rs without its sanitizer, on the document where every empty prefixed
   element ``<dc:creator/>`` is written ``<dc:creator></dc:creator>``: feedparser-rs reads the short form as
   the next element): no error, the same version as the root says, as many entries as lxml counted, no
   list (tags, authors, content blocks) at its limit, which could have been cut, no link it emptied (it
   drops ``https://localhost`` links). :mod:`monitor.fastshape` then runs feedparser's own text steps
   (HTML guess, sanitizer, encoding fixes) on each field and applies the facts.

Equality is checked on the ParsedFeed (RawItems included) and the Articles (tests/monitor/test_fastfeed.py,
the whole shared corpus), so the fast path is on by default in :func:`monitor.feed.parse_feed`.

The monitor's guarantees hold on this path as on feedparser's: no entity is expanded (none may be declared),
no DTD is loaded, nothing is fetched (the body is bytes that start with ``<``, never a URL; lxml has
``no_network``), the document is at most ``max_bytes`` (feedparser-rs's own size limit, over which it
errors and feedparser takes the document), lxml's default limits (depth, text node size) hold, and entries
past feedparser-rs' 10,000 fail the count check. feedparser-rs is imported on first use only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from monitor import fastshape
from monitor.fastshape import EntryFacts, fixed

ATOM = "http://www.w3.org/2005/Atom"
RSS10 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"  # as written by most feeds; feedparser ignores case
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
    ITUNES,
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
_IT = f"{{{ITUNES}}}"
_UPDATED = frozenset({_A + "updated", _DC + "date"})
_PUBLISHED = frozenset({"pubDate", _A + "published"})
_AUTHORS = frozenset({"author", _A + "author", _DC + "creator"})
# Entry elements feedparser reads into a field and feedparser-rs does not read.
_UNREAD = frozenset(
    {_DC + "author", *(f"{{http://purl.org/dc/terms/}}{name}" for name in ("issued", "modified"))}
)
_DESCRIPTIONS = frozenset({"description", _DC + "description", _R + "description"})
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
# iTunes elements of an entry: those feedparser reads into its fields (summary, keywords, category, author)
# are mapped by the rule; the others it keeps under names monitor.feed does not read.
_ITUNES_ENTRY_ELEMENTS = frozenset({
    "summary", "keywords", "category", "author", "subtitle", "image", "duration", "explicit", "episode",
    "season", "episodeType", "title", "block", "order", "isClosedCaptioned",
})  # fmt: skip
_EMPTY_PREFIXED = re.compile(rb"<([A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*)\s*/>")
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
    checked = _checked_tree(data)
    if checked is None:
        return None
    return _run(data, *checked, max_bytes)


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


def _checked_tree(data: bytes) -> tuple[str, list[EntryFacts]] | None:
    """Step 2 of the rule: (feedparser's version name, the facts of each entry), or None when refused."""
    try:
        root = etree.fromstring(data, _xml_parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    version = _VERSIONS.get(root.tag)
    if version is None or (version == "rss20" and root.get("version") != "2.0"):
        return None
    known, containers, entry_tag = _STRUCTURE[version]
    facts: list[EntryFacts] = []
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction
        if tag not in known and not tag.startswith(_FREE_NAMESPACES):
            return None
        if len(element) and tag not in containers and not tag.startswith(_FREE_NAMESPACES):
            return None  # markup inside a text field, or an unknown structure
        if element.attrib and _doubtful_attributes(element, version):
            return None
        if tag == entry_tag:
            entry = _entry_facts(element, version)
            if entry is None:
                return None
            facts.append(entry)
    if len(root.findall(_PLACED[version])) != len(facts):
        return None
    return version, facts


def _entry_facts(entry: Any, version: str) -> EntryFacts | None:
    """What feedparser reads in this entry and feedparser-rs does not (see :mod:`monitor.fastshape`), or
    None for an entry whose iTunes elements feedparser reads in a way not mapped here."""
    facts = EntryFacts(anonymous=version == "atom10")
    summary = content = False  # feedparser's state: a summary was stored, a content was started (hasContent)
    contents = authors = 0
    itunes_author = False
    for child in entry:
        tag = child.tag
        if tag in _UPDATED:
            facts.updated = True
        elif tag in _PUBLISHED:
            facts.published = True
        elif tag in _UNREAD:
            return None
        elif tag in _AUTHORS:
            authors += 1
            facts.anonymous = False
        elif tag in _DESCRIPTIONS:
            if summary and not content:
                return None  # feedparser makes it a content block
            summary = True
            facts.description = child.text or ""
        elif tag == _CONTENT_ENCODED:
            contents += 1
            summary = content = True  # its content is copied to the summary when there is none
        elif tag == "category" and facts.itunes_tags:
            return None  # tags would come in another order
        elif isinstance(tag, str) and tag.startswith(_IT):
            name = tag[len(_IT) :]
            if name not in _ITUNES_ENTRY_ELEMENTS:
                return None
            if name == "summary":
                if facts.itunes_summary is not None:
                    return None
                facts.itunes_summary = child.text or ""
                if summary and not content:  # feedparser: the summary is taken, so it is a content block
                    facts.itunes_content_at = contents
                    contents += 1
                    content = True
                summary = True
            elif name == "keywords":
                text = fixed((child.text or "").strip())
                facts.itunes_tags += [term.strip() for term in text.split(",") if term.strip()]
            elif name == "category":
                facts.itunes_tags += [
                    fixed(c.get("text")) if c.get("text") else None for c in child.iter(tag)
                ]
            elif name == "author":
                itunes_author = True
                authors += 1
    for element in entry.iter(_IT + "*"):  # feedparser reads them at any depth, this mapping as children
        parent = element.getparent()
        if parent is not entry and parent.tag != _IT + "category":
            return None
    if itunes_author and authors > 1:
        return None
    return facts


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


def _run(data: bytes, version: str, facts: list[EntryFacts], max_bytes: int) -> dict[str, Any] | None:
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
    if b"/>" in data:
        # feedparser-rs reads an empty <dc:creator/> as the next element: write it open and shut
        data = _EMPTY_PREFIXED.sub(rb"<\1></\1>", data)
    try:
        result = feedparser_rs.parse_with_limits(
            data, limits=limits, sanitize_html=False, resolve_relative_uris=False
        )
    except ValueError:  # a document it cannot read: feedparser's turn
        return None
    if result.bozo or (result.version or "") != version or len(result.entries) != len(facts):
        return None
    guess = not version.startswith("atom")
    if any(_doubtful_entry(raw) for raw in result.entries):
        return None
    entries = [fastshape.entry(raw, fact, guess) for raw, fact in zip(result.entries, facts, strict=True)]
    return {"version": version, "feed": fastshape.channel(result.feed, guess), "entries": entries}


def _doubtful_entry(raw: Any) -> bool:
    """A list at its limit, which could have been cut, or a link feedparser-rs emptied (it drops
    ``https://localhost`` links, feedparser keeps them)."""
    get = raw.get
    if any(len(get(key) or ()) >= _LIST_LIMIT for key in ("tags", "authors", "content")):
        return True
    return get("link") == "" or any(not link.href for link in get("links") or ())
