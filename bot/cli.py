"""The ``veille`` command line: one group, each package contributes its commands."""

from __future__ import annotations

import click

from monitor.cli import COMMANDS as MONITOR_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="veille")
def cli() -> None:
    """veille: watch agencies' and newsrooms' feeds and pages, in many languages."""


for command in MONITOR_COMMANDS:
    cli.add_command(command)


@cli.command("run")
@click.pass_context
def run_cmd(ctx: click.Context) -> None:
    """Run the monitor continuously: every source polled on its own schedule (Ctrl-C or SIGTERM stops)."""
    from monitor.cli import poll_cmd

    ctx.invoke(poll_cmd, once=False, source_ids=(), as_json=False)


def main() -> None:
    cli(prog_name="veille")
