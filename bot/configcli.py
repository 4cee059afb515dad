"""The configuration on the command line: ``veille --config PATH`` and ``veille config check``.

``install_config`` runs in the root group before any command: it loads the configuration (``bot.config``: the
file, then the environment) and puts it in click's ``ctx.meta``, where ``monitor.cli.configured`` finds the
settings of each part. A broken configuration stops every command with exit code 2 and its errors; a missing
default file is no error. ``config check`` validates, then prints every setting, its value and its origin
(default, ``file:LINE``, ``env VAR``); secrets print as ``********`` or ``(not set)``, never their value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from bot.config import SECTIONS, Config, effective, load_config
from monitor.cli import SETTINGS_KEY, handles_errors, json_option
from monitor.cli_output import out

CONFIG_KEY = "veille.config"  # in click's ``ctx.meta``: the loaded Config


def install_config(ctx: click.Context, path: Path | None) -> Config:
    """Load the configuration and make it the one every command of ``ctx`` uses."""
    config = load_config(path, os.environ)
    ctx.meta[CONFIG_KEY] = config
    ctx.meta[SETTINGS_KEY] = config.section
    return config


def current_config() -> Config:
    """The configuration the root group loaded; outside it, ``./veille.toml`` (if present) and the environment."""
    ctx = click.get_current_context(silent=True)
    config = ctx.meta.get(CONFIG_KEY) if ctx is not None else None
    return config if isinstance(config, Config) else load_config(None, os.environ)


@click.group("config")
def config_group() -> None:
    """The configuration: veille.toml (or --config PATH) and the environment."""


@config_group.command("check")
@json_option
@handles_errors
def config_check(as_json: bool) -> None:
    """Validate the configuration, then print every setting with its value and where it came from."""
    config = current_config()
    rows = effective(config)
    if as_json:
        settings: dict[str, dict[str, object]] = {section: {} for section in SECTIONS}
        for r in rows:
            settings[r.section][r.key] = {"value": r.value, "origin": r.origin}
        path = str(config.path) if config.path else None
        click.echo(json.dumps({"valid": True, "file": path, "settings": settings}, ensure_ascii=False))
        return
    where = f"{config.path}: valid" if config.path else "no configuration file: defaults and environment"
    out.print(Text(where))
    for section in SECTIONS:
        table = Table(
            title=Text(f"[{section}]", style="bold"),
            title_justify="left",
            box=box.SIMPLE,
            header_style="bold",
        )
        width = max(len(key) for key in SECTIONS[section].model_fields)
        table.add_column("key", no_wrap=True, min_width=width)
        table.add_column("value", overflow="fold")
        table.add_column("origin", no_wrap=True)
        for r in (r for r in rows if r.section == section):
            table.add_row(r.key, Text(_shown(r.value)), Text(_short(r.origin, config.path)))
        out.print(table)


def _shown(value: str | int | float | bool | None) -> str:
    if value is None:
        return "(not set)"
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _short(origin: str, path: Path | None) -> str:
    """``/etc/veille/veille.toml:12`` -> ``veille.toml:12``: the header above the tables names the whole path."""
    if path is not None and origin.startswith(f"{path}:"):
        return path.name + origin.removeprefix(str(path))
    return origin
