"""parse_page, discover_feeds, decode_html and parse_date_text on hand-written listings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ErrorKind, ParseError
from monitor.page import (
    PageSelectors,
    absolute_url,
    decode_html,
    discover_feeds,
    page_link,
    parse_date_text,
    parse_page,
)

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
LISTING_URL = "https://www.prefecture.example/actualites/index.html"
FULL = PageSelectors(item="li.release", date=".date, time", summary=".chapo")


def _listing() -> bytes:
    return (PAGES / "press_listing.html").read_bytes()


def _html(body: str, head: str = "") -> bytes:
    return f"<html><head>{head}</head><body>{body}</body></html>".encode()


def test_listing_with_all_selectors() -> None:
    parsed = parse_page(_listing(), {"content-type": "text/html; charset=utf-8"}, LISTING_URL, FULL)
    assert (parsed.format, parsed.ttl_s, parsed.link, parsed.language) == ("html", None, LISTING_URL, "fr")
    assert parsed.title == "Communiqués de presse | Préfecture d'exemple"
    base = "https://www.prefecture.example/actualites/"
    assert [item.link for item in parsed.items] == [
        base + "communique-1.html",  # relative to <base href>; its #top duplicate is dropped
        base + "communique-2.html",
        base + "communique-3.html",
    ]
    assert [item.guid for item in parsed.items] == [item.link for item in parsed.items]
    first, second, third = parsed.items
    assert first.title == "Fermeture du pont de la Liberté"  # whitespace collapsed
    assert first.summary == "Le pont sera fermé pour travaux."
    assert first.published == datetime(2026, 11, 30, 8, 15, tzinfo=UTC)  # <time datetime> with offset
    assert second.published == datetime(2026, 12, 2, 14, 5, tzinfo=UTC)  # "Publié le 2 décembre 2026 à 14h05"
    assert third.title == "Titre en attribut"  # an image link: the title attribute
    assert third.published is None  # "sometime soon"
    assert all(item.language == "fr" for item in parsed.items)
    assert parsed.warnings == ("4 matched entries had no usable link or repeated one",)


def test_listing_with_only_the_item_selector() -> None:
    parsed = parse_page(_listing(), {}, LISTING_URL, PageSelectors(item="li.release"))
    assert len(parsed.items) == 3
    first, second, _ = parsed.items
    assert first.published == datetime(2026, 11, 30, 8, 15, tzinfo=UTC)  # the <time> inside the item
    assert second.published is None  # no date selector: the span's text is not read
    assert first.summary is None


def test_link_and_title_selectors() -> None:
    body = _html(
        '<div class="n"><a class="more" href="/a">Read more</a><h2>Budget adopted</h2>'
        '<a href="/other">x</a></div>'
        '<div class="n"><a class="more" href="/b">Read more</a><h2>  Ferry   strike </h2></div>'
        '<div class="n"><a class="more" href="/c">Untitled notice</a></div>'
    )
    selectors = PageSelectors(item="div.n", link="a.more", title="h2")
    parsed = parse_page(body, {}, "http://press.example/list", selectors)
    assert [(i.link, i.title) for i in parsed.items] == [
        ("http://press.example/a", "Budget adopted"),
        ("http://press.example/b", "Ferry strike"),
        ("http://press.example/c", "Untitled notice"),  # no h2: the link's text
    ]


def test_item_that_is_itself_the_link() -> None:
    body = _html('<a class="r" href="one">One</a><a class="r" href="two">Two</a>')
    parsed = parse_page(body, {}, "https://x.example/news/", PageSelectors(item="a.r"))
    assert [i.link for i in parsed.items] == ["https://x.example/news/one", "https://x.example/news/two"]


def test_selector_matching_nothing_is_unparseable() -> None:
    with pytest.raises(ParseError) as caught:
        parse_page(_listing(), {}, LISTING_URL, PageSelectors(item="article.news"))
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert caught.value.message == f"selector 'article.news' matched nothing on {LISTING_URL}"


def test_entries_without_any_link_are_unparseable() -> None:
    body = _html('<li class="r">No link</li><li class="r"><a href="javascript:go()">JS</a></li>')
    with pytest.raises(ParseError) as caught:
        parse_page(body, {}, "https://x.example/", PageSelectors(item="li.r"))
    assert caught.value.kind is ErrorKind.UNPARSEABLE
    assert "matched 2 elements" in caught.value.message
    assert "'link' selector" in caught.value.message


@pytest.mark.parametrize("name", ["cloudflare_challenge.html", "js_wall.html"])
def test_challenge_page_is_blocked(name: str) -> None:
    body = (PAGES / name).read_bytes()
    with pytest.raises(ParseError) as caught:
        parse_page(body, {"content-type": "text/html"}, LISTING_URL, FULL)
    assert caught.value.kind is ErrorKind.BLOCKED
    assert "challenge page" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [pytest.param(b"", id="empty"), pytest.param(b"   \n ", id="blank")],
)
def test_empty_body_is_unparseable(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_page(body, {}, LISTING_URL, FULL)
    assert caught.value.kind is ErrorKind.UNPARSEABLE


@pytest.mark.parametrize(
    ("field", "selector"),
    [("item", "li[["), ("link", "a:unknown-pseudo"), ("date", ">>"), ("summary", "p::")],
)
def test_invalid_selector_fails_when_built(field: str, selector: str) -> None:
    values = {"item": "li", field: selector}
    with pytest.raises(ValueError, match=f"invalid CSS selector for {field}"):
        PageSelectors(**values)


def test_hostile_page() -> None:
    """Deep nesting, scripts that write fake entries, broken markup and thousands of entries."""
    deep = "<div>" * 50_000 + "deep" + "</div>" * 10
    fake = '<script>document.write(\'<li class="r"><a href="/fake">fake</a></li>\')</script>'
    broken = '<li class="r"><a href="/broken">Unclosed <b>bold<li class="r"><a href=/no-quotes>No quotes</a>'
    many = "".join(f'<li class="r"><a href="/n/{n}">N{n}</a></li>' for n in range(3000))
    body = _html(f"<ul>{many}</ul>{fake}<ul>{broken}</ul>{deep}")
    parsed = parse_page(body, {}, "https://x.example/", PageSelectors(item="li.r"))
    links = [i.link for i in parsed.items]
    assert len(links) == 3002
    assert "https://x.example/fake" not in links
    assert links[-2:] == ["https://x.example/broken", "https://x.example/no-quotes"]


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        pytest.param("Café".encode(), {}, "Café", id="undeclared-utf8"),
        pytest.param(
            "Café".encode("latin-1"), {"content-type": "text/html; charset=ISO-8859-1"}, "Café", id="http"
        ),
        pytest.param(
            "Café €".encode("cp1252"),
            {"content-type": "text/html; charset=iso-8859-1"},
            "Café €",
            id="latin1-as-1252",
        ),
        pytest.param(
            b'<meta charset="windows-1252">' + "Caf\u00e9 \u2019".encode("cp1252"),
            {},
            "Café ’",
            id="meta-charset",
        ),
        pytest.param(
            b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
            + "Привет".encode("koi8-r"),
            {},
            "Привет",
            id="http-equiv",
        ),
        pytest.param(
            b'<meta charset="koi8-r">' + "Café".encode("latin-1"),
            {"content-type": "text/html; charset=latin1"},
            "Café",
            id="http-beats-meta",
        ),
        pytest.param(
            b"\xef\xbb\xbf" + "Café".encode(),
            {"content-type": "text/html; charset=latin1"},
            "Café",
            id="bom-wins",
        ),
        pytest.param("\ufeffCafé".encode("utf-16-le"), {}, "Café", id="utf16-bom"),
        pytest.param(b"Caf\xe9", {}, "Caf\ufffd", id="invalid-utf8-replaced"),
        pytest.param(
            "Café".encode(), {"content-type": "text/html; charset=bogus-9"}, "Café", id="unknown-charset"
        ),
    ],
)
def test_decode_html(body: bytes, headers: dict[str, str], expected: str) -> None:
    assert decode_html(body, headers).endswith(expected)


def test_page_in_legacy_encoding_parses() -> None:
    body = (
        '<html><head><meta charset="iso-8859-1"><title>Communiqués</title></head><body>'
        '<p class="r"><a href="/e">Été à Montréal</a></p></body></html>'
    ).encode("latin-1")
    parsed = parse_page(body, {"content-type": "text/html"}, "https://x.example/", PageSelectors(item="p.r"))
    assert parsed.title == "Communiqués"
    assert parsed.items[0].title == "Été à Montréal"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC), id="iso-date"),
        pytest.param("2026-11-30T14:05:00+01:00", datetime(2026, 11, 30, 13, 5, tzinfo=UTC), id="iso-offset"),
        pytest.param(
            "2026-11-30T14:05:00.123Z", datetime(2026, 11, 30, 14, 5, 0, 123000, tzinfo=UTC), id="iso-z"
        ),
        pytest.param("2026-11-30 14:05:00 UTC", datetime(2026, 11, 30, 14, 5, tzinfo=UTC), id="iso-utc-word"),
        pytest.param(
            "Mon, 30 Nov 2026 14:05:00 +0100", datetime(2026, 11, 30, 13, 5, tzinfo=UTC), id="rfc2822"
        ),
        pytest.param(
            "Mon, 30 Nov 2026 09:05:00 EST", datetime(2026, 11, 30, 14, 5, tzinfo=UTC), id="rfc2822-zone"
        ),
        pytest.param("30 November 2026", datetime(2026, 11, 30, tzinfo=UTC), id="english"),
        pytest.param("November 30, 2026", datetime(2026, 11, 30, tzinfo=UTC), id="english-us"),
        pytest.param(
            "Nov. 30, 2026 2:05", datetime(2026, 11, 30, 2, 5, tzinfo=UTC), id="english-abbrev-time"
        ),
        pytest.param("30/11/2026", datetime(2026, 11, 30, tzinfo=UTC), id="slashes"),
        pytest.param("11/30/2026", datetime(2026, 11, 30, tzinfo=UTC), id="us-slashes"),
        pytest.param("03/04/2026", datetime(2026, 4, 3, tzinfo=UTC), id="ambiguous-day-first"),
        pytest.param("30.11.2026", datetime(2026, 11, 30, tzinfo=UTC), id="dots"),
        pytest.param("30.11.26", datetime(2026, 11, 30, tzinfo=UTC), id="two-digit-year"),
        pytest.param("2026/11/30", datetime(2026, 11, 30, tzinfo=UTC), id="ymd-slashes"),
        pytest.param("30-11-2026 14:05", datetime(2026, 11, 30, 14, 5, tzinfo=UTC), id="dashes-time"),
        pytest.param("30 novembre 2026", datetime(2026, 11, 30, tzinfo=UTC), id="french"),
        pytest.param("1er février 2026", datetime(2026, 2, 1, tzinfo=UTC), id="french-1er-accent"),
        pytest.param(
            "lundi 30 nov. 2026 à 14h05", datetime(2026, 11, 30, 14, 5, tzinfo=UTC), id="french-weekday"
        ),
        pytest.param("12 août 2026", datetime(2026, 8, 12, tzinfo=UTC), id="french-aout"),
        pytest.param("30. November 2026", datetime(2026, 11, 30, tzinfo=UTC), id="german"),
        pytest.param("3. März 2026", datetime(2026, 3, 3, tzinfo=UTC), id="german-umlaut"),
        pytest.param("30 de noviembre de 2026", datetime(2026, 11, 30, tzinfo=UTC), id="spanish"),
        pytest.param("30 de novembro de 2026", datetime(2026, 11, 30, tzinfo=UTC), id="portuguese"),
        pytest.param("5 marzo 2026", datetime(2026, 3, 5, tzinfo=UTC), id="italian"),
        pytest.param("30 mei 2026", datetime(2026, 5, 30, tzinfo=UTC), id="dutch"),
        pytest.param("30 ноября 2026 г.", datetime(2026, 11, 30, tzinfo=UTC), id="russian"),
        pytest.param("٣٠ نوفمبر ٢٠٢٦", datetime(2026, 11, 30, tzinfo=UTC), id="arabic-indic"),
        pytest.param("١٥ أغسطس ٢٠٢٦", datetime(2026, 8, 15, tzinfo=UTC), id="arabic-hamza"),
        pytest.param("۳۰/۱۱/۲۰۲۶", datetime(2026, 11, 30, tzinfo=UTC), id="persian-digits"),
        pytest.param("２０２６-１１-３０", datetime(2026, 11, 30, tzinfo=UTC), id="full-width"),
        pytest.param("  30\n  November\t2026 ", datetime(2026, 11, 30, tzinfo=UTC), id="whitespace"),
        pytest.param("31/02/2026", None, id="impossible-day"),
        pytest.param("November 2026", None, id="no-day"),
        pytest.param("30 November", None, id="no-year"),
        pytest.param("1970-01-01", None, id="before-1990"),
        pytest.param("01/01/2999", None, id="after-2100"),
        pytest.param("yesterday", None, id="words"),
        pytest.param("", None, id="empty"),
        pytest.param("3 days ago", None, id="relative"),
    ],
)
def test_parse_date_text(text: str, expected: datetime | None) -> None:
    assert parse_date_text(text) == expected


def test_discover_feeds() -> None:
    body = (PAGES / "feed_links.html").read_bytes()
    assert discover_feeds(body, {}, "https://news.example/index.html") == [
        "https://news.example/newsroom/rss.xml",
        "https://news.example/atom.xml",
        "https://news.example/feed.json",
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_html("<p>no feeds</p>", '<link rel="stylesheet" href="/s.css">'), id="none"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\x01\x02", id="binary"),
    ],
)
def test_discover_feeds_finds_nothing(body: bytes) -> None:
    assert discover_feeds(body, {}, "https://news.example/") == []


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        pytest.param("a/b", "https://x.example/dir/a/b", id="relative"),
        pytest.param("/root", "https://x.example/root", id="absolute-path"),
        pytest.param("//cdn.example/p", "https://cdn.example/p", id="scheme-relative"),
        pytest.param(" HTTP://Y.example/q ", "HTTP://Y.example/q", id="upper-scheme-trimmed"),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param("JavaScript:alert(1)", None, id="javascript-case"),
        pytest.param("data:text/html,hi", None, id="data"),
        pytest.param("mailto:press@x.example", None, id="mailto"),
        pytest.param("#section", None, id="fragment"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("http://[::1", None, id="broken-ipv6"),
    ],
)
def test_absolute_url(href: str | None, expected: str | None) -> None:
    assert absolute_url(href, "https://x.example/dir/page.html") == expected


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        pytest.param("a.html#top", "https://x.example/a.html", id="anchor-dropped"),
        pytest.param("/#/news/12", "https://x.example/#/news/12", id="hash-route-kept"),
        pytest.param("/#!/news/12", "https://x.example/#!/news/12", id="hashbang-kept"),
    ],
)
def test_page_link(href: str, expected: str) -> None:
    assert page_link(href, "https://x.example/") == expected
