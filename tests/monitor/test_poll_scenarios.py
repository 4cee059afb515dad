"""The poller end to end against a real loopback HTTP server and a real store: formats, caching, faults.

All scenario sources are polled together in one round, so a broken source visibly affects no other.
"""

from __future__ import annotations

import gzip
import io
import random
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from monitor.cli import fetch_settings
from monitor.config import SourceConfig
from monitor.errors import ErrorKind
from monitor.fetch import Fetcher
from monitor.poller import Poller, PollOutcome
from monitor.settings import MonitorSettings
from monitor.store import Store
from monitor.workers import ParsePool
from tests.httpserver import LoopbackServer, Request, Response

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WORDS = [
    "europol",
    "operation",
    "suspects",
    "arrested",
    "network",
    "encrypted",
    "platform",
    "propaganda",
    "seized",
    "servers",
    "court",
    "ministry",
    "interior",
    "police",
    "border",
    "trafficking",
    "cyber",
    "fraud",
    "investigation",
    "judges",
    "warrant",
]


def seed_of(title: str) -> int:
    return zlib.crc32(title.encode())


def text(seed: int, n: int = 50) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def rss20(items: list[tuple[str, str, str]], *, encoding: str = "utf-8", decl: bool = True) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{g}</guid>"
        f"<pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate><description>{text(seed_of(t))}"
        f"</description></item>"
        for t, link, g in items
    )
    head = f'<?xml version="1.0" encoding="{encoding}"?>' if decl else ""
    return f'{head}<rss version="2.0"><channel><title>T</title><link>https://ex.org/</link>{body}</channel></rss>'


def std_items(prefix: str, n: int = 3) -> list[tuple[str, str, str]]:
    return [
        (f"{prefix} story {k}", f"https://{prefix}.example.org/news/{k}", f"{prefix}-{k}") for k in range(n)
    ]


RSS090 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">
<channel><title>Old</title><link>https://r090.example.org/</link><description>d</description></channel>
<item><title>R090 one</title><link>https://r090.example.org/1</link></item>
<item><title>R090 two</title><link>https://r090.example.org/2</link></item>
</rdf:RDF>"""
RSS091 = """<?xml version="1.0"?><rss version="0.91"><channel><title>T</title><link>https://r091.example.org/</link>
<description>d</description><language>en</language>
<item><title>R091 one</title><link>https://r091.example.org/1</link><description>first</description></item>
<item><title>R091 two</title><link>https://r091.example.org/2</link><description>second</description></item>
</channel></rss>"""
RSS092 = RSS091.replace('version="0.91"', 'version="0.92"').replace("r091", "r092").replace("R091", "R092")
RSS10 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://r10.example.org/"><title>T</title><link>https://r10.example.org/</link>
<description>d</description></channel>
<item rdf:about="https://r10.example.org/1"><title>R10 one</title><link>https://r10.example.org/1</link>
<dc:date>2026-11-29T10:00:00Z</dc:date></item>
<item rdf:about="https://r10.example.org/2"><title>R10 two</title><link>https://r10.example.org/2</link>
<dc:date>2026-11-29T11:00:00+01:00</dc:date></item>
</rdf:RDF>"""
ATOM03 = """<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title>
<link rel="alternate" type="text/html" href="https://a03.example.org/"/><modified>2026-11-29T10:00:00Z</modified>
<entry><title>A03 one</title><link rel="alternate" type="text/html" href="https://a03.example.org/1"/>
<id>tag:a03,2026:1</id><issued>2026-11-29T10:00:00Z</issued><modified>2026-11-29T10:00:00Z</modified></entry>
<entry><title>A03 two</title><link rel="alternate" type="text/html" href="https://a03.example.org/2"/>
<id>tag:a03,2026:2</id><issued>2026-11-29T11:00:00Z</issued><modified>2026-11-29T11:00:00Z</modified></entry>
</feed>"""
ATOM10 = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr"><title>T</title><id>urn:a10</id>
<updated>2026-11-29T10:00:00Z</updated><link href="https://a10.example.org/"/>
<entry><title>A10 un</title><link href="/actualites/1"/><id>urn:a10:1</id><updated>2026-11-29T10:00:00Z</updated>
<summary>Europol annonce une opération contre la propagande en ligne de Daech sur Telegram.</summary></entry>
<entry><title>A10 deux</title><link href="/actualites/2"/><id>urn:a10:2</id><updated>2026-11-29T12:00:00Z</updated>
<summary>Le ministère de l'Intérieur publie un communiqué sur la cybercriminalité.</summary></entry>
</feed>"""
JSONFEED = """{"version": "https://jsonfeed.org/version/1.1", "title": "J", "home_page_url": "https://jf.example.org/",
"items": [{"id": "1", "url": "https://jf.example.org/1", "title": "JF one", "content_text": "first",
"date_published": "2026-11-29T10:00:00Z"},
{"id": "2", "url": "https://jf.example.org/2", "title": "JF two", "content_html": "<p>second</p>",
"date_published": "2026-11-29T11:00:00Z"}]}"""
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Communiqués</title></head><body>
<ul class="releases">
<li class="release"><a href="/fr/communiques/2026/operation-alpha">Opération Alpha : 12 interpellations</a>
<time datetime="2026-11-29T09:00:00+01:00">29 novembre 2026</time></li>
<li class="release"><a href="communiques/2026/rapport-annuel">Rapport annuel sur la menace terroriste</a>
<time datetime="2026-11-28">28 novembre 2026</time></li>
</ul></body></html>"""
CHALLENGE = """<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>
<div id="challenge-running">Checking if the site connection is secure</div>
<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1"></script></body></html>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>https://l.example/1</link>
</item></channel></rss>"""

RSS_CT = {"Content-Type": "application/rss+xml; charset=utf-8"}


def gzip_bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            gz.write(chunk)
    return buf.getvalue()


def setup_routes(server: LoopbackServer) -> dict[str, dict[str, Any]]:
    """Route every scenario; returns source id -> {path, kind, ...}."""
    http_date = format_datetime(datetime.now(UTC) + timedelta(seconds=7200), usegmt=True)
    latin1 = rss20(
        [("Sécurité intérieure : opération réussie", "https://l1.example.org/1", "l1-1")], encoding="utf-8"
    ).encode("latin-1")
    shared_guid = rss20(
        [(f"Shared guid story {k}", f"https://sg.example.org/{k}", "same-guid") for k in range(4)]
    )
    bomb = gzip_bomb(64 << 20)
    specs: dict[str, dict[str, Any]] = {
        "rss090": {"body": RSS090, "expect": 2},
        "rss091": {"body": RSS091, "expect": 2},
        "rss092": {"body": RSS092, "expect": 2},
        "rss10": {"body": RSS10, "expect": 2},
        "rss20": {"body": rss20(std_items("r20")), "expect": 3},
        "atom03": {"body": ATOM03, "expect": 2},
        "atom10": {"body": ATOM10, "expect": 2},
        "jsonfeed": {"body": JSONFEED, "headers": {"Content-Type": "application/feed+json"}, "expect": 2},
        "page": {
            "body": PAGE,
            "headers": {"Content-Type": "text/html; charset=utf-8"},
            "expect": 2,
            "kind": "page",
        },
        "nocharset": {
            "body": rss20(std_items("nc"), decl=False).encode(),
            "headers": {"Content-Type": "text/xml"},
            "expect": 3,
        },
        "wrongcharset": {"body": latin1, "headers": RSS_CT, "expect": 1},
        "sharedguid": {"body": shared_guid, "expect": 4},
        "rate429": {
            "status": 429,
            "headers": {"Retry-After": "3600"},
            "error": ErrorKind.RATE_LIMITED,
            "retry": 3600,
        },
        "rate429date": {
            "status": 429,
            "headers": {"Retry-After": http_date},
            "error": ErrorKind.RATE_LIMITED,
            "retry": 7200,
        },
        "unavail503": {
            "status": 503,
            "headers": {"Retry-After": "1800"},
            "error": ErrorKind.SERVER_ERROR,
            "retry": 1800,
        },
        "unavail503date": {
            "status": 503,
            "headers": {"Retry-After": http_date},
            "error": ErrorKind.SERVER_ERROR,
            "retry": 7200,
        },
        "error500": {"status": 500, "error": ErrorKind.SERVER_ERROR},
        "slow": {"body": rss20(std_items("sl")), "body_delay_s": 3.0, "error": ErrorKind.TIMEOUT},
        "huge": {"body": b"<rss>" + b"x" * (3 << 20), "error": ErrorKind.TOO_LARGE},
        "loop": {"status": 302, "headers": {"Location": "/loop"}, "error": ErrorKind.TOO_MANY_REDIRECTS},
        "bomb": {
            "body": bomb,
            "headers": {"Content-Encoding": "gzip", **RSS_CT},
            "error": ErrorKind.TOO_LARGE,
        },
        "laughs": {"body": LAUGHS, "expect": 1, "warning": "unsafe XML entity"},  # defused, not expanded
        "challenge": {
            "body": CHALLENGE,
            "status": 503,
            "headers": {"Content-Type": "text/html", "Server": "cloudflare", "cf-mitigated": "challenge"},
            "error": ErrorKind.BLOCKED,
        },
        "challenge200": {
            "body": CHALLENGE,
            "headers": {"Content-Type": "text/html"},
            "error": ErrorKind.BLOCKED,
        },
    }
    for sid, spec in specs.items():
        body = spec.get("body", b"")
        server.route(
            f"/{sid}",
            body.encode() if isinstance(body, str) else body,
            status=spec.get("status", 200),
            headers=spec.get("headers", {"Content-Type": "application/xml"}),
            body_delay_s=spec.get("body_delay_s", 0.0),
        )
    return specs


def source(
    server: LoopbackServer, sid: str, kind: Literal["feed", "page"] = "feed", **kw: Any
) -> SourceConfig:
    extra: dict[str, Any] = {}
    if kind == "page":
        extra["selectors"] = {"item": "li.release", "link": "a", "title": "a", "date": "time"}
    return SourceConfig(
        id=sid, name=sid, kind=kind, url=server.url(f"/{sid}"), language="auto", **extra, **kw
    )


@pytest.fixture
async def poller(sqlite_url: str) -> AsyncIterator[Poller]:
    settings = MonitorSettings(
        database_url=sqlite_url,
        allow_private=True,
        read_timeout_s=0.5,
        total_timeout_s=5,
        max_body_bytes=2 << 20,
    )
    store = Store.open(sqlite_url)
    async with Fetcher(fetch_settings(settings)) as fetcher:
        yield Poller(store, fetcher, settings, clock=lambda: NOW, rng=random.Random(1))
    store.close()


@pytest.fixture
async def pooled_poller(poller: Poller) -> AsyncIterator[Poller]:
    """The same poller, parsing in two worker processes (monitor.workers), as for a round of many sources."""
    with ParsePool(2) as workers:
        yield replace_workers(poller, workers)


def replace_workers(poller: Poller, workers: ParsePool) -> Poller:
    return Poller(
        poller.store, poller.fetcher, poller.settings, clock=poller.clock, rng=poller.rng, workers=workers
    )


async def poll_all(poller: Poller, sources: list[SourceConfig]) -> dict[str, PollOutcome]:
    import asyncio

    outcomes = await asyncio.gather(*(poller.poll(s) for s in sources))
    return {o.source_id: o for o in outcomes}


async def test_every_scenario_in_one_round(poller: Poller, http_server: LoopbackServer) -> None:
    await every_scenario_in_one_round(poller, http_server)


async def test_every_scenario_in_one_round_parsed_in_worker_processes(
    pooled_poller: Poller, http_server: LoopbackServer
) -> None:
    await every_scenario_in_one_round(pooled_poller, http_server)
    assert pooled_poller.workers is not None and pooled_poller.workers.replaced == 0


async def every_scenario_in_one_round(poller: Poller, http_server: LoopbackServer) -> None:
    specs = setup_routes(http_server)
    sources = [source(http_server, sid, spec.get("kind", "feed")) for sid, spec in specs.items()]
    outcomes = await poll_all(poller, sources)
    store = poller.store
    for sid, spec in specs.items():
        o = outcomes[sid]
        if "error" in spec:
            assert (o.status, o.error_kind) == ("failed", spec["error"]), (sid, o)
            state = store.get_state(sid)
            assert state is not None and state.last_error_kind == spec["error"] and state.error_count == 1
            if "retry" in spec:
                assert o.next_check_at is not None
                assert o.next_check_at >= NOW + timedelta(seconds=spec["retry"] - 120), (sid, o.next_check_at)
        else:
            assert (o.status, o.new) == ("new", spec["expect"]), (sid, o)
            if "warning" in spec:
                assert any(spec["warning"] in w for w in o.warnings), o.warnings
            assert store.count_articles(sid) == spec["expect"]
            state = store.get_state(sid)
            assert state is not None and state.last_success_at == NOW and state.consecutive_errors == 0


async def test_billion_laughs_is_defused_not_expanded(poller: Poller, http_server: LoopbackServer) -> None:
    setup_routes(http_server)
    await poller.poll(source(http_server, "laughs"))
    [art] = poller.store.list_articles(source_id="laughs")
    assert art.url == "https://l.example/1"
    assert "lollol" not in art.title and len(art.title) < 100


async def test_page_links_are_resolved_and_dated(poller: Poller, http_server: LoopbackServer) -> None:
    setup_routes(http_server)
    await poller.poll(source(http_server, "page", "page"))
    arts = sorted(poller.store.list_articles(source_id="page"), key=lambda a: a.url)
    assert [a.url for a in arts] == [
        http_server.url("/communiques/2026/rapport-annuel"),
        http_server.url("/fr/communiques/2026/operation-alpha"),
    ]
    assert arts[1].published_at == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert not arts[1].published_estimated


async def test_wrong_charset_text_is_recovered(poller: Poller, http_server: LoopbackServer) -> None:
    setup_routes(http_server)
    await poller.poll(source(http_server, "wrongcharset"))
    [art] = poller.store.list_articles(source_id="wrongcharset")
    assert art.title == "Sécurité intérieure : opération réussie"


async def test_conditional_get_with_etag_and_last_modified(
    poller: Poller, http_server: LoopbackServer
) -> None:
    stamp = "Mon, 30 Nov 2026 08:00:00 GMT"

    def make(validator: str, header: str, request_header: str) -> Callable[[Request], Response]:
        body = rss20(std_items(f"cg{request_header}")).encode()

        def handler(req: Request) -> Response:
            if req.headers.get(request_header) == validator:
                return Response(304, headers={header: validator})
            return Response(200, body, {header: validator, **RSS_CT})

        return handler

    http_server.route("/etag", handler=make('"abc"', "ETag", "if-none-match"))
    http_server.route("/lastmod", handler=make(stamp, "Last-Modified", "if-modified-since"))
    for path in ("etag", "lastmod"):
        src = SourceConfig(id=path, name=path, kind="feed", url=http_server.url(f"/{path}"), language="en")
        first = await poller.poll(src)
        second = await poller.poll(src)
        assert (first.status, first.new) == ("new", 3)
        assert (second.status, second.new) == ("not_modified", 0)
        assert poller.store.count_articles(path) == 3


async def test_reserved_and_reordered_items_are_not_new(poller: Poller, http_server: LoopbackServer) -> None:
    items = std_items("rs", 5)
    bodies = [
        rss20(items),
        rss20(list(reversed(items))),
        rss20([*items[2:], ("rs new", "https://rs.example.org/n", "rs-n")]),
    ]
    served = iter(bodies)
    http_server.route("/rs", handler=lambda _r: Response(200, next(served).encode(), RSS_CT))
    src = SourceConfig(id="rs", name="rs", kind="feed", url=http_server.url("/rs"), language="en")
    news = [(await poller.poll(src)).new for _ in bodies]
    assert news == [5, 0, 1]
    assert poller.store.count_articles("rs") == 6


async def test_guid_changing_at_each_poll_is_not_new(poller: Poller, http_server: LoopbackServer) -> None:
    polls = iter(range(100))
    http_server.route(
        "/chg",
        handler=lambda _r: Response(
            200,
            rss20(
                [
                    (
                        f"chg {k}",
                        f"https://chg.example.org/{k}?utm_source=x&utm_medium=rss",
                        f"g-{next(polls)}",
                    )
                    for k in range(3)
                ]
            ).encode(),
            RSS_CT,
        ),
    )
    src = SourceConfig(id="chg", name="chg", kind="feed", url=http_server.url("/chg"), language="en")
    assert [(await poller.poll(src)).new for _ in range(3)] == [3, 0, 0]


async def test_syndicated_copy_on_another_source_is_a_duplicate(
    poller: Poller, http_server: LoopbackServer
) -> None:
    wire = text(42, 120)
    a = rss20([("Europol dismantles network", "https://wire.example.org/1", "w1")])
    a = a.replace(text(seed_of("Europol dismantles network")), wire)
    b = rss20([("Network dismantled, says Europol", "https://paper.example.com/x", "p1")])
    b = b.replace(text(seed_of("Network dismantled, says Europol")), wire + " Read more on our site.")
    http_server.route("/wire", a, headers=RSS_CT)
    http_server.route("/paper", b, headers=RSS_CT)
    first = await poller.poll(SourceConfig(id="wire", name="w", kind="feed", url=http_server.url("/wire")))
    second = await poller.poll(SourceConfig(id="paper", name="p", kind="feed", url=http_server.url("/paper")))
    assert (first.new, second.new, second.duplicates) == (1, 0, 1)
    [copy] = poller.store.list_articles(source_id="paper", include_duplicates=True)
    [orig] = poller.store.list_articles(source_id="wire")
    assert copy.duplicate_of == orig.id
    assert poller.store.list_articles(source_id="paper", include_duplicates=False) == []


async def test_the_earliest_published_stays_the_original_whatever_the_poll_order(
    poller: Poller, http_server: LoopbackServer
) -> None:
    """A wire's copy (07:07) is polled before the agency's release it copies (06:27): the release becomes the
    original, the copy and the copy's own copies point at it."""
    release = text(42, 120)
    wire = rss20([("Europol dismantles network", "https://wire.example.org/1", "w1")])
    wire = wire.replace(text(seed_of("Europol dismantles network")), release + " (wire)")
    wire = wire.replace("Mon, 30 Nov 2026 08:00:00 GMT", "Mon, 30 Nov 2026 07:07:00 GMT")
    paper = rss20([("Europol: network dismantled", "https://paper.example.com/x", "p1")])
    paper = paper.replace(text(seed_of("Europol: network dismantled")), release + " Read more.")
    paper = paper.replace("Mon, 30 Nov 2026 08:00:00 GMT", "Mon, 30 Nov 2026 07:30:00 GMT")
    agency = rss20([("Europol dismantles a criminal network", "https://europol.example.eu/pr/1", "e1")])
    agency = agency.replace(text(seed_of("Europol dismantles a criminal network")), release)
    agency = agency.replace("Mon, 30 Nov 2026 08:00:00 GMT", "Mon, 30 Nov 2026 06:27:00 GMT")
    for path, body in (("/wire", wire), ("/paper", paper), ("/agency", agency)):
        http_server.route(path, body, headers=RSS_CT)
    names = {"wire": "Wire Service", "paper": "The Paper", "agency": "Europol"}
    polled = [
        await poller.poll(
            SourceConfig(
                id=name,
                name=names[name],
                kind="feed",
                url=http_server.url(f"/{name}"),
                tags=("agency",) if name == "agency" else (),
            )
        )
        for name in ("wire", "paper", "agency")
    ]
    assert [(o.new, o.duplicates) for o in polled] == [(1, 0), (0, 1), (1, 0)]
    assert poller.store.source_names() == {
        "wire": ("Wire Service", False),
        "paper": ("The Paper", False),
        "agency": ("Europol", True),  # tagged agency: official
    }
    store = poller.store
    [original] = store.list_articles(source_id="agency", include_duplicates=True)
    [wire_copy] = store.list_articles(source_id="wire", include_duplicates=True)
    [paper_copy] = store.list_articles(source_id="paper", include_duplicates=True)
    assert original.duplicate_of is None
    assert wire_copy.duplicate_of == paper_copy.duplicate_of == original.id
    assert store.list_articles(source_id="wire", include_duplicates=False) == []

    # a story of the release and an unrelated later report: sources by name, the official one first
    from summarizer.repository import NlpRepository, ProcessedArticle, StoryRow

    url = "https://wire.example.org/2"
    other = replace(wire_copy, id="w-other", url=url, canonical_url=url, guid="w2", duplicate_of=None)
    other = replace(other, content_hash="0" * 64, title="Arrests follow the Europol operation")
    nlp = NlpRepository(store)
    row = StoryRow("s1", NOW, NOW, 2, 2, ("en",), "Europol dismantles a criminal network", {}, 1.0)
    with store.transaction() as tx:
        tx.insert_articles([other])
    nlp.save([ProcessedArticle(a, NOW, story_id="s1") for a in (other, original)], [row], "m", 4)
    [view] = nlp.story_views([row])
    assert [name for name, _url in view.sources_list] == ["Europol", "Wire Service"]


async def test_at_the_same_time_the_official_source_is_the_original(
    poller: Poller, http_server: LoopbackServer
) -> None:
    release = text(43, 120)
    wire = rss20([("Interpol arrests suspects", "https://wire.example.org/9", "w9")])
    wire = wire.replace(text(seed_of("Interpol arrests suspects")), release + " (wire)")
    agency = rss20([("Interpol: suspects arrested", "https://interpol.example.int/pr/9", "i9")])
    agency = agency.replace(text(seed_of("Interpol: suspects arrested")), release)
    http_server.route("/wire", wire, headers=RSS_CT)
    http_server.route("/agency", agency, headers=RSS_CT)
    await poller.poll(SourceConfig(id="wire", name="Wire", kind="feed", url=http_server.url("/wire")))
    await poller.poll(
        SourceConfig(id="agency", name="Interpol", kind="feed", url=http_server.url("/agency"), official=True)
    )
    [original] = poller.store.list_articles(source_id="agency", include_duplicates=True)
    [copy] = poller.store.list_articles(source_id="wire", include_duplicates=True)
    assert (original.duplicate_of, copy.duplicate_of) == (None, original.id)  # same time: the official one


async def test_repeated_permanent_failures_pause_the_source(
    sqlite_url: str, http_server: LoopbackServer
) -> None:
    settings = MonitorSettings(database_url=sqlite_url, allow_private=True, pause_after_errors=3)
    store = Store.open(sqlite_url)
    src = SourceConfig(id="gone", name="g", kind="feed", url=http_server.url("/nothing-here"))
    async with Fetcher(fetch_settings(settings)) as fetcher:
        poller = Poller(store, fetcher, settings, clock=lambda: NOW)
        outcomes = [await poller.poll(src) for _ in range(4)]
    assert [o.status for o in outcomes] == ["failed", "failed", "failed", "paused"]
    assert outcomes[2].paused and outcomes[2].error_kind == ErrorKind.NOT_FOUND
    state = store.get_state("gone")
    assert state is not None and state.paused and "not_found" in (state.paused_reason or "")
    store.close()


async def test_fulltext_sources_store_the_extracted_article_text(
    poller: Poller, http_server: LoopbackServer
) -> None:
    page = (Path(__file__).parent.parent / "fixtures" / "pages" / "article.html").read_bytes()
    http_server.route("/article/1", page, headers={"Content-Type": "text/html; charset=utf-8"})
    http_server.route("/article/2", status=404)
    feed = rss20(
        [("Harbour", http_server.url("/article/1"), "h1"), ("Missing", http_server.url("/article/2"), "h2")]
    )
    http_server.route("/ft", feed, headers=RSS_CT)
    src = SourceConfig(id="ft", name="ft", kind="feed", url=http_server.url("/ft"), fulltext=True)
    outcome = await poller.poll(src)
    assert (outcome.status, outcome.new) == ("new", 2)
    by_title = {a.title: a for a in poller.store.list_articles(source_id="ft")}
    text = by_title["Harbour"].text
    assert "dredging" in text and "cookies" not in text and len(text) > 500
    assert by_title["Missing"].text  # the page failed: the feed's own text is kept
    again = await poller.poll(src)  # known articles are not fetched again
    assert again.new == 0 and len(http_server.requests_to("/article/1")) == 1


async def test_polls_queued_for_the_store_free_their_fetch_slot_within_a_bound(
    sqlite_url: str, http_server: LoopbackServer
) -> None:
    """While the store is busy, other polls go on fetching and parsing (2 fetch slots here), up to the bound on
    polls waiting for the store (3 here): 3 wait for the store, 2 hold their fetch slot, the last is not fetched."""
    import asyncio

    settings = MonitorSettings(database_url=sqlite_url, allow_private=True, global_concurrency=2)
    loop = asyncio.get_running_loop()
    five_fetched = asyncio.Event()

    def serve(n: int) -> Callable[[Request], Response]:
        def handler(_request: Request) -> Response:
            if len(http_server.requests) == 5:
                loop.call_soon_threadsafe(five_fetched.set)
            body = rss20(std_items(f"s{n}")).encode()
            return Response(body=body, headers={"Content-Type": "application/rss+xml"})

        return handler

    for n in range(6):
        http_server.route(f"/s{n}", handler=serve(n))
    with Store.open(sqlite_url) as store:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings, clock=lambda: NOW, rng=random.Random(1))
            poller._write_slots = asyncio.Semaphore(3)
            gate = asyncio.Event()
            write = poller.writer.write

            async def held(run: Callable[[Any], Any]) -> Any:
                await gate.wait()
                return await write(run)

            poller.writer.write = held  # type: ignore[method-assign]
            polls = [asyncio.create_task(poller.poll(source(http_server, f"s{n}"))) for n in range(6)]

            await asyncio.wait_for(five_fetched.wait(), timeout=30)
            for _ in range(20):  # give a sixth fetch every chance to happen, were the bound not held
                await asyncio.sleep(0)
            assert len(http_server.requests) == 5
            gate.set()
            outcomes = await asyncio.gather(*polls)
    assert [o.status for o in outcomes] == ["new"] * 6 and len(http_server.requests) == 6
