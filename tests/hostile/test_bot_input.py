"""Issue 12, points 9 and 13 (the bot's side): what a chat types and what a source writes never stops the bot.

Point 9: every argument that becomes a number, a duration, a time, a time zone, a filter or a story id is bounded
before use and refused with a clear answer in the chat's language, and the bot goes on answering; the buttons'
data is matched whole. The bot runs for real (PTB polling the fake Bot API over loopback HTTP, a real SQLite
store): the ``bot`` fixture of tests/bot/test_conversations.py, which also fails a test that logged an error.

Point 13: the bidi embeddings, overrides and isolates a source's title, summary, name or entity may carry never
reach a Telegram message nor either part of the email; Arabic letters and the LRM/RLM marks stay.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, time, timedelta

from bot.email import EmailConfig, build_message
from bot.i18n import CATALOGS, t
from bot.render import render_alert, render_digest, render_story_full, render_update
from summarizer.digest import Digest, DigestSentence, StoryFilter, StoryView, TrendingEntity
from tests.bot.conftest import _ptb_timedelta as _ptb_timedelta  # the fixtures of the bot tests
from tests.bot.conftest import fake_bot_api as fake_bot_api
from tests.bot.test_conversations import Harness
from tests.bot.test_conversations import bot as bot
from tests.fakebotapi import SentMessage
from tests.telegram_html import check_html

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
RLO, PDF, RLI, PDI, LRE = "\u202e", "\u202c", "\u2067", "\u2069", "\u202a"
RLM, LRM = "\u200f", "\u200e"


async def still_answers(bot: Harness, chat_id: int, lang: str = "en") -> None:
    """The bot goes on answering the chat: /help gets the command list in the chat's language."""
    assert (await bot.say(chat_id, "/help")).text.startswith(t(lang, "help.title"))


def refusal(answer: SentMessage, lang: str, key: str) -> None:
    """``answer`` is the text ``key`` of ``lang`` (any values), one short and valid message."""
    pattern = "".join(
        re.escape(text) + ("(.*?)" if name else "")
        for text, name, _, _ in string.Formatter().parse(CATALOGS[lang][key])
    )
    assert re.fullmatch(pattern, answer.text, re.DOTALL), (answer.text, CATALOGS[lang][key])
    assert len(answer.plain) < 400, answer.plain  # a user's value is repeated cut short
    check_html(answer.text)


# --- point 9: numbers, durations, times, time zones, filters, ids, buttons -------------------------------


async def test_p9_schedule_time_zone_is_bounded_before_zoneinfo(bot: Harness) -> None:
    # 300 characters made zoneinfo open a file name too long (ENAMETOOLONG); a folder name, a directory error
    for name in ("a" * 300, "Europe", "Europe/" + "x" * 300, "../../etc/passwd", "Europe/Paris\u202e"):
        refusal(await bot.say(42, f"/schedule tz:{name}"), "en", "bad.timezone")
        await still_answers(bot, 42)
    refusal(await bot.say(43, "/schedule tz:" + "é" * 300, lang="fr"), "fr", "bad.timezone")
    saved = await bot.say(42, "/schedule tz:America/Argentina/ComodRivadavia")  # the longest IANA name
    assert saved.plain.startswith(t("en", "schedule.saved"))
    assert bot.repo.subscriber(42).timezone == "America/Argentina/ComodRivadavia"  # type: ignore[union-attr]
    assert bot.repo.subscriber(43).timezone == "UTC"  # type: ignore[union-attr]


async def test_p9_latest_and_unsubscribe_read_decimal_digits_only(bot: Harness) -> None:
    # "²".isdigit() is true and int("²") raises; 5,000 digits pass isdigit() and int() refuses them
    for count in ("²", "①", "9" * 5000, "0", "21", "-3", "1e3", "٣٣"):
        refusal(await bot.say(42, f"/latest {count}"), "en", "bad.number")
    refusal(await bot.say(44, "/latest ²", lang="ar"), "ar", "bad.number")
    await still_answers(bot, 44, "ar")
    assert (await bot.say(42, "/latest ٣")).plain == t("en", "latest.none")  # Arabic-Indic 3: read as 3
    await bot.say(42, "/subscribe europol")
    for target in ("²", "9" * 5000, "١٢٣٤٥٦٧٨٩٠"):
        assert (await bot.say(42, f"/unsubscribe {target}")).plain == t("en", "unsub.usage")
    assert (await bot.say(42, "/unsubscribe ١")).plain == t("en", "unsub.removed", id=1)
    await still_answers(bot, 42)


async def test_p9_mute_and_schedule_refusals_are_short(bot: Harness) -> None:
    await bot.say(42, "/subscribe europol")
    for duration in ("²h", "99999h", "91d", "x" * 5000, "1" * 5000 + "h"):
        refusal(await bot.say(42, f"/mute {duration}"), "en", "bad.duration")
    refusal(await bot.say(45, "/mute " + "x" * 5000, lang="de"), "de", "bad.duration")
    for times in ("²:00", "9" * 5000 + ":00", "07:" + "3" * 5000, "x" * 5000):
        refusal(await bot.say(42, f"/schedule {times}"), "en", "bad.time")
    many = ",".join(f"{h:02}:{m:02}" for h in range(24) for m in (0, 30))
    refusal(await bot.say(42, f"/schedule {many}"), "en", "bad.times")
    assert bot.repo.subscriptions(42)[0].digest_times == (time(8),)  # nothing changed by the refusals
    assert bot.repo.subscriber(42).muted_until is None  # type: ignore[union-attr]
    await still_answers(bot, 42)


async def test_p9_subscribe_search_and_story_arguments_are_bounded(bot: Harness) -> None:
    refusal(await bot.say(42, "/subscribe " + "europol " * 100), "en", "bad.too_long")
    refusal(await bot.say(46, "/subscribe " + "europol " * 100, lang="es"), "es", "bad.too_long")
    many = ",".join(f"{h:02}:{m:02}" for h in range(24) for m in (0, 30))
    refusal(await bot.say(42, f"/subscribe europol at:{many}"), "en", "bad.times")
    refusal(await bot.say(42, "/subscribe entity:" + "x" * 400), "en", "bad.entity")
    refusal(await bot.say(42, "/subscribe min:1e999"), "en", "bad.filter")
    assert bot.repo.subscriptions(42) == [] and bot.repo.subscriptions(46) == []
    # /search used to cut at 500 characters without a word: here the cut fell inside a quoted phrase
    refusal(await bot.say(42, '/search "' + "dark web " * 60 + '"'), "en", "bad.too_long")
    refusal(await bot.say(47, "/search " + "y" * 501, lang="ar"), "ar", "bad.too_long")
    await still_answers(bot, 47, "ar")
    saved = await bot.say(42, "/subscribe europol at:" + ",".join(f"{h:02}:00" for h in range(12)))
    assert saved.plain.startswith("✅ Subscription #1 saved.") and len(bot.repo.subscriptions(42)) == 1
    for story_id in ("x" * 5000, "a\x00b", "<b>bold</b>", "s1 OR 1=1"):  # looked up only when it can be one
        refusal(await bot.say(42, f"/story {story_id}"), "en", "story.unknown")
    assert (await bot.say(42, "/story")).plain == t("en", "story.usage")
    await still_answers(bot, 42)


async def test_p9_button_data_is_matched_whole(bot: Harness) -> None:
    await bot.say(42, "/subscribe europol")
    settings = await bot.say(42, "/settings")
    # "$" matched before a final newline: "s:lang:fr\n" saved the language "fr\n"; \d took "١" (Arabic 1)
    for data in ("s:lang:fr\n", "l:ar\n", "s:al:١", "s:al:1\n", "u:1\n", "u:١", "s:t:²"):
        start = len(bot.api.calls)
        bot.api.press_button(42, settings.message_id, data, unchecked=True)
        answer = await bot.api.wait_for_async(lambda c: c.method == "answerCallbackQuery", start=start)
        assert answer.params.get("text") == t("en", "button.stale"), data
    chat, [sub] = bot.repo.subscriber(42), bot.repo.subscriptions(42)
    assert chat is not None and chat.language == "en" and not sub.alerts
    edited = await bot.press(42, settings, "s:al:1")  # the real buttons still work
    assert bot.repo.subscriptions(42)[0].alerts and edited.edited


# --- point 13: bidi controls from sources ------------------------------------------------------------------

SEEN = datetime(2026, 5, 6, 8, 0, tzinfo=UTC)
ARABIC = "داعش يعلن مسؤوليته عن هجوم"


def hostile_story() -> StoryView:
    """A story whose every source-provided text carries bidi overrides, embeddings and isolates."""
    sentences = (
        DigestSentence(f"Invoice {RLO}fdp.exe{PDF} was sent.", "a1", 0, "en", "https://a.example/1"),
        DigestSentence(f"{RLM}{ARABIC}{LRE} 2024{PDF}", "a2", 1, "ar", "https://b.example/2"),
    )
    return StoryView(
        story_id="s-bidi",
        headline=f"Europol {RLO}lopruE{PDF} and {RLI}{ARABIC}{PDI}",
        sentences=sentences,
        entities=("europol", f"unk:person:John {RLO}eoD{PDF}"),
        languages=("en", "ar"),
        tags=frozenset(),
        sources=2,
        articles=2,
        first_seen=SEEN - timedelta(hours=2),
        last_update=SEEN - timedelta(hours=1),
        importance=2.0,
        urls=("https://a.example/1", "https://b.example/2"),
        headline_lang="en",
        sources_list=((f"wire{RLO}gro", "https://a.example/1"), (f"{LRM}news{PDI}", "https://b.example/2")),
        full_sentences=sentences,
    )


def digest_of(story: StoryView) -> Digest:
    trending = (TrendingEntity(f"unk:org:Acme{RLO}", 3, 1),)
    return Digest(SEEN - timedelta(days=1), SEEN, StoryFilter(), (story,), trending)


def test_p13_bidi_overrides_never_reach_telegram() -> None:
    story = hostile_story()
    messages = [
        *render_digest(digest_of(story), "en"),
        render_alert(story, "ar"),
        render_update(story, "fr", [f"wire{RLO}gro"], [f"New {RLO}txet{PDF}."]),
        *render_story_full(story, "en", [f"John {RLO}eoD{PDF}", "Europol"]),
    ]
    for text in messages:
        check_html(text)
        assert not BIDI_CONTROLS.search(text), ascii(text)
    shown = "\n".join(messages)
    assert "Europol lopruE and " + ARABIC in shown and "Invoice fdp.exe was sent." in shown
    assert f"{RLM}{ARABIC} 2024" in shown and "wiregro" in shown and f"{LRM}news" in shown  # marks stay
    assert "John eoD" in shown


def test_p13_bidi_overrides_never_reach_the_email() -> None:
    cfg = EmailConfig(recipients=("reader@example.org",), security="none", port=25)
    message = build_message(digest_of(hostile_story()), cfg, day=date(2026, 5, 6), now=SEEN)
    text, page = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))  # type: ignore[union-attr]
    for part in (text, page):
        assert not BIDI_CONTROLS.search(part), ascii(part)
        assert "Europol lopruE and " + ARABIC in part and "Invoice fdp.exe was sent." in part
        assert f"{RLM}{ARABIC} 2024" in part and "wiregro" in part and f"{LRM}news" in part
