"""One configuration for every part of veille: a file (``veille.toml`` or YAML), the environment, secret files.

``load_config(path, environ)`` works in four stages:

1. read (``bot.configfile``): the file, TOML (``.toml``) or YAML (``.yaml``/``.yml``) by its extension, into
   plain data and the line of every section and key. Without ``path`` the file is ``./veille.toml``, and a
   missing one is no file; a missing file given explicitly is an error.
2. check the shape: sections ``[monitor]``, ``[summarizer]``, ``[bot]``, ``[service]``, whose keys are the
   fields of the settings models; an unknown one gets "did you mean"; a secret written in the file is refused.
3. merge: the environment overrides the file (``VEILLE_<KEY>``, ``DATABASE_URL``, ``TELEGRAM_BOT_TOKEN``).
   A secret comes from its variable or from ``<key>_file`` (key or ``VEILLE_<KEY>_FILE``): a file that only its
   owner may read (mode 0600 or 0400), whose stripped content is the secret.
4. validate each section's model. Every problem is reported at once (``ConfigErrors``), each with its
   ``file:line`` or its variable and a fix, in the style of ``sources.yaml`` errors.

``config_table``, ``example_toml`` and ``settings_markdown`` document every setting from the models themselves:
``veille.example.toml`` and the README's table are their output, and tests keep them equal.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url

from bot.configfile import ConfigFile, read_config_file, read_secret, secret_problem
from bot.email import email_problems
from bot.settings import BotSettings, ServiceSettings
from monitor.errors import ConfigError
from monitor.settings import MonitorSettings, choices, env_var, expected, limits, shown_setting
from monitor.validation import ConfigErrors, show
from summarizer.settings import SummarizerSettings

M = TypeVar("M", bound=BaseModel)

DEFAULT_PATH = Path("veille.toml")
SECTIONS: dict[str, type[BaseModel]] = {
    "monitor": MonitorSettings,
    "summarizer": SummarizerSettings,
    "bot": BotSettings,
    "service": ServiceSettings,
}
HIDDEN = "********"
_OWNER_ONLY = "a file readable by you only (chmod 600 PATH)"


@dataclass(frozen=True, slots=True)
class Config:
    """The validated settings of every part; ``origins`` maps ``section.key`` to ``file:LINE`` or ``env VAR``."""

    monitor: MonitorSettings
    summarizer: SummarizerSettings
    bot: BotSettings
    service: ServiceSettings
    path: Path | None
    origins: dict[str, str]
    secret_files: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # "<section>.<secret>" -> the file it came from

    def section(self, model: type[M]) -> M:
        """The settings of one model, e.g. ``config.section(MonitorSettings)``."""
        for settings in (self.monitor, self.summarizer, self.bot, self.service):
            if isinstance(settings, model):
                return settings
        raise KeyError(model.__name__)

    def origin(self, section: str, key: str) -> str:
        return self.origins.get(f"{section}.{key}", "default")


@dataclass(frozen=True, slots=True)
class _Given:
    """A value set by the file (``path``, ``line``) or by the environment (``var``)."""

    value: Any
    path: str | None = None
    line: int | None = None
    var: str = ""
    secret_file: str | None = None  # a secret read from this file (``<key>_file``)

    @property
    def origin(self) -> str:
        if self.path is None:
            return f"env {self.var}"
        return f"{self.path}:{self.line}" if self.line else self.path


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """The configuration from ``path`` (None: ``./veille.toml`` if present) and ``environ``, validated."""
    file = read_config_file(path or DEFAULT_PATH, explicit=path is not None)
    given: dict[str, dict[str, _Given]] = {section: {} for section in SECTIONS}
    errors = _from_file(file, given) if file else []
    errors += _from_env(environ, given)
    monitor = _validate(MonitorSettings, "monitor", given, errors)
    summarizer = _validate(SummarizerSettings, "summarizer", given, errors)
    bot = _validate(BotSettings, "bot", given, errors)
    errors += _email_errors(bot, given["bot"]) if bot is not None else []
    service = _validate(ServiceSettings, "service", given, errors)
    if errors or monitor is None or summarizer is None or bot is None or service is None:
        raise ConfigErrors(sorted(errors, key=lambda e: (e.path is None, e.line or 0)))
    origins = {f"{s}.{key}": g.origin for s, values in given.items() for key, g in values.items()}
    files = {
        f"{s}.{key}": g.secret_file
        for s, values in given.items()
        for key, g in values.items()
        if g.secret_file
    }
    return Config(monitor, summarizer, bot, service, Path(file.name) if file else None, origins, files)


# --- 2. check the shape, 3. merge ---------------------------------------------------------------------------


def _secrets(model: type[BaseModel]) -> list[str]:
    """The secret fields of a model: those typed SecretStr (or SecretStr | None)."""
    return [n for n, f in model.model_fields.items() if SecretStr in (f.annotation, *get_args(f.annotation))]


def _file_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section of the file accepts: the fields, with ``<secret>_file`` in place of each secret."""
    secrets = _secrets(model)
    return [f"{n}_file" if n in secrets else n for n in model.model_fields]


def _from_file(file: ConfigFile, given: dict[str, dict[str, _Given]]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for section, body in file.data.items():
        line = file.lines.get((section,))
        if section not in SECTIONS:
            errors.append(_unknown_section(file.name, line, section))
        elif body is not None and not isinstance(body, dict):
            hint = f"write key = value lines under [{section}]"
            errors.append(
                ConfigError(f"[{section}] is not a table of settings", path=file.name, line=line, hint=hint)
            )
        else:
            for key, value in (body or {}).items():
                where = _Given(value, file.name, file.lines.get((section, str(key)), line))
                errors += _file_key(section, str(key), where, given[section])
    return errors


def _unknown_section(name: str, line: int | None, section: str) -> ConfigError:
    home = _home(section)
    if home:
        message, hint = f"setting '{section}' outside a section", f"put it under [{home}]"
    else:
        close = difflib.get_close_matches(section, list(SECTIONS), n=1)
        message = f"unknown section [{section}]"
        hint = (f"did you mean [{close[0]}]? " if close else "") + "sections: " + ", ".join(SECTIONS)
    return ConfigError(message, path=name, line=line, hint=hint)


def _home(key: str) -> str | None:
    return next((s for s, model in SECTIONS.items() if key in _file_keys(model)), None)


def _file_key(section: str, key: str, where: _Given, values: dict[str, _Given]) -> list[ConfigError]:
    model = SECTIONS[section]
    secrets = _secrets(model)

    def error(message: str, hint: str) -> list[ConfigError]:
        return [ConfigError(f"[{section}] {message}", path=where.path, line=where.line, hint=hint)]

    if key in secrets:
        hint = f'remove it; set {env_var(key)} instead, or {key}_file = "/path" to {_OWNER_ONLY}'
        return error(f"{key}: a secret is never read from the configuration file", hint)
    if key.removesuffix("_file") in secrets:
        field = key.removesuffix("_file")
        if not isinstance(where.value, str) or not where.value.strip():
            return error(f"{key} = {show(where.value)}: not a path", f'{key} = "/path" to {_OWNER_ONLY}')
        secret = read_secret(Path(where.value.strip()))
        if isinstance(secret, ConfigError):
            return error(f"{key}: {secret.detail}", secret.hint or "")
        values[field] = _Given(SecretStr(secret), where.path, where.line, secret_file=where.value.strip())
        return []
    if key not in model.model_fields:
        home = _home(key)
        close = difflib.get_close_matches(key, _file_keys(model), n=1)
        hint = (
            f"it belongs in [{home}]: move it there"
            if home
            else (f"did you mean '{close[0]}'? " if close else "") + "veille.example.toml lists every key"
        )
        return error(f"unknown key '{key}'", hint)
    values[key] = where
    return []


def _from_env(environ: Mapping[str, str], given: dict[str, dict[str, _Given]]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for section, model in SECTIONS.items():
        secrets = _secrets(model)
        for field in model.model_fields:
            var, raw = env_var(field), environ.get(env_var(field), "").strip()
            file_var = env_var(f"{field}_file")
            path = environ.get(file_var, "").strip() if field in secrets else ""
            if raw and path:
                hint = f"unset one of {var} and {file_var}"
                errors.append(ConfigError(f"{var} and {file_var} are both set", hint=hint))
            elif path:
                secret = read_secret(Path(path))
                if isinstance(secret, ConfigError):
                    errors.append(ConfigError(f"{file_var}={path}: {secret.detail}", hint=secret.hint))
                else:
                    given[section][field] = _Given(SecretStr(secret), var=file_var, secret_file=path)
            elif raw and field in secrets and (problem := secret_problem(raw)):
                errors.append(
                    ConfigError(f"{var}: the secret {problem}", hint=f"set {var} to the secret alone")
                )
            elif raw:
                given[section][field] = _Given(raw, var=var)
    return errors


# --- 4. validate --------------------------------------------------------------------------------------------


def _validate(
    model: type[M], section: str, given: dict[str, dict[str, _Given]], errors: list[ConfigError]
) -> M | None:
    values = given[section]
    try:
        return model.model_validate({key: g.value for key, g in values.items()})
    except ValidationError as exc:
        errors += [_error(model, section, e, values) for e in exc.errors(include_url=False)]
        return None


def _error(
    model: type[BaseModel], section: str, err: ErrorDetails, values: Mapping[str, _Given]
) -> ConfigError:
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return ConfigError(f"[{section}] {message}", hint="change one of the two settings")
    field = str(err["loc"][0])
    info = model.model_fields[field]
    where = values.get(field, _Given(None, var=env_var(field)))
    shown = HIDDEN if field in _secrets(model) else shown_setting(field, err["input"])
    fix = (err.get("ctx") or {}).get("hint")  # a validator's own fix (monitor.validation.invalid)
    if where.path is None:
        hint = f"{fix} ({where.var}: {info.description})" if fix else None
        hint = hint or f"set {where.var} to {expected(info, env=True)} ({info.description})"
        return ConfigError(f"{where.var}={shown}: {message}", hint=hint)
    hint = f"{fix} ({field}: {info.description})" if fix else None
    hint = hint or f"set {field} to {expected(info, env=False)} ({info.description})"
    return ConfigError(
        f"[{section}] {field} = {shown}: {message}", path=where.path, line=where.line, hint=hint
    )


def _email_errors(bot: BotSettings, values: Mapping[str, _Given]) -> list[ConfigError]:
    """The email settings the email commands would refuse (``bot.email.email_problems``: one rule for both)."""
    errors: list[ConfigError] = []
    problems = email_problems(
        security=bot.smtp_security,
        username=bot.smtp_username,
        unsubscribe_mailto=bot.email_unsubscribe_mailto,
        unsubscribe_url=bot.email_unsubscribe_url,
    )
    for problem in problems:
        where = values.get(problem.setting, _Given(None, var=env_var(problem.setting)))
        if where.path is None:
            errors.append(ConfigError(f"{where.var}: {problem.message}", hint=problem.hint))
        else:
            message = f"[bot] {problem.message}"
            errors.append(ConfigError(message, path=where.path, line=where.line, hint=problem.hint))
    return errors


# --- the effective configuration, the documentation ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effective:
    """One setting as ``veille config check`` shows it: secrets and passwords hidden."""

    section: str
    key: str
    value: str | int | float | bool | None
    origin: str  # "default", "veille.toml:12" or "env VEILLE_X"


def effective(config: Config) -> list[Effective]:
    """Every setting of ``config`` with its value (secrets: ``********`` or None) and where it came from."""
    rows: list[Effective] = []
    for section, model in SECTIONS.items():
        settings = config.section(model)
        secrets = _secrets(model)
        for key in model.model_fields:
            value = getattr(settings, key)
            if isinstance(value, SecretStr):
                value = HIDDEN
            elif key == "database_url":
                value = _database_url_shown(value)
            elif isinstance(value, Path):
                value = str(value)
            rows.append(Effective(section, key, value, config.origin(section, key)))
            if key in secrets:  # its file setting too: the path (never the secret), or not set
                path = config.secret_files.get(f"{section}.{key}")
                origin = config.origin(section, key) if path else "default"
                rows.append(Effective(section, f"{key}_file", path, origin))
    return rows


def _database_url_shown(url: str) -> str:
    """The database URL as ``config check`` shows it: the password, in the URL or in its query, hidden."""
    parsed = make_url(url)
    query = {k: "***" if k.lower() == "password" else v for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


@dataclass(frozen=True, slots=True)
class SettingDoc:
    """One row of the settings table. ``default`` is a TOML value ('' when not set)."""

    section: str
    key: str
    env: str
    default: str
    bounds: str
    help: str
    secret: bool = False  # environment only: the file takes ``<key>_file`` instead


def config_table() -> list[SettingDoc]:
    """Every setting, section by section, in the models' order; each secret followed by its ``_file`` key."""
    rows: list[SettingDoc] = []
    for section, model in SECTIONS.items():
        secrets = _secrets(model)
        for key, info in model.model_fields.items():
            text = info.description or ""
            rows.append(
                SettingDoc(
                    section, key, env_var(key), _toml(info.default), _bounds(info), text, key in secrets
                )
            )
            if key in secrets:
                text = f"a file holding {key}, readable by its owner only (mode 0600 or 0400)"
                rows.append(SettingDoc(section, f"{key}_file", env_var(f"{key}_file"), "", "", text))
    return rows


def _toml(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _bounds(info: FieldInfo) -> str:
    low, high = limits(info)
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    return ", ".join(choices(info))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_EXAMPLE_HEAD = """\
# veille.example.toml: every setting of veille, with its default. Copy it to veille.toml in the working
# directory (or pass --config PATH, or set VEILLE_CONFIG) and uncomment what you change.
# The environment overrides this file: VEILLE_<KEY>, DATABASE_URL, TELEGRAM_BOT_TOKEN.
# Secrets are never written here: set their variable, or <key>_file = "/path" to a file readable by you only
# (chmod 600 /path). Relative paths are relative to the working directory.
# Generated by bot.config.example_toml(); a test checks that this file matches it.
"""


def example_toml() -> str:
    """The text of ``veille.example.toml``: every setting commented out, with its help line and default."""
    parts = [_EXAMPLE_HEAD]
    for section in SECTIONS:
        parts.append(f"\n[{section}]\n")
        for doc in (d for d in config_table() if d.section == section):
            if doc.secret:
                parts.append(
                    _comment(f"{doc.key}: {doc.help}: set {doc.env}, or {doc.key}_file below", "") + "\n"
                )
                continue
            parts.append(_comment(_meaning(doc, "; "), f"(env {doc.env})"))
            parts.append(f"# {doc.key} = {doc.default or _placeholder(doc.key)}\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def _comment(text: str, tail: str, width: int = 108) -> str:
    """``text`` as comment lines, then ``tail`` (kept whole) on the last line when it fits, else on its own."""
    lines = textwrap.wrap(text, width)
    if tail and len(lines[-1]) + 1 + len(tail) <= width:
        lines[-1] += f" {tail}"
    elif tail:
        lines.append(tail)
    return "".join(f"# {line}\n" for line in lines)


def _meaning(doc: SettingDoc, sep: str) -> str:
    """The help line, then the bounds or the choices unless the help already names every choice."""
    choices = doc.bounds.split(", ") if doc.bounds and " to " not in doc.bounds else []
    if not doc.bounds or (choices and all(c in doc.help for c in choices)):
        return doc.help
    return f"{doc.help}{sep}{doc.bounds}"


def _placeholder(key: str) -> str:
    return '"/path/to/secret"' if key.endswith("_file") else '"..."  # not set by default'


def settings_markdown() -> str:
    """The README's settings table: section, key, environment variable, default, meaning."""
    lines = ["| section | key | environment variable | default | meaning |", "|---|---|---|---|---|"]
    for doc in config_table():
        default = {"": "not set", '""': "empty"}.get(doc.default) or f"`{_plain(doc.default)}`"
        meaning = _meaning(doc, "; ")
        cells = (doc.section, f"`{doc.key}`", f"`{doc.env}`", default, meaning)
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("<", "\\<") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _plain(toml_value: str) -> str:
    """A TOML value as a person reads it: a string without its quotes."""
    return str(json.loads(toml_value)) if toml_value.startswith('"') else toml_value
