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
   Button presses are answered (``answerCallbackQuery``), then the message is edited to show the new state;
   a stale or unknown button is answered too ("out of date"), never left spinning.
   ``/digest``, ``/latest`` and ``/broadcast`` are recorded in the outbox under a key built from the update id
   (delivered paced and split); the rest is answered directly.

Every update is handled at most once: a change is made in one transaction that also records the update id
(``BotRepository.once``), a question is recorded before it is answered; an update Telegram delivers again
(after a crash before its offset was confirmed) is recognized and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import commands as cmd
from bot.commands import BadInput, Where, arguments, where_of
from bot.i18n import ADMIN_COMMANDS, FILTER_EXAMPLE, LANGUAGES, USER_COMMANDS, Html, language_of, t, tn
from bot.render import escape, render_story_full
from bot.repository import BotRepository, NewMessage, Subscriber, Subscription
from bot.telegram import NO_PREVIEW
from summarizer.digest import StoryView, build_digest, parse_filter, trending

if TYPE_CHECKING:
    from bot.app import BotDeps

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
T = TypeVar("T")
MAX_LATEST = 20
MAX_SEARCH = 10
SEARCH_WINDOW = timedelta(days=7)


class _Handled:
    """The update was handled before (Telegram delivered it again): nothing to do."""


HANDLED = _Handled()
_MANAGERS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


class Handlers:
    """The command, button, membership and error handlers on one set of dependencies."""

    def __init__(self, deps: BotDeps) -> None:
        self.deps = deps

    def commands(self) -> dict[str, Callback]:
        """Command name -> handler, users' commands first (the order of /help)."""
        return {name: getattr(self, name) for name in (*USER_COMMANDS, *ADMIN_COMMANDS)}

    # --- shared steps ---------------------------------------------------------------------------------

    async def _begin(self, update: Update, *, claim: bool = True) -> tuple[Where, Subscriber] | None:
        """Where the update comes from and the chat's subscriber row (created or reactivated as needed); None
        when there is nothing to do (no chat, or an update handled before). ``claim``: record the update as
        handled now (a question); a change records it in its own transaction (``_once``)."""
        where = where_of(update)
        if where is None:
            return None
        repo = self.deps.repo
        if claim:
            now = self.deps.clock()
            if not await asyncio.to_thread(repo.mark_handled, update.update_id, where.chat_id, now):
                log.info("update already handled update_id=%s chat_id=%s", update.update_id, where.chat_id)
                return None
        elif await asyncio.to_thread(repo.was_handled, update.update_id):
            log.info("update already handled update_id=%s chat_id=%s", update.update_id, where.chat_id)
            return None
        chat = await asyncio.to_thread(repo.subscriber, where.chat_id)
        if chat is None or not chat.active:
            lang = language_of(where.user_lang, self.deps.default_language)
            now = self.deps.clock()
            chat = await asyncio.to_thread(
                repo.ensure_subscriber, where.chat_id, where.kind, where.title, now, language=lang
            )
        return where, chat

    async def _once(self, update: Update, where: Where, change: Callable[[BotRepository], T]) -> T | _Handled:
        """``change`` in one transaction that also records the update as handled (``HANDLED`` if it was)."""

        def run() -> T | _Handled:
            with self.deps.repo.once(update.update_id, where.chat_id, self.deps.clock()) as bound:
                if bound is None:
                    log.info(
                        "update already handled update_id=%s chat_id=%s", update.update_id, where.chat_id
                    )
                    return HANDLED
                return change(bound)

        return await asyncio.to_thread(run)

    async def _send(
        self,
        bot: Bot,
        where: Where,
        text: str | Sequence[str],
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        parts = cmd.parts_of(text) if isinstance(text, str) else tuple(text)
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
        lang, text = chat.language, arguments(update)
        if not text:
            await self._send(context.bot, where, t(lang, "story.usage"))
            return
        try:
            story_id = cmd.parse_story_id(text)
        except BadInput as exc:
            await self._bad(context.bot, where, chat, exc)
            return
        views = await asyncio.to_thread(self._story_views, story_id)
        if views:
            names = [cmd.entity_name(key, self.deps.gazetteer, lang) for key in views[0].entities]
            await self._send(context.bot, where, render_story_full(views[0], lang, names))
        else:
            await self._send(context.bot, where, t(lang, "story.unknown", id=story_id))

    def _story_views(self, story_id: str) -> list[StoryView]:
        row = self.deps.nlp.story(story_id)
        return self.deps.nlp.story_views([row]) if row else []

    async def search(self, update: Update, context: Context) -> None:
        """``/search WORDS``: the stories of the last 7 days that match (a filter: words, -word, entity:...)."""
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        lang, text = chat.language, arguments(update)
        if not text:
            await self._send(context.bot, where, t(lang, "search.usage"))
            return
        try:
            cmd.check_filter(text)  # at most MAX_FILTER characters too
        except BadInput as exc:
            await self._bad(context.bot, where, chat, exc)
            return
        views = await asyncio.to_thread(self._search_views, text, self.deps.clock())
        title = t(lang, "search.title", query=text)
        reply = cmd.latest_text(views, lang, title) if views else t(lang, "search.none", query=text)
        await self._send(context.bot, where, reply)

    def _search_views(self, text: str, now: datetime) -> list[StoryView]:
        since = now - SEARCH_WINDOW
        views = self.deps.nlp.story_views(self.deps.nlp.stories_since(since))
        return list(build_digest(views, parse_filter(text), since=since, until=now, limit=MAX_SEARCH).stories)

    async def trending(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update)):
            return
        where, chat = begun
        now, day, nlp = self.deps.clock(), timedelta(hours=24), self.deps.nlp
        current = await asyncio.to_thread(nlp.entity_counts, now - day, now)
        previous = await asyncio.to_thread(nlp.entity_counts, now - 2 * day, now - day)
        rows = trending(current, previous, top=10)
        await self._send(context.bot, where, cmd.trending_text(rows, self.deps.gazetteer, chat.language))

    async def free_text(self, update: Update, context: Context) -> None:
        """A message that is not a command, in a private chat: a short hint (groups are left alone)."""
        if begun := await self._begin(update):
            where, chat = begun
            await self._send(context.bot, where, t(chat.language, "hint"))

    # --- changing the chat ----------------------------------------------------------------------------

    async def _answer_once(
        self, bot: Bot, update: Update, where: Where, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Answer a request that changes nothing (usage, a bad argument, a refusal, a question), once."""
        repo, now = self.deps.repo, self.deps.clock()
        if await asyncio.to_thread(repo.mark_handled, update.update_id, where.chat_id, now):
            await self._send(bot, where, text, markup)

    async def subscribe(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        lang, text, bot = chat.language, arguments(update), context.bot
        if not text:
            await self._answer_once(bot, update, where, t(lang, "sub.usage", example=FILTER_EXAMPLE))
            return
        if not await self._may_manage(bot, where):
            await self._answer_once(bot, update, where, t(lang, "chat_admin_only"))
            return
        try:
            asked = cmd.parse_subscription(text, self.deps.gazetteer, lang)
        except BadInput as exc:
            await self._answer_once(bot, update, where, t(lang, exc.key, **exc.values))
            return
        now = self.deps.clock()
        sub = await self._once(
            update,
            where,
            lambda repo: repo.add_subscription(
                where.chat_id,
                asked.query,
                now,
                digest_times=asked.digest_times,
                alerts=asked.alerts,
                thread_id=where.thread_id,
            ),
        )
        if isinstance(sub, _Handled):
            return
        log.info("subscribed chat_id=%s subscription=%s thread_id=%s", where.chat_id, sub.id, where.thread_id)
        await self._send(bot, where, t(lang, "sub.saved", **cmd.described(sub, lang)))

    async def unsubscribe(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        lang, arg, bot = chat.language, arguments(update).lower().lstrip("#"), context.bot
        target = None if arg in ("", "all") else cmd.number(arg)
        if not await self._may_manage(bot, where):
            await self._answer_once(bot, update, where, t(lang, "chat_admin_only"))
        elif arg and arg != "all" and target is None:
            await self._answer_once(bot, update, where, t(lang, "unsub.usage"))
        elif arg:
            removed = await self._once(
                update, where, lambda repo: repo.remove_subscriptions(where.chat_id, target)
            )
            if not isinstance(removed, _Handled):
                await self._send(bot, where, self._removed_text(removed, target, lang))
        elif subs := await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id):
            await self._answer_once(
                bot, update, where, t(lang, "unsub.choose"), cmd.unsubscribe_keyboard(subs, lang)
            )
        else:
            await self._answer_once(bot, update, where, t(lang, "unsub.none"))

    @staticmethod
    def _removed_text(removed: int, target: int | None, lang: str) -> str:
        if target is None:
            return t(lang, "unsub.removed_all", n=removed)
        return t(lang, "unsub.removed" if removed else "unsub.not_found", id=target)

    async def settings(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        if not await self._may_manage(context.bot, where):
            await self._answer_once(context.bot, update, where, t(chat.language, "chat_admin_only"))
            return
        subs = await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id)
        now = self.deps.clock()
        text, keyboard = cmd.settings_text(chat, subs, now), cmd.settings_keyboard(chat, subs, now)
        await self._answer_once(context.bot, update, where, text, keyboard)

    async def language(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        arg, bot, lang = arguments(update).lower(), context.bot, chat.language
        if not arg:
            row = [InlineKeyboardButton(code.upper(), callback_data=f"l:{code}") for code in LANGUAGES]
            await self._answer_once(
                bot, update, where, t(lang, "language.choose"), InlineKeyboardMarkup([row])
            )
        elif arg not in LANGUAGES:
            await self._answer_once(bot, update, where, t(lang, "language.usage"))
        elif not await self._may_manage(bot, where):
            await self._answer_once(bot, update, where, t(lang, "chat_admin_only"))
        else:
            now = self.deps.clock()
            done = await self._once(
                update, where, lambda repo: repo.update_subscriber(where.chat_id, now, language=arg)
            )
            if not isinstance(done, _Handled):
                await self._send(bot, where, t(arg, "language.set"))

    async def schedule(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        lang, arg, bot = chat.language, arguments(update), context.bot
        if not arg:
            subs = await asyncio.to_thread(self.deps.repo.subscriptions, where.chat_id)
            await self._answer_once(bot, update, where, self._schedule_text(chat, subs))
            return
        if not await self._may_manage(bot, where):
            await self._answer_once(bot, update, where, t(lang, "chat_admin_only"))
            return
        try:
            times, tz = cmd.parse_schedule(arg)
        except BadInput as exc:
            await self._answer_once(bot, update, where, t(lang, exc.key, **exc.values))
            return
        done = await self._once(update, where, lambda repo: self._set_schedule(repo, chat, times, tz))
        if isinstance(done, _Handled):
            return
        chat, subs = done
        if times is not None and not subs:
            await self._send(bot, where, t(lang, "schedule.no_subs"))
            return
        await self._send(bot, where, f"{t(lang, 'schedule.saved')}\n{self._schedule_text(chat, subs)}")

    @staticmethod
    def _schedule_text(chat: Subscriber, subs: Sequence[Subscription]) -> str:
        lang = chat.language
        lines = cmd.subscription_lines("schedule.line", subs, lang) if subs else t(lang, "schedule.no_subs")
        return t(lang, "schedule.show", timezone=chat.timezone, lines=Html(lines))

    def _set_schedule(
        self, repo: BotRepository, chat: Subscriber, times: tuple[time, ...] | None, tz: str | None
    ) -> tuple[Subscriber, list[Subscription]]:
        now = self.deps.clock()
        if tz is not None:
            repo.update_subscriber(chat.chat_id, now, timezone=tz)
        for sub in repo.subscriptions(chat.chat_id) if times is not None else ():
            repo.update_subscription(chat.chat_id, sub.id, digest_times=times)
        return repo.subscriber(chat.chat_id) or chat, repo.subscriptions(chat.chat_id)

    async def mute(self, update: Update, context: Context) -> None:
        if not (begun := await self._begin(update, claim=False)):
            return
        where, chat = begun
        lang, bot = chat.language, context.bot
        if not await self._may_manage(bot, where):
            await self._answer_once(bot, update, where, t(lang, "chat_admin_only"))
            return
        try:
            duration = cmd.parse_duration(arguments(update))
        except BadInput as exc:
            await self._answer_once(bot, update, where, t(lang, exc.key, **exc.values))
            return
        now = self.deps.clock()
        until = now + duration if duration else None
        done = await self._once(
            update, where, lambda repo: repo.update_subscriber(where.chat_id, now, muted_until=until)
        )
        if isinstance(done, _Handled):
            return
        text = (
            t(lang, "mute.on", until=cmd.local_time(until, chat.timezone)) if until else t(lang, "mute.off")
        )
        await self._send(bot, where, text)

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
        await self._send(context.bot, where, tn(chat.language, "broadcast.queued", queued))

    # --- buttons --------------------------------------------------------------------------------------

    async def _button(
        self, update: Update, context: Context
    ) -> tuple[Where, Subscriber, CallbackQuery] | None:
        """A button press by someone who may change the chat (others are told why nothing happens)."""
        query = update.callback_query
        if query is None or query.message is None or not (begun := await self._begin(update, claim=False)):
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
        done = await self._once(update, where, lambda repo: self._apply_setting(repo, chat, what, value))
        if isinstance(done, _Handled):
            return
        chat, subs, applied = done
        if not applied:
            await query.answer(t(chat.language, "button.stale"), show_alert=True)
            return
        await query.answer(t(chat.language, "settings.saved"))
        now = self.deps.clock()
        text, keyboard = cmd.settings_text(chat, subs, now), cmd.settings_keyboard(chat, subs, now)
        await self._edit(context.bot, where, query.message.message_id, text, keyboard)

    def _apply_setting(
        self, repo: BotRepository, chat: Subscriber, what: str, value: str
    ) -> tuple[Subscriber, list[Subscription], bool]:
        """One settings button (its data checked by ``SETTINGS_PATTERN``): the chat and its subscriptions after,
        and whether it applied (a button of a subscription removed since is stale)."""
        now, chat_id = self.deps.clock(), chat.chat_id
        subs = repo.subscriptions(chat_id)
        applied = True
        if what == "lang":
            repo.update_subscriber(chat_id, now, language=value)
        elif what == "al":
            found = [s for s in subs if s.number == int(value)]
            for sub in found:
                repo.update_subscription(chat_id, sub.id, alerts=not sub.alerts)
            applied = bool(found)
        elif what == "t":
            targets = subs if value == "none" else cmd.preset_targets(subs)
            times = () if value == "none" else cmd.PRESETS[int(value)]
            for sub in targets:
                repo.update_subscription(chat_id, sub.id, digest_times=times)
        elif what == "mute":
            repo.update_subscriber(
                chat_id, now, muted_until=now + timedelta(hours=8) if value == "8h" else None
            )
        return repo.subscriber(chat_id) or chat, repo.subscriptions(chat_id), applied

    async def unsubscribe_button(self, update: Update, context: Context) -> None:
        if not (pressed := await self._button(update, context)):
            return
        where, chat, query = pressed
        assert query.message is not None and query.data is not None
        which = query.data.split(":", 1)[1]
        target = None if which == "all" else int(which)
        removed = await self._once(
            update, where, lambda repo: repo.remove_subscriptions(where.chat_id, target)
        )
        if isinstance(removed, _Handled):
            return
        await query.answer()
        text = self._removed_text(removed, target, chat.language)
        await self._edit(context.bot, where, query.message.message_id, text)

    async def language_button(self, update: Update, context: Context) -> None:
        if not (pressed := await self._button(update, context)):
            return
        where, _chat, query = pressed
        assert query.message is not None and query.data is not None
        lang, now = query.data.split(":", 1)[1], self.deps.clock()
        done = await self._once(
            update, where, lambda repo: repo.update_subscriber(where.chat_id, now, language=lang)
        )
        if isinstance(done, _Handled):
            return
        await query.answer(t(lang, "settings.saved"))
        await self._edit(context.bot, where, query.message.message_id, t(lang, "language.set"))

    async def stale_button(self, update: Update, context: Context) -> None:
        """A button this version of the bot does not know (an old message's): answered, not left spinning."""
        query = update.callback_query
        if query is None or not (begun := await self._begin(update)):
            return
        await query.answer(t(begun[1].language, "button.stale"), show_alert=True)

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
