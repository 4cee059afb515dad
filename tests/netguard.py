"""Offline by construction: any socket connection that is not to loopback (or a Unix socket) fails.

Installed for the whole test session by ``tests/conftest.py`` and, for subprocesses, by running them with
``python -m tests.guarded_run`` (see there).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_getaddrinfo = socket.getaddrinfo


class NonLoopbackConnection(RuntimeError):
    pass


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback_host(host):
        raise NonLoopbackConnection(f"tests must not connect outside loopback: {address!r}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _original_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _original_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Name resolution of a non-loopback name would reach a DNS server: refuse it too.
    if host is not None and not _is_loopback_host(host if isinstance(host, str) else host.decode()):
        raise NonLoopbackConnection(f"tests must not resolve non-loopback names: {host!r}")
    return _original_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    socket.socket.connect = _original_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _original_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _original_getaddrinfo
