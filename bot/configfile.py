"""Reading the configuration file and secret files: the I/O of ``bot.config``, with errors that carry a fix.

``read_config_file`` turns ``veille.toml`` (TOML) or ``veille.yaml`` (YAML, chosen by the extension) into plain
data and the line of every section and key: for TOML by a simple scan of the text (tomllib gives no positions),
for YAML from the nodes' marks. A syntax error names the file, the line and a fix.

``read_secret`` reads a secret from a file that only its owner, the user running veille, may read (mode 0600 or
0400): a token in a world-readable file is refused with ``chmod 600 PATH`` as the fix.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from monitor.errors import ConfigError
from monitor.validation import (
    ConfigErrors,
    long_number_problem,
    nesting_problem,
    too_deep,
    unreadable_value,
)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A parsed configuration file: ``lines`` maps ``("bot",)`` and ``("bot", "digest_limit")`` to lines."""

    name: str
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]


def _fail(name: str, line: int | None, message: str, hint: str) -> NoReturn:
    raise ConfigErrors([ConfigError(message, path=name, line=line, hint=hint)])


def read_config_file(path: Path, *, explicit: bool) -> ConfigFile | None:
    """The file at ``path``, parsed; None when it does not exist and was not given ``explicit``-ly."""
    name = str(path)
    kind = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if kind is None:
        _fail(name, None, "unknown kind of file", "name it .toml (TOML), .yaml or .yml (YAML)")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return None
        _fail(
            name,
            None,
            "file not found",
            "create it (veille.example.toml lists every setting), or fix --config",
        )
    except OSError as exc:
        _fail(name, None, f"cannot read the file: {exc.strerror}", "check the path and its permissions")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail(name, raw[: exc.start].count(b"\n") + 1, "not UTF-8 text", "save the file as UTF-8")
    too_nested = nesting_problem(text, name)  # the parsers recurse once per level, and fail without a line
    if too_nested is not None:
        raise ConfigErrors([too_nested])
    try:
        return _parse_toml(text, name) if kind == "toml" else _parse_yaml(text, name)
    except RecursionError:  # nesting the scan for brackets does not see (YAML indentation)
        raise ConfigErrors([too_deep(name)]) from None


def _parse_toml(text: str, name: str) -> ConfigFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = str(exc)[: found.start()].strip() if found else str(exc)
        hint = 'write key = value lines under [section] headers, text in double quotes: key = "value"'
        _fail(name, int(found.group(1)) if found else None, f"TOML syntax error: {message}", hint)
    except ValueError as exc:  # an int of 4,300 digits or more (sys.get_int_max_str_digits)
        raise ConfigErrors([long_number_problem(text, name) or unreadable_value(exc, name)]) from exc
    return ConfigFile(name, data, toml_lines(text))


def toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each table and key, by a simple scan of the text (tomllib has checked the syntax)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        if header := re.match(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line):
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
        elif key := re.match(r"\s*([\w\"'. -]+?)\s*=", line):
            path = table + _dotted(key.group(1))
            for end in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:end], number)
    return lines


def _dotted(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in key.split("."))


def _parse_yaml(text: str, name: str) -> ConfigFile:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.SafeLoader("").construct_document(root) if root is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        hint = "check the indentation (spaces, not tabs) and the quotes around here"
        _fail(name, mark.line + 1 if mark else None, f"YAML syntax error: {what}", hint)
    except ValueError as exc:  # an int of 4,300 digits or more, a date such as 2024-02-30
        raise ConfigErrors([long_number_problem(text, name) or unreadable_value(exc, name)]) from exc
    if not isinstance(data, dict):
        hint = "write sections (monitor:, summarizer:, bot:, service:) with key: value lines under them"
        _fail(name, 1, "expected sections of settings", hint)
    lines: dict[tuple[str, ...], int] = {}
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        _yaml_key(name, lines, (str(key.value),), key)
        for sub, _ in value.value if isinstance(value, yaml.MappingNode) else []:
            _yaml_key(name, lines, (str(key.value), str(sub.value)), sub)
    return ConfigFile(name, {str(k): v for k, v in data.items()}, lines)


def _yaml_key(name: str, lines: dict[tuple[str, ...], int], path: tuple[str, ...], node: yaml.Node) -> None:
    """Record the line of a key; PyYAML silently keeps the last of two equal keys, so refuse them."""
    line = node.start_mark.line + 1
    if path in lines:
        _fail(
            name, line, f"duplicate key '{path[-1]}' (first at line {lines[path]})", "keep only one of them"
        )
    lines[path] = line


def secret_problem(secret: str) -> str | None:
    """What is wrong with a secret's text, else None: a secret is one line, with no control character (a line
    break or a NUL inside would fail at run time, or split an HTTP or SMTP command)."""
    if not secret:
        return "is empty"
    if re.search(r"[\x00-\x1f\x7f]", secret):
        return "holds a line break or another control character inside (a secret is one line)"
    return None


def read_secret(path: Path) -> str | ConfigError:
    """The content of a secret file owned by the current user and readable by it only (0600, 0400).

    One final line break (files end with one) and spaces around the secret are removed; a line break, a NUL or
    another control character inside is refused, and so is an empty file."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return ConfigError(f"{path} is not a file", hint="point it to a file holding the secret")
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.getuid() or mode not in (0o600, 0o400):
            owner = "you" if info.st_uid == os.getuid() else f"user id {info.st_uid}, not you"
            message = f"{path} is not readable by its owner only (mode {mode:04o}, owned by {owner})"
            return ConfigError(message, hint=f"chmod 600 {path}, as the user who runs veille")
        text = path.read_bytes().decode("utf-8").removesuffix("\n").removesuffix("\r").strip(" \t")
    except FileNotFoundError:
        return ConfigError(f"secret file {path} not found", hint="check the path")
    except OSError as exc:
        return ConfigError(f"cannot read the secret file {path}: {exc.strerror}", hint=f"chmod 600 {path}")
    except UnicodeDecodeError:
        return ConfigError(f"{path} is not UTF-8 text", hint="write the secret alone in the file, as text")
    problem = secret_problem(text)
    if problem == "is empty":
        return ConfigError(f"secret file {path} is empty", hint="write the secret in it")
    if problem:
        return ConfigError(f"secret file {path} {problem}", hint="write the secret alone, on one line")
    return text
