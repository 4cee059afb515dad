"""Settings of the monitor: one validated ``MonitorSettings``, built from the environment and overrides.

Every setting has a default, bounds and a help line (its ``description``); a bad value is a ``ConfigError`` naming
the variable and a fix. The environment variable of a setting is ``DATABASE_URL`` for the store, else
``VEILLE_<FIELD>``. Nothing is read at import time: ``settings_from_env(os.environ)`` is called by ``main``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from monitor.errors import ConfigError
from monitor.validation import ConfigErrors, invalid, one_line, opt, show

_DATABASE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg"})
_DATABASE_HINT = "e.g. sqlite:///veille.db or postgresql://user@host/dbname"


def parse_database_url(value: str) -> URL:
    """The parsed database URL, or a ``ConfigError`` that never repeats the URL: it may hold a password.

    Refused: what SQLAlchemy cannot parse, a port that is not a number from 1 to 65535, a host holding an '@' (an
    unescaped '@' in the password: part of the password would be read as the host), a database other than
    SQLite and PostgreSQL.
    """
    try:
        parsed = make_url(value)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(
            "not a database URL (not repeated here: it may hold a password)",
            hint=f"{_DATABASE_HINT}; in a password, write @ as %40, : as %3A and / as %2F",
        ) from None
    if parsed.host and "@" in parsed.host:
        raise ConfigError(
            "the user name or password of the database URL holds an '@'", hint="write it as %40 in the URL"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ConfigError("the port of the database URL is out of range", hint="a port from 1 to 65535")
    if parsed.drivername not in _DATABASE_SCHEMES:
        raise ConfigError(f"unsupported database {parsed.drivername!r}", hint=_DATABASE_HINT)
    return parsed


def shown_database_url(value: object) -> str:
    """What an error or a log line may show of a database URL: its scheme and host, nothing else (a user name,
    a password, a port, a database name or a query may be secret). A plain SQLite file URL (no user, password
    nor host) shows its path: that is where the database is, and it holds no credential."""
    text = value if isinstance(value, str) else ""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if found is None:
        return "(a database URL, not shown)"
    try:
        parsed: URL | None = make_url(text)
    except (ArgumentError, ValueError, TypeError):
        parsed = None
    if parsed is None or (parsed.host and "@" in parsed.host):
        return f"{found.group(1)}://(not shown)"
    if parsed.get_backend_name() == "sqlite" and not (parsed.username or parsed.password or parsed.host):
        return f"{parsed.drivername}:///{parsed.database or ''}"
    host = parsed.host or ""
    return f"{parsed.drivername}://{f'[{host}]' if ':' in host else host}"


def _database_url(value: str) -> str:
    try:
        parse_database_url(value)
    except ConfigError as exc:
        raise invalid(exc.detail, exc.hint or _DATABASE_HINT) from None
    return value


class MonitorSettings(BaseModel, frozen=True, extra="forbid"):
    """Settings of the monitor: each has a default, bounds and a help line (its description)."""

    database_url: Annotated[str, AfterValidator(_database_url)] = opt(
        "sqlite:///veille.db", "SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db"
    )
    allow_private: bool = opt(False, "allow private, loopback and link-local addresses")
    contact: Annotated[str, AfterValidator(one_line)] | None = opt(
        None, "an email or URL added to the User-Agent so site owners can reach you"
    )
    user_agent: Annotated[str, AfterValidator(one_line), Field(min_length=1)] = opt(
        "veille/0.1 (+https://github.com/veille-project/veille)", "the User-Agent header"
    )
    global_concurrency: int = opt(32, "requests in flight across all hosts", ge=1, le=512)
    per_host_concurrency: int = opt(2, "requests in flight per host", ge=1, le=16)
    connect_timeout_s: float = opt(10.0, "seconds to open a connection", ge=0.5, le=300)
    read_timeout_s: float = opt(20.0, "seconds to wait for data", ge=0.5, le=600)
    total_timeout_s: float = opt(60.0, "seconds for a request and its body", ge=1, le=3600)
    max_body_bytes: int = opt(10 * 2**20, "largest body, decompressed", ge=64 * 2**10, le=512 * 2**20)
    max_redirects: int = opt(5, "redirects followed per request", ge=0, le=20)
    min_interval_s: float = opt(300.0, "shortest adaptive interval", ge=60, le=7 * 86400)
    max_interval_s: float = opt(86400.0, "longest adaptive interval", ge=60, le=7 * 86400)
    backoff_base_s: float = opt(300.0, "delay after a failure, then doubled", ge=1, le=86400)
    backoff_cap_s: float = opt(6 * 3600.0, "longest backoff delay", ge=60, le=7 * 86400)
    jitter_fraction: float = opt(0.1, "random +/- share of each delay", ge=0, le=0.5)
    pause_after_errors: int = opt(10, "permanent failures that pause (0: never)", ge=0, le=1000)
    startup_spread_s: float = opt(120.0, "seconds to spread overdue sources", ge=0, le=86400)
    fulltext_max_per_poll: int = opt(20, "article pages fetched per poll", ge=0, le=1000)
    parse_processes: int = opt(
        -1, "processes that parse feeds (-1: cores - 1 for 16+ sources; 0: none)", ge=-1, le=64
    )

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSettings:
        if self.min_interval_s > self.max_interval_s:
            raise ValueError("min_interval_s is above max_interval_s")
        if self.backoff_base_s > self.backoff_cap_s:
            raise ValueError("backoff_base_s is above backoff_cap_s")
        return self


M = TypeVar("M", bound=BaseModel)

ENV_NAMES = {"database_url": "DATABASE_URL", "telegram_token": "TELEGRAM_BOT_TOKEN"}


def env_var(field: str) -> str:
    """The environment variable of a setting: ``DATABASE_URL``, ``TELEGRAM_BOT_TOKEN``, else ``VEILLE_<FIELD>``."""
    return ENV_NAMES.get(field, f"VEILLE_{field.upper()}")


def settings_from_env(environ: Mapping[str, str], **overrides: Any) -> MonitorSettings:
    """Settings from ``environ`` (an empty value is unset), then ``overrides`` (None: not given) on top."""
    return model_from_env(MonitorSettings, environ, **overrides)


def model_from_env(model: type[M], environ: Mapping[str, str], **overrides: Any) -> M:
    """A settings model from ``environ`` and ``overrides``; every problem reported at once, with its fix."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for field in model.model_fields:
        raw = environ.get(env_var(field), "").strip()
        if raw:
            values[field], origin[field] = raw, env_var(field)
    for field, value in overrides.items():
        if value is not None:
            values[field], origin[field] = value, f"setting {field}"
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigErrors(
            [_setting_error(model, err, origin) for err in exc.errors(include_url=False)]
        ) from exc


def shown_setting(field: str, value: object) -> str:
    """A setting's value as an error message shows it: a database URL reduced to its scheme and host."""
    return shown_database_url(value) if field == "database_url" else show(value)


def limits(info: FieldInfo) -> tuple[Any, Any]:
    """A setting's (lowest, highest) allowed values, None where unbounded."""
    low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
    return low, high


def choices(info: FieldInfo) -> list[str]:
    """The allowed values of a ``Literal`` setting (none for other types)."""
    return [str(c) for c in get_args(info.annotation)] if get_origin(info.annotation) is Literal else []


def expected(info: FieldInfo, *, env: bool = True) -> str:
    """What a setting accepts, in words, for an error's fix (``env``: as an environment variable's text)."""
    if info.annotation is bool:
        return "1/true/yes or 0/false/no" if env else "true or false"
    if info.annotation in (int, float):
        low, high = limits(info)
        bounds = f" between {low} and {high}" if low is not None and high is not None else ""
        return f"a {'whole ' if info.annotation is int else ''}number{bounds}"
    return f"one of {', '.join(choices(info))}" if choices(info) else "a valid value"


def _setting_error(model: type[BaseModel], err: ErrorDetails, origin: Mapping[str, str]) -> ConfigError:
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return ConfigError(message, hint="change one of the two settings")
    field = str(err["loc"][0])
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(field, list(model.model_fields), n=1)
        return ConfigError(
            f"unknown setting '{field}'", hint=f"did you mean '{close[0]}'?" if close else None
        )
    description = model.model_fields[field].description
    given = (err.get("ctx") or {}).get("hint")  # a validator's own fix (monitor.validation.invalid)
    hint = (
        f"{given} ({env_var(field)}: {description})"
        if given
        else (f"set {env_var(field)} to {expected(model.model_fields[field])} ({description})")
    )
    shown = shown_setting(field, err["input"])
    return ConfigError(f"{origin.get(field, env_var(field))}={shown}: {message}", hint=hint)
