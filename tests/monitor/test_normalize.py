"""Normalizing: canonical URLs, HTML to text, stable ids, and one poll's items -> articles."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedup import dedup_text, simhash64
from monitor.errors import ParseError
from monitor.models import Article, RawItem
from monitor.normalize import (
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    TRACKING_PARAMS,
    article_id,
    canonicalize_url,
    clean_html,
    content_hash,
    normalize_items,
)
from tests.conftest import shared_data

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

EN_TEXT = (
    "Police officers from six countries arrested twelve suspects on Tuesday in a coordinated operation "
    "against a network that laundered the proceeds of online investment fraud through cryptocurrency "
    "exchanges, the European police agency said in a statement published on its website."
)
FR_TEXT = (
    "Les policiers de six pays ont arrêté douze suspects mardi lors d'une opération coordonnée contre un "
    "réseau qui blanchissait le produit d'escroqueries à l'investissement en ligne par des plateformes "
    "d'échange de cryptomonnaies, a annoncé l'agence européenne de police dans un communiqué."
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com/a?utm_source=rss&utm_medium=feed", "http://example.com/a"),
        ("http://example.com/a?UTM_Source=x&id=3", "http://example.com/a?id=3"),
        ("http://example.com/a?b=2&fbclid=XYZ&a=1", "http://example.com/a?b=2&a=1"),
        ("http://example.com/?gclid=1&msclkid=2&mc_cid=3&mc_eid=4&igshid=5", "http://example.com/"),
        ("http://example.com/?xtor=RSS-1&at_medium=rss&at_campaign=x&p=1", "http://example.com/?p=1"),
        ("http://example.com/?WT.mc_id=a&CMP=b&ocid=c&cmpid=d&z=1", "http://example.com/?z=1"),
        ("http://example.com/?_hsenc=a&_hsmi=b&ref_src=twsrc&yclid=1&dclid=2", "http://example.com/"),
        ("http://example.com/?z=1&a=2&m=3", "http://example.com/?z=1&a=2&m=3"),
        ("http://example.com/a?", "http://example.com/a"),
        ("http://example.com/a?&&id=1&", "http://example.com/a?id=1"),
        ("http://example.com/a?flag&id=", "http://example.com/a?flag&id="),
        ("http://example.com/a%2fb%7e%41%2D", "http://example.com/a%2Fb~A-"),
        ("http://example.com/?q=%e9t%C3%A9", "http://example.com/?q=%E9t%C3%A9"),
        ("http://example.com/caf\u00e9 cr\u00e8me", "http://example.com/caf%C3%A9%20cr%C3%A8me"),
        ("http://example.com/100%", "http://example.com/100%25"),
        ("http://example.com//double//slash", "http://example.com//double//slash"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        ("https://M\u00fcnchen.DE/stra\u00dfe", "https://xn--mnchen-3ya.de/stra%C3%9Fe"),
        ("https://xn--mnchen-3ya.de/", "https://xn--mnchen-3ya.de/"),
        ("http://example.com./a", "http://example.com/a"),
        ("http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"),
        ("http://user:pw@Example.com/a", "http://user:pw@example.com/a"),
        ("  https://example.com/a \n", "https://example.com/a"),
        ("mailto:press@example.com", "mailto:press@example.com"),
        ("ftp://Example.com/file", "ftp://Example.com/file"),
        ("javascript:void(0)", "javascript:void(0)"),
        ("/relative/path?utm_source=x", "/relative/path?utm_source=x"),
        ("http://example.com:99999/a", "http://example.com:99999/a"),
        ("http://[::1/a", "http://[::1/a"),
        (" not a url ", "not a url"),
    ],
    ids=[
        "lowercase-scheme-host",
        "empty-path",
        "http-default-port",
        "https-default-port",
        "other-port-kept",
        "fragment",
        "utm-all",
        "utm-case-insensitive",
        "fbclid-middle-order-kept",
        "click-ids",
        "at-internet",
        "webtrends-guardian-msn",
        "hubspot-twitter-yandex",
        "order-kept",
        "trailing-question-mark",
        "empty-pairs",
        "valueless-params-kept",
        "escapes-upper-unreserved-decoded",
        "query-escapes-upper",
        "non-ascii-path-encoded",
        "lone-percent",
        "double-slash-kept",
        "dot-segments",
        "dot-dot-at-end",
        "idna-host",
        "punycode-host-unchanged",
        "trailing-dot-host",
        "ipv6",
        "userinfo-kept",
        "whitespace",
        "mailto",
        "ftp",
        "javascript",
        "relative",
        "bad-port",
        "bad-ipv6",
        "not-a-url",
    ],
)
def test_canonicalize_url(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_canonicalize_url_is_idempotent_and_total(tail: str) -> None:
    for url in (tail, f"http://example.com/{tail}", f"https://Example.com/p?{tail}#x"):
        once = canonicalize_url(url)
        assert canonicalize_url(once) == once


def test_tracking_params_are_lower_case() -> None:
    assert all(name == name.lower() for name in TRACKING_PARAMS)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello <b>world</b></p><p>Second</p>", "Hello world\nSecond"),
        ("<div>one<br>two<br/>three</div>", "one\ntwo\nthree"),
        ("<ul><li>a</li><li>b</li></ul>tail", "a\nb\ntail"),
        ("<h2>Title</h2>Body text", "Title\nBody text"),
        ("AT&amp;T &eacute;t&#233; &#x41; &copy;", "AT&T été A ©"),
        ("Tom &amp Jerry", "Tom & Jerry"),
        ("<p>x</p><script>alert(1)</script><style>p{color:red}</style><p>y</p>", "x\ny"),
        ("<noscript>enable js</noscript>kept", "kept"),
        ("a<!-- a comment -->b", "ab"),
        ("<p>spread\n   over\tlines</p>", "spread over lines"),
        ("<p>\u00a0non\u00a0breaking\u00a0</p>", "non breaking"),
        ("plain text\n\n\n  second   line  ", "plain text\nsecond line"),
        ("nul\x00byte and \x07bell\x1b", "nulbyte and bell"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("&lt;p&gt;escaped &lt;b&gt;markup&lt;/b&gt;&lt;/p&gt;", "escaped markup"),
        ("5 &lt; 6 and 7 &gt; 3", "5 < 6 and 7 > 3"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("<html><head><title>T</title></head><body><p>body</p></body></html>", "body"),
        ("<?xml version='1.0' encoding='iso-8859-1'?><p>caf\u00e9</p>", "caf\u00e9"),
        ("<p>caf\u00e9 <meta charset='latin-1'>cr\u00e8me</p>", "caf\u00e9 cr\u00e8me"),
        (
            "<p>\u0645\u0631\u062d\u0628\u0627</p><p>\u4f60\u597d</p>",
            "\u0645\u0631\u062d\u0628\u0627\n\u4f60\u597d",
        ),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a\nb"),
        ("<img src='x.png' alt='photo'>", ""),
        ("", ""),
        ("   ", ""),
        ("&nbsp;", ""),
    ],
    ids=[
        "paragraphs",
        "br",
        "list",
        "heading",
        "entities",
        "entity-without-semicolon",
        "script-style",
        "noscript",
        "comment",
        "source-newlines-are-spaces",
        "nbsp",
        "plain-text-lines",
        "control-chars",
        "zero-width",
        "escaped-html",
        "escaped-comparison",
        "bare-comparison",
        "full-document",
        "xml-declaration",
        "meta-charset-ignored",
        "arabic-chinese",
        "table-cells",
        "image-only",
        "empty",
        "spaces",
        "nbsp-only",
    ],
)
def test_clean_html(html: str, expected: str) -> None:
    assert clean_html(html) == expected


@given(st.text(alphabet=st.sampled_from(list("<>&;#/ =\"'abpx\x00\n\u00e9\ud800")), max_size=80))
@settings(max_examples=300, deadline=None)
def test_clean_html_never_fails_and_leaves_no_control_chars(html: str) -> None:
    text = clean_html(html)
    assert "\x00" not in text and "\ud800" not in text
    assert all(line == line.strip() and line for line in text.split("\n")) or text == ""


def test_article_id_definition_is_stable() -> None:
    """Stored ids depend on this exact definition: changing it would make every article new again."""
    url = "https://example.com/news/1"
    assert article_id(url, "src", "g1", "h") == "u" + hashlib.sha256(url.encode()).hexdigest()[:20]
    assert article_id(None, "src", "g1", "h") == "g" + hashlib.sha256(b"src\ng1").hexdigest()[:20]
    assert article_id(None, "src", None, "h") == "c" + hashlib.sha256(b"src\nh").hexdigest()[:20]
    assert article_id(None, "other", "g1", "h") != article_id(None, "src", "g1", "h")
    assert len(article_id(url, "src", None, "h")) == 21


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("Title", "Some text"), ("Title", "Some text"), True),
        (("Title", "Some   text\n"), ("TITLE", "some text"), True),
        (("Caf\u00e9", "text"), ("Cafe\u0301", "text"), True),
        (("Title", "Some text"), ("Title", "Other text"), False),
        (("A", "B C"), ("A B", "C"), False),
    ],
    ids=["identical", "case-and-spaces", "unicode-forms", "different-text", "title-text-boundary"],
)
def test_content_hash(a: tuple[str, str], b: tuple[str, str], same: bool) -> None:
    assert (content_hash(*a) == content_hash(*b)) is same


def _normalize(
    items: list[RawItem],
    *,
    source_id: str = "src",
    declared_language: str = "en",
    now: datetime = NOW,
    fetch_meta: dict[str, str | int | None] | None = None,
    source_tags: tuple[str, ...] = (),
) -> list[Article]:
    return normalize_items(
        items,
        source_id=source_id,
        declared_language=declared_language,
        now=now,
        fetch_meta=fetch_meta,
        source_tags=source_tags,
    )


def test_a_full_item() -> None:
    item = RawItem(
        guid="urn:1",
        link="https://Example.com/news/1?utm_source=rss#top",
        title="  Europol &amp; partners <b>dismantle</b>\n network ",
        summary="<p>Short summary.</p>",
        content=f"<p>{EN_TEXT}</p><p>Second paragraph.</p>",
        published=datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        authors=("Press Office", "press office", " "),
        tags=("Crime", "fraud"),
        language="en-GB",
    )
    [art] = _normalize([item], fetch_meta={"status": 200, "etag": None}, source_tags=("eu", "crime"))
    assert art.url == "https://Example.com/news/1?utm_source=rss#top"
    assert art.canonical_url == "https://example.com/news/1"
    assert art.id == article_id("https://example.com/news/1", "src", "urn:1", art.content_hash)
    assert art.id.startswith("u")
    assert art.guid == "urn:1"
    assert art.title == "Europol & partners dismantle network"
    assert art.summary == "Short summary."
    assert art.text == f"{EN_TEXT}\nSecond paragraph."
    assert art.published_at == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert art.published_at.tzinfo == UTC and not art.published_estimated
    assert art.first_seen_at == NOW
    assert art.language == "en"
    assert art.authors == ("Press Office",)
    assert art.tags == ("Crime", "fraud", "eu")
    assert art.content_hash == content_hash(art.title, art.text)
    assert art.simhash == simhash64(dedup_text(art.title, art.text))
    assert dict(art.fetch) == {"status": 200, "etag": None}
    assert art.duplicate_of is None


def test_guid_shared_by_different_items_is_not_identifying() -> None:
    items = [RawItem(guid="same", link=f"https://example.com/{i}", title=f"Story {i}") for i in range(3)]
    items.append(RawItem(guid="own", link="https://example.com/own", title="Own"))
    arts = _normalize(items)
    assert [a.guid for a in arts] == [None, None, None, "own"]
    assert len({a.id for a in arts}) == 4


def test_the_same_item_twice_keeps_its_guid() -> None:
    item = RawItem(guid="g", link="https://example.com/1", title="One")
    arts = _normalize([item, item])
    assert [a.guid for a in arts] == ["g", "g"]
    assert arts[0].id == arts[1].id


def test_a_link_every_item_shares_is_not_identifying() -> None:
    with_guids = [RawItem(guid=f"g{i}", link="https://example.com/", title=f"Notice {i}") for i in range(3)]
    arts = _normalize(with_guids)
    assert [a.id[0] for a in arts] == ["g", "g", "g"]
    assert len({a.id for a in arts}) == 3
    assert all(a.canonical_url == "https://example.com/" for a in arts)
    no_guids = [RawItem(link="https://example.com/?utm_source=x", title=f"Notice {i}") for i in range(3)]
    arts = _normalize(no_guids)
    assert [a.id[0] for a in arts] == ["c", "c", "c"]
    assert len({a.id for a in arts}) == 3


def test_ids_survive_guids_that_change_at_every_poll() -> None:
    def poll(n: int) -> list[RawItem]:
        return [
            RawItem(guid=f"poll{n}-{i}", link=f"https://example.com/{i}?utm_campaign={n}", title=f"S{i}")
            for i in range(3)
        ]

    assert [a.id for a in _normalize(poll(1))] == [a.id for a in _normalize(poll(2))]


def test_ids_are_stable_across_runs() -> None:
    items = [RawItem(title="No link, no guid", summary="Just text")]
    first = _normalize(items)[0].id
    assert first == _normalize(items, now=NOW + timedelta(days=3))[0].id
    assert first == article_id(None, "src", None, content_hash("No link, no guid", "Just text"))


@pytest.mark.parametrize(
    ("item", "title"),
    [
        (RawItem(link="https://example.com/1", summary="Short text here"), "Short text here"),
        (
            RawItem(link="https://example.com/1", summary=" ".join(f"w{i}" for i in range(30))),
            " ".join(f"w{i}" for i in range(12)) + "…",
        ),
        (RawItem(link="https://example.com/only-a-link"), "https://example.com/only-a-link"),
        (RawItem(link="https://example.com/1", title="  <i>  </i> ", summary="Text"), "Text"),
        (RawItem(link="https://example.com/1", title="Line one\nline two"), "Line one line two"),
    ],
    ids=["short-text", "first-12-words", "url", "empty-markup-title", "multiline-title"],
)
def test_title_fallbacks(item: RawItem, title: str) -> None:
    assert _normalize([item])[0].title == title


def test_long_fields_are_cut() -> None:
    words = " ".join(["word"] * 2000)
    item = RawItem(link="https://example.com/1", title=words, summary=words)
    [art] = _normalize([item])
    assert len(art.title) <= MAX_TITLE_CHARS and art.title.endswith("word…")
    assert len(art.summary) <= MAX_SUMMARY_CHARS and art.summary.endswith("…")
    assert art.text == words


def test_text_falls_back_to_the_summary() -> None:
    item = RawItem(link="https://example.com/1", summary="The summary", content="<img src='a.png'>")
    [art] = _normalize([item])
    assert art.text == "The summary" and art.summary == "The summary"
    [art] = _normalize([RawItem(link="https://example.com/1", content="<p>Only content</p>")])
    assert art.summary == "Only content"


@pytest.mark.parametrize(
    ("published", "updated", "expected", "estimated"),
    [
        (datetime(2026, 11, 1, tzinfo=UTC), None, datetime(2026, 11, 1, tzinfo=UTC), False),
        (None, datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), False),
        (None, None, NOW, True),
        (NOW + timedelta(days=3), None, NOW, True),
        (NOW + timedelta(hours=20), None, NOW + timedelta(hours=20), False),
        (datetime(2026, 11, 1, 12, 0), None, datetime(2026, 11, 1, 12, 0, tzinfo=UTC), False),
        (
            datetime(2026, 11, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
            None,
            datetime(2026, 11, 1, 17, 0, tzinfo=UTC),
            False,
        ),
    ],
    ids=["published", "updated-only", "none", "far-future", "near-future", "naive-is-utc", "offset"],
)
def test_dates(
    published: datetime | None, updated: datetime | None, expected: datetime, estimated: bool
) -> None:
    [art] = _normalize([RawItem(link="https://example.com/1", published=published, updated=updated)])
    assert art.published_at == expected
    assert art.published_at.utcoffset() == timedelta(0)
    assert art.published_estimated is estimated


@pytest.mark.parametrize(
    ("declared", "item_language", "text", "expected"),
    [
        ("fr", None, "Breaking news", "fr"),
        ("fr", None, EN_TEXT, "en"),
        ("en", None, EN_TEXT, "en"),
        ("auto", None, FR_TEXT, "fr"),
        ("auto", "fr-FR", "Court texte", "fr"),
        ("auto", "en-US", FR_TEXT, "fr"),
        ("fr", "en-US", "Court texte", "fr"),
        ("auto", None, "12345 678", None),
        ("auto", None, "", None),
    ],
    ids=[
        "short-keeps-declared",
        "long-wrong-declared-corrected",
        "long-right-declared",
        "auto-detected",
        "item-language-used-for-auto",
        "wrong-feed-language-corrected",
        "source-wins-over-feed",
        "digits-only",
        "empty",
    ],
)
def test_language(declared: str, item_language: str | None, text: str, expected: str | None) -> None:
    item = RawItem(link="https://example.com/1", title="", summary=text, language=item_language)
    [art] = _normalize([item], declared_language=declared)
    assert art.language == expected


def test_bad_item_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    items = [
        RawItem(link="https://example.com/1", title="Good one"),
        RawItem(link="not a url at all", title="Bad"),
        RawItem(link="javascript:void(0)", title="Bad too"),
        RawItem(link="/relative/only", title="Unresolved"),
        RawItem(link="https://example.com/2", title="Good two"),
    ]
    with caplog.at_level(logging.WARNING, logger="monitor.normalize"):
        arts = _normalize(items, source_id="europol")
    assert [a.title for a in arts] == ["Good one", "Good two"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("source_id=europol" in w for w in warnings)
    assert "index=1" in warnings[0] and "not a url at all" in warnings[0]


def test_empty_items_are_dropped() -> None:
    items = [
        RawItem(),
        RawItem(guid="only-a-guid", title="  ", summary="<p> </p>"),
        RawItem(title="Title only"),
        RawItem(summary="Text only"),
    ]
    arts = _normalize(items)
    assert [a.title for a in arts] == ["Title only", "Text only"]
    assert all(a.url == "" and a.canonical_url == "" for a in arts)


def test_normalizes_real_feeds() -> None:
    """Every real-world feed goes through parse + normalize: UTC dates, plain text, unique ids per feed."""
    folder = shared_data("feeds", "real-world")
    from monitor.feed import parse_feed  # the real parser; imported here so the unit tests above stand alone

    total = 0
    for path in sorted(p for p in folder.glob("input*/*") if p.is_file()):
        try:
            parsed = parse_feed(
                path.read_bytes(), {"content-type": "application/xml"}, f"https://x.test/{path.name}"
            )
        except ParseError:
            continue
        arts = normalize_items(parsed.items, source_id=path.stem, declared_language="auto", now=NOW)
        total += len(arts)
        for art in arts:
            assert art.published_at.utcoffset() == timedelta(0)
            assert art.published_at <= NOW + timedelta(days=1)
            assert "<p>" not in art.text and "&amp;" not in art.title
            assert art.title and len(art.title) <= MAX_TITLE_CHARS
            assert -(2**63) <= art.simhash < 2**63
    assert total > 1000


def test_every_corpus_feed_normalizes_without_error() -> None:
    """feedparser's test corpus (ill-formed feeds, odd encodings, entities) through parse + normalize."""
    folder = shared_data("feeds", "feedparser-corpus", "tests")
    from monitor.feed import parse_feed

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    articles = 0
    for path in files:
        try:
            parsed = parse_feed(path.read_bytes(), {}, f"https://corpus.test/{path.name}")
        except ParseError:
            continue
        for art in normalize_items(parsed.items, source_id="corpus", declared_language="auto", now=NOW):
            articles += 1
            assert art.id[0] in "ugc" and len(art.id) == 21
            assert art.title and "\x00" not in art.text
    assert len(files) > 2000 and articles > 500
