"""The ``veille`` command line: one group, each package contributes its commands.

The root group is lazy: ``veille --help`` lists each command from :data:`COMMANDS` (its module and its one-line
help) without importing it, and a command's module is imported only when that command runs; so the help and the
light commands start without loading spaCy, the models or the Telegram library (a test keeps the one-line helps
equal to the commands' own, and another checks what ``veille --help`` imports).
``veille run`` is the long-running service: the monitor, the summarizer and the bot in one process
(``bot.runner``).
``--config PATH`` (or ``VEILLE_CONFIG``) names the configuration file that every command reads
(``bot.configcli``). ``--version`` works from an installed package and from a source checkout alike.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from importlib import metadata
from pathlib import Path

import click

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# name -> (module:attribute, one-line help as ``veille --help`` prints it)
COMMANDS: dict[str, tuple[str, str]] = {
    "articles": ("monitor.cli:articles_group", "Look at the stored articles."),
    "bot": (
        "bot.botcli:bot_group",
        "The Telegram bot: run it, deliver what is due, inspect subscribers and the outbox.",
    ),
    "config": (
        "bot.configcli:config_group",
        "The configuration: veille.toml (or --config PATH) and the environment.",
    ),
    "demo": (
        "bot.demo:demo_cmd",
        "Run the whole pipeline offline on a demo corpus: serve, poll, summarize, print the digest, export.",
    ),
    "digest": (
        "summarizer.cli:digest_cmd",
        "Print a digest of the stories of the window that match the filter, most important first.",
    ),
    "email": ("bot.botcli:email_group", "The daily email export."),
    "eval": ("summarizer.cli:eval_group", "Score clustering, entities and summaries on labelled files."),
    "poll": (
        "monitor.cli:poll_cmd",
        "Poll the sources: once with --once, else each on its own schedule until interrupted.",
    ),
    "run": (
        "bot.runcli:run_cmd",
        "Run everything until Ctrl-C or SIGTERM: polling, summaries, the Telegram bot, alerts, digests, email.",
    ),
    "sources": ("monitor.cli:sources_group", "List, check and resume the sources of sources.yaml."),
    "stories": ("summarizer.cli:stories_group", "Look at the stories built from the articles."),
    "summarize": (
        "summarizer.cli:summarize_cmd",
        "Process the stored articles not processed yet: entities, embeddings, stories, summaries.",
    ),
    "train": ("summarizer.cli:train_group", "Train models on labelled files."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they run (see the module docstring)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), f"{module}:{attribute} is not a click command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [  # a bare Command shortens the help as the real one would, without importing it
            (name, click.Command(name, help=text).get_short_help_str(limit))
            for name, (_target, text) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="VEILLE_CONFIG",
    show_envvar=True,
    default=None,
    help="The configuration file, TOML or YAML (see veille.example.toml). Default: ./veille.toml if present.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """veille: watch agencies' and newsrooms' feeds and pages, in many languages."""
    from bot.configcli import install_config
    from monitor.cli import handles_errors

    handles_errors(install_config)(ctx, config_path)


def main() -> None:
    # python-telegram-bot 22: time periods as timedelta (the v23 behaviour); with ints it warns at every 429
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    cli(prog_name="veille")
