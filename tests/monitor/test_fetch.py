"""The fetcher against the real loopback HTTP server, plus table tests of its pure parts.

Pure: address predicate, error classification and messages, User-Agent, content-coding decoding.
Real server: success, conditional GET, error statuses with Retry-After, timeouts, caps and bombs,
redirects, encodings, concurrency limits, the address guard, malformed HTTP and TLS failures.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpcore
import httpx
import pytest

from monitor.addresses import AddressRefused, GuardedBackend, address_category, is_public_address
from monitor.body import ContentDecoder, content_coding
from monitor.errors import ErrorKind, FetchError
from monitor.fetch import ACCEPT, Fetcher, FetchSettings, _joined_headers, classify, describe
from tests.httpserver import LoopbackServer, Request, Response

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LOCAL = FetchSettings(allow_private=True, connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5)


def settings(**changes: object) -> FetchSettings:
    values = {name: getattr(LOCAL, name) for name in FetchSettings.__dataclass_fields__}
    values.update(changes)
    return FetchSettings(**values)


async def fetch_error(url: str, fetch_settings: FetchSettings = LOCAL, **kwargs: object) -> FetchError:
    async with Fetcher(fetch_settings) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def chained(*excs: BaseException) -> BaseException:
    """``excs[0]`` caused by ``excs[1]``, caused by ``excs[2]``... as ``raise ... from`` builds it."""
    for outer, inner in itertools.pairwise(excs):
        outer.__cause__ = inner
    return excs[0]


# --- pure parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("fc00::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("2002:7f00:1::", "6to4 wrapping a non-public address"),
    ],
    ids=lambda value: str(value),
)
def test_address_category(address: str, category: str | None) -> None:
    assert address_category(address) == category
    assert is_public_address(address) is (category is None)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (401, ErrorKind.UNAUTHORIZED),
        (403, ErrorKind.UNAUTHORIZED),
        (404, ErrorKind.NOT_FOUND),
        (410, ErrorKind.GONE),
        (429, ErrorKind.RATE_LIMITED),
        (400, ErrorKind.CLIENT_ERROR),
        (451, ErrorKind.CLIENT_ERROR),
        (500, ErrorKind.SERVER_ERROR),
        (503, ErrorKind.SERVER_ERROR),
        (302, ErrorKind.PROTOCOL),
        (
            chained(httpx.ConnectError("x"), httpcore.ConnectError("x"), socket.gaierror(-2, "no")),
            ErrorKind.DNS,
        ),
        (chained(httpx.ConnectError("x"), AddressRefused("10.0.0.1")), ErrorKind.REFUSED_ADDRESS),
        (chained(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")), ErrorKind.CONNECT),
        (chained(httpx.ConnectError("x"), OSError(113, "No route to host")), ErrorKind.CONNECT),
        (chained(httpx.ReadError("x"), ConnectionResetError(104, "reset")), ErrorKind.CONNECT),
        (chained(httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "verify failed")), ErrorKind.TLS),
        (chained(httpx.ReadError("x"), ssl.SSLError(1, "bad record mac")), ErrorKind.TLS),
        (httpx.ConnectTimeout("x"), ErrorKind.TIMEOUT),
        (httpx.ReadTimeout("x"), ErrorKind.TIMEOUT),
        (httpx.WriteTimeout("x"), ErrorKind.TIMEOUT),
        (httpx.PoolTimeout("x"), ErrorKind.TIMEOUT),
        (TimeoutError(), ErrorKind.TIMEOUT),
        (httpx.RemoteProtocolError("x"), ErrorKind.PROTOCOL),
        (httpx.LocalProtocolError("x"), ErrorKind.PROTOCOL),
        (httpx.UnsupportedProtocol("x"), ErrorKind.INVALID_URL),
        (ValueError("a bug"), ErrorKind.INTERNAL),
    ],
    ids=lambda value: (
        value.value
        if isinstance(value, ErrorKind)
        else str(value)
        if isinstance(value, int)
        else type(value).__name__
    ),
)
def test_classify(failure: BaseException | int, kind: ErrorKind) -> None:
    assert classify(failure) is kind


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ReadTimeout("x"), "read timed out after 20 s"),
        (httpx.ConnectTimeout("x"), "connect timed out after 10 s"),
        (httpx.ConnectTimeout("DNS lookup of a.test timed out"), "DNS lookup of a.test timed out after 10 s"),
        (
            chained(httpx.ConnectError("DNS lookup failed for a.test: nope"), socket.gaierror(-2, "nope")),
            "DNS lookup failed for a.test: nope",
        ),
        (
            chained(httpx.ConnectError("[Errno 111]"), ConnectionRefusedError(111, "x")),
            "connection refused: [Errno 111]",
        ),
        (chained(httpx.ConnectError("x"), ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]")), "TLS failed: "),
        (httpx.RemoteProtocolError("illegal status line"), "malformed HTTP: illegal status line"),
        (chained(httpx.ConnectError("[Errno 113]"), OSError(113, "x")), "could not connect: [Errno 113]"),
        (httpx.ReadError(""), "connection lost: ReadError"),
    ],
    ids=["read", "connect", "dns-timeout", "dns", "refused", "tls", "protocol", "unreachable", "lost"],
)
def test_describe(exc: BaseException, message: str) -> None:
    assert describe(exc, FetchSettings()).startswith(message)


@pytest.mark.parametrize(
    ("user_agent", "contact", "header"),
    [
        ("veille/0.1 (+https://x.org)", None, "veille/0.1 (+https://x.org)"),
        ("veille/0.1 (+https://x.org)", "ops@x.org", "veille/0.1 (+https://x.org; contact: ops@x.org)"),
        ("veille/0.1", "ops@x.org", "veille/0.1 (contact: ops@x.org)"),
    ],
    ids=["no-contact", "inside-parentheses", "no-parentheses"],
)
def test_user_agent_header(user_agent: str, contact: str | None, header: str) -> None:
    assert FetchSettings(user_agent=user_agent, contact=contact).user_agent_header == header


@pytest.mark.parametrize(
    "changes",
    [
        {"per_host_concurrency": 0},
        {"read_timeout_s": 0},
        {"max_redirects": -1},
        {"contact": "a\r\nX-Evil: 1"},
    ],
    ids=["concurrency", "timeout", "redirects", "header-injection"],
)
def test_settings_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        settings(**changes)


def test_headers_are_lower_cased_and_repeats_joined() -> None:
    raw = httpx.Headers([("ETag", '"a"'), ("Vary", "Accept"), ("vary", "Cookie")])
    assert _joined_headers(raw) == {"etag": '"a"', "vary": "Accept, Cookie"}


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("", "identity"),
        ("identity", "identity"),
        ("gzip", "gzip"),
        ("X-GZIP", "gzip"),
        ("deflate", "deflate"),
        ("identity, gzip", "gzip"),
        ("br", None),
        ("gzip, gzip", None),
        ("zstd", None),
    ],
    ids=lambda value: repr(value),
)
def test_content_coding(header: str, coding: str | None) -> None:
    assert content_coding({"content-encoding": header} if header else {}) == coding


TEXT = b"Le communique de presse du ministere. " * 300


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encoded", "step"),
    [
        ("identity", TEXT, 1000),
        ("gzip", gzip.compress(TEXT), 7),
        ("gzip", gzip.compress(TEXT), 1),
        ("gzip", gzip.compress(TEXT[:5000]) + gzip.compress(TEXT[5000:]), 50),
        ("deflate", zlib.compress(TEXT), 3),
        ("deflate", _raw_deflate(TEXT), 1),
        ("deflate", zlib.compress(TEXT) + b"\0\0trailing", 64),
    ],
    ids=["identity", "gzip", "gzip-bytewise", "gzip-two-members", "deflate-zlib", "deflate-raw", "trailing"],
)
def test_decoder_round_trip(coding: str, encoded: bytes, step: int) -> None:
    decoder = ContentDecoder(coding, len(TEXT))
    out = b"".join(decoder.feed(encoded[i : i + step]) for i in range(0, len(encoded), step))
    decoder.finish()
    assert out == TEXT
    assert not decoder.over_limit


@pytest.mark.parametrize("coding", ["identity", "gzip", "deflate"])
def test_decoder_stops_one_byte_past_the_limit(coding: str) -> None:
    encoded = {"identity": TEXT, "gzip": gzip.compress(TEXT), "deflate": zlib.compress(TEXT)}[coding]
    decoder = ContentDecoder(coding, 100)
    out = decoder.feed(encoded) + decoder.feed(encoded)
    assert decoder.over_limit
    assert out == TEXT[:101]


def test_decoder_refuses_a_truncated_stream() -> None:
    decoder = ContentDecoder("gzip", 1 << 20)
    decoder.feed(gzip.compress(TEXT)[:-20])
    with pytest.raises(zlib.error):
        decoder.finish()


# --- against the loopback server ------------------------------------------------------------------


async def test_200_with_body_and_request_headers(http_server: LoopbackServer) -> None:
    http_server.route("/feed.xml", FEED, headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'})
    ua = settings(contact="ops@example.org")
    async with Fetcher(ua) as fetcher:
        result = await fetcher.fetch(
            http_server.url("/feed.xml"), headers={"X-Api-Key": "k", "Host": "evil.test"}
        )
    assert (result.status, result.body, result.etag) == (200, FEED, '"v1"')
    assert result.content_type == "application/rss+xml"
    assert result.url == result.final_url == http_server.url("/feed.xml")
    assert result.fetched_at.tzinfo is UTC and result.elapsed_s > 0
    sent = http_server.requests_to("/feed.xml")[0].headers
    assert sent["user-agent"] == ua.user_agent_header and "contact: ops@example.org" in sent["user-agent"]
    assert (sent["accept"], sent["accept-encoding"]) == (ACCEPT, "gzip, deflate")
    assert sent["x-api-key"] == "k"
    assert sent["host"] == f"127.0.0.1:{http_server.port}"  # a source cannot redirect the Host header
    assert "if-none-match" not in sent and "if-modified-since" not in sent


@pytest.mark.parametrize(
    ("kwarg", "header", "value"),
    [
        ("etag", "if-none-match", '"abc"'),
        ("last_modified", "if-modified-since", "Sat, 01 Mar 2025 10:00:00 GMT"),
    ],
    ids=["etag", "last-modified"],
)
async def test_304_not_modified(http_server: LoopbackServer, kwarg: str, header: str, value: str) -> None:
    def handler(request: Request) -> Response:
        if request.headers.get(header) == value:
            return Response(304, headers={"ETag": '"abc"'})
        return Response(200, FEED)

    http_server.route("/feed.xml", handler=handler)
    async with Fetcher(LOCAL) as fetcher:
        result = await fetcher.fetch(http_server.url("/feed.xml"), **{kwarg: value})  # type: ignore[arg-type]
        fresh = await fetcher.fetch(http_server.url("/feed.xml"))
    assert result.not_modified and result.body == b"" and result.etag == '"abc"'
    assert fresh.status == 200 and fresh.body == FEED
    assert http_server.requests_to("/feed.xml")[0].headers[header] == value


async def test_retry_after_in_seconds(http_server: LoopbackServer) -> None:
    http_server.route("/feed", b"slow down", status=429, headers={"Retry-After": "120", "X-Limit": "1"})
    error = await fetch_error(http_server.url("/feed"))
    assert (error.kind, error.status, error.retry_after_s) == (ErrorKind.RATE_LIMITED, 429, 120.0)
    assert error.message == "HTTP 429 Too Many Requests"
    assert error.headers["x-limit"] == "1" and error.body == b"slow down"


async def test_retry_after_as_http_date(http_server: LoopbackServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    http_server.route("/feed", b"maintenance", status=503, headers={"Retry-After": when})
    error = await fetch_error(http_server.url("/feed"))
    assert error.kind is ErrorKind.SERVER_ERROR and error.message == "HTTP 503 Service Unavailable"
    assert error.retry_after_s is not None and 290 <= error.retry_after_s <= 301


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, ErrorKind.SERVER_ERROR),
        (401, ErrorKind.UNAUTHORIZED),
        (404, ErrorKind.NOT_FOUND),
        (410, ErrorKind.GONE),
        (418, ErrorKind.CLIENT_ERROR),
    ],
    ids=lambda value: str(value),
)
async def test_error_statuses(http_server: LoopbackServer, status: int, kind: ErrorKind) -> None:
    http_server.route("/feed", b"nope", status=status)
    error = await fetch_error(http_server.url("/feed"))
    assert (error.kind, error.status, error.retry_after_s, error.body) == (kind, status, None, b"nope")
    assert error.message.startswith(f"HTTP {status} ")


async def test_error_body_is_decoded_and_cut(http_server: LoopbackServer) -> None:
    page = b"<html><title>Just a moment...</title>" + b"x" * 5000
    http_server.route("/feed", gzip.compress(page), status=403, headers={"Content-Encoding": "gzip"})
    error = await fetch_error(http_server.url("/feed"), settings(error_body_bytes=100))
    assert error.kind is ErrorKind.UNAUTHORIZED and error.body == page[:100]


async def test_read_timeout(http_server: LoopbackServer) -> None:
    http_server.route("/slow", FEED, body_delay_s=1.5)
    error = await fetch_error(http_server.url("/slow"), settings(read_timeout_s=0.3))
    assert error.kind is ErrorKind.TIMEOUT and error.message == "read timed out after 0.3 s"
    assert isinstance(error.__cause__, httpx.ReadTimeout)


async def test_total_timeout_on_a_trickle(http_server: LoopbackServer) -> None:
    http_server.route("/trickle", chunks=[b"<" * 10] * 40, chunk_delay_s=0.05)
    error = await fetch_error(http_server.url("/trickle"), settings(read_timeout_s=1, total_timeout_s=0.5))
    assert error.kind is ErrorKind.TIMEOUT and "total timeout" in error.message
    assert isinstance(error.__cause__, TimeoutError)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"body": b"x" * 2000}, "Content-Length 2000 over the 1000-byte cap"),
        ({"chunks": [b"x" * 300] * 4}, "body over 1000 bytes"),
    ],
    ids=["content-length", "chunked"],
)
async def test_body_over_the_cap(http_server: LoopbackServer, route: dict[str, object], message: str) -> None:
    http_server.route("/big", **route)  # type: ignore[arg-type]
    error = await fetch_error(http_server.url("/big"), settings(max_body_bytes=1000))
    assert (error.kind, error.message) == (ErrorKind.TOO_LARGE, message)


async def test_body_at_the_cap_is_kept(http_server: LoopbackServer) -> None:
    http_server.route("/exact", chunks=[b"x" * 250] * 4)
    async with Fetcher(settings(max_body_bytes=1000)) as fetcher:
        result = await fetcher.fetch(http_server.url("/exact"))
    assert result.body == b"x" * 1000


@functools.cache
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzipped one megabyte at a time (about 50 kB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(50)) + packer.flush()


async def test_gzip_bomb_is_refused_without_inflating_it(http_server: LoopbackServer) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 200_000
    http_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        error = await fetch_error(http_server.url("/bomb"), settings(max_body_bytes=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.kind is ErrorKind.TOO_LARGE
    assert error.message == "decompressed body over 1048576 bytes (possible decompression bomb)"
    assert peak < 8 << 20  # the cap and some buffers, far from the 50 MB the bomb expands to


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(FEED)),
        ("x-gzip", gzip.compress(FEED)),
        ("deflate", zlib.compress(FEED)),
        ("deflate", _raw_deflate(FEED)),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate"],
)
async def test_encoded_bodies_are_decoded(http_server: LoopbackServer, coding: str, encoded: bytes) -> None:
    http_server.route("/feed", encoded, headers={"Content-Encoding": coding})
    async with Fetcher(LOCAL) as fetcher:
        result = await fetcher.fetch(http_server.url("/feed"))
    assert result.body == FEED and result.headers["content-encoding"] == coding


@pytest.mark.parametrize(
    ("coding", "body", "message"),
    [
        ("br", FEED, "unsupported Content-Encoding 'br'"),
        ("gzip", b"not gzip at all", "could not decode the gzip body"),
        ("gzip", gzip.compress(FEED)[:-12], "could not decode the gzip body: the compressed body ends early"),
    ],
    ids=["unknown", "corrupt", "truncated"],
)
async def test_undecodable_bodies(
    http_server: LoopbackServer, coding: str, body: bytes, message: str
) -> None:
    http_server.route("/feed", body, headers={"Content-Encoding": coding})
    error = await fetch_error(http_server.url("/feed"))
    assert error.kind is ErrorKind.PROTOCOL and error.message.startswith(message)


async def test_relative_redirect(http_server: LoopbackServer) -> None:
    http_server.route("/old/feed", status=301, headers={"Location": "../new/feed.xml"})
    http_server.route("/new/feed.xml", FEED)
    async with Fetcher(LOCAL) as fetcher:
        result = await fetcher.fetch(http_server.url("/old/feed"))
    assert result.body == FEED
    assert (result.url, result.final_url) == (http_server.url("/old/feed"), http_server.url("/new/feed.xml"))


async def test_redirect_loop(http_server: LoopbackServer) -> None:
    http_server.route("/a", status=302, headers={"Location": "/b"})
    http_server.route("/b", status=307, headers={"Location": "/a"})
    error = await fetch_error(http_server.url("/a"))
    assert error.kind is ErrorKind.TOO_MANY_REDIRECTS and error.message.startswith("redirect loop: ")
    assert len(http_server.requests) == 2


@pytest.mark.parametrize("hops", [3, 4], ids=["at-limit", "over-limit"])
async def test_redirect_chain_limit(http_server: LoopbackServer, hops: int) -> None:
    for n in range(hops):
        http_server.route(f"/r{n}", status=308, headers={"Location": f"/r{n + 1}"})
    http_server.route(f"/r{hops}", FEED)
    async with Fetcher(settings(max_redirects=3)) as fetcher:
        if hops == 3:
            assert (await fetcher.fetch(http_server.url("/r0"))).final_url == http_server.url("/r3")
            return
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(http_server.url("/r0"))
    assert (
        caught.value.kind is ErrorKind.TOO_MANY_REDIRECTS and "more than 3 redirects" in caught.value.message
    )


@pytest.mark.parametrize(
    ("headers", "kind"),
    [({}, ErrorKind.PROTOCOL), ({"Location": "file:///etc/passwd"}, ErrorKind.INVALID_URL)],
    ids=["no-location", "file-scheme"],
)
async def test_unusable_redirects(
    http_server: LoopbackServer, headers: dict[str, str], kind: ErrorKind
) -> None:
    http_server.route("/moved", status=302, headers=headers)
    assert (await fetch_error(http_server.url("/moved"))).kind is kind


async def test_credentials_stay_on_their_origin(http_server: LoopbackServer) -> None:
    port = http_server.port
    http_server.route("/same", status=302, headers={"Location": "/other"})
    http_server.route("/other", status=302, headers={"Location": f"http://feeds.test:{port}/final"})
    http_server.route("/final", FEED)
    async with Fetcher(LOCAL, resolver=map_to_loopback) as fetcher:
        await fetcher.fetch(
            http_server.url("/same"), headers={"Authorization": "Bearer s3cret", "X-Tag": "t"}
        )
    auth = [r.headers.get("authorization") for r in http_server.requests]
    assert auth == ["Bearer s3cret", "Bearer s3cret", None]
    assert http_server.requests[2].headers["x-tag"] == "t"
    assert http_server.requests[2].headers["host"] == f"feeds.test:{port}"


async def test_no_cookies_kept_between_fetches(http_server: LoopbackServer) -> None:
    http_server.route("/set", FEED, headers={"Set-Cookie": "session=abc; Path=/"})
    http_server.route("/check", FEED)
    async with Fetcher(LOCAL) as fetcher:
        await fetcher.fetch(http_server.url("/set"))
        await fetcher.fetch(http_server.url("/check"))
    assert "cookie" not in http_server.requests_to("/check")[0].headers


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused() -> None:
    error = await fetch_error(f"http://127.0.0.1:{closed_port()}/feed")
    assert error.kind is ErrorKind.CONNECT and error.message.startswith("connection refused")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/feed", "file:///etc/passwd", "http:///feed", "https://", "http://exa mple.org/"],
)
async def test_invalid_urls(url: str) -> None:
    assert (await fetch_error(url)).kind is ErrorKind.INVALID_URL


class InFlight:
    """A route handler that records how many requests it serves at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, _request: Request) -> Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            threading.Event().wait(0.15)
            return Response(200, FEED)
        finally:
            with self.lock:
                self.now -= 1


async def test_per_host_concurrency_limits_requests_in_flight(http_server: LoopbackServer) -> None:
    counter = InFlight()
    http_server.route("/feed", handler=counter)
    async with Fetcher(settings(per_host_concurrency=2)) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(http_server.url(f"/feed?n={n}")) for n in range(6)))
    assert all(r.body == FEED for r in results)
    assert counter.most == 2  # limited, and the limit is actually used


async def test_global_concurrency_spans_hosts(http_server: LoopbackServer) -> None:
    counter = InFlight()
    http_server.route("/feed", handler=counter)
    urls = [f"http://{host}:{http_server.port}/feed" for host in ("a.test", "b.test", "c.test")]
    async with Fetcher(settings(global_concurrency=1), resolver=map_to_loopback) as fetcher:
        await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert counter.most == 1


# --- address guard --------------------------------------------------------------------------------


async def map_to_loopback(host: str, port: int) -> list[str]:
    """A resolver for the tests: every name is 127.0.0.1, "nx.test" does not exist."""
    if host == "nx.test":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ["127.0.0.1"]


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
async def test_refused_address(http_server: LoopbackServer, host: str) -> None:
    http_server.route("/feed", FEED)
    error = await fetch_error(f"http://{host}:{http_server.port}/feed", settings(allow_private=False))
    assert error.kind is ErrorKind.REFUSED_ADDRESS and "loopback address" in error.message
    assert http_server.requests == []


async def test_dns_failure() -> None:
    async with Fetcher(LOCAL, resolver=map_to_loopback) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch("http://nx.test/feed")
    assert caught.value.kind is ErrorKind.DNS
    assert caught.value.message == "DNS lookup failed for nx.test: Name or service not known"


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["93.184.216.34"], None),
        (["93.184.216.34", "10.0.0.7"], "10.0.0.7"),
        (["2606:2800:220:1::1", "::ffff:169.254.169.254"], "::ffff:169.254.169.254"),
    ],
    ids=["public", "one-private-among-public", "mapped-metadata"],
)
async def test_every_resolved_address_is_vetted(addresses: list[str], refused: str | None) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return addresses

    backend = GuardedBackend(allow_private=False, resolver=resolver)
    if refused is None:
        assert await backend.vetted_addresses("feeds.test", 443) == addresses
        return
    with pytest.raises(AddressRefused, match=rf"feeds\.test \({refused}\)"):
        await backend.vetted_addresses("feeds.test", 443)


# --- malformed HTTP and TLS, with a raw asyncio server --------------------------------------------


@asynccontextmanager
async def raw_server(
    reply: bytes, *, read_first: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """A TCP server that answers ``reply`` (after the request head when ``read_first``), then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if read_first:
                await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            if not read_first:
                await reader.read(4096)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


async def test_malformed_http() -> None:
    async with raw_server(b"HELLO THERE\r\n\r\n", read_first=True) as port:
        error = await fetch_error(f"http://127.0.0.1:{port}/feed")
    assert error.kind is ErrorKind.PROTOCOL and error.message.startswith("malformed HTTP")


async def test_tls_to_a_plain_http_server() -> None:
    async with raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", read_first=False) as port:
        error = await fetch_error(f"https://127.0.0.1:{port}/feed")
    assert error.kind is ErrorKind.TLS and error.message.startswith("TLS failed")


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=feeds.test",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    yield context


async def test_tls_uses_the_url_host_while_connecting_to_the_vetted_ip(self_signed: ssl.SSLContext) -> None:
    names: list[str | None] = []
    self_signed.sni_callback = lambda _sock, name, _ctx: names.append(name)
    async with (
        raw_server(b"", read_first=False, tls=self_signed) as port,
        Fetcher(LOCAL, resolver=map_to_loopback) as fetcher,
    ):
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(f"https://feeds.test:{port}/feed")
    assert names == ["feeds.test"]  # SNI from the URL, although the socket went to 127.0.0.1
    assert caught.value.kind is ErrorKind.TLS and "self-signed certificate" in caught.value.message


async def test_fetch_needs_an_open_fetcher() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Fetcher(LOCAL).fetch("http://127.0.0.1/")
