"""Fetch stage: one URL -> :class:`~monitor.models.FetchResult`, or a classified :class:`FetchError`.

What one :meth:`Fetcher.fetch` does, in order:

1. Check the URL: http(s) with a host, else ``INVALID_URL``.
2. Take a slot for the host (``per_host_concurrency``, politeness), then one of ``global_concurrency``.
3. Send a GET through the one shared ``httpx.AsyncClient``: honest User-Agent, feed-first Accept,
   ``Accept-Encoding: gzip, deflate``, If-None-Match / If-Modified-Since when known, the source's extra
   headers. Every connection goes through the address guard (:mod:`monitor.addresses`).
4. Follow redirects by hand, at most ``max_redirects``, refusing loops; each hop takes its own slots and
   is guarded again, and credentials are dropped when a redirect leaves the origin.
5. 304 -> an empty-bodied result. 2xx -> stream the raw bytes and undo Content-Encoding here, with zlib's
   ``max_length``, so that neither a big body nor a decompression bomb allocates past ``max_body_bytes``.
6. Any other status -> ``FetchError`` with its kind (:func:`classify`), Retry-After, the headers and the
   start of the body (the poller looks there for challenge pages).

``total_timeout_s`` bounds the exchanges themselves (request to last body byte, all hops together), not
the wait for a slot. Network and HTTP failures are raised as ``FetchError`` with the cause chained; any
other exception is a bug and is left alone. Nothing a server sends is another exception: header values
used as numbers or dates (Retry-After, Content-Length) are bounded where they are read
(:mod:`monitor.httpdates`, :mod:`monitor.body`).

DNS failures (:func:`classify`): only an answer that the name does not exist, or has no address
(``EAI_NONAME``, ``EAI_NODATA``: NXDOMAIN or an empty answer), is ``dns``, a permanent kind that pauses a
source after repeated failures, like a 404. A resolver that could not answer (``EAI_AGAIN`` "temporary
failure in name resolution", ``EAI_FAIL``, a system error, a lookup timeout) says nothing about the
source: it is ``connect`` (or ``timeout``), transient kinds that back off and never pause, so that a long
resolver outage does not pause every source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import cast

import httpx

from monitor.addresses import AddressRefused, GuardedBackend, GuardedTransport, Resolver, ip_literal
from monitor.body import ACCEPT_ENCODING, read_body, read_excerpt
from monitor.errors import ErrorKind, FetchError
from monitor.httpdates import parse_retry_after
from monitor.models import FetchResult

logger = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers a source may not set: the target host and the message framing belong to the fetcher.
_RESERVED = frozenset({"host", "accept-encoding", "content-length", "transfer-encoding", "connection", "te"})
_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})  # dropped on cross-origin hops
# getaddrinfo errors that answer "this name has no address" (NXDOMAIN, no A/AAAA record); the others
# (EAI_AGAIN, EAI_FAIL, EAI_SYSTEM...) are the resolver failing to answer.
_NO_SUCH_NAME = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits and identity of the fetcher. Checked here; bounds and help text live in the config stage."""

    user_agent: str = "veille/0.1 (+https://github.com/veille-project/veille)"
    contact: str | None = None  # an email or URL, appended as "; contact: X" inside the parentheses
    global_concurrency: int = 32  # requests in flight across all hosts
    per_host_concurrency: int = 2  # requests in flight per host (politeness)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0  # the exchanges of one fetch, body streaming included
    max_body_bytes: int = 10 * 1024 * 1024  # cap on the decoded body, enforced while streaming
    max_redirects: int = 5
    allow_private: bool = False  # allow private / loopback / link-local / reserved addresses
    error_body_bytes: int = 65536  # how much of an error response's body FetchError.body keeps

    def __post_init__(self) -> None:
        if min(self.global_concurrency, self.per_host_concurrency, self.max_body_bytes) < 1:
            raise ValueError("concurrency limits and max_body_bytes must be at least 1")
        if min(self.connect_timeout_s, self.read_timeout_s, self.total_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
        if min(self.max_redirects, self.error_body_bytes) < 0:
            raise ValueError("max_redirects and error_body_bytes must not be negative")
        for text in (self.user_agent, self.contact or ""):
            if any(ord(char) < 32 or ord(char) == 127 for char in text):
                raise ValueError(f"control character in the User-Agent part {text!r}")

    @property
    def user_agent_header(self) -> str:
        """The User-Agent sent: ``user_agent`` with ``; contact: X`` inside its trailing parentheses."""
        if not self.contact:
            return self.user_agent
        if self.user_agent.endswith(")"):
            return f"{self.user_agent[:-1]}; contact: {self.contact})"
        return f"{self.user_agent} (contact: {self.contact})"


def classify(failure: BaseException | int) -> ErrorKind:
    """The kind of a failed fetch, from an HTTP status or an exception (whose cause chain is searched)."""
    if isinstance(failure, int):
        return _status_kind(failure)
    chain = _cause_chain(failure)
    if any(isinstance(exc, AddressRefused) for exc in chain):
        return ErrorKind.REFUSED_ADDRESS
    lookup = next((exc for exc in chain if isinstance(exc, socket.gaierror)), None)
    if lookup is not None:  # see the module docstring: only a name that does not exist is permanent
        return ErrorKind.DNS if lookup.errno in _NO_SUCH_NAME else ErrorKind.CONNECT
    if any(isinstance(exc, ssl.SSLError) for exc in chain):
        return ErrorKind.TLS
    if isinstance(failure, httpx.TimeoutException | TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(failure, httpx.ProtocolError):
        return ErrorKind.PROTOCOL
    if isinstance(failure, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ErrorKind.INVALID_URL
    if isinstance(failure, httpx.NetworkError | OSError):
        return ErrorKind.CONNECT
    return ErrorKind.INTERNAL


def _status_kind(status: int) -> ErrorKind:
    special = {
        401: ErrorKind.UNAUTHORIZED,
        403: ErrorKind.UNAUTHORIZED,
        404: ErrorKind.NOT_FOUND,
        410: ErrorKind.GONE,
        429: ErrorKind.RATE_LIMITED,
    }
    if status in special:
        return special[status]
    if 400 <= status < 500:
        return ErrorKind.CLIENT_ERROR
    if 500 <= status < 600:
        return ErrorKind.SERVER_ERROR
    return ErrorKind.PROTOCOL  # a 3xx that is not a usable redirect, a 1xx, or no status at all


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe(exc: BaseException, settings: FetchSettings) -> str:
    """A plain-words message for a transport failure, e.g. "read timed out after 20 s"."""
    timeouts: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: f"connect timed out after {settings.connect_timeout_s:g} s",
        httpx.ReadTimeout: f"read timed out after {settings.read_timeout_s:g} s",
        httpx.WriteTimeout: f"write timed out after {settings.read_timeout_s:g} s",
        httpx.PoolTimeout: f"no free connection after {settings.connect_timeout_s:g} s",
    }
    chain = _cause_chain(exc)
    if any(isinstance(e, AddressRefused | socket.gaierror) for e in chain):
        return str(exc)  # the guard's own message names the host and the address or the lookup error
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        detail = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or str(tls)
        return f"TLS failed: {detail}"
    if isinstance(exc, httpx.ConnectTimeout) and str(exc).startswith("DNS lookup"):
        return f"{exc} after {settings.connect_timeout_s:g} s"
    if type(exc) in timeouts:
        return timeouts[type(exc)]
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"connection refused: {exc}"
    if isinstance(exc, httpx.ProtocolError):
        return f"malformed HTTP: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection lost: {str(exc) or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _phrase(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


async def _excerpt(
    raw: AsyncGenerator[bytes, None], headers: Mapping[str, str], limit: int, url: httpx.URL
) -> bytes:
    try:
        return await read_excerpt(raw, headers, limit)
    except httpx.TransportError as exc:  # the status is the error; the excerpt is best effort
        logger.debug("error body unreadable url=%s error=%r", url, exc)
        return b""


def _joined_headers(headers: httpx.Headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers.multi_items():
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


@dataclass(frozen=True, slots=True)
class _Hop:
    """One request/response exchange."""

    url: httpx.URL
    status: int
    headers: Mapping[str, str]
    body: bytes
    location: str | None  # set for a redirect to follow


def _check_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(ErrorKind.INVALID_URL, f"not a valid URL: {url!s} ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(ErrorKind.INVALID_URL, f"not an http(s) URL with a host: {url!s}")
    host = parsed.raw_host.decode("ascii", "replace")  # IDNA-encoded by httpx
    if ip_literal(host) is None and not _HOST_NAME.fullmatch(host):
        raise FetchError(ErrorKind.INVALID_URL, f"not a valid host name: {parsed.host!r} in {url!s}")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _redirect_target(hop: _Hop) -> httpx.URL:
    location = hop.location or ""
    try:
        target = hop.url.join(location)
    except httpx.InvalidURL as exc:
        raise FetchError(
            ErrorKind.INVALID_URL, f"bad redirect Location {location!r}: {exc}", status=hop.status
        ) from exc
    return _check_url(target)


def _status_error(hop: _Hop) -> FetchError:
    message = _phrase(hop.status)
    if 300 <= hop.status < 400:
        message = f"{message}: no redirect to follow"
    return FetchError(
        classify(hop.status),
        message,
        status=hop.status,
        retry_after_s=parse_retry_after(hop.headers.get("retry-after"), datetime.now(UTC)),
        headers=hop.headers,
        body=hop.body,
    )


class Fetcher:
    """Fetches URLs through one shared client: ``async with Fetcher(settings) as fetcher: ...``.

    ``resolver`` replaces the system resolver (tests map names to loopback with it).
    """

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self._resolver = resolver
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.global_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}  # "host:port" -> slots, created on first use

    async def __aenter__(self) -> Fetcher:
        if self._client is not None:
            raise RuntimeError("this Fetcher is already open")
        s = self.settings
        backend = GuardedBackend(allow_private=s.allow_private, resolver=self._resolver)
        limits = httpx.Limits(
            max_connections=s.global_concurrency, max_keepalive_connections=s.global_concurrency
        )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(backend, limits),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=s.connect_timeout_s,
                read=s.read_timeout_s,
                write=s.read_timeout_s,
                pool=s.connect_timeout_s,
            ),
            headers={"User-Agent": s.user_agent_header, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # no state between fetches
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET ``url``: a 2xx or 304 result, or FetchError (see the module docstring)."""
        if self._client is None:
            raise RuntimeError("use the Fetcher as `async with Fetcher(settings) as fetcher`")
        started, fetched_at = time.monotonic(), datetime.now(UTC)
        try:
            hop = await self._follow(
                self._client, _check_url(url), self._request_headers(etag, last_modified, headers)
            )
            if hop.status != 304 and not 200 <= hop.status < 300:
                raise _status_error(hop)
        except FetchError as exc:
            logger.debug("fetch failed url=%s kind=%s status=%s", url, exc.kind, exc.status)
            raise
        elapsed = time.monotonic() - started
        logger.debug(
            "fetched url=%s status=%d bytes=%d elapsed_s=%.3f", url, hop.status, len(hop.body), elapsed
        )
        return FetchResult(url, str(hop.url), hop.status, hop.headers, hop.body, fetched_at, elapsed)

    @staticmethod
    def _request_headers(
        etag: str | None, last_modified: str | None, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        headers = {name: value for name, value in (extra or {}).items() if name.lower() not in _RESERVED}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _follow(self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str]) -> _Hop:
        """Exchange after exchange until a response that is not a redirect."""
        visited = [url]
        budget = self.settings.total_timeout_s
        while True:
            hop, spent = await self._exchange(client, url, headers, budget)
            budget -= spent
            if hop.location is None:
                return hop
            target = _redirect_target(hop)
            if target in visited:
                chain = " -> ".join(str(u) for u in [*visited, target])
                raise FetchError(ErrorKind.TOO_MANY_REDIRECTS, f"redirect loop: {chain}", status=hop.status)
            if len(visited) > self.settings.max_redirects:
                raise FetchError(
                    ErrorKind.TOO_MANY_REDIRECTS,
                    f"more than {self.settings.max_redirects} redirects (next: {target})",
                    status=hop.status,
                )
            if _origin(target) != _origin(url):
                headers = {name: value for name, value in headers.items() if name.lower() not in _CREDENTIALS}
            visited.append(target)
            url = target

    async def _exchange(
        self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str], budget: float
    ) -> tuple[_Hop, float]:
        """One request and its response under the host and global slots; returns the time it took."""
        over = f"no complete response within {self.settings.total_timeout_s:g} s (total timeout)"
        if budget <= 0:
            raise FetchError(ErrorKind.TIMEOUT, over)
        async with self._host_slot(url), self._global:
            started = time.monotonic()
            timer = asyncio.timeout(budget)
            try:
                async with timer:
                    hop = await self._send(client, url, headers)
            except TimeoutError as exc:
                if not timer.expired():
                    raise
                raise FetchError(ErrorKind.TIMEOUT, over) from exc
            except httpx.TransportError as exc:
                raise FetchError(classify(exc), describe(exc, self.settings)) from exc
            return hop, time.monotonic() - started

    def _host_slot(self, url: httpx.URL) -> asyncio.Semaphore:
        _, host, port = _origin(url)
        key = f"{host}:{port}"
        if key not in self._hosts:
            self._hosts[key] = asyncio.Semaphore(self.settings.per_host_concurrency)
        return self._hosts[key]

    async def _send(self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str]) -> _Hop:
        response = await client.send(client.build_request("GET", url, headers=headers), stream=True)
        try:
            status, received = response.status_code, _joined_headers(response.headers)
            location = received.get("location") if status in _REDIRECTS else None
            body = b""
            # aclosing: the raw stream is closed even when the reader stops early (cap, excerpt)
            async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], response.aiter_raw())) as raw:
                if 200 <= status < 300:
                    body = await read_body(raw, received, self.settings.max_body_bytes)
                elif status >= 400:
                    body = await _excerpt(raw, received, self.settings.error_body_bytes, url)
            return _Hop(response.url, status, received, body, location or None)
        finally:
            await response.aclose()
