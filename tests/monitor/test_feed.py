"""parse_feed on hand-written feeds of every format, broken and hostile bodies, and charsets."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ErrorKind, ParseError
from monitor.feed import _relative_references, defuse_doctype, parse_feed
from monitor.models import ParsedFeed
from tests.httpserver import LoopbackServer

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
BASE = "https://base.example/dir/feed.xml"
RSS = {"content-type": "application/rss+xml"}


def _parse(name: str, content_type: str = "application/xml", base: str = BASE) -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), {"Content-Type": content_type}, base)


def _rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel><title>T</title>'
        f"<link>https://t.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("name", "content_type", "version", "count", "title"),
    [
        pytest.param(
            "rss090.rdf", "application/rdf+xml", "rss090", 2, "Minister opens the new harbour", id="rss090"
        ),
        pytest.param(
            "rss091.xml", "application/rss+xml", "rss091u", 1, "Conseil municipal du 3 mars", id="rss091"
        ),
        pytest.param("rss092.xml", "text/xml", "rss092", 2, "Dredging works start in May", id="rss092"),
        pytest.param(
            "rss10.rdf", "application/rdf+xml", "rss10", 1, "Satellit erfolgreich gestartet", id="rss10"
        ),
        pytest.param(
            "rss20.xml",
            "application/rss+xml",
            "rss20",
            3,
            "Action day against online terrorist propaganda",
            id="rss20",
        ),
        pytest.param(
            "atom03.xml", "application/atom+xml", "atom03", 1, "Nota de prensa sobre el puerto", id="atom03"
        ),
        pytest.param(
            "atom10.xml",
            "application/atom+xml",
            "atom10",
            2,
            "Statement on <em>flood</em> relief",
            id="atom10",
        ),
        pytest.param(
            "jsonfeed10.json", "application/feed+json", "json1", 2, "Committee hearing scheduled", id="json1"
        ),
        pytest.param("jsonfeed11.json", "application/json", "json11", 3, "Dépêche n°1", id="json11"),
    ],
)
def test_every_format(name: str, content_type: str, version: str, count: int, title: str) -> None:
    parsed = _parse(name, content_type)
    assert parsed.format == version
    assert len(parsed.items) == count
    assert parsed.items[0].title == title
    assert parsed.warnings == ()
    assert all(item.link is None or item.link.startswith("https://") for item in parsed.items)


def test_rss20_details() -> None:
    parsed = _parse("rss20.xml", "application/rss+xml")
    assert (parsed.title, parsed.link, parsed.language, parsed.ttl_s) == (
        "Europol Newsroom",
        "https://police.example/newsroom",
        "en-GB",
        1800,
    )
    first, second, third = parsed.items
    assert first.guid == "press-2026-0042"
    assert first.link == "https://base.example/newsroom/news/action-day"  # relative: against the final URL
    assert first.summary == "More than 2 000 items referred."
    assert (
        first.content
        == '<p>More than <a href="https://base.example/about">2 000 items</a> were referred.</p>'
    )
    assert first.published == datetime(2026, 11, 30, 13, 5, tzinfo=UTC)
    assert first.updated is None
    assert first.authors == ("Press Office",)  # "press@police.example (Press Office)"
    assert first.tags == ("terrorism", "internet")
    assert first.language == "en-GB"  # the feed's
    assert second.link == second.guid == "https://police.example/newsroom/news/guid-link"  # permalink guid
    assert second.authors == ("Jane Doe",)  # dc:creator
    assert third.link is None  # javascript: is not a link


def test_atom10_details() -> None:
    parsed = _parse("atom10.xml", "application/atom+xml")
    first, second = parsed.items
    assert first.link == "https://gov.example/press/2026/06/flood-relief"  # xml:base
    assert first.content == '<p>See <a href="https://gov.example/press/annex.pdf">the annex</a>.</p>'
    assert first.published == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    assert first.updated == datetime(2026, 6, 1, 18, 30, 2, tzinfo=UTC)
    assert first.authors == ("Press Office", "Minister of Interior")
    assert first.tags == ("floods", "relief")
    assert (first.language, second.language) == ("en", "fr")  # xml:lang on the entry
    assert second.link == "https://gov.example/fr/2026/06/inondations"
    assert second.published is None


def test_rss10_and_atom03_details() -> None:
    rdf = _parse("rss10.rdf")
    assert rdf.ttl_s == 86400 // 4  # sy:updatePeriod daily, sy:updateFrequency 4
    item = rdf.items[0]
    assert (item.guid, item.authors, item.tags, item.language) == (
        "https://agency.example/releases/42",
        ("Pressestelle",),
        ("Raumfahrt",),
        "de",
    )
    assert item.updated == datetime(2026, 3, 14, 8, 30, tzinfo=UTC)  # dc:date
    atom = _parse("atom03.xml").items[0]
    assert atom.published == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)  # <issued>
    assert (atom.guid, atom.authors, atom.language) == ("tag:prensa.example,2026:puerto", ("Gabinete",), "es")


def test_json_feed_details() -> None:
    v10 = _parse("jsonfeed10.json", "application/feed+json", base="https://parliament.example/feed.json")
    first, second = v10.items
    assert (v10.title, v10.link, v10.ttl_s) == ("Parliament Press", "https://parliament.example/", None)
    assert (first.guid, first.summary, first.content) == (
        "2",
        "Hearing on Tuesday",
        "The committee will hear the minister on Tuesday.",
    )
    assert first.published == datetime(2026, 2, 10, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2026, 2, 10, 10, 15, tzinfo=UTC)
    assert first.authors == ("Press Service",)  # the feed's author
    assert first.tags == ("committee", "hearing")
    assert second.link == "https://parliament.example/press/1"  # relative url, before external_url
    assert second.content == "<p>The session is <b>open</b>.</p>"
    assert second.authors == ("Speaker's Office",)
    v11 = _parse("jsonfeed11.json", "application/feed+json")
    first, second, third = v11.items
    assert v11.language == first.language == "fr-FR"
    assert first.authors == ("Marie Curie", "Pierre Curie")
    assert (second.link, second.language, second.authors) == (
        "https://other.example/article",
        "en",
        ("Rédaction",),
    )
    assert third.link is None


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(
            b'\xef\xbb\xbf  {"version": "https://jsonfeed.org/version/1.1", "items": []}', {}, id="bom"
        ),
        pytest.param(
            b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
            {"content-type": "text/plain"},
            id="sniffed",
        ),
        pytest.param(
            '{"version":"https://jsonfeed.org/version/1.1","title":"Café","items":[]}'.encode("latin-1"),
            {"content-type": "application/feed+json; charset=iso-8859-1"},
            id="declared-charset",
        ),
    ],
)
def test_json_feed_detection(body: bytes, headers: dict[str, str]) -> None:
    parsed = parse_feed(body, headers, BASE)
    assert (parsed.format, parsed.items) == ("json11", ())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'{"version": "https://jsonfeed.org/version/1", "items": [', "invalid JSON", id="truncated"
        ),
        pytest.param(b'{"error": "rate limited"}', "not a JSON Feed", id="not-a-feed"),
        pytest.param(b'{"items": {"a": 1}}', "not a JSON Feed", id="items-not-a-list"),
        pytest.param(b'{"a":' * 100_000, "invalid JSON", id="deep-nesting"),
    ],
)
def test_bad_json_is_unparseable(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, {"content-type": "application/json"}, BASE)
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert message in caught.value.message


def test_json_feed_oddities_become_warnings() -> None:
    doc = {"version": "2", "items": [{"id": 7, "url": "javascript:x()", "tags": ["a", 3, "a"]}, "junk", None]}
    parsed = parse_feed(json.dumps(doc).encode(), {}, BASE)
    assert parsed.warnings == ("unknown JSON Feed version '2', read as 1.0", "2 items are not JSON objects")
    (item,) = parsed.items
    assert (item.guid, item.link, item.tags) == ("7", None, ("a",))


def test_items_sharing_one_guid_are_all_returned() -> None:
    parsed = _parse("shared_guid.xml")
    assert [(i.guid, i.link) for i in parsed.items] == [
        ("same-guid", "https://cms.example/a"),
        ("same-guid", "https://cms.example/b"),
        ("same-guid", "https://cms.example/c"),
    ]


@pytest.mark.parametrize(
    ("index", "published", "updated"),
    [
        pytest.param(0, datetime(2026, 11, 30, 19, 5, tzinfo=UTC), None, id="two-digit-year-est"),
        pytest.param(1, datetime(2026, 11, 30, 14, 5, tzinfo=UTC), None, id="no-weekday-no-seconds"),
        pytest.param(2, datetime(2026, 11, 30, 14, 5, tzinfo=UTC), None, id="iso-in-pubdate"),
        pytest.param(3, None, datetime(2026, 11, 30, 14, 5, tzinfo=UTC), id="dc-date"),
        pytest.param(4, None, None, id="garbage"),
        pytest.param(5, None, None, id="epoch-zero"),
        pytest.param(6, None, None, id="year-2999"),
    ],
)
def test_odd_dates(index: int, published: datetime | None, updated: datetime | None) -> None:
    item = _parse("odd_dates.xml").items[index]
    assert (item.published, item.updated) == (published, updated)


def test_malformed_feed_with_entries_keeps_them_with_a_warning() -> None:
    body = _rss("<item><title>A &amp; B</title><link>https://t.example/1</link></item><item><title>broken")
    parsed = parse_feed(body, RSS, BASE)
    assert parsed.items[0].title == "A & B"
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith("malformed feed: SAXParseException")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>T', "malformed feed", id="truncated"
        ),
        pytest.param(b'<?xml version="1.0"?><config><key>v</key></config>', "not a feed", id="other-xml"),
        pytest.param(b"plain text, not markup", "malformed feed", id="text"),
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b"\n\t ", "empty body", id="blank"),
    ],
)
def test_unusable_bodies_are_unparseable(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, RSS, BASE)
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert message in caught.value.message


def test_well_formed_feed_without_entries_is_valid() -> None:
    parsed = parse_feed(_rss("<ttl>15</ttl>"), RSS, BASE)
    assert (parsed.format, parsed.items, parsed.ttl_s, parsed.warnings) == ("rss20", (), 900, ())


def test_html_page_names_the_feeds_it_advertises() -> None:
    body = (PAGES / "feed_links.html").read_bytes()
    with pytest.raises(ParseError) as caught:
        parse_feed(body, {"content-type": "text/html"}, "https://news.example/")
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert caught.value.message == (
        "https://news.example/ is an HTML page, not a feed; it advertises these feeds: "
        "https://news.example/newsroom/rss.xml, https://news.example/atom.xml, https://news.example/feed.json"
    )


def test_html_page_without_feeds() -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(
            (PAGES / "article.html").read_bytes(), {"content-type": "text/html"}, "https://g.example/a"
        )
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert caught.value.message.endswith("is an HTML page, not a feed; it advertises no feed")


@pytest.mark.parametrize("name", ["cloudflare_challenge.html", "js_wall.html"])
def test_challenge_page_is_blocked(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed((PAGES / name).read_bytes(), {"content-type": "text/html"}, BASE)
    assert caught.value.kind is ErrorKind.BLOCKED
    assert "challenge page instead of the feed" in caught.value.message


def test_challenge_header_blocks_any_body() -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(b"denied", {"CF-Mitigated": "challenge", "content-type": "text/plain"}, BASE)
    assert caught.value.kind is ErrorKind.BLOCKED


# --- charsets ----------------------------------------------------------------------------------------

TITLE = "Été à Montréal, l’hiver"


def _feed_text(declaration: str = "", title: str = TITLE) -> str:
    return (
        f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>Feed</title><link>http://t/</link>'
        f"<description>d</description><item><title>{title}</title><link>http://t/1</link></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "title", "warned"),
    [
        pytest.param(_feed_text().encode(), "application/rss+xml", TITLE, False, id="utf8-undeclared"),
        pytest.param(
            _feed_text(title="Été à Montréal").encode("latin-1"),
            "application/rss+xml; charset=utf-8",
            "Été à Montréal",
            True,
            id="latin1-declared-utf8",
        ),
        pytest.param(
            _feed_text(' encoding="iso-8859-1"', "Été à Montréal").encode("latin-1"),
            "application/rss+xml",
            "Été à Montréal",
            False,
            id="xml-declaration-latin1",
        ),
        pytest.param(
            _feed_text(' encoding="windows-1252"').encode("cp1252"),
            "application/xml",
            TITLE,
            False,
            id="cp1252",
        ),
        pytest.param(_feed_text().encode("cp1252"), "application/xml", TITLE, True, id="cp1252-undeclared"),
        pytest.param(
            _feed_text(' encoding="utf-16"').encode("utf-16"), "application/xml", TITLE, False, id="utf16-bom"
        ),
        pytest.param(
            _feed_text(' encoding="koi8-r"', "Привет").encode("koi8-r"),
            "text/xml; charset=koi8-r",
            "Привет",
            False,
            id="http-charset",
        ),
    ],
)
def test_charsets(body: bytes, content_type: str, title: str, warned: bool) -> None:
    parsed = parse_feed(body, {"content-type": content_type}, BASE)
    assert parsed.items[0].title == title
    assert bool(parsed.warnings) is warned


def test_undecodable_bytes_do_not_crash() -> None:
    body = _feed_text().encode().replace("Montréal".encode(), b"Montr\xff\xfe\x00al")
    parsed = parse_feed(body, RSS, BASE)
    assert parsed.items[0].link == "http://t/1"


# --- hostile XML -------------------------------------------------------------------------------------


def _laughs(newlines: bool, before: str = "") -> bytes:
    sep = "\n" if newlines else ""
    entities = [f'<!ENTITY lol0 "{"lol" * 3}">']
    entities += [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    prolog = f"{before}<!DOCTYPE rss [{sep}{sep.join(entities)}{sep}]>"
    return _rss("<item><title>&lol9;</title><link>https://t.example/1</link></item>", prolog)


@pytest.mark.parametrize(
    ("newlines", "before"),
    [
        pytest.param(False, "", id="one-line"),
        pytest.param(True, "", id="multi-line"),
        pytest.param(False, '<!-- see <a href="x"> --><?pi <b> ?>\n', id="after-comment-with-a-tag"),
    ],
)
def test_billion_laughs_is_not_expanded(newlines: bool, before: str) -> None:
    tracemalloc.start()
    try:
        parsed = parse_feed(_laughs(newlines, before), RSS, BASE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # undefended, expat reaches ~60 MB before its amplification limit
    (item,) = parsed.items
    assert "lollol" not in (item.title or "")
    assert parsed.warnings[0] == "ignored 9 unsafe XML entity declaration(s) (external, nested or long)"


def test_external_entities_are_not_read(tmp_path: Path, http_server: LoopbackServer) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    http_server.route("/entity", body=b"REMOTE-CONTENT")
    http_server.route("/dtd", body=b'<!ENTITY remote "REMOTE-CONTENT">')
    prolog = (
        f'<!DOCTYPE rss SYSTEM "{http_server.url("/dtd")}" [\n'
        f'<!ENTITY file SYSTEM "{secret.as_uri()}">\n'
        f'<!ENTITY web SYSTEM "{http_server.url("/entity")}">\n'
        f'<!ENTITY % param SYSTEM "{http_server.url("/dtd")}"> %param;\n]>'
    )
    body = _rss("<item><title>x &file; &web; &remote;</title><link>https://t.example/1</link></item>", prolog)
    parsed = parse_feed(body, RSS, BASE)
    text = repr(parsed)
    assert "TOP-SECRET" not in text
    assert "REMOTE-CONTENT" not in text
    assert http_server.requests == []
    assert parsed.items[0].link == "https://t.example/1"


def test_a_url_as_body_is_not_fetched(http_server: LoopbackServer) -> None:
    http_server.route("/feed.xml", body=_rss("<item><title>remote</title></item>"))
    with pytest.raises(ParseError):
        parse_feed(http_server.url("/feed.xml").encode(), RSS, BASE)
    assert http_server.requests == []


def test_safe_entities_are_kept() -> None:
    prolog = "<!DOCTYPE rss [<!ENTITY id \"tag:example.com,\"> <!ENTITY copy '&#169;'>]>"
    body = _rss("<item><guid isPermaLink='false'>&id;2026 &copy;</guid></item>", prolog)
    parsed = parse_feed(body, RSS, BASE)
    assert parsed.items[0].guid == "tag:example.com,2026 ©"
    assert parsed.warnings == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            _rss("", "<!DOCTYPE rss [" + "<!-- pad -->" * 6000),
            "feed has a DOCTYPE longer than 64 KB",
            id="huge-doctype",
        ),
        pytest.param(
            _feed_text().replace("?>", '?><!DOCTYPE rss [<!ENTITY a "b">]>', 1).encode("utf-16"),
            "feed declares XML entities (utf-16 document)",
            id="utf16-entities",
        ),
    ],
)
def test_refused_prologs(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, RSS, BASE)
    assert (caught.value.kind, caught.value.message) == (ErrorKind.UNPARSEABLE, message)


@pytest.mark.parametrize(
    ("body", "expected", "dropped"),
    [
        pytest.param(b"<rss/>", b"<rss/>", False, id="no-doctype"),
        pytest.param(
            b'<!DOCTYPE rss SYSTEM "x.dtd"><rss/>',
            b'<!DOCTYPE rss SYSTEM "x.dtd"><rss/>',
            False,
            id="external-id-only",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "r.dtd" '
            b"[<!ENTITY a 'b'><!ELEMENT rss ANY>]><rss>&a;</rss>",
            b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "r.dtd" [\n'
            b'<!ENTITY a "b">\n]><rss>&a;</rss>',
            False,
            id="safe-entity-rewritten",
        ),
        pytest.param(
            b'<!DOCTYPE rss [<!ENTITY a "x > y ]"><!ENTITY b "&a;&a;">]><rss/>',
            b'\n<!DOCTYPE rss [\n<!ENTITY a "x > y ]">\n]><rss/>',
            True,
            id="quotes-and-nested",
        ),
        pytest.param(
            b'<!DOCTYPE rss [<!ENTITY long "' + b"x" * 100 + b'">]><rss/>',
            b"\n<!DOCTYPE rss [\n]><rss/>",
            True,
            id="long-value",
        ),
        pytest.param(
            b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- <a> -->"
            b"<!DOCTYPE rss [<!ENTITY % p SYSTEM 'x'>%p;]><rss/>",
            b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- <a> -->\n<!DOCTYPE rss [\n]><rss/>",
            True,
            id="bom-declaration-comment-parameter-entity",
        ),
        pytest.param(
            b"<rss><description><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]>]]></description></rss>",
            b"<rss><description><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]>]]></description></rss>",
            False,
            id="doctype-text-after-root",
        ),
    ],
)
def test_defuse_doctype(body: bytes, expected: bytes, dropped: bool) -> None:
    defused, warnings = defuse_doctype(body)
    assert defused == expected
    assert bool(warnings) is dropped


def _items(*items: str) -> bytes:
    return _rss("".join(f"<item><title>t{index}</title>{item}</item>" for index, item in enumerate(items)))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            _items("<guid>12345</guid>"),
            [("https://base.example/dir/12345", "https://base.example/dir/12345")],
            id="relative-permalink-guid-joined-and-used-as-link",
        ),
        pytest.param(
            _items("<guid isPermaLink='false'>12345</guid>"), [("12345", None)], id="not-a-permalink"
        ),
        pytest.param(
            _items("<guid isPermaLink='False'>12345</guid>"), [("12345", None)], id="only-true-is-true"
        ),
        pytest.param(
            _items("<guid isPermaLink='false'>a</guid>", "<guid>b</guid>"),
            [("a", None), ("https://base.example/dir/b", "https://base.example/dir/b")],
            id="mixed-permalinks",
        ),
        pytest.param(
            _items("<guid> news/7?x=1 </guid><link>https://t.example/7</link>"),
            [("https://base.example/dir/news/7?x=1", "https://t.example/7")],
            id="permalink-guid-next-to-a-link",
        ),
        pytest.param(
            _items("<guid>tag:example.com,2026:1</guid>"),
            [("tag:example.com,2026:1", None)],
            id="other-scheme",
        ),
        pytest.param(
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
            b"<entry><title>e</title><id>entry-1</id></entry></feed>",
            [("https://base.example/dir/entry-1", "https://base.example/dir/entry-1")],
            id="atom-id",
        ),
        pytest.param(
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
            b'<channel rdf:about="x"><title>c</title></channel>'
            b'<item rdf:about="item/1"><title>i</title><link>item/1</link></item></rdf:RDF>',
            [("item/1", "https://base.example/dir/item/1")],
            id="rdf-about-is-not-joined",
        ),
    ],
)
def test_ids_are_joined_with_the_feed_url_as_feedparser_joins_them(
    body: bytes, expected: list[tuple[str | None, str | None]]
) -> None:
    parsed = parse_feed(body, RSS, BASE)
    assert [(item.guid, item.link) for item in parsed.items] == expected


_ATOM = (
    '<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Feed &lt;a href="/home"&gt;home&lt;/a&gt;</title>'
    "<entry><id>tag:t.example,2026:1</id>{}</entry></feed>"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            _items(
                "<description>&lt;a href=&quot;/x&quot;&gt;x&lt;/a&gt; &lt;img src='y.png'&gt;</description>"
            ),
            (
                "t0",
                '<a href="https://base.example/x">x</a> <img src="https://base.example/dir/y.png" />',
                None,
            ),
            id="escaped-html",
        ),
        pytest.param(
            _items(
                "<description><![CDATA[<a href='../up'>up</a> <a href='https://a.example/z'>z</a>]]></description>"
            ),
            ("t0", '<a href="https://base.example/up">up</a> <a href="https://a.example/z">z</a>', None),
            id="cdata-html",
        ),
        pytest.param(
            _items("<description>&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;</description>"),
            ("t0", '<a href="">x</a>', None),
            id="unsafe-url-emptied-not-resolved",
        ),
        pytest.param(
            _ATOM.format(
                '<title type="html">T &lt;a href="t"&gt;t&lt;/a&gt;</title>'
                '<content type="html">&lt;a href="c"&gt;c&lt;/a&gt;</content>'
            ).encode(),
            (
                'T <a href="https://base.example/dir/t">t</a>',
                '<a href="https://base.example/dir/c">c</a>',  # feedparser copies the content
                '<a href="https://base.example/dir/c">c</a>',
            ),
            id="atom-html",
        ),
        pytest.param(
            _ATOM.format(
                '<title>x</title><content type="xhtml">'
                '<div xmlns="http://www.w3.org/1999/xhtml"><a href="p">p</a></div></content>'
            ).encode(),
            ("x", '<a href="https://base.example/dir/p">p</a>', '<a href="https://base.example/dir/p">p</a>'),
            id="atom-xhtml",
        ),
        pytest.param(
            _ATOM.format('<title type="text">a href="/x" b</title><summary>see href="q"</summary>').encode(),
            ('a href="/x" b', 'see href="q"', None),
            id="plain-text-untouched",
        ),
    ],
)
def test_relative_urls_in_html_resolve_against_the_feed_url(
    body: bytes, expected: tuple[str, str, str | None]
) -> None:
    (item,) = parse_feed(body, RSS, BASE).items
    assert (item.title, item.summary, item.content) == expected


def test_relative_urls_in_the_feed_title_resolve_against_the_feed_url() -> None:
    parsed = parse_feed(_ATOM.format("<title>x</title>").encode(), RSS, BASE)
    assert parsed.title == 'Feed <a href="https://base.example/home">home</a>'


def test_a_content_location_header_does_not_move_the_base() -> None:
    body = _items("<link>news/1</link><description>&lt;a href='/a'&gt;a&lt;/a&gt;</description>")
    headers = {**RSS, "Content-Location": "https://elsewhere.example/"}
    (item,) = parse_feed(body, headers, BASE).items
    assert (item.link, item.summary) == (
        "https://base.example/dir/news/1",
        '<a href="https://base.example/a">a</a>',
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b"<rss><item><link>https://a.example/1</link><guid>https://a.example/1</guid></item></rss>",
            (False, True),
            id="absolute-only",
        ),
        pytest.param(
            b"<rss><item><link>/1</link><description>&lt;a href=/x&gt;</description></item></rss>",
            (False, True),
            id="relative-links-resolved-here",
        ),
        pytest.param(b'<feed xml:base="https://a.example/"/>', (True, False), id="xml-base"),
        pytest.param(b'<feed><entry xml:base = "/e/"/></feed>', (True, False), id="xml-base-spaced"),
        pytest.param(b'<rss><image base="/i/"/></rss>', (True, False), id="bare-base"),
        pytest.param(
            b"<rss><link>https://a.example/?database=1</link></rss>", (False, True), id="not-a-base"
        ),
        pytest.param(
            b"<rss><guid>1</guid><guid>2</guid></rss>", (False, True), id="relative-ids-joined-here"
        ),
        pytest.param(b'<rss><guid isPermaLink="false">1</guid></rss>', (False, False), id="no-permalinks"),
        pytest.param(
            b'<rss><guid isPermaLink="false">1</guid><guid>2</guid></rss>',
            (True, False),
            id="mixed-permalinks",
        ),
        pytest.param(
            b'<rss><guid isPermaLink="false">1</guid><guid> <![CDATA[https://a.example/2]]></guid></rss>',
            (False, False),
            id="mixed-absolute",
        ),
        pytest.param(b'<rss><guid isPermaLink="True">1</guid></rss>', (True, False), id="permalink-True"),
        pytest.param(b'<rss><guid isPermaLink="false">1</guid><id/></rss>', (False, False), id="empty-id"),
        pytest.param(_feed_text().encode("utf-16"), (True, False), id="utf-16-not-scanned"),
    ],
)
def test_feedparser_is_told_the_feed_url_only_when_it_needs_it(
    body: bytes, expected: tuple[bool, bool]
) -> None:
    assert _relative_references(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"<rss>" + b"<guid " * 200_000, (False, True), id="unclosed-guids"),
        pytest.param(b"<rss>" + b"<id" * 300_000 + b">", (False, True), id="nested-ids"),
        pytest.param(
            b"<rss><guid isPermaLink='false'/>" + b"<id " * 300_000, (False, False), id="unclosed-ids"
        ),
        pytest.param(b"<rss> base" + b" " * 1_000_000, (False, True), id="spaces"),
    ],
)
def test_hostile_bodies_are_scanned_in_one_pass(body: bytes, expected: tuple[bool, bool]) -> None:
    # Every repetition in the patterns is bounded or possessive: with backtracking, each of these MB-sized
    # bodies would take minutes.
    assert _relative_references(body) == expected
