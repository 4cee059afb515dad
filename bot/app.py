"""The Telegram application: one builder that wires python-telegram-bot to the bot's handlers.

``build_application`` makes the PTB ``Application``:

1. a Bot on the configured Bot API server (``{api_url}/bot<token>/<method>``), sensible timeouts, updates handled
   one at a time, no JobQueue (timed work is the service's planner loop);
2. the handlers (``bot.handlers``): one ``CommandHandler`` per command for messages and channel posts, the
   buttons, the bot's own membership changes, then "unknown command" for the rest;
3. one error handler: logs the update id and chat, tells the chat to try again;
4. ``post_init``: the command menus (``setMyCommands``) for private chats and groups in English (the default)
   and French, plus the operator commands in each operator's private chat.

``start_polling`` / ``stop_polling`` run and stop it inside a loop the caller owns (what ``run_polling`` does,
without taking over the loop): initialize, ``post_init``, start, long polling; then the reverse.
Bot API URLs contain the token and httpx logs every URL at INFO: its logger is raised to WARNING here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram import BotCommandScopeChat as ChatScope
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.commands import LANGUAGE_PATTERN, SETTINGS_PATTERN, UNSUBSCRIBE_PATTERN
from bot.handlers import Handlers
from bot.i18n import ADMIN_COMMANDS, LANGUAGES, USER_COMMANDS, t
from bot.planner import Planner
from bot.repository import BotRepository
from bot.telegram import Reachability, TrackedRequest
from monitor.store import Store
from summarizer.gazetteer import Gazetteer
from summarizer.repository import NlpRepository

log = logging.getLogger(__name__)

BotApplication = Application[
    ExtBot[None], ContextTypes.DEFAULT_TYPE, dict[Any, Any], dict[Any, Any], dict[Any, Any], None
]
ALLOWED_UPDATES = (Update.MESSAGE, Update.CHANNEL_POST, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER)
COMMAND_UPDATES = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST  # edits are not commands


@dataclass(frozen=True, slots=True)
class BotDeps:
    """What the handlers use: the stores, the planner, the operators, the deliverer's wake-up, the clock."""

    repo: BotRepository
    planner: Planner
    nlp: NlpRepository
    store: Store
    admin_ids: frozenset[int]
    wake: Callable[[], None]  # new outbox items were recorded
    clock: Callable[[], datetime]
    gazetteer: Gazetteer
    default_language: str = "en"


def build_application(
    token: str, api_url: str, deps: BotDeps, reachability: Reachability | None = None
) -> BotApplication:
    """The PTB application on ``api_url`` (Telegram's, a self-hosted Bot API server or a test double); every
    request it makes tells ``reachability`` whether Telegram answered."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs request URLs, which hold the token
    base = api_url.rstrip("/")
    watch = reachability or Reachability()

    async def post_init(app: BotApplication) -> None:
        await register_commands(app.bot, deps.admin_ids)

    requests = TrackedRequest(
        watch,
        connection_pool_size=256,
        connect_timeout=10.0,
        read_timeout=15.0,
        write_timeout=15.0,
        pool_timeout=10.0,
    )
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .job_queue(None)
        .concurrent_updates(False)
        .request(requests)
        .get_updates_request(
            TrackedRequest(watch, connection_pool_size=1, connect_timeout=10.0, pool_timeout=10.0)
        )
        .post_init(post_init)
        .build()
    )
    add_handlers(app, Handlers(deps))
    return app


def add_handlers(app: BotApplication, handlers: Handlers) -> None:
    for name, callback in handlers.commands().items():
        app.add_handler(CommandHandler(name, callback, filters=COMMAND_UPDATES))
    app.add_handler(CallbackQueryHandler(handlers.settings_button, pattern=SETTINGS_PATTERN))
    app.add_handler(CallbackQueryHandler(handlers.unsubscribe_button, pattern=UNSUBSCRIBE_PATTERN))
    app.add_handler(CallbackQueryHandler(handlers.language_button, pattern=LANGUAGE_PATTERN))
    app.add_handler(CallbackQueryHandler(handlers.stale_button))  # any other button: answered "out of date"
    app.add_handler(ChatMemberHandler(handlers.membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.COMMAND & COMMAND_UPDATES, handlers.unknown))
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, handlers.free_text)
    )
    app.add_error_handler(handlers.error)


def command_menu(lang: str, names: Iterable[str]) -> list[BotCommand]:
    return [BotCommand(name, t(lang, f"cmd.{name}")) for name in names]


async def register_commands(bot: Bot, admin_ids: Iterable[int]) -> None:
    """The command menus: users' commands in private chats and groups, English by default and French for
    French-speaking users; the operators also get theirs in their own private chat."""
    try:
        for lang in LANGUAGES:
            code = None if lang == "en" else lang  # no language code: every language without its own menu
            users = command_menu(lang, USER_COMMANDS)
            for scope in (BotCommandScopeAllPrivateChats(), BotCommandScopeAllGroupChats()):
                await bot.set_my_commands(users, scope=scope, language_code=code)
            for admin in sorted(admin_ids):
                try:
                    everything = users + command_menu(lang, ADMIN_COMMANDS)
                    await bot.set_my_commands(everything, scope=ChatScope(admin), language_code=code)
                except BadRequest as exc:  # "chat not found": this operator never wrote to the bot
                    log.warning("operator menu not set chat_id=%s error=%s", admin, exc)
    except TelegramError as exc:  # the menus are a convenience: the bot works without them
        log.warning("command menus not set: %s", exc)


async def start_polling(app: BotApplication, *, poll_timeout: timedelta = timedelta(seconds=25)) -> None:
    """Initialize, register the command menus (``post_init``), start, and long-poll for updates. A failing
    poll is retried by PTB; its network errors are reported by the requests (``Reachability``), the others
    logged once per kind of error, not once per retry."""
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=poll_timeout, allowed_updates=list(ALLOWED_UPDATES), error_callback=_PollErrors()
        )
    except BaseException:
        await stop_polling(app)
        raise


class _PollErrors:
    """PTB's error callback for polling: network errors are the requests' to report; another error is logged
    when it differs from the previous one (a second instance polling with the same token: 409 Conflict)."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, exc: TelegramError) -> None:
        if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
            return
        if str(exc) != self.last:
            self.last = str(exc)
            log.warning("polling Telegram failed (retrying): %s", exc)


async def stop_polling(app: BotApplication) -> None:
    """Stop polling (the handled updates are confirmed to Telegram), let running handlers end, shut down."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
