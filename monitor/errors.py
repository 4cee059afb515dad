"""Errors of the monitor, classified once, where they happen.

Exception tree::

    VeilleError
    ├── ConfigError          bad sources.yaml / settings (file, line, hint) -> exit code 2
    └── SourceError          one source failed; carries an ErrorKind, stored on the source
        ├── FetchError       network / HTTP / guard failures
        └── ParseError       the body is not a usable feed or page

Errors are data: the poller stores ``kind``, ``message`` and a counter on the source; a success
resets the counter. ``ErrorKind.permanent`` tells the scheduler which kinds pause a source after
repeated failures.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """The kind of a source failure, as stored in the database and shown to users."""

    DNS = "dns"  # the host name does not resolve
    CONNECT = "connect"  # connection refused / reset / unreachable
    TIMEOUT = "timeout"  # connect, read or total timeout
    TLS = "tls"  # certificate or handshake failure
    PROTOCOL = "protocol"  # malformed HTTP
    UNAUTHORIZED = "unauthorized"  # 401 / 403
    NOT_FOUND = "not_found"  # 404
    GONE = "gone"  # 410
    CLIENT_ERROR = "client_error"  # other 4xx
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    TOO_MANY_REDIRECTS = "too_many_redirects"  # redirect loop or chain over the limit
    TOO_LARGE = "too_large"  # body over the cap, or a decompression bomb
    BLOCKED = "blocked"  # challenge page (Cloudflare, DDoS-Guard, ...) or anti-bot wall
    REFUSED_ADDRESS = "refused_address"  # private / loopback / link-local address not allowed
    INVALID_URL = "invalid_url"  # not an http(s) URL
    UNPARSEABLE = "unparseable"  # not a feed, or a feed without entries that is malformed
    INTERNAL = "internal"  # a bug in veille; logged with a traceback

    @property
    def permanent(self) -> bool:
        """Kinds that will not fix themselves: repeated, they pause the source."""
        return self in _PERMANENT


_PERMANENT = frozenset(
    {
        ErrorKind.DNS,
        ErrorKind.UNAUTHORIZED,
        ErrorKind.NOT_FOUND,
        ErrorKind.GONE,
        ErrorKind.CLIENT_ERROR,
        ErrorKind.TOO_MANY_REDIRECTS,
        ErrorKind.REFUSED_ADDRESS,
        ErrorKind.INVALID_URL,
        ErrorKind.UNPARSEABLE,
        ErrorKind.BLOCKED,
    }
)


class VeilleError(Exception):
    """Base of every error veille raises on purpose."""


class ConfigError(VeilleError):
    """A configuration file or value is wrong. The message names the file, the line and a fix."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.hint = hint
        self.detail = message
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        text = f"{where}: {message}" if where else message
        if hint:
            text = f"{text} (fix: {hint})"
        super().__init__(text)


class Unavailable(VeilleError):
    """A service a one-shot command needs does not answer (the Bot API, an SMTP server): exit 1, with a fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(f"{message} (fix: {hint})" if hint else message)


class SourceError(VeilleError):
    """One source failed. ``retry_after_s`` carries a server's Retry-After, in seconds."""

    def __init__(
        self, kind: ErrorKind, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt with its attributes when it comes back from a worker process (monitor.workers): the default
        # calls the class with ``args``, which these constructors do not take.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type[SourceError], args: tuple[Any, ...], state: dict[str, Any]) -> SourceError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class FetchError(SourceError):
    """A network, HTTP or guard failure while fetching.

    For an HTTP error status, ``headers`` (lower-cased names) and the first bytes of the body are kept so
    that the poller can recognise a challenge page behind a 403/503 and reclassify it as ``blocked``.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(kind, message, status=status, retry_after_s=retry_after_s)
        self.headers: Mapping[str, str] = headers or {}
        self.body = body


class ParseError(SourceError):
    """The body could not be turned into items."""


_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver's error a SQLAlchemy error wraps (``orig``), and their causes, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, current.__cause__, current.__context__]


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a disk is full: an OSError ENOSPC or EDQUOT, SQLite's "database or disk is full",
    PostgreSQL's disk_full; directly or as the cause of another error (a SQLAlchemy error wraps the driver's)."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(cause, sqlite3.Error) and (
            (getattr(cause, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_FULL
            or "database or disk is full" in str(cause)
        ):
            return True
        if getattr(cause, "sqlstate", None) == _PG_DISK_FULL:
            return True
    return False


def cause_text(exc: BaseException) -> str:
    """The driver's or the system's own words for ``exc`` (without SQLAlchemy's statement and parameters), on
    one line: ``OperationalError: database or disk is full``."""
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, BaseException) else exc
    return f"{type(cause).__name__}: {' '.join(str(cause).split())[:400]}"
