"""The fast parse path (monitor.fastfeed): its rule, and its output equal to feedparser's on the whole corpus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor import fastfeed, feed
from monitor.errors import ErrorKind, ParseError
from monitor.feed import parse_feed
from monitor.models import Article, ParsedFeed
from monitor.normalize import normalize_items
from tests.conftest import shared_data
from tests.monitor.test_feed_corpus import headers_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASE = "https://example.org/feed"
RSS = "application/rss+xml"


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records, for each document parse_feed asks the fast path about, whether the fast path took it."""
    calls: list[bool] = []
    original: Callable[..., dict[str, Any] | None] = fastfeed.parse_fast

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        result = original(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(feed, "parse_fast", spy)
    yield calls


def _outcome(body: bytes, headers: dict[str, str], fast: bool) -> tuple[object, list[Article]]:
    try:
        parsed = parse_feed(body, headers, BASE, fast=fast)
    except ParseError as exc:
        return (exc.kind, str(exc)), []
    return parsed, normalize_items(parsed.items, source_id="s", declared_language="auto", now=NOW)


def test_whole_shared_corpus_fast_path_equals_feedparser(fast_calls: list[bool]) -> None:
    root = shared_data("feeds")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in ("LICENSE", "README.md")
        and p.suffix != ".tsv"
        and "expected_output" not in p.parts
    )
    assert len(files) >= 2100
    fast_files: list[Path] = []
    differing: list[str] = []
    for path in files:
        body = path.read_bytes()
        headers = headers_for(path, body)
        fast_calls.clear()
        fast_result = _outcome(body, headers, fast=True)
        if not any(fast_calls):
            continue  # the rule sent it to feedparser: nothing to compare
        fast_files.append(path)
        if fast_result != _outcome(body, headers, fast=False):
            differing.append(str(path.relative_to(root)))
    real_world = [p for p in fast_files if "real-world" in p.parts]
    print(
        f"\nfast path: {len(fast_files)} of {len(files)} files ({len(real_world)} of the real-world feeds), "
        f"{len(files) - len(fast_files)} to feedparser"
    )
    assert differing == []
    assert len(fast_files) >= 600
    assert len(real_world) >= 10


def _rss(
    items: str, *, prolog: str = '<?xml version="1.0" encoding="utf-8"?>\n', root_attrs: str = ""
) -> bytes:
    return (
        f'{prolog}<rss version="2.0"{root_attrs}><channel><title>T</title><link>https://example.org/</link>'
        f"<language>en</language><ttl>60</ttl>{items}</channel></rss>"
    ).encode()


ITEM = (
    "<item><title>Europol action day</title><link>https://example.org/a?utm_source=x</link>"
    "<guid>https://example.org/a</guid><description>&lt;p&gt;Referral &lt;b&gt;action&lt;/b&gt; day.&lt;/p&gt;"
    "</description><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate><category>police</category></item>"
)


def _same_as_feedparser(body: bytes, headers: dict[str, str]) -> ParsedFeed:
    """The fast parse; its ParsedFeed (RawItems included) and Articles equal feedparser's."""
    assert _outcome(body, headers, fast=True) == _outcome(body, headers, fast=False)
    return parse_feed(body, headers, BASE, fast=True)


def test_plain_rss_takes_the_fast_path(fast_calls: list[bool]) -> None:
    parsed = _same_as_feedparser(_rss(ITEM * 3), {"content-type": RSS})
    assert fast_calls[0] and parsed.format == "rss20" and parsed.ttl_s == 3600
    assert len(parsed.items) == 3 and parsed.items[0].tags == ("police",)


def test_plain_atom_takes_the_fast_path(fast_calls: list[bool]) -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><author><name>Press</name></author>'
        b"<entry><id>urn:x:1</id><title>One</title><link href='https://example.org/1'/>"
        b"<updated>2024-01-02T10:00:00Z</updated><summary type='html'>&lt;p&gt;Text&lt;/p&gt;</summary></entry>"
        b"</feed>"
    )
    parsed = _same_as_feedparser(body, {"content-type": "application/atom+xml"})
    assert fast_calls[0] and parsed.items[0].authors == ()  # the feed's author is not the entry's


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(_rss(ITEM, prolog='<!DOCTYPE rss [<!ENTITY e "x">]>'), RSS, id="doctype"),
        pytest.param(_rss(ITEM, root_attrs=' xml:base="https://example.org/sub/"'), RSS, id="xml-base"),
        pytest.param(_rss(ITEM, prolog='<?xml version="1.0" encoding="iso-8859-1"?>'), RSS, id="latin-1"),
        pytest.param(_rss(ITEM), "text/xml", id="text-xml-no-charset"),
        pytest.param(_rss(ITEM), "text/html; charset=windows-1252", id="other-charset"),
        pytest.param(
            _rss(ITEM, root_attrs=' xmlns:x="https://unknown.example/ns"'), RSS, id="unknown-namespace"
        ),
        pytest.param(
            _rss(ITEM.replace("</item>", "<fullitem>x</fullitem></item>")), RSS, id="unknown-element"
        ),
        pytest.param(_rss(ITEM.replace("<item>", '<item xml:lang="fr">')), RSS, id="xml-lang-in-rss"),
        pytest.param(
            _rss(
                ITEM.replace("<item>", "<item><dcterms:issued>2024-01-02</dcterms:issued>"),
                root_attrs=' xmlns:dcterms="http://purl.org/dc/terms/"',
            ),
            RSS,
            id="dcterms-issued-unread-by-feedparser-rs",
        ),
        pytest.param(_rss(ITEM + "<item><item><title>x</title></item></item>"), RSS, id="nested-items"),
        pytest.param(_rss(ITEM).replace(b'version="2.0"', b'version="0.91"'), RSS, id="rss-091"),
        pytest.param(
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="xhtml"><div '
            b'xmlns="http://www.w3.org/1999/xhtml">x</div></title></entry></feed>',
            "application/atom+xml",
            id="atom-xhtml",
        ),
    ],
)
def test_doubtful_documents_go_to_feedparser(body: bytes, content_type: str, fast_calls: list[bool]) -> None:
    headers = {"content-type": content_type}
    assert _outcome(body, headers, fast=True) == _outcome(body, headers, fast=False)
    assert not any(fast_calls)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_rss(ITEM)[:-20], id="truncated"),
        pytest.param(_rss(ITEM).replace(b"</title>", b"</titel>", 1), id="mismatched-tag"),
        pytest.param(b"<html><head><title>x</title></head><body>not a feed</body></html>", id="html"),
    ],
)
def test_malformed_or_not_a_feed_is_refused_as_before(body: bytes, fast_calls: list[bool]) -> None:
    headers = {"content-type": RSS}
    assert _outcome(body, headers, fast=True) == _outcome(body, headers, fast=False)
    assert not any(fast_calls)


def test_json_feed_never_reaches_the_fast_path(fast_calls: list[bool]) -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "url": "https://e.org/1"}]}'
    )
    assert parse_feed(body, {"content-type": "application/feed+json"}, BASE, fast=True).format == "json11"
    assert fast_calls == []


def test_a_url_as_body_is_never_fetched(fast_calls: list[bool]) -> None:
    """feedparser-rs fetches a string that looks like a URL: the rule only gives it bytes starting with '<'."""
    assert fastfeed.parse_fast(b"https://example.org/feed.xml", {}, max_bytes=1 << 20) is None
    with pytest.raises(ParseError) as caught:
        parse_feed(b"https://example.org/feed.xml", {"content-type": RSS}, BASE, fast=True)
    assert caught.value.kind == ErrorKind.UNPARSEABLE


def test_entity_bomb_is_refused_before_either_parser(fast_calls: list[bool]) -> None:
    prolog = '<!DOCTYPE rss [<!ENTITY a "' + "x" * 60 + '">]>'
    body = _rss("<item><title>" + "&a;" * 200_000 + "</title></item>", prolog=prolog)
    with pytest.raises(ParseError) as caught:
        parse_feed(body, {"content-type": RSS}, BASE, max_bytes=1 << 20, fast=True)
    assert caught.value.kind == ErrorKind.TOO_LARGE and fast_calls == []


def test_huge_item_count_is_left_to_feedparser() -> None:
    body = _rss("<item><title>x</title></item>" * 10_001)
    assert fastfeed.parse_fast(body, {"content-type": RSS}, max_bytes=1 << 24) is None
    assert fastfeed.parse_fast(_rss("<item><title>x</title></item>" * 100), {}, max_bytes=1 << 24) is not None


def test_document_over_the_size_cap_is_left_to_feedparser() -> None:
    body = _rss(ITEM * 50)
    assert fastfeed.parse_fast(body, {"content-type": RSS}, max_bytes=len(body) - 1) is None
    assert fastfeed.parse_fast(body, {"content-type": RSS}, max_bytes=len(body)) is not None


def test_empty_dublin_core_field_reads_as_feedparser_reads_it(fast_calls: list[bool]) -> None:
    """feedparser-rs reads ``<dc:creator/>`` as the next element's text: the rule writes it open and shut."""
    dc = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    item = "<item><title>x</title><dc:creator/><dc:date>2024-01-02T10:00:00Z</dc:date></item>"
    assert _outcome(_rss(item, root_attrs=dc), {}, fast=True) == _outcome(
        _rss(item, root_attrs=dc), {}, fast=False
    )
    assert fast_calls == [True]


ITUNES = ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(ITEM.replace("Referral", "a &lt;!-- c --&gt; b"), id="comment-in-html"),
        pytest.param(ITEM.replace("Europol", "caf\u00c3\u00a9 \u0093quoted\u0094"), id="mojibake-and-c1"),
        pytest.param(
            ITEM.replace("Europol", "a &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; title"), id="html-title"
        ),
        pytest.param(
            ITEM.replace(
                "</item>",
                "<itunes:summary>Episode &lt;b&gt;notes&lt;/b&gt;</itunes:summary>"
                "<itunes:keywords>a, b,, c</itunes:keywords><itunes:author>Host</itunes:author>"
                '<itunes:category text="News"><itunes:category text="Politics"/></itunes:category>'
                "</item>",
            ),
            id="itunes-after-description",
        ),
        pytest.param(
            "<item><title>x</title><itunes:summary>Only this</itunes:summary><itunes:author/></item>",
            id="itunes-summary-alone",
        ),
        pytest.param(
            ITEM.replace(
                "<description>", "<content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded><description>"
            ).replace("</item>", "<itunes:summary>Short</itunes:summary></item>"),
            id="itunes-summary-after-content",
        ),
        pytest.param(ITEM.replace("</item>", "<dc:date>2024-01-03T10:00:00Z</dc:date></item>"), id="dc-date"),
    ],
)
def test_fields_feedparser_rs_reads_otherwise_are_read_as_feedparser_reads_them(
    item: str, fast_calls: list[bool]
) -> None:
    attrs = ITUNES + ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    attrs += ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    _same_as_feedparser(_rss(item, root_attrs=attrs), {"content-type": RSS})
    assert fast_calls[0]


def test_itunes_summary_before_the_description_is_left_to_feedparser(fast_calls: list[bool]) -> None:
    item = "<item><title>x</title><itunes:summary>s</itunes:summary><description>d</description></item>"
    body = _rss(item, root_attrs=ITUNES)
    assert _outcome(body, {}, fast=True) == _outcome(body, {}, fast=False)
    assert fast_calls == [False]
