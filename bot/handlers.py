"""The bot's handlers: one small async function per command, button kind and membership change.

Each handler goes through the same steps:

1. ``bot.commands.where_of`` reads the update: chat, forum topic, sender, and whether it was posted as the
   chat itself (a channel post, an anonymous group admin);
2. the chat's subscriber row (created on first contact, reactivated when the chat comes back) gives its
   language;
3. chats other than private ones may only be changed by their administrators (``get_chat_member``); the
   operator commands need a user id in ``BotDeps.admin_ids``;
4. arguments are read by ``bot.commands`` (a ``BadInput`` becomes a reply that explains the fix);
5. database work runs in a worker thread; the reply is HTML in the chat's language, in the topic it came from.
   Button presses are answered (``answerCallbackQuery``), then the message is edited to show the new state.
   ``/digest``, ``/latest`` and ``/broadcast`` are recorded in the outbox under a key built from the update id
   (delivered paced and split, once even when Telegram delivers the update twice); the rest is answered
   directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import commands as cmd
from bot.commands import BadInput, Where, arguments, where_of
from bot.i18n import ADMIN_COMMANDS, FILTER_EXAMPLE, LANGUAGES, USER_COMMANDS, Html, language_of, t
from bot.render import escape, render_story
from bot.repository import NewMessage, Subscriber, Subscription
from bot.telegram import NO_PREVIEW
from summarizer.digest import StoryView, trending

if TYPE_CHECKING:
    from bot.app import BotDeps

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
MAX_LATEST = 20
_MANAGERS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


class Handlers:
    """The command, button, membership and error handlers on one set of dependencies."""

    def __init__(self, deps: BotDeps) -> None:
        self.deps = deps

    def commands(self) -> dict[str, Callback]:
        """Command name -> handler, users' commands first (the order of /help)."""
        return {name: getattr(self, name) for name in (*USER_COMMANDS, *ADMIN_COMMANDS)}

    # --- shared steps ---------------------------------------------------------------------------------

    async def _begin(self, update: Update) -> tuple[Where, Subscriber] | None:
        """Where the update comes from and the chat's subscriber row (created or reactivated as needed)."""
        where = where_of(update)
        if where is None:
            return None
        repo = self.deps.repo
        chat = await asyncio.to_thread(repo.subscriber, where.chat_id)
        if chat is None or not chat.active:
            lang = language_of(where.user_lang, self.deps.default_language)
            now = self.deps.clock()
            chat = await asyncio.to_thread(
                repo.ensure_subscriber, where.chat_id, where.kind, where.title, now, language=lang
            )
        return where, chat

    async def _send(
        self, bot: Bot, where: Where, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        parts = cmd.parts_of(text)
        for n, part in enumerate(parts):
            await bot.send_message(
                where.chat_id,
                part,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                message_thread_id=where.thread_id,
                reply_markup=markup if n == len(parts) - 1 else None,
            )

    async def _edit(
        self, bot: Bot, where: Where, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        try:
            await bot.edit_message_text(
                cmd.parts_of(text)[0],
                chat_id=where.chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
        except BadRequest as exc:  # the same state again (a button pressed twice) is not an error
            if "not modified" not in str(exc).lower():
                raise

    async def _enqueue(self, messages: Sequence[NewMessage]) -> int:
        """Record messages in the outbox and wake the deliverer; the number newly recorded."""
        recorded = await asyncio.to_thread(self.deps.repo.enqueue, messages, self.deps.clock())
        self.deps.wake()
        return len(recorded)

    async def _may_manage(self, bot: Bot, where: Where) -> bool:
        if where.kind == ChatType.PRIVATE or where.as_chat:
            return True
        if where.user_id is None:
            return False
        try:
            member = await bot.get_chat_member(where.chat_id, where.user_id)
        except BadRequest as exc:
            log.warning(
                "admin check failed chat_id=%s user_id=%s error=%s", where.chat_id, where.user_id, exc
            )
            return False
        return member.status in _MANAGERS

    async def _manager(self, bot: Bot, where: Where, chat: Subscriber) -> bool:
        """Whether the sender may change the chat's subscriptions and settings; tells them when not."""
        if await self._may_manage(bot, where):
            return True
        await self._send(bot, where, t(chat.language, "chat_admin_only"))
        return False

    async def _operator(self, bot: Bot, where: Where, chat: Subscriber) -> bool:
        if where.user_id is not None and where.user_id in self.deps.admin_ids:
            return True
        await self._send(bot, where, t(chat.language, "admin_only"))
        return False

    async def _bad(self, bot: Bot, where: Where, chat: Subscriber, exc: BadInput) -> None:
        await self._send(bot, where, t(chat.language, exc.key, **exc.values))

    # --- everyone -------------------------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        if begun := await self._begin(update):
            where, chat = begun
            await self._send(context.bot, where, t(chat.language, "welcome"))

    async def help(self, update: Update, context: Context) -> None:
        if begun := await self._begin(update):
            where, chat = begun
            text = cmd.help_text(chat.language, admin=where.user_id in self.deps.admin_ids)
            await self._send(context.bot, where, text)

    async def digest(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        subs = await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id)
        key, now, planner = f"now:{update.update_id}", self.deps.clock(), self.deps.planner
        message = await asyncio.to_thread(planner.digest_now, chat, [s.query for s in subs], key, now)
        await self._enqueue([replace(message, thread_id=where.thread_id)])

    async def latest(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        try:
            count = cmd.parse_count(arguments(update), 5, MAX_LATEST)
        except BadInput as exc:
            await self._bad(context.bot, where, chat, exc)
            return
        views = await asyncio.to_thread(self._latest_views, count, self.deps.clock())
        parts = cmd.parts_of(cmd.latest_text(views, chat.language))
        await self._enqueue(
            [NewMessage(where.chat_id, f"latest:{update.update_id}", "reply", parts, where.thread_id)]
        )

    def _latest_views(self, count: int, now: datetime) -> list[StoryView]:
        """The ``count`` stories updated last: the last day first, a wider window only when it has too few."""
        rows = []
        for days in (1, 7, 30, 3650):
            rows = self.deps.nlp.stories_since(now - timedelta(days=days))
            if len(rows) >= count:
                break
        return self.deps.nlp.story_views(rows[:count])

    async def story(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        lang, story_id = chat.language, arguments(update)[:100]
        views = await asyncio.to_thread(self._story_views, story_id) if story_id else []
        if views:
            text = render_story(views[0], lang)
        else:
            text = t(lang, "story.unknown", id=story_id) if story_id else t(lang, "story.usage")
        await self._send(context.bot, where, text)

    def _story_views(self, story_id: str) -> list[StoryView]:
        row = self.deps.nlp.story(story_id)
        return self.deps.nlp.story_views([row]) if row else []

    async def trending(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        now, day, nlp = self.deps.clock(), timedelta(hours=24), self.deps.nlp
        current = await asyncio.to_thread(nlp.entity_counts, now - day, now)
        previous = await asyncio.to_thread(nlp.entity_counts, now - 2 * day, now - day)
        rows = trending(current, previous, top=10)
        await self._send(context.bot, where, cmd.trending_text(rows, self.deps.gazetteer, chat.language))

    # --- changing the chat ----------------------------------------------------------------------------

    async def subscribe(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        lang, text = chat.language, arguments(update)
        if not text:
            await self._send(context.bot, where, t(lang, "sub.usage", example=FILTER_EXAMPLE))
            return
        if not await self._manager(context.bot, where, chat):
            return
        try:
            asked = cmd.parse_subscription(text, self.deps.gazetteer, lang)
        except BadInput as exc:
            await self._bad(context.bot, where, chat, exc)
            return
        sub = await asyncio.to_thread(
            self.deps.repo.add_subscription,
            where.chat_id,
            asked.query,
            self.deps.clock(),
            digest_times=asked.digest_times,
            alerts=asked.alerts,
            thread_id=where.thread_id,
        )
        log.info("subscribed chat_id=%s subscription=%s thread_id=%s", where.chat_id, sub.id, where.thread_id)
        await self._send(context.bot, where, t(lang, "sub.saved", **cmd.described(sub, lang)))

    async def unsubscribe(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        lang, arg = chat.language, arguments(update).lower()
        if not await self._manager(context.bot, where, chat):
            return
        if arg and arg != "all" and not arg.isdigit():
            await self._send(context.bot, where, t(lang, "unsub.usage"))
        elif arg:
            await self._send(context.bot, where, await self._remove(where.chat_id, arg, lang))
        elif subs := await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id):
            await self._send(
                context.bot, where, t(lang, "unsub.choose"), cmd.unsubscribe_keyboard(subs, lang)
            )
        else:
            await self._send(context.bot, where, t(lang, "unsub.none"))

    async def _remove(self, chat_id: int, which: str, lang: str) -> str:
        """Remove subscription ``which`` (an id, or ``all``) of the chat; the reply."""
        target = None if which == "all" else int(which)
        removed = await asyncio.to_thread(self.deps.repo.remove_subscriptions, chat_id, target)
        if target is None:
            return t(lang, "unsub.removed_all", n=removed)
        return t(lang, "unsub.removed" if removed else "unsub.not_found", id=target)

    async def settings(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        if await self._manager(context.bot, where, chat):
            subs = await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id)
            text = cmd.settings_text(chat, subs, self.deps.clock())
            await self._send(context.bot, where, text, cmd.settings_keyboard(chat, subs))

    async def language(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        arg = arguments(update).lower()
        if not arg:
            row = [InlineKeyboardButton(code.upper(), callback_data=f"l:{code}") for code in LANGUAGES]
            await self._send(
                context.bot, where, t(chat.language, "language.choose"), InlineKeyboardMarkup([row])
            )
        elif arg not in LANGUAGES:
            await self._send(context.bot, where, t(chat.language, "language.usage"))
        elif await self._manager(context.bot, where, chat):
            now = self.deps.clock()
            await asyncio.to_thread(self.deps.repo.update_subscriber, where.chat_id, now, language=arg)
            await self._send(context.bot, where, t(arg, "language.set"))

    async def schedule(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        lang, arg = chat.language, arguments(update)
        subs = await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id)
        if arg:
            if not await self._manager(context.bot, where, chat):
                return
            try:
                times, tz = cmd.parse_schedule(arg)
            except BadInput as exc:
                await self._bad(context.bot, where, chat, exc)
                return
            if times is not None and not subs:
                await self._send(context.bot, where, t(lang, "schedule.no_subs"))
                return
            chat, subs = await asyncio.to_thread(self._set_schedule, chat, subs, times, tz)
        lines = cmd.subscription_lines("schedule.line", subs, lang) if subs else t(lang, "schedule.no_subs")
        shown = t(lang, "schedule.show", timezone=chat.timezone, lines=Html(lines))
        await self._send(context.bot, where, f"{t(lang, 'schedule.saved')}\n{shown}" if arg else shown)

    def _set_schedule(
        self, chat: Subscriber, subs: Sequence[Subscription], times: tuple[time, ...] | None, tz: str | None
    ) -> tuple[Subscriber, list[Subscription]]:
        repo, now = self.deps.repo, self.deps.clock()
        if tz is not None:
            repo.update_subscriber(chat.chat_id, now, timezone=tz)
        for sub in subs if times is not None else ():
            repo.update_subscription(chat.chat_id, sub.id, digest_times=times)
        return repo.subscriber(chat.chat_id) or chat, repo.subscriptions(chat.chat_id)

    async def mute(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        if not await self._manager(context.bot, where, chat):
            return
        try:
            duration = cmd.parse_duration(arguments(update))
        except BadInput as exc:
            await self._bad(context.bot, where, chat, exc)
            return
        now, lang = self.deps.clock(), chat.language
        until = now + duration if duration else None
        await asyncio.to_thread(self.deps.repo.update_subscriber, where.chat_id, now, muted_until=until)
        text = (
            t(lang, "mute.on", until=cmd.local_time(until, chat.timezone)) if until else t(lang, "mute.off")
        )
        await self._send(context.bot, where, text)

    # --- operators ------------------------------------------------------------------------------------

    async def sources(self, update: Update, context: Context) -> None:
        if (begun := await self._begin(update)) and await self._operator(context.bot, *begun):
            where, chat = begun
            states = await asyncio.to_thread(self.deps.store.states)
            await self._send(context.bot, where, cmd.sources_text(list(states.values()), chat.language))

    async def status(self, update: Update, context: Context) -> None:
        if (begun := await self._begin(update)) and await self._operator(context.bot, *begun):
            where, chat = begun
            facts = await asyncio.to_thread(self._status_facts)
            await self._send(context.bot, where, cmd.status_text(facts, chat.language))

    def _status_facts(self) -> cmd.StatusFacts:
        repo, store = self.deps.repo, self.deps.store
        states = list(store.states().values())
        return cmd.StatusFacts(
            states, store.count_articles(), repo.outbox_counts(), repo.next_due(), repo.recent(5)
        )

    async def broadcast(self, update: Update, context: Context) -> None:
        if not ((begun := await self._begin(update)) and await self._operator(context.bot, *begun)):
            return
        where, chat = begun
        text = arguments(update)
        if not text:
            await self._send(context.bot, where, t(chat.language, "broadcast.usage"))
            return
        chats = await asyncio.to_thread(self.deps.repo.subscribers)
        parts, key = cmd.parts_of(escape(text)), f"broadcast:{update.update_id}"
        queued = await self._enqueue([NewMessage(c.chat_id, key, "broadcast", parts) for c in chats])
        log.info("broadcast queued update_id=%s chats=%s", update.update_id, queued)
        await self._send(context.bot, where, t(chat.language, "broadcast.queued", n=queued))

    # --- buttons --------------------------------------------------------------------------------------

    async def _button(
        self, update: Update, context: Context
    ) -> tuple[Where, Subscriber, CallbackQuery] | None:
        """A button press by someone who may change the chat (others are told why nothing happens)."""
        query = update.callback_query
        if query is None or query.message is None or not (begun := await self._begin(update)):
            return None
        where, chat = begun
        if not await self._may_manage(context.bot, where):
            await query.answer(t(chat.language, "chat_admin_only"), show_alert=True)
            return None
        return where, chat, query

    async def settings_button(self, update: Update, context: Context) -> None:
        if not (pressed := await self._button(update, context)):
            return
        where, chat, query = pressed
        assert query.message is not None and query.data is not None  # checked by _button and the pattern
        _, what, value = query.data.split(":", 2)
        chat, subs = await asyncio.to_thread(self._apply_setting, chat, what, value)
        await query.answer(t(chat.language, "settings.saved"))
        text, keyboard = cmd.settings_text(chat, subs, self.deps.clock()), cmd.settings_keyboard(chat, subs)
        await self._edit(context.bot, where, query.message.message_id, text, keyboard)

    def _apply_setting(
        self, chat: Subscriber, what: str, value: str
    ) -> tuple[Subscriber, list[Subscription]]:
        """One settings button (its data checked by ``SETTINGS_PATTERN``); the chat and its subscriptions after."""
        repo, now, chat_id = self.deps.repo, self.deps.clock(), chat.chat_id
        subs = repo.subscriptions(chat_id)
        if what == "lang":
            repo.update_subscriber(chat_id, now, language=value)
        elif what == "al":
            for sub in (s for s in subs if s.id == int(value)):
                repo.update_subscription(chat_id, sub.id, alerts=not sub.alerts)
        elif what == "t":
            for sub in subs:
                repo.update_subscription(chat_id, sub.id, digest_times=cmd.PRESETS[int(value)])
        elif what == "mute":
            repo.update_subscriber(
                chat_id, now, muted_until=now + timedelta(hours=8) if value == "8h" else None
            )
        return repo.subscriber(chat_id) or chat, repo.subscriptions(chat_id)

    async def unsubscribe_button(self, update: Update, context: Context) -> None:
        if not (pressed := await self._button(update, context)):
            return
        where, chat, query = pressed
        assert query.message is not None and query.data is not None
        text = await self._remove(where.chat_id, query.data.split(":", 1)[1], chat.language)
        await query.answer()
        await self._edit(context.bot, where, query.message.message_id, text)

    async def language_button(self, update: Update, context: Context) -> None:
        if not (pressed := await self._button(update, context)):
            return
        where, _chat, query = pressed
        assert query.message is not None and query.data is not None
        lang = query.data.split(":", 1)[1]
        await asyncio.to_thread(
            self.deps.repo.update_subscriber, where.chat_id, self.deps.clock(), language=lang
        )
        await query.answer(t(lang, "settings.saved"))
        await self._edit(context.bot, where, query.message.message_id, t(lang, "language.set"))

    # --- membership, unknown commands, errors ---------------------------------------------------------

    async def membership(self, update: Update, context: Context) -> None:
        """The bot was added to, promoted or demoted in, or removed from a chat (or blocked by a user)."""
        change = update.my_chat_member
        if change is None:
            return
        chat, status, now = change.chat, change.new_chat_member.status, self.deps.clock()
        can_post = status in _MANAGERS or (
            status == ChatMemberStatus.MEMBER and chat.type != ChatType.CHANNEL
        )
        if can_post:
            lang = language_of(change.from_user.language_code, self.deps.default_language)
            repo = self.deps.repo
            await asyncio.to_thread(
                repo.ensure_subscriber, chat.id, chat.type, chat.title, now, language=lang
            )
        elif status != ChatMemberStatus.RESTRICTED:
            await asyncio.to_thread(self.deps.repo.deactivate, chat.id, f"bot status {status}", now)
        log.info("membership chat_id=%s kind=%s status=%s", chat.id, chat.type, status)

    async def unknown(self, update: Update, context: Context) -> None:
        message = update.effective_message
        command = message.text.split(None, 1)[0] if isinstance(message, Message) and message.text else ""
        target = command.partition("@")[2]
        if target and target.lower() != (context.bot.username or "").lower():
            return  # a command for another bot of the group
        if begun := await self._begin(update):
            where, chat = begun
            await self._send(context.bot, where, t(chat.language, "unknown"))

    async def error(self, update: object, context: Context) -> None:
        """Log a failed update (its id and chat, never the token) and tell the chat to try again."""
        where = where_of(update) if isinstance(update, Update) else None
        update_id = update.update_id if isinstance(update, Update) else None
        chat_id = where.chat_id if where else None
        log.error("update failed update_id=%s chat_id=%s", update_id, chat_id, exc_info=context.error)
        if where is None or not isinstance(update, Update):
            return
        try:
            found = await asyncio.to_thread(self.deps.repo.subscriber, where.chat_id)
        except SQLAlchemyError:  # the database may be what failed: answer in the default language
            found = None
        lang = found.language if found else language_of(where.user_lang, self.deps.default_language)
        try:
            if update.callback_query:
                await update.callback_query.answer(t(lang, "error"))
            else:
                await self._send(context.bot, where, t(lang, "error"))
        except TelegramError as exc:
            log.warning("could not report the error chat_id=%s error=%s", chat_id, exc)
