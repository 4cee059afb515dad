"""Planning: which digests and alerts are due, rendered and recorded in the outbox (sending is ``bot.delivery``'s).

1. Digests: for each subscription with digest times, the latest time in (last window end, now] in the chat's
   time zone is due; its digest holds the matching stories that got news (an article processed) since the last
   window's end, most important first; it is recorded with the key ``digest:<subscription>:<slot>`` and the
   window moves to the slot in the same transaction, so a crash or restart plans each slot once, and downtime
   gives one digest covering the whole gap (not one per missed slot). A muted chat's window moves on without a
   message; an empty digest sends nothing.
2. Alerts, per chat and story: the stories that got news since the alert watermark (and, for updates held
   back by the interval, in the interval before it). A chat gets one alert per story (``alert:<story>``),
   whatever the number of its alert subscriptions the story matches, and only for a story that first appeared
   (its first article processed) after one of those subscriptions was made. A story alerted before that
   gained sources or summary sentences the chat was not shown -> one update (``update:<story>:<digest of the
   new>``), a reply to the chat's first alert carrying only what is new, at most once per ``update_interval``
   per story and chat. What the chat was shown is recorded with each message, in its transaction; the
   watermark moves last: a crash re-plans, and the keys and records make that harmless.
3. On demand (``/digest``, ``/latest``): the same rendering, recorded with a key built from the Telegram update
   id, so an update Telegram delivers twice (after a restart) answers once.

Everything here is synchronous (database + rendering); the async service calls it in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import plain
from bot.render import render_alert, render_digest, render_update, source_labels
from bot.repository import AlertRecord, BotRepository, NewMessage, Subscriber, Subscription
from monitor.errors import ConfigError
from summarizer.digest import Digest, StoryFilter, StoryView, build_digest, localize, matches, parse_filter
from summarizer.gazetteer import Gazetteer
from summarizer.repository import NlpRepository

log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=7)  # a digest after a long downtime covers at most this
ALERT_WATERMARK = "alerts_checked_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(9999, 1, 1, tzinfo=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # unknown, malformed, too long, a folder: the digests go, in UTC
        return ZoneInfo("UTC")


def latest_slot(times: Sequence[time], tz: ZoneInfo, after: datetime, now: datetime) -> datetime | None:
    """The latest of the daily ``times`` (local to ``tz``) in (after, now], in UTC; None when none fell there."""
    if not times or now <= after:
        return None
    today = now.astimezone(tz).date()
    for back in range(min((now - after).days + 2, 9)):
        day = today - timedelta(days=back)
        for moment in sorted(times, reverse=True):
            slot = datetime.combine(day, moment, tz).astimezone(UTC)
            if after < slot <= now:
                return slot
    return None


def digest_key(subscription_id: int, slot: datetime) -> str:
    return f"digest:{subscription_id}:{slot.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def describe_filter(query: str, gazetteer: Gazetteer | None, lang: str) -> str:
    """A filter as a reader names it: its words, entity names instead of ids, languages; ``min:`` left out."""
    try:
        words = shlex.split(query)
    except ValueError:
        return query
    shown = []
    for word in words:
        name, sep, value = word.partition(":")
        if sep and name == "entity":
            ids = [v for v in value.split(",") if v]
            found = [gazetteer.get(i) if gazetteer else None for i in ids]
            shown.append(" / ".join(e.name(lang) if e else i for e, i in zip(found, ids, strict=True)))
        elif sep and name in ("lang", "tag"):
            shown.append(value.replace(",", ", "))
        elif not (sep and name == "min"):
            shown.append(f'"{word}"' if " " in word else word)
    return " · ".join(shown)


def views_between(nlp: NlpRepository, since: datetime, until: datetime) -> list[StoryView]:
    return nlp.story_views(nlp.stories_touched(since, until))


def make_digest(
    views: Sequence[StoryView], query: str, since: datetime, until: datetime, limit: int
) -> Digest:
    """The stories among ``views`` (already those of the window) that match ``query``, most important first."""
    digest = build_digest(views, parse_filter(query), since=EPOCH, until=FAR, limit=limit)
    return replace(digest, since=since, until=until)


class Planner:
    def __init__(
        self,
        repo: BotRepository,
        nlp: NlpRepository,
        *,
        digest_limit: int = 60,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        update_interval: timedelta = timedelta(minutes=30),
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self.repo = repo
        self.nlp = nlp
        self.digest_limit = digest_limit
        self.clock = clock
        self.update_interval = update_interval
        self.gazetteer = gazetteer

    # --- scheduled digests ------------------------------------------------------------------------------

    def plan_digests(self, now: datetime) -> int:
        """Record every digest due at ``now``; the number of messages recorded."""
        chats = {s.chat_id: s for s in self.repo.subscribers()}
        cache: dict[tuple[datetime, datetime], list[StoryView]] = {}
        recorded = 0
        for sub in self.repo.subscriptions():
            chat = chats.get(sub.chat_id)
            if chat is None or not sub.digest_times:
                continue
            after = sub.last_digest_at or sub.created_at
            slot = latest_slot(sub.digest_times, zone(chat.timezone), after, now)
            if slot is None:
                continue
            try:
                recorded += self._plan_one(chat, sub, max(after, slot - MAX_WINDOW), slot, now, cache)
            except ConfigError as exc:  # a filter saved before a parser change: skip it, keep the others
                log.warning("digest skipped subscription=%s chat_id=%s error=%s", sub.id, sub.chat_id, exc)
        return recorded

    def _plan_one(
        self,
        chat: Subscriber,
        sub: Subscription,
        since: datetime,
        slot: datetime,
        now: datetime,
        cache: dict[tuple[datetime, datetime], list[StoryView]],
    ) -> int:
        message = None
        if not chat.muted(now):
            if (since, slot) not in cache:
                cache[since, slot] = views_between(self.nlp, since, slot)
            digest = make_digest(cache[since, slot], sub.query, since, slot, self.digest_limit)
            if digest.stories:
                parts = render_digest(
                    digest, chat.language, title=self.digest_title(chat, sub, slot), now=slot
                )
                key = digest_key(sub.id, slot)
                message = NewMessage(sub.chat_id, key, "digest", tuple(parts), sub.thread_id, sub.id)
        self.repo.enqueue_digest(sub.id, slot, message, now)
        return 1 if message else 0

    def digest_title(self, chat: Subscriber, sub: Subscription, slot: datetime) -> str:
        """``Your 08:00 digest: europol · Islamic State`` in the chat's language and time zone, as plain text
        (``render_digest`` escapes it; ``t`` would escape it first, and "AT&T" showed as "AT&amp;T")."""
        local = slot.astimezone(zone(chat.timezone)).strftime("%H:%M")
        described = describe_filter(sub.query, self.gazetteer, chat.language)
        if not described:
            return plain(chat.language, "digest.title", time=local)
        return plain(chat.language, "digest.title_filter", time=local, filter=described)

    # --- alerts -----------------------------------------------------------------------------------------

    def plan_alerts(self, now: datetime) -> int:
        """Record the alerts and update notices due at ``now``; the number of messages recorded."""
        raw = self.repo.state(ALERT_WATERMARK)
        checked = min(datetime.fromisoformat(raw), now) if raw else now - timedelta(hours=1)
        watching: dict[int, list[tuple[Subscription, StoryFilter]]] = {}
        for sub in self.repo.subscriptions():
            if not sub.alerts:
                continue
            try:
                watching.setdefault(sub.chat_id, []).append((sub, parse_filter(sub.query)))
            except ConfigError as exc:  # a filter saved before a parser change: skip it, keep the others
                log.warning("alerts skipped subscription=%s chat_id=%s error=%s", sub.id, sub.chat_id, exc)
        recorded = 0
        if watching:
            views = views_between(self.nlp, checked - self.update_interval, now + timedelta(seconds=1))
            appeared = self.nlp.first_processed([v.story_id for v in views])
            records = self.repo.alert_records([v.story_id for v in views])
            chats = {s.chat_id: s for s in self.repo.subscribers()}
            for chat_id, subs in watching.items():
                chat = chats.get(chat_id)
                if chat is None or chat.muted(now):
                    continue
                for view in views:
                    record = records.get((chat_id, view.story_id))
                    if record is None:
                        recorded += self._alert(chat, subs, view, appeared.get(view.story_id), now)
                    else:
                        recorded += self._update(chat, subs, view, record, now)
        self.repo.set_state(ALERT_WATERMARK, now.isoformat(), now)
        return recorded

    def _alert(
        self,
        chat: Subscriber,
        subs: Sequence[tuple[Subscription, StoryFilter]],
        view: StoryView,
        appeared: datetime | None,
        now: datetime,
    ) -> int:
        """The chat's first alert of a story that appeared after one of the subscriptions it matches."""
        if appeared is None:
            return 0
        sub = next((s for s, f in subs if s.created_at < appeared and matches(view, f)), None)
        if sub is None:
            return 0
        message = NewMessage(
            chat.chat_id,
            f"alert:{view.story_id}",
            "alert",
            (render_alert(view, chat.language),),
            sub.thread_id,
            sub.id,
        )
        sources, sentences = shown_of(view, chat.language)
        return int(self.repo.enqueue_alert(message, view.story_id, sources, sentences, now) is not None)

    def _update(
        self,
        chat: Subscriber,
        subs: Sequence[tuple[Subscription, StoryFilter]],
        view: StoryView,
        record: AlertRecord,
        now: datetime,
    ) -> int:
        """One notice of what is new in an alerted story, when there is something and the interval has passed."""
        sources, sentences = shown_of(view, chat.language)
        if (
            record.sources is None or record.sentences is None
        ):  # a carried-over record: take the story as shown
            self.repo.remember_shown(chat.chat_id, view.story_id, sources, sentences)
            return 0
        new_sources = [s for s in sources if s not in record.sources]
        new_sentences = [s for s in sentences if s not in record.sentences]
        if not (new_sources or new_sentences) or now - record.notified_at < self.update_interval:
            return 0
        sub = next((s for s, f in subs if matches(view, f)), None)
        if sub is None:  # the story no longer matches what the chat follows
            return 0
        digest = hashlib.sha1("\n".join([*new_sources, "", *new_sentences]).encode(), usedforsecurity=False)
        message = NewMessage(
            chat.chat_id,
            f"update:{view.story_id}:{digest.hexdigest()[:16]}",
            "update",
            (render_update(view, chat.language, new_sources, new_sentences),),
            sub.thread_id,
            sub.id,
            reply_to_item=record.outbox_id,
        )
        new_id = self.repo.enqueue_alert(message, view.story_id, sources, sentences, now, record=record)
        return int(new_id is not None)

    # --- on demand --------------------------------------------------------------------------------------

    def digest_now(
        self, chat: Subscriber, queries: Sequence[str], key: str, now: datetime, *, hours: float = 24
    ) -> NewMessage:
        """The chat's digest of the last ``hours`` for its filters (any of them), recorded under ``key``."""
        since = now - timedelta(hours=hours)
        views = views_between(self.nlp, since, now + timedelta(seconds=1))
        chosen: dict[str, StoryView] = {}
        for query in queries or ("",):
            for story in make_digest(views, query, since, now, self.digest_limit).stories:
                chosen.setdefault(story.story_id, story)
        stories = sorted(
            chosen.values(), key=lambda s: (-s.importance, -s.last_update.timestamp(), s.story_id)
        )
        digest = Digest(since, now, parse_filter(""), tuple(stories[: self.digest_limit]))
        parts = render_digest(digest, chat.language, now=now)
        return NewMessage(chat.chat_id, key, "reply", tuple(parts))


def shown_of(view: StoryView, lang: str) -> tuple[list[str], list[str]]:
    """What a reader of ``lang`` is shown of a story: its sources (by name) and its summary sentences."""
    return source_labels(view), [s.text for s in localize(view, lang).sentences]


def local_day(now: datetime, tz_name: str) -> date:
    return now.astimezone(zone(tz_name)).date()
