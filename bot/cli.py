"""The ``veille`` command line: one group, each package contributes its commands.

``veille run`` is the long-running service: the monitor, the summarizer and the bot in one process
(``bot.runner``).
``--config PATH`` (or ``VEILLE_CONFIG``) names the configuration file that every command reads
(``bot.configcli``). ``--version`` works from an installed package and from a source checkout alike.
"""

from __future__ import annotations

import os
import tomllib
from importlib import metadata
from pathlib import Path

import click

from bot.botcli import COMMANDS as BOT_COMMANDS
from bot.botcli import bot_outbox, bot_subscribers
from bot.configcli import COMMANDS as CONFIG_COMMANDS
from bot.configcli import config_option, install_config
from monitor.cli import COMMANDS as MONITOR_COMMANDS
from monitor.cli import handles_errors, reads_only, sources_option
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
@config_option
@click.pass_context
@handles_errors
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """veille: watch agencies' and newsrooms' feeds and pages, in many languages."""
    install_config(ctx, config_path)


for command in (*MONITOR_COMMANDS, *SUMMARIZER_COMMANDS, *BOT_COMMANDS, *CONFIG_COMMANDS):
    cli.add_command(command)
for command in (bot_outbox, bot_subscribers):  # they only read: a mistyped database path is refused
    reads_only(command)


@cli.command("run")
@sources_option
@handles_errors
def run_cmd(sources_path: Path) -> None:
    """Run everything until Ctrl-C or SIGTERM: polling, summaries, the Telegram bot, alerts, digests, email."""
    from bot.botcli import load_bot_settings
    from bot.runner import Runner, run_forever, setup_run_logging, sources_for_run
    from bot.settings import ServiceSettings
    from monitor.cli import configured, load_settings
    from summarizer.settings import SummarizerSettings

    service = configured(ServiceSettings)
    setup_run_logging(service)
    runner = Runner(
        load_settings(),
        configured(SummarizerSettings),
        load_bot_settings(),
        service,
        sources_for_run(sources_path),
    )
    run_forever(runner)


def main() -> None:
    # python-telegram-bot 22: time periods as timedelta (the v23 behaviour); with ints it warns at every 429
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    cli(prog_name="veille")
