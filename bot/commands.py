"""The pure side of the bot's commands: reading updates and arguments, building replies (no I/O).

0. ``where_of`` reads an update: chat, forum topic, sender, and whether it was posted as the chat itself (a
   channel post, an anonymous group admin); ``arguments`` is the text after the command.
1. Arguments: ``parse_subscription`` (a filter plus ``alerts`` and ``at:HH:MM``, entity names resolved to
   canonical ids through the gazetteer), ``parse_schedule``, ``parse_duration``, ``parse_count``,
   ``number``, ``parse_story_id``. A value the bot cannot use raises ``BadInput``: the i18n key of
   the reply that explains the fix, and its values (a user's text repeated there is cut to ``MAX_SHOWN``).
   Everything a chat sends is bounded before use: filters (``MAX_FILTER`` characters), digest times
   (``MAX_TIMES``), time zone names (``MAX_ZONE`` characters of the IANA alphabet before ``zoneinfo`` reads a
   file), numbers (a few decimal digits, what ``int`` reads: never ``²``), story ids; the buttons' data is
   matched whole, to its very end (ASCII digits).
2. Replies: the settings message and its keyboard, the latest stories, the trending entities, the operators'
   source and status reports; Telegram HTML in the chat's language (``bot.i18n``), every value escaped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.i18n import ADMIN_COMMANDS, FILTER_EXAMPLE, LANGUAGES, USER_COMMANDS, Html, t
from bot.planner import zone
from bot.render import LIMIT, escape, link, safe_url, split_html, utf16_len
from bot.repository import OutboxItem, Subscriber, Subscription, format_times, parse_times
from monitor.errors import ConfigError
from monitor.models import SourceState
from summarizer.digest import StoryView, TrendingEntity, headline_links, localize, parse_filter
from summarizer.gazetteer import Gazetteer, display_name

DEFAULT_TIME = time(8, 0)
ALERT_WORDS = frozenset({"alerts", "alert", "alertes", "alerte"})
PRESETS: tuple[tuple[time, ...], ...] = ((time(8),), (time(8), time(18)), (time(7), time(12), time(19)))
# the buttons' data, matched whole: "$" would also match before a final newline ("l:fr\n")
SETTINGS_PATTERN = r"^s:(lang:(en|fr|de|es|ar)|al:[0-9]{1,9}|t:([0-2]|none)|mute:(8h|off))\Z"
UNSUBSCRIBE_PATTERN = r"^u:([0-9]{1,9}|all)\Z"
LANGUAGE_PATTERN = r"^l:(en|fr|de|es|ar)\Z"
NO_TIMES = frozenset({"none", "off", "no", "aucune", "non"})
MAX_BUTTONS = 10  # subscriptions with their own button
MAX_MUTE = timedelta(days=90)
MAX_SHOWN = 100  # characters of a user's value repeated in a refusal
MAX_FILTER = 500  # characters of a /subscribe or /search filter
MAX_TIMES = 12  # digest times of one subscription
MAX_ZONE = 64  # characters of a time zone name (the longest IANA name has 32)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*", re.ASCII)
_NUMBER = re.compile(r"\d{1,9}")  # decimal digits of any script, what int() reads (str.isdigit also takes ²)
_STORY_ID = re.compile(r"[\w.:-]{1,100}")
_PLAIN_WORD = re.compile(r"[^\s\"'\\]+")
_PREFIXED = re.compile(r"(-|(?:entity|lang|tag|min):)(.*)", re.DOTALL)
_DURATION = re.compile(r"(\d{1,4})\s*([mhdj])")
_UNITS = {"m": 1, "h": 60, "d": 1440, "j": 1440}  # minutes; "j" for jours
_FILTER_PREFIX = re.compile(r"^filter(?: '(?:[^'\\]|\\.)*'| \"(?:[^\"\\]|\\.)*\")?:\s*")


class BadInput(Exception):
    """An argument the bot cannot use: the i18n key of the reply that explains the fix, and its values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = {k: shown(v) if isinstance(v, str) else v for k, v in values.items()}


def shown(value: str) -> str:
    """A user's value as a reply repeats it: at most ``MAX_SHOWN`` characters, "…" marking a cut."""
    return value if len(value) <= MAX_SHOWN else value[: MAX_SHOWN - 1] + "…"


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    query: str  # the filter, entity names replaced by ids, options removed
    digest_times: tuple[time, ...]
    alerts: bool


# --- 0. reading an update ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    """Where an update comes from and who sent it."""

    chat_id: int
    kind: str  # private, group, supergroup, channel
    title: str | None
    thread_id: int | None  # the forum topic, when the message was posted in one
    user_id: int | None  # None for a channel post
    user_lang: str | None
    as_chat: bool  # posted as the chat itself: a channel post or an anonymous group admin


def where_of(update: Update) -> Where | None:
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    if chat is None:
        return None
    topic = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
    posted = (
        update.message or update.channel_post
    )  # not a button press: the bot's message is "from" a channel
    as_chat = posted is not None and posted.sender_chat is not None and posted.sender_chat.id == chat.id
    lang = user.language_code if user else None
    return Where(chat.id, chat.type, chat.title, topic, user.id if user else None, lang, as_chat)


def arguments(update: Update) -> str:
    """The text after the command (``/subscribe@bot a b`` -> ``a b``), newlines inside kept."""
    message = update.effective_message
    text = message.text if isinstance(message, Message) and message.text else ""
    parts = text.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


# --- 1. arguments -------------------------------------------------------------------------------------------


def quote_word(word: str) -> str:
    """A filter word written so ``parse_filter`` reads it back the same: quoted when it holds spaces or quotes."""
    if _PLAIN_WORD.fullmatch(word):
        return word
    found = _PREFIXED.fullmatch(word)
    prefix, rest = (found.group(1), found.group(2)) if found else ("", word)
    return prefix + '"' + rest.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve_entity(name: str, gazetteer: Gazetteer, lang: str) -> str:
    """A canonical entity id from an id or any alias (``Daech``, ``داعش`` -> ``isis``)."""
    text = name.strip()
    for candidate in (text, text.lower()):
        if candidate in gazetteer:
            return candidate
    ref = gazetteer.link(text, lang) or gazetteer.link(text)
    if ref is None:
        raise BadInput("bad.entity", name=text)
    return ref.id


def digest_times(value: str) -> tuple[time, ...]:
    """``"08:00,18:30"`` -> times; empty, malformed or more than ``MAX_TIMES`` -> ``BadInput``."""
    try:
        times = parse_times(value)
    except ValueError as exc:
        raise BadInput("bad.time", value=value) from exc
    if not times:
        raise BadInput("bad.time", value=value)
    if len(times) > MAX_TIMES:
        raise BadInput("bad.times", max=MAX_TIMES)
    return times


def check_filter(text: str) -> None:
    """A malformed filter (unclosed quote, ``min:x``) -> ``BadInput`` with its fix (the word "filter" once); so
    is one longer than ``MAX_FILTER`` characters."""
    if len(text) > MAX_FILTER:
        raise BadInput("bad.too_long", n=len(text), max=MAX_FILTER)
    try:
        parse_filter(text)
    except ConfigError as exc:
        detail = _FILTER_PREFIX.sub("", exc.detail) or exc.detail
        raise BadInput("bad.filter", detail=detail, hint=exc.hint or "") from exc


def parse_subscription(text: str, gazetteer: Gazetteer, lang: str) -> SubscriptionRequest:
    """``/subscribe`` arguments: a filter plus ``alerts`` and ``at:HH:MM,...`` (08:00 when not given, with or
    without alerts, as /help says; ``at:none`` for no digest)."""
    check_filter(text)
    kept: list[str] = []
    times: tuple[time, ...] | None = None
    alerts = False
    for word in shlex.split(text):
        name, sep, value = word.partition(":")
        if word.lower() in ALERT_WORDS:
            alerts = True
        elif sep and name.lower() == "at":
            times = () if value.lower() in NO_TIMES else digest_times(value)
        elif sep and name == "entity":
            ids = [resolve_entity(v, gazetteer, lang) for v in value.split(",") if v.strip()]
            kept += [f"entity:{','.join(dict.fromkeys(ids))}"] if ids else []
        else:
            kept.append(word)
    if times is None:
        times = (DEFAULT_TIME,)
    if not times and not alerts:
        raise BadInput("bad.time", value="none")
    return SubscriptionRequest(" ".join(quote_word(w) for w in kept), times, alerts)


def parse_duration(text: str) -> timedelta | None:
    """``8h``, ``2d`` (or ``2j``), ``30m`` -> the duration (8 h when empty, at most 90 days); ``off`` -> None."""
    value = text.strip().lower() or "8h"
    if value in ("off", "0", "no", "non"):
        return None
    found = _DURATION.fullmatch(value)
    minutes = int(found.group(1)) * _UNITS[found.group(2)] if found else 0
    if not 0 < minutes <= MAX_MUTE.total_seconds() / 60:
        raise BadInput("bad.duration", value=text)
    return timedelta(minutes=minutes)


def check_zone(name: str) -> str:
    """An IANA time zone name that ``zoneinfo`` knows; anything else -> ``BadInput``. The name is checked first
    (length, letters, digits, ``_+-`` and ``/`` between parts): ``zoneinfo`` reads it as a file path, and a long
    name or a folder (``Europe``) raises ``OSError`` there."""
    if len(name) > MAX_ZONE or not _ZONE_NAME.fullmatch(name):
        raise BadInput("bad.timezone", value=name)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise BadInput("bad.timezone", value=name) from exc
    return name


def parse_schedule(text: str) -> tuple[tuple[time, ...] | None, str | None]:
    """``07:30,18:00 tz:Europe/Paris`` -> (times or None, time zone or None)."""
    words, tz = [], None
    for word in text.split():
        name, sep, value = word.partition(":")
        if sep and name.lower() in ("tz", "timezone"):
            tz = check_zone(value)
        else:
            words.append(word)
    return (digest_times(",".join(words)) if words else None), tz


def number(text: str) -> int | None:
    """The value of at most 9 decimal digits (``42``, ``٤٢``), else None (``²``, ``-1``, ``4.2``, 5,000 digits)."""
    return int(text) if _NUMBER.fullmatch(text) else None


def parse_count(text: str, default: int, maximum: int) -> int:
    """``/latest N``: N from 1 to ``maximum`` (``default`` when not given)."""
    if not text:
        return default
    found = number(text)
    if found is None or not 1 <= found <= maximum:
        raise BadInput("bad.number", value=text, max=maximum)
    return found


def parse_story_id(text: str) -> str:
    """``/story ID``: a story id (letters, digits, ``_.:-``, at most 100); anything else is no story's."""
    if not _STORY_ID.fullmatch(text):
        raise BadInput("story.unknown", id=text)
    return text


# --- 2. replies ---------------------------------------------------------------------------------------------


def help_text(lang: str, *, admin: bool) -> str:
    """The commands, one line each (the operators' too for an operator), then the filter syntax."""

    def lines(names: Sequence[str]) -> list[str]:
        return [f"/{name} — {escape(t(lang, f'cmd.{name}'))}" for name in names]

    shown = [t(lang, "help.title"), *lines(USER_COMMANDS)]
    shown += [t(lang, "help.admin"), *lines(ADMIN_COMMANDS)] if admin else []
    return "\n".join([*shown, "", t(lang, "help.filters", example=FILTER_EXAMPLE)])


def parts_of(text: str) -> tuple[str, ...]:
    """A reply as Telegram messages (split only when longer than one)."""
    return tuple(split_html(text)) if utf16_len(text) > LIMIT else (text,)


def local_time(moment: datetime, tz: str) -> str:
    return f"{moment.astimezone(zone(tz)):%Y-%m-%d %H:%M} ({tz})"


def times_text(times: Sequence[time], lang: str) -> str:
    return format_times(times).replace(",", ", ") or t(lang, "none")


def described(sub: Subscription, lang: str) -> dict[str, object]:
    """The values a subscription line shows: id, filter, digest times, alerts."""
    return {
        "id": sub.number,
        "query": sub.query or t(lang, "sub.everything"),
        "times": times_text(sub.digest_times, lang),
        "alerts": t(lang, "on" if sub.alerts else "off"),
    }


def subscription_lines(key: str, subs: Sequence[Subscription], lang: str) -> Html:
    return Html("\n".join(t(lang, key, **described(s, lang)) for s in subs))


def settings_text(chat: Subscriber, subs: Sequence[Subscription], now: datetime) -> str:
    lang = chat.language
    until = chat.muted_until if chat.muted(now) else None
    listed = f"{t(lang, 'settings.subs')}\n{subscription_lines('settings.sub', subs, lang)}"
    muted = (
        t(lang, "settings.muted_until", until=local_time(until, chat.timezone))
        if until
        else t(lang, "settings.not_muted")
    )
    body = t(
        lang,
        "settings.body",
        language=t(lang, "language.name"),
        timezone=chat.timezone,
        muted=Html(muted),
        subscriptions=Html(listed if subs else t(lang, "settings.no_subs")),
    )
    return f"{t(lang, 'settings.title')}\n{body}"


def preset_targets(subs: Sequence[Subscription]) -> list[Subscription]:
    """The subscriptions a digest-time preset applies to: those with digests, and those without alerts (they
    exist for their digests); alert-only subscriptions keep having none."""
    return [s for s in subs if s.digest_times or not s.alerts]


def current_preset(subs: Sequence[Subscription]) -> str | None:
    """``"0"``-``"2"`` when every subscription with digests has that preset, ``"none"`` when none has digests."""
    times = {s.digest_times for s in subs if s.digest_times}
    if not times:
        return "none" if subs else None
    found = [str(i) for i, preset in enumerate(PRESETS) if times == {preset}]
    return found[0] if found else None


def _checked(label: str, on: bool) -> str:
    return f"✓ {label}" if on else label


def settings_keyboard(chat: Subscriber, subs: Sequence[Subscription], now: datetime) -> InlineKeyboardMarkup:
    """Language, one alerts switch per subscription, digest time presets and "no digest", mute/unmute; the
    current choices checked (data <= 64 bytes)."""
    lang, button = chat.language, InlineKeyboardButton
    rows = [[button(_checked(c.upper(), lang == c), callback_data=f"s:lang:{c}") for c in LANGUAGES]]
    for sub in subs[:MAX_BUTTONS]:
        label = t(lang, "settings.alerts_button", id=sub.number, state=t(lang, "on" if sub.alerts else "off"))
        rows.append([button(label, callback_data=f"s:al:{sub.number}")])
    chosen = current_preset(subs)
    presets = [
        button(_checked(format_times(p).replace(",", " · "), chosen == str(i)), callback_data=f"s:t:{i}")
        for i, p in enumerate(PRESETS)
    ]
    presets.append(
        button(_checked(t(lang, "settings.no_digest_button"), chosen == "none"), callback_data="s:t:none")
    )
    muted = chat.muted(now)
    mute = _checked(t(lang, "settings.mute_button"), muted)
    unmute = _checked(t(lang, "settings.unmute_button"), not muted)
    rows += [presets, [button(mute, callback_data="s:mute:8h"), button(unmute, callback_data="s:mute:off")]]
    return InlineKeyboardMarkup(rows)


def unsubscribe_keyboard(subs: Sequence[Subscription], lang: str) -> InlineKeyboardMarkup:
    everything = t(lang, "sub.everything")
    rows = [
        [InlineKeyboardButton(f"#{s.number} {(s.query or everything)[:40]}", callback_data=f"u:{s.number}")]
        for s in subs[: MAX_BUTTONS * 2]
    ]
    return InlineKeyboardMarkup(
        [*rows, [InlineKeyboardButton(t(lang, "unsub.all_button"), callback_data="u:all")]]
    )


def latest_text(views: Sequence[StoryView], lang: str, title: str | None = None) -> str:
    """One line per story: the headline linked to its first source, its languages, its id (for /story)."""
    lines = [title or t(lang, "latest.title")]
    for n, view in enumerate(views, 1):
        story = localize(view, lang)
        url = next((u for u in headline_links(story) if safe_url(u)), None)
        headline = (story.headline or story.story_id)[:300]
        title = link(url, headline) or escape(headline)
        languages = escape(" · ".join(story.languages))
        lines.append(f"{n}. {title} ({languages}) <code>{escape(story.story_id)}</code>")
    return "\n".join(lines) if views else t(lang, "latest.none")


def entity_name(key: str, gazetteer: Gazetteer, lang: str) -> str:
    """The entity's label in ``lang`` when the gazetteer has it, else the readable part of its key."""
    return display_name(key, gazetteer, lang)


def trending_text(rows: Sequence[TrendingEntity], gazetteer: Gazetteer, lang: str) -> str:
    lines = [
        t(
            lang,
            "trending.line",
            n=n,
            name=entity_name(row.key, gazetteer, lang),
            count=row.count,
            previous=row.previous,
        )
        for n, row in enumerate(rows, 1)
    ]
    return "\n".join([t(lang, "trending.title"), *lines]) if rows else t(lang, "trending.none")


def sources_text(states: Sequence[SourceState], lang: str) -> str:
    """One line per source: state mark, id, last success, consecutive errors, last error kind, paused."""
    lines = [t(lang, "sources.title", n=len(states))]
    for state in states:
        mark = "⏸" if state.paused else "⚠️" if state.consecutive_errors else "✅"
        success = (
            local_time(state.last_success_at, "UTC") if state.last_success_at else t(lang, "sources.never")
        )
        kind = f" · {state.last_error_kind}" if state.last_error_kind and state.consecutive_errors else ""
        paused = t(lang, "sources.paused") if state.paused else ""
        values = {"mark": mark, "id": state.source_id, "success": success, "errors": state.consecutive_errors}
        lines.append(t(lang, "sources.line", **values, kind=kind, paused=paused))
    return "\n".join(lines) if states else t(lang, "sources.none")


@dataclass(frozen=True, slots=True)
class StatusFacts:
    states: Sequence[SourceState]
    articles: int
    outbox: Mapping[str, int]  # items per status
    next_due: datetime | None
    recent: Sequence[OutboxItem]  # last deliveries, newest first


def status_text(facts: StatusFacts, lang: str) -> str:
    failing = [s.source_id for s in facts.states if s.consecutive_errors or s.paused]
    recent = [
        t(lang, "status.delivery", time=local_time(i.sent_at, "UTC"), chat=i.chat_id, kind=i.kind)
        for i in facts.recent
        if i.sent_at
    ]
    return t(
        lang,
        "status.text",
        failing=len(failing),
        total=len(facts.states),
        names=f" ({', '.join(failing[:20])})" if failing else "",
        articles=facts.articles,
        outbox=" · ".join(f"{status} {n}" for status, n in sorted(facts.outbox.items())) or t(lang, "none"),
        pending=facts.outbox.get("pending", 0),
        next_due=local_time(facts.next_due, "UTC") if facts.next_due else "—",
        recent=Html("\n".join(recent) or t(lang, "status.no_deliveries")),
    )
