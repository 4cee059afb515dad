"""Telling a passing fault of the database from a bug: what the long-running loops retry quietly."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

_BROKEN = (
    "server closed the connection",
    "connection socket closed",
    "connection in transaction status",
    "the connection is closed",
    "terminating connection",
    "connection refused",
    "could not connect",
)


def brief(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, at most ``limit`` characters: an error as one log line or record."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:limit]


def is_unreachable(exc: BaseException) -> bool:
    """True when the database could not be reached or answer (a passing fault: retry later, mark nothing)."""
    if isinstance(exc, (InterfaceError, DisconnectionError, PoolTimeout, ConnectionError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and any(sign in str(exc.orig).lower() for sign in _BROKEN):
        return True  # psycopg on a connection cut under it (the pool's ping raises ProgrammingError then)
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return not any(word in text for word in ("syntax", "no such table", "no such column"))
    return False
