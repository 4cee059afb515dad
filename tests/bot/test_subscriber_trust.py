"""What a subscriber receives, tried as a user would through the fake Bot API (the real PTB application, a real
SQLite store, the real planner and deliverer): one alert per chat and story, only stories that appeared after
the subscription, story updates as one reply carrying only what is new, every update handled once, and the
answers of the commands (settings, /story, /search, free text, languages)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from bot.i18n import t
from monitor.store import Store
from tests.bot.stories import Piece, add_story
from tests.bot.test_conversations import Harness
from tests.bot.test_conversations import bot as bot  # the running bot, a fixture
from tests.fakebotapi import SentMessage
from tests.telegram_html import check_html


def utcnow() -> datetime:
    return datetime.now(UTC)


def tiktok_story(store: Store, at: datetime, sources: int = 1, new_from: int = 0) -> None:
    """A story about Europol and TikTok, with ``sources`` articles (one per source)."""
    pieces = [
        Piece(
            f"source{n}",
            "en",
            f"Europol asks TikTok to remove terrorist videos ({n})",
            f"Europol referred 2,000 TikTok videos, report {n} says.",
        )
        for n in range(sources)
    ]
    add_story(
        store, "tiktok", pieces, at=at, entities=["europol", "tiktok"], importance=2.0, new_from=new_from
    )


async def plan_and_deliver(bot: Harness, ahead: timedelta = timedelta(seconds=1)) -> None:
    """Move the bot's clock ``ahead``, check for alerts once, wait until the outbox is delivered."""
    bot.advance(ahead)
    await asyncio.to_thread(bot.planner.plan_alerts, bot.now())
    await bot.delivered()


def alerts(bot: Harness, chat_id: int) -> list[SentMessage]:
    return [m for m in bot.api.messages(chat_id) if m.text.startswith("<b>🚨")]


def notices(bot: Harness, chat_id: int) -> list[SentMessage]:
    return [m for m in bot.api.messages(chat_id) if m.text.startswith("<b>🆕")]


# --- "Why" 1 to 4 of the issue --------------------------------------------------------------------------


async def test_two_overlapping_alert_subscriptions_give_one_alert(bot: Harness) -> None:
    await bot.say(42, "/subscribe europol alerts")
    await bot.say(42, "/subscribe entity:TikTok alerts")
    tiktok_story(bot.store, bot.now() + timedelta(milliseconds=10))
    await plan_and_deliver(bot)
    [alert] = alerts(bot, 42)  # one alert, though both subscriptions match
    assert "Europol asks TikTok" in alert.plain
    await plan_and_deliver(bot)
    assert len(alerts(bot, 42)) == 1


async def test_a_subscription_made_after_a_story_does_not_alert_it(bot: Harness) -> None:
    await bot.say(50, "/subscribe entity:europol alerts")  # another chat's older alert subscription
    tiktok_story(bot.store, bot.now() + timedelta(milliseconds=10))
    await plan_and_deliver(bot)
    assert len(alerts(bot, 50)) == 1
    await bot.say(42, "/subscribe tiktok alerts")  # the story was there before
    await plan_and_deliver(bot)
    assert alerts(bot, 42) == []
    tiktok_story(bot.store, bot.now() + timedelta(milliseconds=10), sources=2, new_from=1)  # it gets news
    await plan_and_deliver(bot, timedelta(minutes=40))
    assert alerts(bot, 42) == [] and notices(bot, 42) == []  # still the story from before


async def test_the_same_update_delivered_twice_is_handled_once(bot: Harness) -> None:
    start = bot.api.user_message(42, "/start")
    await bot.reply(42, 0)
    await bot.again(start)
    subscribe = bot.api.user_message(42, "/subscribe europol")
    saved = await bot.reply(42, len(bot.api.calls) - 1)
    await bot.again(subscribe)
    assert [s.query for s in bot.repo.subscriptions(42)] == ["europol"]
    texts = [m.plain for m in bot.api.messages(42)]
    assert texts.count(saved.plain) == 1 and sum(x.startswith("Welcome") for x in texts) == 1

    settings = await bot.say(42, "/settings")
    pressed = bot.api.press_button(42, settings.message_id, "s:al:1")
    await bot.until(lambda: bot.repo.subscriptions(42)[0].alerts)
    await bot.again(pressed)
    assert bot.repo.subscriptions(42)[0].alerts  # switched on once, not switched back off
    remove = bot.api.user_message(42, "/unsubscribe 1")
    await bot.until(lambda: not bot.repo.subscriptions(42))
    await bot.say(42, "/subscribe interpol")
    await bot.again(remove)
    assert [(s.number, s.query) for s in bot.repo.subscriptions(42)] == [(2, "interpol")]


async def test_a_grown_story_notifies_once_per_chat_with_a_reply(bot: Harness) -> None:
    for chat in (42, 43):
        await bot.say(chat, "/subscribe tiktok alerts", lang="fr" if chat == 43 else "en")
    tiktok_story(bot.store, bot.now() + timedelta(milliseconds=10))
    await plan_and_deliver(bot)
    tiktok_story(bot.store, bot.now() + timedelta(milliseconds=10), sources=3, new_from=1)  # two new sources
    await plan_and_deliver(bot, timedelta(minutes=10))  # within the interval: held back
    assert notices(bot, 42) == []
    for minutes in (21, 1, 13):  # 31 minutes after the alert, then twice more
        await plan_and_deliver(bot, timedelta(minutes=minutes))
    for chat, new in ((42, "New sources: source"), (43, "Nouvelles sources : source")):
        [alert], [notice] = alerts(bot, chat), notices(bot, chat)
        assert notice.reply_to == alert.message_id and new in notice.plain
        assert "source1" in notice.plain and "source2" in notice.plain and "source0" not in notice.plain
        assert "report 0 says" not in notice.plain and "report 1 says" in notice.plain  # only what is new
        check_html(notice.text)


# --- the answers ----------------------------------------------------------------------------------------


async def test_subscribe_answers(bot: Harness) -> None:
    saved = await bot.say(42, "/subscribe europol alerts")
    assert "Digests: 08:00" in saved.plain and "Alerts: on" in saved.plain  # the default time /help promises
    assert "default 08:00, also with alerts" in (await bot.say(42, "/help")).plain
    only = await bot.say(42, "/subscribe interpol alerts at:none")
    assert "Subscription #2 saved." in only.plain and "Digests: none" in only.plain
    assert (await bot.say(42, "/unsubscribe 2")).plain == "Subscription #2 removed."
    assert "Subscription #3 saved." in (await bot.say(42, "/subscribe ransomware")).plain  # #2 is not reused
    unclosed = await bot.say(42, '/subscribe "dark web')
    assert len(re.findall("filter", unclosed.plain, re.IGNORECASE)) == 1, unclosed.plain
    assert len(re.findall("filter", (await bot.say(42, "/subscribe min:x")).plain, re.IGNORECASE)) == 1


async def test_settings_presets_no_digest_check_marks_mute_and_stale_buttons(bot: Harness) -> None:
    await bot.say(42, "/subscribe europol")
    await bot.say(42, "/subscribe isis alerts at:none")
    settings = await bot.say(42, "/settings")
    assert ("✓ 08:00", "s:t:0") in settings.buttons and ("✓ EN", "s:lang:en") in settings.buttons
    assert "🔔 Not muted" in settings.plain and ("✓ 🔔 Unmute", "s:mute:off") in settings.buttons
    edited = await bot.press(42, settings, "s:t:1")
    assert [s.digest_times for s in bot.repo.subscriptions(42)] == [
        bot.repo.subscriptions(42)[0].digest_times,
        (),  # the alert-only subscription keeps no digest
    ] and len(bot.repo.subscriptions(42)[0].digest_times) == 2
    assert ("✓ 08:00 · 18:00", "s:t:1") in edited.buttons
    edited = await bot.press(42, edited, "s:t:none")
    assert (
        all(s.digest_times == () for s in bot.repo.subscriptions(42))
        and ("✓ No digest", "s:t:none") in edited.buttons
    )
    edited = await bot.press(42, edited, "s:mute:8h")
    assert "🔕 Muted until " in edited.plain and ("✓ 🔕 Mute 8h", "s:mute:8h") in edited.buttons

    await bot.say(42, "/unsubscribe 1")
    start = len(bot.api.calls)
    bot.api.press_button(42, edited.message_id, "s:al:1")  # a button of a subscription removed since
    answer = await bot.api.wait_for_async(lambda c: c.method == "answerCallbackQuery", start=start)
    assert answer.params.get("text") == t("en", "button.stale") and answer.status == 200

    start = len(bot.api.calls)
    bot.api.press_button(42, edited.message_id, "x:retired", unchecked=True)  # an older version's button
    answer = await bot.api.wait_for_async(lambda c: c.method == "answerCallbackQuery", start=start)
    assert answer.params.get("text") == t("en", "button.stale")


async def test_story_in_full_search_and_free_text(bot: Harness) -> None:
    now = utcnow()
    pieces = [
        Piece(
            f"wire{n}", "en", f"Europol and TikTok remove propaganda ({n})", f"Fact number {n}. " + "x" * 1500
        )
        for n in range(12)
    ]
    add_story(bot.store, "big", pieces, at=now - timedelta(hours=1), entities=["europol", "tiktok"])
    start = len(bot.api.calls)
    bot.api.user_message(42, "/story big")
    await bot.api.wait_for_async(
        lambda c: c.method == "sendMessage" and "<code>big</code>" in str(c.params.get("text")), start=start
    )
    plain = "\n".join(m.plain for m in bot.api.messages(42))
    assert len(bot.api.messages(42)) >= 2  # too long for one message: split
    assert all(f"Fact number {n}." in plain for n in range(3))  # every summary sentence
    assert all(f"• wire{n}" in plain for n in range(12)) and "Sources (12)" in plain  # every source
    assert "Entities: Europol, TikTok" in plain and "First seen" in plain and "Languages: en" in plain

    found = await bot.say(43, "/search tiktok")
    assert "Europol and TikTok remove propaganda" in found.plain and "big" in found.plain
    assert "No story of the last 7 days" in (await bot.say(43, "/search football")).plain
    assert "Write the words" in (await bot.say(43, "/search")).plain
    hint = await bot.say(44, "hello, what can you do?")
    assert "/subscribe europol alerts" in hint.plain and "/search" in hint.plain


async def test_the_bot_speaks_the_digest_languages(bot: Harness) -> None:
    for lang, name in (("de", "Deutsch"), ("es", "español"), ("ar", "العربية")):
        chosen = await bot.say(42, f"/language {lang}")
        assert chosen.plain == t(lang, "language.set") and name in chosen.plain
        check_html((await bot.say(42, "/help")).text)
        check_html((await bot.say(42, "/settings")).text)
    arabic = await bot.say(42, "/subscribe europol")
    assert "europol" in arabic.plain and arabic.plain == re.sub(
        "[\u200e\u200f\u202a-\u202e]", "", arabic.plain
    )
    pieces = [Piece(f"src{n}", "en", f"Europol story ({n})", f"Fact {n}.") for n in range(6)]
    add_story(bot.store, "six", pieces, at=utcnow() - timedelta(hours=1), entities=["europol"])
    await bot.say(45, "/language fr")
    await bot.say(45, "/digest")
    await bot.delivered()
    digest = bot.api.messages(45)[-1].plain
    assert "+1 autre" in digest and "+1 autres" not in digest  # French: one source more, singular
    assert "1 sujet ·" in digest


async def test_a_scheduled_digest_has_a_human_title(bot: Harness) -> None:
    await bot.say(42, "/language fr")
    await bot.say(42, "/subscribe entity:Daech europol at:08:00")
    europol = Piece("europol", "en", "Europol and Daesh propaganda", "Europol acted against Daesh.")
    add_story(
        bot.store, "daesh", [europol], at=bot.now() + timedelta(seconds=1), entities=["isis", "europol"]
    )
    now = bot.now()
    next_slot = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) + timedelta(
        hours=8
    )
    bot.advance(next_slot - now + timedelta(minutes=1))  # the clock moves past the next 08:00 (UTC)
    assert await asyncio.to_thread(bot.planner.plan_digests, bot.now()) == 1
    await bot.delivered()
    digest = bot.api.messages(42)[-1]
    assert digest.plain.splitlines()[0] == "Votre synthèse de 08:00 : État islamique · europol"
    check_html(digest.text)
