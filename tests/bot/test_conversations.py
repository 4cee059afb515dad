"""Conversations with the real bot: the PTB Application of ``bot.app`` polling the fake Bot API over HTTP, a real
SQLite store and a real Deliverer, so replies recorded in the outbox really arrive.

Each test types commands and presses buttons as a person would (``FakeBotAPI.user_message``, ``press_button``,
``channel_post``, ``my_chat_member``) and checks what Telegram received and what the database holds. Every test
ends by stopping the application cleanly; no Telegram call may have failed unless the test expected it, and no
error may have been logged. The pure parsers and the catalogs are checked first, table-driven.
"""

from __future__ import annotations

import asyncio
import logging
import string
import time as clock
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import insert
from telegram import Update

from bot.app import BotApplication, BotDeps, build_application, start_polling, stop_polling
from bot.commands import BadInput, parse_duration, parse_schedule, parse_subscription, quote_word
from bot.delivery import Deliverer
from bot.i18n import ADMIN_COMMANDS, CATALOGS, USER_COMMANDS, t
from bot.planner import Planner
from bot.ratelimit import Limits, RateLimiter
from bot.repository import BotRepository
from bot.telegram import TelegramSender
from monitor.models import SourceState
from monitor.store import Store
from summarizer.digest import parse_filter
from summarizer.gazetteer import default_gazetteer
from summarizer.repository import NlpRepository
from summarizer.tables import article_entities
from tests.bot.stories import Piece, add_story
from tests.fakebotapi import FakeBotAPI, SentMessage, user_json
from tests.telegram_html import check_html

OPERATOR = 9001
ARABIC_FORMS = {"zero", "two", "few", "many"}
COMMANDS = (*USER_COMMANDS, *ADMIN_COMMANDS)
FAST = Limits(global_per_s=1000, chat_interval_s=0.0, group_per_min=10_000)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the pure parts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query", "times", "alerts"),
    [
        pytest.param(
            'europol "dark web" -football', 'europol "dark web" -football', "08:00", False, id="words"
        ),
        pytest.param("entity:Daech alerts", "entity:isis", "08:00", True, id="entity-alias-alerts"),
        pytest.param("europol alerts at:none", "europol", "", True, id="alerts-only"),
        pytest.param("entity:داعش lang:fr,en", "entity:isis lang:fr,en", "08:00", False, id="entity-arabic"),
        pytest.param(
            'entity:"État islamique",europol', "entity:isis,europol", "08:00", False, id="entity-list"
        ),
        pytest.param("tag:agency min:2 at:18:00,7:30", "tag:agency min:2", "07:30,18:00", False, id="at"),
        pytest.param("alertes at:09:00", "", "09:00", True, id="french-alerts-and-times"),
        pytest.param(
            '-\'dark web\' "say \\"hi\\""', '-"dark web" "say \\"hi\\""', "08:00", False, id="quoting"
        ),
    ],
)
def test_parse_subscription(text: str, query: str, times: str, alerts: bool) -> None:
    asked = parse_subscription(text, default_gazetteer(), "fr")
    assert (asked.query, ",".join(f"{x:%H:%M}" for x in asked.digest_times), asked.alerts) == (
        query,
        times,
        alerts,
    )
    assert parse_filter(asked.query) == parse_filter(query)  # what is saved reads back as shown


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param('"dark web', "bad.filter", id="unclosed-quote"),
        pytest.param("min:lots", "bad.filter", id="min-not-a-number"),
        pytest.param("entity:Nobody-Knows-Them", "bad.entity", id="unknown-entity"),
        pytest.param("europol at:25:00", "bad.time", id="bad-time"),
        pytest.param("europol at:", "bad.time", id="no-time"),
    ],
)
def test_parse_subscription_refusals(text: str, key: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_subscription(text, default_gazetteer(), "en")
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("", 480), ("8h", 480), ("2d", 2880), ("2j", 2880), ("30m", 30), ("off", None), ("90d", 129600)],
)
def test_parse_duration(text: str, minutes: int | None) -> None:
    found = parse_duration(text)
    assert (found.total_seconds() / 60 if found else None) == minutes


@pytest.mark.parametrize("text", ["0h", "91d", "soon", "8 hours", "-1h"])
def test_parse_duration_refusals(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_duration(text)
    assert caught.value.key == "bad.duration"


def test_parse_schedule() -> None:
    assert parse_schedule("07:30 tz:Europe/Paris") == ((time(7, 30),), "Europe/Paris")
    assert parse_schedule("18:00,07:00") == ((time(7), time(18)), None)
    assert parse_schedule("tz:UTC") == (None, "UTC")
    for bad, key in (("tz:Mars/Olympus", "bad.timezone"), ("tz:../etc", "bad.timezone"), ("7h", "bad.time")):
        with pytest.raises(BadInput) as caught:
            parse_schedule(bad)
        assert caught.value.key == key


@pytest.mark.parametrize(
    ("word", "quoted"),
    [("europol", "europol"), ("dark web", '"dark web"'), ("-dark web", '-"dark web"'), ('a"b', '"a\\"b"')],
)
def test_quote_word(word: str, quoted: str) -> None:
    assert quote_word(word) == quoted


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    def placeholders(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    en = CATALOGS["en"]
    for lang, catalog in CATALOGS.items():
        extra = {k for k in set(catalog) - set(en) if lang == "ar" and k.rsplit("#", 1)[-1] in ARABIC_FORMS}
        assert set(catalog) - extra == set(en), lang
        for key, text in catalog.items():
            assert placeholders(text) == placeholders(en.get(key) or en[key.rsplit("#", 1)[0] + "#other"]), (
                key
            )
        assert all(
            len(catalog[f"cmd.{name}"]) <= 256 and "<" not in catalog[f"cmd.{name}"] for name in COMMANDS
        )
    assert t("pt", "unknown") == en["unknown"]  # other languages read English
    assert t("en", "unsub.removed", id="<b>") == "Subscription #&lt;b&gt; removed."  # values are escaped


# --- the running bot --------------------------------------------------------------------------------------


@dataclass
class Harness:
    api: FakeBotAPI
    app: BotApplication
    store: Store
    repo: BotRepository
    planner: Planner
    # "method:status" a test provokes on purpose; stopping ends the long poll held on the server with 409
    expected_failures: set[str] = field(default_factory=lambda: {"getUpdates:409"})
    shift: list[timedelta] = field(default_factory=lambda: [timedelta(0)])  # the bot's clock runs this ahead

    def now(self) -> datetime:
        """The bot's clock (handlers, planner and deliverer): the real time plus what ``advance`` added."""
        return utcnow() + self.shift[0]

    def advance(self, delta: timedelta) -> None:
        self.shift[0] += delta

    async def reply(self, chat_id: int, start: int, method: str = "sendMessage") -> SentMessage:
        """The bot's first message (or edit) in the chat since call number ``start``."""
        call = await self.api.wait_for_async(
            lambda c: c.method == method and c.params.get("chat_id") == chat_id, start=start
        )
        assert call.status == 200, call
        return next(m for m in reversed(self.api.messages(chat_id)) if m.text == call.params["text"])

    async def say(self, chat_id: int, text: str, **kwargs: object) -> SentMessage:
        """A user writes ``text``; the bot's answer."""
        start = len(self.api.calls)
        self.api.user_message(chat_id, text, **kwargs)  # type: ignore[arg-type]
        return await self.reply(chat_id, start)

    async def post(self, chat_id: int, text: str) -> SentMessage:
        start = len(self.api.calls)
        self.api.channel_post(chat_id, text)
        return await self.reply(chat_id, start)

    async def press(
        self, chat_id: int, message: SentMessage, data: str, *, user_id: int | None = None
    ) -> SentMessage:
        """A user presses a button; the message as edited (the press was answered first)."""
        start = len(self.api.calls)
        self.api.press_button(chat_id, message.message_id, data, user_id=user_id)
        await self.api.wait_for_async(
            lambda c: c.method == "answerCallbackQuery" and c.status == 200, start=start
        )
        return await self.reply(chat_id, start, "editMessageText")

    async def until(self, condition: Callable[[], object]) -> None:
        """Wait (at most 5 s) for a database condition: an update that has no reply, a delivery."""
        async with asyncio.timeout(5.0):
            while not await asyncio.to_thread(condition):  # noqa: ASYNC110 - a database has no event to await
                await asyncio.sleep(0.02)

    async def delivered(self) -> None:
        await self.until(lambda: not self.repo.outbox_counts().get("pending"))

    async def again(self, update_id: int) -> None:
        """Telegram delivers an update again (a crash kept the bot from confirming it); returns once the bot
        has dealt with it (updates are handled in order: a /help sent after it is answered after it)."""
        await self.app.update_queue.put(Update.de_json(self.api.update_json(update_id), self.app.bot))
        await self.say(OPERATOR, "/help")


@pytest.fixture
async def bot(
    fake_bot_api: FakeBotAPI, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Harness]:
    caplog.set_level(logging.INFO)
    api = fake_bot_api
    api.add_chat(OPERATOR)  # Telegram knows the operator's chat: the operator menu can be set
    store = Store.open(sqlite_url)
    repo, nlp = BotRepository(store), NlpRepository(store)
    shift = [timedelta(0)]

    def clock() -> datetime:
        return utcnow() + shift[0]

    planner = Planner(repo, nlp, gazetteer=default_gazetteer(), clock=clock)
    deps = BotDeps(
        repo=repo,
        planner=planner,
        nlp=nlp,
        store=store,
        admin_ids=frozenset({OPERATOR}),
        wake=lambda: deliverer.wake(),
        clock=clock,
        gazetteer=default_gazetteer(),
    )
    app = build_application(api.token, api.url, deps)
    deliverer = Deliverer(repo, TelegramSender(app.bot), RateLimiter(FAST), backoff_base_s=0.05, clock=clock)
    stop = asyncio.Event()
    await start_polling(app, poll_timeout=timedelta(seconds=1))
    delivering = asyncio.create_task(deliverer.run(stop, idle_s=0.2))
    harness = Harness(api, app, store, repo, planner, shift=shift)
    try:
        yield harness
    finally:
        stop.set()
        await delivering
        await stop_polling(app)
        store.close()
    assert api.pending_updates == []  # every update handled was confirmed to Telegram
    failed = [f"{c.method}:{c.status}" for c in api.calls if c.status >= 400]
    assert set(failed) <= harness.expected_failures, failed
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert api.token not in caplog.text and api.token.split(":")[1] not in caplog.text  # httpx is quiet


def stories(store: Store, now: datetime) -> tuple[list[str], list[str]]:
    europol = add_story(
        store,
        "story-europol",
        [
            Piece(
                "europol",
                "en",
                "Europol takes down a dark web market",
                "Europol said 12 people were arrested.",
            ),
            Piece(
                "lemonde",
                "fr",
                "Europol démantèle un marché du dark web",
                "Douze personnes ont été arrêtées.",
            ),
        ],
        at=now - timedelta(hours=1),
        entities=["europol"],
        importance=3.0,
    )
    football = add_story(
        store,
        "story-football",
        [
            Piece(
                "sport",
                "fr",
                "Football : le match <de> l'année & plus",
                "Un match de football sans histoire.",
            )
        ],
        at=now - timedelta(hours=2),
    )
    return europol, football


async def test_start_in_english_and_french_and_the_command_menus(bot: Harness) -> None:
    welcome = await bot.say(42, "/start")
    assert welcome.plain.startswith("Welcome to veille!")
    bienvenue = await bot.say(43, "/start", lang="fr")
    assert bienvenue.plain.startswith("Bienvenue sur veille !")
    assert [(s.chat_id, s.kind, s.language, s.active) for s in bot.repo.subscribers()] == [
        (42, "private", "en", True),
        (43, "private", "fr", True),
    ]
    private, groups = {"type": "all_private_chats"}, {"type": "all_group_chats"}
    for scope in (private, groups):
        assert ("subscribe", "Follow stories matching a filter") in bot.api.commands(scope)
        assert ("subscribe", "Suivre les sujets qui répondent à un filtre") in bot.api.commands(scope, "fr")
        assert "status" not in dict(bot.api.commands(scope))
    operator = dict(bot.api.commands({"type": "chat", "chat_id": OPERATOR}))
    assert {"start", "status", "sources", "broadcast"} <= set(operator)
    assert "status" in dict(bot.api.commands({"type": "chat", "chat_id": OPERATOR}, "fr"))

    bot.repo.deactivate(43, "Forbidden: bot was blocked by the user", utcnow())  # blocked, then comes back
    assert (await bot.say(43, "/start", lang="fr")).plain.startswith("Bienvenue")
    assert bot.repo.subscriber(43) is not None and bot.repo.subscriber(43).active  # type: ignore[union-attr]
    assert (await bot.say(42, "/frobnicate")).plain == "Unknown command. See /help."


async def test_a_failing_update_is_logged_and_the_user_told(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.say(42, "/start")
    bot.expected_failures.add("sendMessage:400")
    bot.api.fail("sendMessage", 400, chat_id=42, description="Bad Request: injected fault")
    start = len(bot.api.calls)
    update_id = bot.api.user_message(42, "/help")
    told = await bot.api.wait_for_async(
        lambda c: c.method == "sendMessage" and c.status == 200 and c.params.get("chat_id") == 42, start=start
    )
    assert told.params["text"] == "Something went wrong, please try again."
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == f"update failed update_id={update_id} chat_id=42"
    assert record.exc_info is not None and "Injected fault" in str(record.exc_info[1])
    caplog.clear()  # the error was expected: the fixture checks that nothing else was logged


async def test_subscribe_with_filters_and_refusals(bot: Harness) -> None:
    await bot.say(42, "/start")
    saved = await bot.say(42, '/subscribe europol "dark web" -football')
    assert "Subscription #1 saved." in saved.plain and 'Filter: europol "dark web" -football' in saved.plain
    await bot.say(42, "/subscribe entity:Daech alerts")
    await bot.say(42, "/subscribe entity:داعش lang:fr,en tag:agency min:2 at:07:00,19:30")
    rows = [(s.query, s.digest_times, s.alerts, s.thread_id) for s in bot.repo.subscriptions(42)]
    assert rows == [
        ('europol "dark web" -football', (time(8),), False, None),
        ("entity:isis", (time(8),), True, None),
        ("entity:isis lang:fr,en tag:agency min:2", (time(7), time(19, 30)), False, None),
    ]
    unclosed = await bot.say(42, '/subscribe "dark web')
    assert (
        unclosed.plain.startswith("⚠️ I cannot read this filter")
        and 'Fix: close the quotes, e.g. "dark web"' in unclosed.plain
    )
    unknown = await bot.say(42, "/subscribe entity:Nobody-Knows-Them")
    assert "I do not know the entity “Nobody-Knows-Them”" in unknown.plain
    assert "/subscribe europol" in (await bot.say(42, "/subscribe")).plain  # usage with an example
    assert len(bot.repo.subscriptions(42)) == 3  # nothing saved by the refusals
    french = await bot.say(43, '/subscribe entity:"État islamique" at:6:00', lang="fr")
    assert (
        "Abonnement n° 1 enregistré." in french.plain
    )  # numbered per chat and "Filtre : entity:isis" in french.plain


async def test_language_help_and_settings_buttons(bot: Harness) -> None:
    await bot.say(42, "/subscribe europol")
    assert (await bot.say(42, "/language fr")).plain == "Langue : français."
    help_text = await bot.say(42, "/help")
    assert (
        help_text.plain.startswith("Commandes")
        and 'europol "dark web" -football entity:isis' in help_text.plain
    )
    assert "/status" not in help_text.plain  # not an operator
    settings = await bot.say(42, "/settings")
    assert "Langue : français" in settings.plain and {d for _, d in settings.buttons} >= {
        "s:lang:en",
        "s:al:1",
    }
    assert all(len(d.encode()) <= 64 for _, d in settings.buttons if d)

    edited = await bot.press(42, settings, "s:lang:en")
    assert "Language: English" in edited.plain and edited.edited
    assert bot.repo.subscriber(42).language == "en"  # type: ignore[union-attr]
    edited = await bot.press(42, edited, "s:al:1")
    assert bot.repo.subscriptions(42)[0].alerts and "alerts on" in edited.plain
    edited = await bot.press(42, edited, "s:t:1")
    assert bot.repo.subscriptions(42)[0].digest_times == (time(8), time(18))
    edited = await bot.press(42, edited, "s:mute:8h")
    muted = bot.repo.subscriber(42).muted_until  # type: ignore[union-attr]
    assert muted is not None and timedelta(hours=7, minutes=59) < muted - utcnow() <= timedelta(hours=8)
    assert "🔕 Muted until " in edited.plain and ("✓ 🔕 Mute 8h", "s:mute:8h") in edited.buttons
    edited = await bot.press(42, edited, "s:mute:off")
    assert bot.repo.subscriber(42).muted_until is None and "🔔 Not muted" in edited.plain  # type: ignore[union-attr]
    answers = bot.api.calls_to("answerCallbackQuery")
    assert len(answers) == 5 and all(c.status == 200 for c in answers)


async def test_digest_arrives_once_even_when_the_update_comes_twice(bot: Harness) -> None:
    stories(bot.store, utcnow())
    await bot.say(42, "/subscribe europol")
    start = len(bot.api.calls)
    update_id = bot.api.user_message(42, "/digest")
    digest = await bot.reply(42, start)
    check_html(digest.text)
    assert "Europol takes down a dark web market" in digest.plain and "Football" not in digest.plain
    assert digest.link_preview_disabled

    again = {  # Telegram delivers the same update again (e.g. after a restart before the offset was confirmed)
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": int(clock.time()),
            "chat": {"id": 42, "type": "private", "first_name": "User 42"},
            "from": user_json(42),
            "text": "/digest",
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        },
    }
    await bot.app.update_queue.put(Update.de_json(again, bot.app.bot))
    await bot.say(42, "/help")  # updates are handled in order: the repeated one is done when this is answered
    await bot.delivered()
    assert [m.plain for m in bot.api.messages(42)].count(digest.plain) == 1
    assert bot.repo.outbox_counts() == {"sent": 1}

    everything = await bot.say(43, "/digest")  # no subscription: every story of the day
    assert "Europol" in everything.plain and "Football : le match <de> l'année & plus" in everything.plain
    await bot.say(44, "/subscribe nothing-matches-this")
    empty = await bot.say(44, "/digest")
    assert "Nothing new in this period." in empty.plain


async def test_story_latest_trending_schedule_mute_unsubscribe(bot: Harness) -> None:
    now = utcnow()
    (europol_article, _), (football_article,) = stories(bot.store, now)
    with bot.store.write_connection() as conn:
        conn.execute(
            insert(article_entities),
            [
                {
                    "article_id": europol_article,
                    "entity_key": "europol",
                    "count": 6,
                    "seen_at": now - timedelta(hours=1),
                },
                {
                    "article_id": football_article,
                    "entity_key": "europol",
                    "count": 2,
                    "seen_at": now - timedelta(hours=30),
                },
                {
                    "article_id": football_article,
                    "entity_key": "isis",
                    "count": 3,
                    "seen_at": now - timedelta(hours=2),
                },
            ],
        )
    story = await bot.say(42, "/story story-europol")
    check_html(story.text)
    assert (
        story.plain.startswith("Europol takes down a dark web market") and "Entities: Europol" in story.plain
    )
    assert "There is no story “nope”" in (await bot.say(42, "/story nope")).plain

    latest = await bot.say(42, "/latest")
    check_html(latest.text)
    lines = latest.plain.splitlines()
    assert lines[0] == "Latest stories" and "story-europol" in lines[1] and "story-football" in lines[2]
    assert "not a number from 1 to 20" in (await bot.say(42, "/latest 99")).plain

    trending = await bot.say(43, "/trending", lang="fr")
    assert trending.plain.splitlines()[1:] == [
        "1. État islamique : 3 mentions (0 la veille)",
        "2. Europol : 6 mentions (2 la veille)",
    ]

    await bot.say(42, "/subscribe europol")
    schedule = await bot.say(42, "/schedule 07:30 tz:Europe/Paris")
    assert schedule.plain.startswith("✅ Schedule saved.") and "time zone Europe/Paris" in schedule.plain
    assert bot.repo.subscriptions(42)[0].digest_times == (time(7, 30),)
    assert bot.repo.subscriber(42).timezone == "Europe/Paris"  # type: ignore[union-attr]
    assert "tz:Europe/Paris" in (await bot.say(42, "/schedule tz:Mars/Olympus")).plain  # the example of a fix

    muted = await bot.say(42, "/mute 8h")
    assert muted.plain.startswith("🔕") and "(Europe/Paris)" in muted.plain
    assert bot.repo.subscriber(42).muted_until is not None  # type: ignore[union-attr]
    assert (await bot.say(42, "/mute off")).plain.startswith("🔔")
    assert bot.repo.subscriber(42).muted_until is None  # type: ignore[union-attr]

    choose = await bot.say(42, "/unsubscribe")
    [(label, data), _all] = choose.buttons
    assert label.startswith("#1 europol") and data == "u:1"
    removed = await bot.press(42, choose, "u:1")
    assert removed.plain == "Subscription #1 removed." and removed.buttons == ()
    assert bot.repo.subscriptions(42) == []


async def test_groups_and_forum_topics(bot: Harness) -> None:
    bot.api.add_chat(-1001, "supergroup", title="Analysts", creator=500, admins={501})
    refused = await bot.say(-1001, "/subscribe europol", user_id=777)
    assert refused.plain.startswith("Only this chat's administrators")
    assert bot.repo.subscriptions(-1001) == []
    assert (await bot.say(-1001, "/help", user_id=777)).plain.startswith("Commands")  # anyone may ask
    await bot.say(-1001, "/subscribe europol", user_id=501)
    assert [s.query for s in bot.repo.subscriptions(-1001)] == ["europol"]
    settings = await bot.say(-1001, "/settings", user_id=500)  # the creator may too
    start = len(bot.api.calls)
    bot.api.press_button(-1001, settings.message_id, "s:lang:fr", user_id=777)
    await bot.api.wait_for_async(lambda c: c.method == "answerCallbackQuery", start=start)
    assert bot.repo.subscriber(-1001).language == "en"  # type: ignore[union-attr]

    bot.api.add_chat(-1002, "supergroup", title="Desk", is_forum=True, admins={501}, topics={7})
    saved = await bot.say(-1002, "/subscribe interpol", user_id=501, thread_id=7)
    assert saved.thread_id == 7 and bot.api.messages(-1002, thread_id=7) == [saved]
    assert [s.thread_id for s in bot.repo.subscriptions(-1002)] == [7]
    assert (
        await bot.say(-1002, "/digest", user_id=777, thread_id=7)
    ).thread_id == 7  # through the outbox too
    assert bot.repo.subscriber(-1002).kind == "supergroup"  # type: ignore[union-attr]


async def test_channels(bot: Harness) -> None:
    bot.api.my_chat_member(-1003, "administrator", kind="channel", title="Veille channel")
    await bot.until(lambda: bot.repo.subscriber(-1003) is not None)
    channel = bot.repo.subscriber(-1003)
    assert channel is not None and (channel.kind, channel.title, channel.active) == (
        "channel",
        "Veille channel",
        True,
    )
    assert "Subscription #1 saved." in (await bot.post(-1003, "/subscribe europol alerts")).plain
    assert [(s.query, s.alerts) for s in bot.repo.subscriptions(-1003)] == [("europol", True)]

    bot.api.add_chat(-1004, "channel", title="Second")  # never announced: the command registers it
    await bot.post(-1004, "/subscribe interpol")
    assert bot.repo.subscriber(-1004).kind == "channel"  # type: ignore[union-attr]

    bot.api.my_chat_member(-1003, "left")
    await bot.until(lambda: not bot.repo.subscriber(-1003).active)  # type: ignore[union-attr]


async def test_operator_commands_and_broadcast(bot: Harness) -> None:
    now = utcnow()
    with bot.store.transaction() as tx:
        tx.save_state(SourceState("europol", last_success_at=now))
        tx.save_state(SourceState("interpol", consecutive_errors=3, error_count=3, paused=True))
    for chat in (42, 43, OPERATOR):
        await bot.say(chat, "/start")
    assert (await bot.say(42, "/status")).plain == "This command is for the operators."
    assert (await bot.say(42, "/sources")).plain == "This command is for the operators."
    assert (await bot.say(42, "/broadcast hi")).plain == "This command is for the operators."

    sources = await bot.say(OPERATOR, "/sources")
    assert sources.plain.splitlines()[0] == "Sources (2)" and "europol last ok" in sources.plain
    assert "interpol last ok never · errors 3 · paused" in sources.plain
    status = await bot.say(OPERATOR, "/status")
    check_html(status.text)
    assert "Sources failing: 1/2 (interpol)" in status.plain and "Articles: 0" in status.plain
    assert "/status" in (await bot.say(OPERATOR, "/help")).plain

    bot.expected_failures.add("sendMessage:403")
    bot.api.block(43)
    queued = await bot.say(OPERATOR, '/broadcast Maintenance <tonight> & "tomorrow"')
    assert queued.plain == "📣 Broadcast queued for 3 chats."
    await bot.delivered()
    for chat in (42, OPERATOR):
        got = [m for m in bot.api.messages(chat) if m.plain == 'Maintenance <tonight> & "tomorrow"']
        assert len(got) == 1
    assert not bot.repo.subscriber(43).active  # type: ignore[union-attr]
    assert bot.repo.outbox_counts() == {"sent": 2, "dropped": 1}  # the blocked chat's copy is dropped
    status = await bot.say(OPERATOR, "/status")
    assert "chat 42 · broadcast" in status.plain
