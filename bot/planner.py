"""Planning: which digests and alerts are due, rendered and recorded in the outbox (sending is ``bot.delivery``'s).

1. Digests: for each subscription with digest times, the latest time in (last window end, now] in the chat's
   time zone is due; its digest holds the matching stories that got news (an article processed) since the last
   window's end, most important first; it is recorded with the key ``digest:<subscription>:<slot>`` and the
   window moves to the slot in the same transaction, so a crash or restart plans each slot once, and downtime
   gives one digest covering the whole gap (not one per missed slot). A muted chat's window moves on without a
   message; an empty digest sends nothing.
2. Alerts: the stories that got news since the alert watermark; for each alert subscription, a matching story
   never alerted -> an alert (``alert:<subscription>:<story>``); one alerted before that has grown (more
   articles) -> an update that edits the first alert (``update:<subscription>:<story>:<articles>``). Only stories
   touched after the subscription was made count. The watermark moves last: a crash re-plans, and the keys
   and alert records make that harmless.
3. On demand (``/digest``, ``/latest``): the same rendering, recorded with a key built from the Telegram update
   id, so an update Telegram delivers twice (after a restart) answers once.

Everything here is synchronous (database + rendering); the async service calls it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.render import render_alert, render_digest
from bot.repository import BotRepository, NewMessage, Subscriber, Subscription
from monitor.errors import ConfigError
from summarizer.digest import Digest, StoryView, build_digest, matches, parse_filter
from summarizer.repository import NlpRepository

log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=7)  # a digest after a long downtime covers at most this
ALERT_WATERMARK = "alerts_checked_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(9999, 1, 1, tzinfo=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):  # an unknown or malformed name: the chat still gets its digests, in UTC
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
    ) -> None:
        self.repo = repo
        self.nlp = nlp
        self.digest_limit = digest_limit
        self.clock = clock

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
                parts = render_digest(digest, chat.language, title=sub.query or None, now=slot)
                key = digest_key(sub.id, slot)
                message = NewMessage(sub.chat_id, key, "digest", tuple(parts), sub.thread_id, sub.id)
        self.repo.enqueue_digest(sub.id, slot, message, now)
        return 1 if message else 0

    # --- alerts -----------------------------------------------------------------------------------------

    def plan_alerts(self, now: datetime) -> int:
        """Record alerts and alert updates for the stories that got news since the last check."""
        raw = self.repo.state(ALERT_WATERMARK)
        checked = datetime.fromisoformat(raw) if raw else now - timedelta(hours=1)
        watching = [s for s in self.repo.subscriptions() if s.alerts]
        recorded = 0
        if watching:
            views = views_between(
                self.nlp, min(checked, *(s.created_at for s in watching)), now + timedelta(seconds=1)
            )
            chats = {s.chat_id: s for s in self.repo.subscribers()}
            for sub in watching:
                chat = chats.get(sub.chat_id)
                if chat is not None and not chat.muted(now):
                    recorded += self._alerts_for(chat, sub, views, now)
        self.repo.set_state(ALERT_WATERMARK, now.isoformat(), now)
        return recorded

    def _alerts_for(
        self, chat: Subscriber, sub: Subscription, views: Sequence[StoryView], now: datetime
    ) -> int:
        try:
            flt = parse_filter(sub.query)
        except ConfigError as exc:
            log.warning("alerts skipped subscription=%s chat_id=%s error=%s", sub.id, sub.chat_id, exc)
            return 0
        records = self.repo.alert_records(sub.id)
        recorded = 0
        for view in views:
            if not matches(view, flt):
                continue
            first = records.get(view.story_id)
            if first is None:
                message = NewMessage(
                    sub.chat_id,
                    f"alert:{sub.id}:{view.story_id}",
                    "alert",
                    (render_alert(view, chat.language),),
                    sub.thread_id,
                    sub.id,
                )
            elif view.articles > first[1]:
                message = NewMessage(
                    sub.chat_id,
                    f"update:{sub.id}:{view.story_id}:{view.articles}",
                    "update",
                    (render_alert(view, chat.language, update=True),),
                    sub.thread_id,
                    sub.id,
                    edit_of=first[0],
                )
            else:
                continue
            if self.repo.enqueue_alert(message, view.story_id, view.articles, now) is not None:
                recorded += 1
        return recorded

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


def local_day(now: datetime, tz_name: str) -> date:
    return now.astimezone(zone(tz_name)).date()
