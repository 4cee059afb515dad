"""The bot's commands: ``veille bot run|deliver|subscribers|outbox`` and ``veille email send``.

``bot run`` is the long-running Telegram service (updates, planning, delivery, the daily email) until SIGTERM
or Ctrl-C. ``bot deliver`` plans what is due and empties the outbox, then exits: for a cron job, an operator
after an outage, and the crash tests. The rest inspect the bot's tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from bot.repository import BotRepository
from bot.settings import BotSettings
from monitor.cli import (
    configured,
    handles_errors,
    json_option,
    load_settings,
    open_store,
    reads_only,
    setup_logging,
)
from monitor.cli_output import out
from monitor.errors import ConfigError, Unavailable


def load_bot_settings() -> BotSettings:
    """The bot's settings from the configuration (``veille --config``: the file and the environment)."""
    return configured(BotSettings)


def run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run ``main(stop)`` on a new event loop; SIGINT and SIGTERM set ``stop`` (a graceful shutdown)."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


@click.group("bot")
def bot_group() -> None:
    """The Telegram bot: run it, deliver what is due, inspect subscribers and the outbox."""


@bot_group.command("run")
@handles_errors
def bot_run() -> None:
    """Run the bot until Ctrl-C or SIGTERM: Telegram commands, digests, alerts and the daily email."""
    from bot.service import build_service

    setup_logging()
    settings = load_bot_settings()
    if settings.telegram_token is None and settings.email_config() is None:
        raise ConfigError(
            "nothing to run: no Telegram token and no email recipient",
            hint="set TELEGRAM_BOT_TOKEN (from @BotFather) and/or VEILLE_EMAIL_TO",
        )
    with open_store(load_settings()) as store:
        service = build_service(settings, store)
        run_until_signal(service.run)


@bot_group.command("deliver")
@click.option(
    "--max-wait",
    default=300.0,
    show_default=True,
    type=click.FloatRange(0, 86400),
    help="Longest wait (s) for retries that are due later (at most a day).",
)
@handles_errors
def bot_deliver(max_wait: float) -> None:
    """Plan due digests and alerts, send everything due, wait for retries up to --max-wait, then exit."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    from bot.planner import Planner
    from bot.service import deliverer_for
    from summarizer.repository import NlpRepository

    setup_logging()
    settings = load_bot_settings()
    if settings.telegram_token is None:
        raise ConfigError("no Telegram token", hint="set TELEGRAM_BOT_TOKEN to the token from @BotFather")
    token = settings.telegram_token.get_secret_value()
    with open_store(load_settings()) as store:
        repo = BotRepository(store)
        planner = Planner(repo, NlpRepository(store), digest_limit=settings.digest_limit)
        now = datetime.now(UTC)
        planned = planner.plan_digests(now) + planner.plan_alerts(now)

        async def deliver(stop: asyncio.Event) -> None:
            bot = Bot(token, base_url=f"{settings.telegram_api_url}/bot")
            try:
                await bot.initialize()
            except (NetworkError, InvalidToken) as exc:
                refused = isinstance(exc, InvalidToken)
                raise Unavailable(
                    f"Telegram {'refuses the bot token' if refused else 'does not answer'} ({exc}); "
                    "nothing was sent, the planned messages wait in the outbox",
                    hint="check TELEGRAM_BOT_TOKEN"
                    if refused
                    else "check the network or telegram_api_url, then run again",
                ) from None
            async with bot:
                deliverer = deliverer_for(settings, repo, bot)
                deadline = datetime.now(UTC) + timedelta(seconds=max_wait)
                while not stop.is_set():
                    await deliverer.drain()
                    next_due = repo.next_due()
                    if next_due is None or next_due > deadline:
                        return
                    wait = max((next_due - datetime.now(UTC)).total_seconds(), 0.01)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=wait)

        run_until_signal(deliver)
        counts = repo.outbox_counts()
    out.print(f"planned {planned}; outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@reads_only
@bot_group.command("subscribers")
@click.option("--all", "show_all", is_flag=True, help="Include deactivated chats.")
@json_option
@handles_errors
def bot_subscribers(show_all: bool, as_json: bool) -> None:
    """List the chats and their subscriptions."""
    with open_store(load_settings()) as store:
        repo = BotRepository(store)
        chats = repo.subscribers(active_only=not show_all)
        subs = repo.subscriptions(active_only=not show_all)
    by_chat: dict[int, list[str]] = {}
    for s in subs:
        times = ",".join(t.strftime("%H:%M") for t in s.digest_times)
        by_chat.setdefault(s.chat_id, []).append(
            f"#{s.id} {s.query or '(all)'} [{times}{' +alerts' if s.alerts else ''}]"
        )
    if as_json:
        for c in chats:
            row = {
                "chat_id": c.chat_id,
                "kind": c.kind,
                "title": c.title,
                "language": c.language,
                "active": c.active,
            }
            click.echo(
                json.dumps({**row, "timezone": c.timezone, "subscriptions": by_chat.get(c.chat_id, [])})
            )
        return
    table = Table("chat", "kind", "lang", "tz", "active", "subscriptions")
    for c in chats:
        active = "yes" if c.active else f"no ({c.deactivated_reason or ''})"
        table.add_row(
            str(c.chat_id), c.kind, c.language, c.timezone, active, "\n".join(by_chat.get(c.chat_id, []))
        )
    out.print(table)


@reads_only
@bot_group.command("outbox")
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="Problems to list."
)
@json_option
@handles_errors
def bot_outbox(limit: int, as_json: bool) -> None:
    """The outbox: items by status, then the latest failures (refused, dropped, retrying) with their reason."""
    with open_store(load_settings()) as store:
        repo = BotRepository(store)
        counts = repo.outbox_counts()
        problems = repo.problems(limit)
    if as_json:
        rows = [
            {
                "id": p.id,
                "chat_id": p.chat_id,
                "key": p.item_key,
                "status": PROBLEM[p.status],
                "attempts": p.attempts,
                "created_at": p.created_at.isoformat(),
                "reason": p.last_error,
            }
            for p in problems
        ]
        click.echo(json.dumps({"counts": counts, "problems": rows}, ensure_ascii=False))
        return
    out.print(
        "outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"), highlight=False
    )
    if problems:
        out.print("latest problems, newest first:", highlight=False)
    for p in problems:
        when = f"{p.created_at:%Y-%m-%d %H:%M}"
        tries = f", {p.attempts} attempt{'s' if p.attempts != 1 else ''}" if p.attempts else ""
        out.print(
            f"  {PROBLEM[p.status]:<8} #{p.id} chat {p.chat_id} {p.item_key} ({when}{tries}): {p.last_error}",
            highlight=False,
            markup=False,
        )


PROBLEM = {"failed": "refused", "dropped": "dropped", "pending": "retrying"}


@click.group("email")
def email_group() -> None:
    """The daily email export."""


@email_group.command("send")
@click.option(
    "--day", default=None, help="The day to export and send (YYYY-MM-DD); default: the one due now."
)
@handles_errors
def email_send(day: str | None) -> None:
    """Send the email now: without --day, of the last 24 hours (recorded as today's: the scheduled one does
    not go again today); with --day, that day's scheduled window. Then send whatever is pending."""
    from bot.email_job import DailyEmail
    from bot.service import email_digest
    from summarizer.repository import NlpRepository

    setup_logging()
    cfg = load_bot_settings().email_config()
    if cfg is None:
        raise ConfigError(
            "no email recipient", hint="set VEILLE_EMAIL_TO to one or more addresses, comma-separated"
        )
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise ConfigError(f"--day {day!r} is not a date", hint="write it as YYYY-MM-DD") from exc
    with open_store(load_settings()) as store:
        job = DailyEmail(store, cfg, email_digest(NlpRepository(store)))
        now = datetime.now(UTC)
        if wanted is not None:
            paths = job.prepare(wanted, now)
        else:
            paths = job.prepare(now.astimezone(ZoneInfo(cfg.timezone)).date(), now, until=now)
        if paths is not None:
            out.print(f"export written: {paths.eml}, {paths.html}, {paths.json}")
        outcomes = job.run_once(now)
    for o in outcomes:
        out.print(f"{o.day}: {o.status}" + (f" ({o.error})" if o.error else ""), highlight=False)
    if not outcomes:
        out.print("nothing to send")
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)
