"""The ``veille`` command line: one group, each package contributes its commands.

``veille run`` is the long-running service (the monitor now; the summarizer and the bot join it as they land).
``--version`` works from an installed package and from a source checkout alike.
"""

from __future__ import annotations

import os
import tomllib
from importlib import metadata
from pathlib import Path

import click

from bot.botcli import COMMANDS as BOT_COMMANDS
from monitor.cli import COMMANDS as MONITOR_COMMANDS
from monitor.cli import poll_cmd, sources_option
from summarizer.cli import COMMANDS as SUMMARIZER_COMMANDS

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def version() -> str:
    """The installed distribution's version, else the source checkout's pyproject.toml version."""
    try:
        return metadata.version("veille")
    except metadata.PackageNotFoundError:
        pass
    try:
        with PYPROJECT.open("rb") as f:
            return f"{tomllib.load(f)['project']['version']} (source checkout, not installed)"
    except (OSError, tomllib.TOMLDecodeError, KeyError):
        return "unknown (not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"veille {version()}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """veille: watch agencies' and newsrooms' feeds and pages, in many languages."""


for command in (*MONITOR_COMMANDS, *SUMMARIZER_COMMANDS, *BOT_COMMANDS):
    cli.add_command(command)


@cli.command("run")
@sources_option
@click.pass_context
def run_cmd(ctx: click.Context, sources_path: Path) -> None:
    """Run continuously: each source polled on its own schedule (Ctrl-C or SIGTERM stops)."""
    ctx.invoke(poll_cmd, once=False, source_ids=(), sources_path=sources_path, as_json=False)


def main() -> None:
    # python-telegram-bot 22: time periods as timedelta (the v23 behaviour); with ints it warns at every 429
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    cli(prog_name="veille")
