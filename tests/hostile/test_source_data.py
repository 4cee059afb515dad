"""Issue 12, "Nothing a source sends stops veille": numbers, dates, sizes and network faults from a source.

Points 4 (dates and numbers), 6 (entity expansion and article pages under the size cap), 8 (the article text
cap on every path) and the network parts of 13 (DNS outages, junk after gzip, IPv6 ranges). Feeds, pages and
faults are served on loopback to the real fetcher, poller and store.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import trafilatura

from monitor.addresses import address_category
from monitor.body import read_body
from monitor.cli import fetch_settings
from monitor.config import SourceConfig
from monitor.errors import ErrorKind, FetchError, ParseError
from monitor.feed import parse_feed
from monitor.fetch import Fetcher, FetchSettings
from monitor.fulltext import extract_fulltext
from monitor.httpdates import cache_lifetime_s, parse_http_date, parse_retry_after
from monitor.models import RawItem
from monitor.normalize import MAX_TEXT_CHARS, normalize_items
from monitor.policy import HINT_CAP_S
from monitor.poller import Poller
from monitor.probe import probe_source
from monitor.settings import MonitorSettings
from monitor.store import Store
from tests.httpserver import LoopbackServer, Response

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEEK = timedelta(seconds=HINT_CAP_S)
FAR_DATE = "9999-12-31T23:00:00-05:00"  # year 10000 in UTC: no datetime holds it
FAR_HTTP_DATE = "Fri, 31 Dec 9999 23:59:59 -0500"
WORDS = ("harbour", "authority", "approved", "dredging", "plan", "after", "public", "consultation", "ministry",
         "police", "court", "border")  # fmt: skip
RSS_CT = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML_CT = {"Content-Type": "text/html; charset=utf-8"}
JSON_CT = {"Content-Type": "application/feed+json"}
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def words(seed: int, count: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(count))


def rss(items: str, head: str = "", doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}<rss version="2.0"><channel><title>T</title>'
        f"<link>https://h.example/</link>{head}{items}</channel></rss>"
    ).encode()


def rss_item(key: str, description: str = "", date: str = "Sun, 29 Nov 2026 08:00:00 GMT") -> str:
    return (
        f"<item><title>Story {key}</title><link>https://h.example/{key}</link><guid>{key}</guid>"
        f"<pubDate>{date}</pubDate><description>{description or words(len(key), 30)}</description></item>"
    )


def source(server: LoopbackServer, sid: str, **kw: Any) -> SourceConfig:
    kw.setdefault("kind", "feed")
    return SourceConfig(id=sid, name=sid, url=server.url(f"/{sid}"), language="auto", **kw)


def make_settings(url: str, **kw: Any) -> MonitorSettings:
    return MonitorSettings(database_url=url, allow_private=True, read_timeout_s=2, total_timeout_s=5, **kw)


@pytest.fixture
async def poller(sqlite_url: str) -> AsyncIterator[Poller]:
    settings = make_settings(sqlite_url)
    store = Store.open(sqlite_url)
    async with Fetcher(fetch_settings(settings)) as fetcher:
        yield Poller(store, fetcher, settings, clock=lambda: NOW, rng=random.Random(1))
    store.close()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# --- point 4: dates and numbers --------------------------------------------------------------------------

JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": "far", "url": "https://j.example/far", "title": "Far", "date_published": FAR_DATE},
            {
                "id": "ok",
                "url": "https://j.example/ok",
                "title": "Ok",
                "date_published": "2026-11-29T10:00:00Z",
            },
        ],
    }
)
PAGE = f"""<!doctype html><html><head><title>Press</title></head><body><ul>
<li class="release"><a href="/far">Far away</a><time datetime="{FAR_DATE}">someday</time></li>
<li class="release"><a href="/ok">Fine</a><time datetime="2026-11-29T09:00:00+01:00">29 Nov</time></li>
</ul></body></html>"""
SELECTORS = {"item": "li.release", "link": "a", "title": "a", "date": "time"}

# sid -> (route, extra source config, expected error kind or None, items)
POINT4: dict[str, tuple[dict[str, Any], dict[str, Any], ErrorKind | None, int]] = {
    "json-date": ({"body": JSON_FEED, "headers": JSON_CT}, {}, None, 2),
    "page-date": ({"body": PAGE, "headers": HTML_CT}, {"kind": "page", "selectors": SELECTORS}, None, 2),
    "expires": ({"body": rss(rss_item("e")), "headers": {**RSS_CT, "Expires": FAR_HTTP_DATE}}, {}, None, 1),
    "max-age-400": (
        {"body": rss(rss_item("m")), "headers": {**RSS_CT, "Cache-Control": "max-age=" + "9" * 400}},
        {},
        None,
        1,
    ),
    "max-age-5000": (
        {"body": rss(rss_item("n")), "headers": {**RSS_CT, "Cache-Control": "public, max-age=" + "9" * 5000}},
        {},
        None,
        1,
    ),
    "retry-after-5000": (
        {"status": 429, "headers": {"Retry-After": "9" * 5000}},
        {},
        ErrorKind.RATE_LIMITED,
        0,
    ),
    "retry-after-9999": (
        {"status": 503, "headers": {"Retry-After": FAR_HTTP_DATE}},
        {},
        ErrorKind.SERVER_ERROR,
        0,
    ),
}


@pytest.mark.parametrize("sid", list(POINT4))
async def test_p4_far_dates_and_huge_numbers_cost_no_poll(
    poller: Poller, http_server: LoopbackServer, sid: str
) -> None:
    """Point 4: "Dates and numbers from a source abort the whole poll of that source, every time, with a
    traceback ... `veille sources check --probe` says those feeds are fine." Each now polls (or fails with its
    own kind, never ``internal``), the probe says the same, and every hint counts at most 7 days."""
    route, extra, kind, items = POINT4[sid]
    http_server.route(f"/{sid}", **route)
    src = source(http_server, sid, **extra)

    outcome = await poller.poll(src)
    probed = await probe_source(poller.fetcher, src)

    assert outcome.error_kind == kind, outcome
    assert probed.error_kind == kind and probed.items == items, probed
    assert outcome.next_check_at is not None
    if kind is None:
        assert (outcome.status, outcome.new) == ("new", items)
        assert outcome.next_check_at <= NOW + WEEK * 1.1 + timedelta(seconds=1)
        articles = {a.url.rsplit("/", 1)[-1]: a for a in poller.store.list_articles(source_id=sid)}
        if "far" in articles:  # the far date is "no date": the item is kept, dated when first seen
            assert (articles["far"].published_at, articles["far"].published_estimated) == (NOW, True)
            assert not articles["ok"].published_estimated
    else:
        assert outcome.status == "failed" and "Traceback" not in (outcome.error_message or "")
        assert NOW + WEEK <= outcome.next_check_at <= NOW + WEEK * 1.1 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        pytest.param(lambda: parse_http_date(FAR_HTTP_DATE), datetime.max.replace(tzinfo=UTC), id="far-date"),
        pytest.param(lambda: parse_retry_after("9" * 5000, NOW), 2.0**31, id="retry-after-5000-digits"),
        pytest.param(lambda: parse_retry_after("9" * 400, NOW), 2.0**31, id="retry-after-400-digits"),
        pytest.param(lambda: parse_retry_after(FAR_HTTP_DATE, NOW), 2.0**31, id="retry-after-far-date"),
        pytest.param(lambda: parse_retry_after("²", NOW), None, id="retry-after-not-ascii"),
        pytest.param(lambda: cache_lifetime_s({"expires": FAR_HTTP_DATE}, NOW), 2.0**31, id="expires-far"),
        pytest.param(
            lambda: cache_lifetime_s({"cache-control": "max-age=" + "9" * 5000}, NOW),
            2.0**31,
            id="max-age-huge",
        ),
        pytest.param(
            lambda: cache_lifetime_s({"cache-control": "s-maxage=" + "0" * 5000 + "60"}, NOW),
            60.0,
            id="zeros",
        ),
    ],
)
def test_p4_http_dates_and_delta_seconds_are_bounded(read: Callable[[], object], expected: object) -> None:
    """Point 4: "`Expires: Fri, 31 Dec 9999 23:59:59 -0500`, `Cache-Control: max-age=` with 400 or 5,000
    digits, a huge or year-9999 `Retry-After`": read as at most 2**31 s (RFC 9111 1.2.2), never an error."""
    assert read() == expected


@pytest.mark.parametrize(
    ("length", "kind"),
    [("9" * 5000, ErrorKind.TOO_LARGE), ("²", None)],
    ids=["5000-digits", "superscript"],
)
async def test_p4_content_length_is_read_as_ascii_digits_only(length: str, kind: ErrorKind | None) -> None:
    """Point 4: "look for any other place where a source number is turned into int ... (content-length)".
    A Content-Length of 5,000 digits is over the cap; one that is not ASCII digits is no Content-Length."""
    headers = {"content-length": length}
    if kind is None:
        assert await read_body(chunks(FEED), headers, 1 << 20) == FEED
    else:
        with pytest.raises(FetchError) as caught:
            await read_body(chunks(FEED), headers, 1 << 20)
        assert caught.value.kind is kind and "of 5000 digits" in caught.value.message


def test_p4_one_bad_date_costs_at_most_its_item() -> None:
    """Point 4: "one bad item costs that item, never its feed/poll": an item dated in year 9999 west of
    Greenwich (which overflows in UTC) reaching normalize from any parser gets an estimated date."""
    far = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    items = [
        RawItem(link="https://h.example/far", title="Far", published=far),
        RawItem(link="https://h.example/ok", title="Ok", published=datetime(2026, 11, 29, tzinfo=UTC)),
        RawItem(link="https://h.example/old", title="Old", published=datetime(1, 1, 1, 1, tzinfo=UTC)),
    ]
    articles = normalize_items(items, source_id="s", declared_language="en", now=NOW)
    assert [(a.title, a.published_at, a.published_estimated) for a in articles] == [
        ("Far", NOW, True),
        ("Ok", datetime(2026, 11, 29, tzinfo=UTC), False),
        ("Old", NOW, True),
    ]


def test_p4_feed_numbers_are_bounded() -> None:
    """Point 4: "ttl, sy:updatePeriod/updateFrequency ... JSON Feed numbers": a TTL of 31 years is 7 days,
    and a 5,000-digit JSON number costs its field, not the feed (Python refuses to convert it)."""
    ttl = parse_feed(rss(rss_item("t"), head="<ttl>999999999</ttl>"), RSS_CT, "https://h.example/")
    sy = parse_feed(
        rss(rss_item("s"), head="<sy:updatePeriod>yearly</sy:updatePeriod>").replace(
            b'<rss version="2.0">',
            b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">',
        ),
        RSS_CT,
        "https://h.example/",
    )
    assert (ttl.ttl_s, sy.ttl_s) == (HINT_CAP_S, HINT_CAP_S)
    doc = json.loads(JSON_FEED)
    doc["items"][0]["id"] = 0  # replaced by a 5,000-digit number below
    body = json.dumps(doc).replace('"id": 0', '"id": ' + "9" * 5000).encode()
    parsed = parse_feed(body, JSON_CT, "https://j.example/")
    assert [(item.guid, item.title) for item in parsed.items] == [(None, "Far"), ("ok", "Ok")]


# --- point 6: entity expansion and article pages, under the size cap -------------------------------------


def entity_value(n: int) -> str:
    """64 characters: the longest entity value the guard keeps."""
    return words(n, 40)[:63] + "."


def entity_feed(entities: int, references: int) -> bytes:
    """A feed declaring ``entities`` short entities, the first referenced ``references`` times in one
    description, each of the others once in the title."""
    values = [entity_value(n) for n in range(entities)]
    doctype = "<!DOCTYPE rss [" + "".join(f'<!ENTITY e{n} "{v}">' for n, v in enumerate(values)) + "]>"
    title = "".join(f"&e{n};" for n in range(1, entities)) or "plain"
    item = (
        f"<item><title>{title}</title><link>https://h.example/1</link>"
        f"<description>{'&e0;' * references}</description></item>"
    )
    return rss(item, doctype=doctype)


@pytest.mark.parametrize("entities", [1, 20], ids=["one-entity", "many-entities"])
async def test_p6_entity_expansion_counts_against_the_body_cap(
    poller: Poller, http_server: LoopbackServer, entities: int
) -> None:
    """Point 6: "Short XML entities (<= 64 chars, which the guard keeps) referenced millions of times expand
    ~20x ... Expansion of entities must count against the body cap". A 0.8 MB feed whose references expand
    past the 10 MB cap is refused as too large, before parsing; the same entities used a few times parse."""
    bomb = entity_feed(entities, 180_000)  # 180,000 x 64 characters: 11.5 MB once expanded
    assert len(bomb) < 1 << 20
    http_server.route("/bomb", bomb, headers=RSS_CT)
    http_server.route("/fine", entity_feed(entities, 10), headers=RSS_CT)

    started = time.perf_counter()
    refused = await poller.poll(source(http_server, "bomb"))
    elapsed = time.perf_counter() - started
    fine = await poller.poll(source(http_server, "fine"))

    assert (refused.status, refused.error_kind) == ("failed", ErrorKind.TOO_LARGE), refused
    assert "entity" in (refused.error_message or "") and elapsed < 2.0
    assert (fine.status, fine.new) == ("new", 1), fine
    (article,) = poller.store.list_articles(source_id="fine")
    assert article.text.count(entity_value(0).strip()) == 10  # the references were expanded


def test_p6_entity_expansion_limit_is_exact() -> None:
    """Point 6: "refuse feeds whose entity references would expand beyond the cap": at the cap the feed
    parses, one byte over it is refused."""
    body = entity_feed(1, 1000)
    expanded = len(body) + 1000 * (64 - len("&e0;"))
    assert len(parse_feed(body, RSS_CT, "https://h.example/", max_bytes=expanded).items) == 1
    with pytest.raises(ParseError) as caught:
        parse_feed(body, RSS_CT, "https://h.example/", max_bytes=expanded - 1)
    assert caught.value.kind is ErrorKind.TOO_LARGE


def article_page(script_bytes: int, paragraphs: int) -> bytes:
    text = "".join(f"<p>{words(n, 60)}.</p>\n" for n in range(paragraphs))
    script = f'<script>var state = {{"blob": "{"x" * script_bytes}"}};</script>' if script_bytes else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Harbour</title>{script}</head>"
        f"<body><nav><a href='/'>Home</a></nav><article><h1>Harbour</h1>{text}</article></body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("page", "finds"),
    [
        pytest.param(article_page(3 << 20, 40), True, id="3-MB-of-script-then-the-article"),
        pytest.param(article_page(0, 20_000), True, id="9.8-MB-of-paragraphs"),
    ],
)
def test_p6_article_pages_are_capped_before_parsing(
    monkeypatch: pytest.MonkeyPatch, page: bytes, finds: bool
) -> None:
    """Point 6: "Full-text extraction of article pages (monitor/fulltext.py) must cap the page by size
    before parsing (6 pages of 9.8 MB peaked at 1.23 GB)". The extractor never gets more than 2 MiB, and an
    article behind megabytes of inline script is still found."""
    seen: list[int] = []
    real = trafilatura.extract

    def spy(text: str, **kwargs: Any) -> str | None:
        seen.append(len(text.encode()))
        return real(text, **kwargs)

    monkeypatch.setattr(trafilatura, "extract", spy)
    assert len(page) > 3 << 20
    text = extract_fulltext(page, "https://h.example/harbour", HTML_CT)
    assert seen and max(seen) <= (2 << 20) + 16  # + a few replacement characters where a character was cut
    assert (text is not None and words(1, 60) in text) is finds


# --- point 8: the article text cap on every path ---------------------------------------------------------


async def test_p8_summary_only_items_are_capped(poller: Poller, http_server: LoopbackServer) -> None:
    """Point 8: "The 200,000-character article text cap is bypassed when an item has only a
    summary/description (up to 2,000,000 chars stored)". An item with a 600,000-character description and
    no content is stored with 200,000 characters of text."""
    long_text = words(8, 100_000)
    assert len(long_text) > 600_000
    http_server.route("/long", rss(rss_item("long", description=long_text)), headers=RSS_CT)
    outcome = await poller.poll(source(http_server, "long"))
    assert (outcome.status, outcome.new) == ("new", 1), outcome
    (article,) = poller.store.list_articles(source_id="long")
    assert len(article.text) == MAX_TEXT_CHARS and long_text.startswith(article.text)
    direct = normalize_items(
        [RawItem(link="https://h.example/s", summary=long_text)],
        source_id="s",
        declared_language="en",
        now=NOW,
    )
    assert len(direct[0].text) == MAX_TEXT_CHARS


def test_p8_extracted_full_text_is_capped() -> None:
    """Point 8: "apply it to every path that sets an article's text": full-text extraction returns at most
    200,000 characters too (the poller cut it; any other caller did not)."""
    text = extract_fulltext(article_page(0, 700), "https://h.example/harbour", HTML_CT)
    assert text is not None and len(text) == MAX_TEXT_CHARS


# --- point 13 (network): DNS outages, junk after gzip, IPv6 ranges -------------------------------------


def failing_resolver(errno: int, message: str) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(errno, message)

    return resolve


@pytest.mark.parametrize(
    ("errno", "message", "kind", "pauses"),
    [
        (socket.EAI_AGAIN, "Temporary failure in name resolution", ErrorKind.CONNECT, False),
        (socket.EAI_FAIL, "Non-recoverable failure in name resolution", ErrorKind.CONNECT, False),
        (socket.EAI_NONAME, "Name or service not known", ErrorKind.DNS, True),
    ],
    ids=["resolver-outage", "resolver-failure", "no-such-name"],
)
async def test_p13_a_resolver_outage_never_pauses_sources(
    sqlite_url: str, errno: int, message: str, kind: ErrorKind, pauses: bool
) -> None:
    """Point 13: "DNS resolution failures should count as transient, not permanent (a 22-hour resolver
    outage must not pause every source)". A resolver that cannot answer is ``connect`` and never pauses; a
    name that does not exist is still ``dns`` and pauses, like a 404."""
    settings = make_settings(sqlite_url, pause_after_errors=3)
    store = Store.open(sqlite_url)
    src = SourceConfig(id="s", name="s", kind="feed", url="http://news.example/feed.xml")
    async with Fetcher(fetch_settings(settings), resolver=failing_resolver(errno, message)) as fetcher:
        poller = Poller(store, fetcher, settings, clock=lambda: NOW)
        outcomes = [await poller.poll(src) for _ in range(4)]
    store.close()
    assert outcomes[0].error_kind is kind and message in (outcomes[0].error_message or "")
    assert [o.status for o in outcomes] == ["failed"] * 3 + ["paused" if pauses else "failed"]


EMPTY_MEMBERS = gzip.compress(b"") * 1000  # 20 KB that decode to nothing


@pytest.mark.parametrize(
    ("status", "tail", "kind"),
    [
        (200, b"\0" * 4096, None),
        (200, b"\x1f" + b"junk" * 1024, None),
        (503, b"\0" * 4096, ErrorKind.SERVER_ERROR),
        (200, EMPTY_MEMBERS, ErrorKind.TOO_LARGE),
    ],
    ids=["zeros", "magic-byte-then-junk", "error-page", "empty-members"],
)
async def test_p13_junk_after_the_gzip_stream_is_not_read(
    http_server: LoopbackServer, status: int, tail: bytes, kind: ErrorKind | None
) -> None:
    """Point 13: "junk after a gzip stream is read until the total timeout — stop at the end of the gzip
    member (or bound it)". A server that sends a feed, then junk for 20 s, is done with at once: the feed is
    kept (or the error page classified), and members that decode to nothing are bounded by size."""
    parts = [gzip.compress(FEED)] + [tail] * 400  # 400 x 50 ms: 20 s of junk
    http_server.route(
        "/feed",
        handler=lambda _req: Response(
            status, headers={"Content-Encoding": "gzip"}, chunks=parts, chunk_delay_s=0.05
        ),
    )
    settings = FetchSettings(allow_private=True, read_timeout_s=2, total_timeout_s=4, max_body_bytes=64 << 10)
    started = time.perf_counter()
    async with Fetcher(settings) as fetcher:
        try:
            result = await fetcher.fetch(http_server.url("/feed"))
        except FetchError as exc:
            assert exc.kind is kind, exc
        else:
            assert kind is None and result.body == FEED
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("address", ["fec0::1", "feff:ffff::1", "3fff::1", "3fff:fff:ffff::1"])
async def test_p13_site_local_and_documentation_ipv6_are_not_public(address: str) -> None:
    """Point 13: "the IPv6 ranges fec0::/10 (deprecated site-local) and 3fff::/20 (documentation, RFC 9637)
    must be judged non-public by the SSRF guard". A name resolving there is refused, without connecting."""
    assert address_category(address) in ("site-local", "documentation")

    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    async with Fetcher(FetchSettings(connect_timeout_s=2), resolver=resolve) as fetcher:
        with pytest.raises(FetchError) as caught:
            await asyncio.wait_for(fetcher.fetch("http://news.example/feed.xml"), 10)
    assert caught.value.kind is ErrorKind.REFUSED_ADDRESS and address in caught.value.message
