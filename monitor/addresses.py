"""Address guard against server-side request forgery (SSRF), built into the connection layer.

A source URL is input from a configuration file or a subscriber: without a guard,
``http://169.254.169.254/`` or a name that resolves to ``10.0.0.5`` makes veille fetch from the
operator's own network. The check happens where the socket is opened, not before the request:

1. :class:`GuardedBackend` (an ``httpcore`` network backend) resolves the host itself
   (a literal IP is taken as is, without DNS);
2. it vets every address the name resolves to (:func:`address_category`); one bad address refuses
   the whole name, so a round-robin answer cannot slip a private address in;
3. it connects to a vetted IP, trying them in the resolver's order.

There is thus no window between the check and the connection in which DNS could answer differently
(DNS rebinding). TLS still uses the URL's host name for SNI and certificate checks: httpcore passes it
to ``start_tls`` itself, separately from the address ``connect_tcp`` was given.

What is public is Python's ``ipaddress`` judgement (``is_global`` and the special ranges), plus the ranges
it misses in the Pythons veille runs on (:data:`NON_PUBLIC_RANGES`): the deprecated IPv6 site-local
``fec0::/10`` (RFC 3879; still routed inside some networks) and the IPv6 documentation prefix
``3fff::/20`` (RFC 9637), neither of which may be reached from the internet.

:class:`GuardedTransport` plugs the backend into httpx and keeps httpx's mapping of httpcore exceptions:
a refusal surfaces as ``httpx.ConnectError`` caused by :class:`AddressRefused`, and a failed lookup as
``httpx.ConnectError`` caused by ``socket.gaierror``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpcore
import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``; raises ``socket.gaierror`` when the name does not resolve."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the low 32 bits are IPv4
NON_PUBLIC_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (ipaddress.IPv6Network("fec0::/10"), "site-local"),  # RFC 3879 deprecated it; ipaddress calls it global
    (ipaddress.IPv6Network("3fff::/20"), "documentation"),  # RFC 9637, next to 2001:db8::/32
)


class AddressRefused(httpcore.ConnectError):
    """The host is, or resolves to, an address the fetcher may not connect to."""


def address_category(address: str | IPv4Address | IPv6Address) -> str | None:
    """Why an address must not be fetched from ("loopback", "private", ...), or None when it is public.

    IPv4 addresses carried in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``) are judged
    as the IPv4 address they reach; a 6to4 address is refused when its embedded IPv4 address is.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, IPv6Address):
        embedded = ip.ipv4_mapped or (IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            return address_category(embedded)
        if ip.sixtofour is not None and address_category(ip.sixtofour) is not None:
            return "6to4 wrapping a non-public address"
        unscoped = IPv6Address(int(ip))  # "fec0::1%eth0" is in fec0::/10 too
        for network, name in NON_PUBLIC_RANGES:
            if unscoped in network:
                return name
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def is_public_address(address: str | IPv4Address | IPv6Address) -> bool:
    """True when the fetcher may connect to ``address`` with ``allow_private`` off."""
    return address_category(address) is None


def ip_literal(host: str) -> str | None:
    """``host`` normalised when it is a literal IPv4/IPv6 address (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver, in its order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, vet every address, then connect to a vetted IP (see the module docstring)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolve: Resolver = resolver or system_resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.vetted_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from exc
        last_error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for index, address in enumerate(addresses):
            attempt = None
            if deadline is not None:  # share what is left between the addresses not tried yet
                attempt = max(0.0, deadline - loop.time()) / (len(addresses) - index)
            try:
                return await self._inner.connect_tcp(address, port, attempt, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; raises AddressRefused if any of them is not allowed."""
        literal = ip_literal(host)
        addresses = [literal] if literal is not None else await self._lookup(host, port)
        if not self.allow_private:
            for address in addresses:
                category = address_category(address)
                if category is not None:
                    shown = address if address == host else f"{host} ({address})"
                    raise AddressRefused(
                        f"refused to connect to {shown}: {category} address (set VEILLE_ALLOW_PRIVATE=1 to allow it)"
                    )
        return addresses

    async def _lookup(self, host: str, port: int) -> list[str]:
        try:
            addresses = await self._resolve(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"DNS lookup failed for {host}: {exc.strerror or exc}") from exc
        if not addresses:
            empty = socket.gaierror(socket.EAI_NONAME, "no address")
            raise httpcore.ConnectError(f"DNS lookup failed for {host}: no address") from empty
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("the fetcher does not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (HTTP/1.1 only, no proxy, no environment) over a :class:`GuardedBackend`."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False, http1=True, http2=False, limits=limits)
        # The parent built the same pool with the default backend; swap in one that uses the guard. Its
        # request handling and httpcore -> httpx exception mapping stay as they are.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )
