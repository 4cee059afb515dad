"""Validation helpers shared by the configuration files and the settings: errors that carry their fix."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import Field
from pydantic_core import PydanticCustomError

from monitor.errors import ConfigError


def opt(default: Any, description: str, *, ge: float | None = None, le: float | None = None) -> Any:
    """An optional field with its help line. Typed Any so that type checkers see a plain default value."""
    return Field(default=default, description=description, ge=ge, le=le)


def invalid(message: str, hint: str) -> PydanticCustomError:
    """A validation error that carries its fix (``hint``) to the error report."""
    return PydanticCustomError("veille", "{message}", {"message": message, "hint": hint})


def show(value: object) -> str:
    """A value as an error message quotes it: its repr, cut at 80 characters."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4,300 digits has no repr (sys.get_int_max_str_digits)
        text = (
            f"a number of {value.bit_length() * 30103 // 100000 + 1} digits"
            if isinstance(value, int)
            else "?"
        )
    return text if len(text) <= 80 else text[:77] + "..."


MAX_NESTING = 32  # brackets within brackets in a configuration file: its settings need two or three


def nesting_problem(text: str, name: str) -> ConfigError | None:
    """An error at the line where ``[`` and ``{`` nest deeper than ``MAX_NESTING`` (outside quotes and comments),
    else None: checked before parsing, since the parsers recurse once per level and fail without a line."""
    depth, quote, line = 0, "", 1
    chars = iter(text)
    for char in chars:
        if char == "\n":  # a quote or a comment ends with its line here (a rough scan, enough for a limit)
            line, quote = line + 1, ""
        elif quote:
            if char == "\\" and quote == '"' and next(chars, None) == "\n":
                line, quote = line + 1, ""
            elif char == quote:
                quote = ""
        elif char in "\"'#":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                hint = "a setting needs a value or a short list: check the brackets"
                return ConfigError(
                    f"lists or tables nested more than {MAX_NESTING} deep", path=name, line=line, hint=hint
                )
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def too_deep(name: str) -> ConfigError:
    """The error for a file whose parser ran out of stack (nesting deeper than a scan for brackets sees)."""
    hint = "a setting needs a value or a short list: check the indentation and the brackets"
    return ConfigError("lists or tables nested too deep to read", path=name, hint=hint)


def unreadable_value(exc: ValueError, name: str) -> ConfigError:
    """The error for a value the file's parser could not turn into data (e.g. the date 2024-02-30)."""
    return ConfigError(f"a value cannot be read ({exc})", path=name, hint="write it in quotes, as text")


def long_number_problem(text: str, name: str) -> ConfigError | None:
    """An error at the first number too long for Python to read (4,300 digits: ``sys.get_int_max_str_digits``),
    else None; the parsers fail on it with a ValueError that names no line."""
    limit = sys.get_int_max_str_digits() or 4300
    found = re.search(rf"\d{{{limit},}}", text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    message = f"a number of {found.end() - found.start()} digits"
    return ConfigError(message, path=name, line=line, hint="write a number within the setting's bounds")


def one_line(value: str) -> str:
    if re.search(r"[\r\n\x00]", value):
        raise invalid(f"{show(value)} contains a line break", "put the value on one line")
    return value.strip()


class ConfigErrors(ConfigError):
    """All the problems found in one pass, in file order (``errors``); its text lists them, one per line."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.detail, path=first.path, line=first.line, hint=first.hint)
        self.errors = tuple(errors)
        if len(errors) > 1:
            where = first.path or "configuration"
            self.args = (f"{where}: {len(errors)} problems\n" + "\n".join(str(e) for e in errors),)
