"""Validation helpers shared by the configuration files and the settings: errors that carry their fix."""

from __future__ import annotations

import re
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
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
