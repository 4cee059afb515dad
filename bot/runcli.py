"""``veille run``: the command that starts the long-running service (``bot.runner``)."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli import handles_errors, sources_option


@click.command("run")
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
