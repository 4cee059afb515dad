"""The fake Bot API (tests/fakebotapi.py) and the HTML check (tests/telegram_html.py), driven by real PTB clients."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakebotapi import Call, CallAction, FakeBotAPI
from tests.telegram_html import Entity, TelegramHTMLError, check_html, parse_html, utf16_len

# -- check_html ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        pytest.param("plain text", "plain text", id="plain"),
        pytest.param("<b>bold <i>both</i></b> none", "bold both none", id="nested"),
        pytest.param("5 &lt; 6 &gt; 4 &amp; &quot;q&quot;", '5 < 6 > 4 & "q"', id="named-references"),
        pytest.param("&#233;t&#xE9; &#x1F3DF;", "été 🏟", id="numeric-references"),
        pytest.param('<a href="https://e.org/?a=1&amp;b=2">link</a>', "link", id="link"),
        pytest.param("<a href=e.org>x</a>", "x", id="unquoted-attribute"),
        pytest.param('<pre><code class="language-py">x = 1</code></pre>', "x = 1", id="pre-code"),
        pytest.param('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st", id="spoilers"),
        pytest.param("<blockquote expandable>q</blockquote>", "q", id="expandable-blockquote"),
        pytest.param(
            "<u>u</u><ins>i</ins><s>s</s><strike>k</strike><del>d</del><em>e</em>", "uiskde", id="all-tags"
        ),
        pytest.param("<B>upper</B>", "upper", id="tag-names-ignore-case"),
        pytest.param("<b>closed by</>", "closed by", id="empty-end-tag"),
        pytest.param('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", id="custom-emoji"),
        pytest.param("a > b", "a > b", id="raw-greater-than"),
        pytest.param("<b></b>", "", id="empty-tag"),
    ],
)
def test_check_html_returns_the_plain_text(html: str, plain: str) -> None:
    assert check_html(html) == plain


@pytest.mark.parametrize(
    ("html", "error"),
    [
        pytest.param("<p>para</p>", 'Unsupported start tag "p" at byte offset 0', id="unknown-tag"),
        pytest.param("line<br>", 'Unsupported start tag "br" at byte offset 4', id="br"),
        pytest.param("a < b", 'Unsupported start tag "" at byte offset 2', id="raw-less-than"),
        pytest.param("🏟 <x>", 'Unsupported start tag "x" at byte offset 5', id="offset-in-utf8-bytes"),
        pytest.param("x <b", "Unclosed start tag at byte offset 2", id="unclosed-start-tag"),
        pytest.param("<b>x", 'Can\'t find end tag corresponding to start tag "b"', id="never-closed"),
        pytest.param(
            "<b><i>x</b></i>",
            'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
            id="misnested",
        ),
        pytest.param("x</b>", "Unexpected end tag at byte offset 1", id="end-without-start"),
        pytest.param("<b>x</b", "Unclosed end tag at byte offset 4", id="unclosed-end-tag"),
        pytest.param(
            "<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0', id="plain-span"
        ),
        pytest.param('<a href="x>y</a>', "Unclosed start tag at byte offset 0", id="unclosed-quote"),
        pytest.param(
            "<a =x>y</a>", 'Empty attribute name in the tag "a" at byte offset 0', id="empty-attribute"
        ),
        pytest.param("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8", id="bad-token"),
        pytest.param(
            "<tg-emoji emoji-id=x>y</tg-emoji>", "Invalid custom emoji identifier specified", id="emoji-id"
        ),
        pytest.param("Q&A", 'Unescaped "&" at byte offset 1', id="bare-ampersand"),
        pytest.param("&copy; 2025", 'Unescaped "&" at byte offset 0', id="unsupported-named-reference"),
        pytest.param("&lt b", 'Unescaped "&" at byte offset 0', id="reference-without-semicolon"),
        pytest.param(
            '<a href="?a=1&b=2">x</a>', 'Unescaped "&" at byte offset 13', id="ampersand-in-attribute"
        ),
        pytest.param("&#xD800;", "invalid Unicode characters", id="surrogate"),
        pytest.param("&#0;", "Invalid character reference &#0;", id="nul"),
    ],
)
def test_check_html_refuses_what_telegram_refuses(html: str, error: str) -> None:
    with pytest.raises(TelegramHTMLError, match=re.escape(error)):
        check_html(html)


def test_parse_html_entities_count_utf16_units() -> None:
    parsed = parse_html(
        '🏟 <b>a</b> <a href="https://e.org">l</a> <pre><code class="language-py">c</code></pre>'
    )
    assert parsed.text == "🏟 a l c"
    assert parsed.entities == (
        Entity("bold", 3, 1),
        Entity("text_link", 5, 1, url="https://e.org"),
        Entity("pre", 7, 1, language="py"),
    )
    assert [utf16_len(s) for s in ("", "a", "é", "🏟", parsed.text)] == [0, 1, 1, 2, 8]


# -- the fake, through PTB's Bot ------------------------------------------------------------------------------


@pytest.fixture
async def bot(fake_bot_api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as client:
        yield client


def said(description: str) -> str:
    """A pattern for a Bot API description as PTB words it (it drops "Bad Request: " and capitalizes)."""
    return f"(?i){re.escape(description)}"


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


async def test_get_me_and_send_html(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    assert (await bot.get_me()).username == "veille_test_bot"
    fake_bot_api.user_message(42, "hello")
    sent = await bot.send_message(42, "  <b>Vu</b> &amp; lu\n", parse_mode="HTML")
    assert (sent.text, sent.message_id, sent.chat.id) == ("Vu & lu", 2, 42)
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 2)]
    [stored] = fake_bot_api.messages(42)
    assert (stored.text, stored.plain, stored.parse_mode) == ("  <b>Vu</b> &amp; lu\n", "Vu & lu", "HTML")
    call = fake_bot_api.calls_to("sendMessage")[0]
    assert (call.params["chat_id"], call.params["parse_mode"], call.status) == (42, "HTML", 200)


async def test_wrong_token_and_unknown_method(fake_bot_api: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=fake_bot_api.base_url):
            pass
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{fake_bot_api.base_url}{fake_bot_api.token}/frobnicate", data={"a": "1"}
        )
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [(c.method, c.status) for c in fake_bot_api.calls] == [("getMe", 401), ("frobnicate", 404)]


async def test_parameters_from_form_multipart_and_json(fake_bot_api: FakeBotAPI) -> None:
    url = f"{fake_bot_api.base_url}{fake_bot_api.token}"
    async with httpx.AsyncClient() as client:
        await client.post(
            f"{url}/sendDocument",
            data={"chat_id": "42", "caption": "7"},
            files={"document": ("a.txt", b"hi")},
        )
        await client.post(f"{url}/getUpdates?offset=3", json={"limit": 2, "allowed_updates": ["message"]})
        await client.post(
            f"{url}/sendMessage", data={"chat_id": "@nobody", "text": "12", "reply_markup": "{bad"}
        )
    params = [dict(call.params) for call in fake_bot_api.calls]
    assert params == [
        {"chat_id": 42, "caption": "7", "document": "<file a.txt>"},
        {"offset": 3, "limit": 2, "allowed_updates": ["message"]},
        {"chat_id": "@nobody", "text": "12", "reply_markup": "{bad"},
    ]


async def test_send_message_refusals(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.user_message(42, "hi")
    refusals = {
        'Unsupported start tag "p"': dict(chat_id=42, text="<p>x</p>", parse_mode="HTML"),
        "message is too long": dict(chat_id=42, text="🏟" * 2049),
        "message text is empty": dict(chat_id=42, text="<b> </b>", parse_mode="HTML"),
        "chat not found": dict(chat_id=43, text="x"),
        "message to be replied not found": dict(chat_id=42, text="x", reply_parameters=ReplyParameters(99)),
        "BUTTON_DATA_INVALID": dict(chat_id=42, text="x", reply_markup=keyboard("d" * 65)),
    }
    for description, kwargs in refusals.items():
        with pytest.raises(BadRequest, match=said(description)):
            await bot.send_message(**kwargs)  # type: ignore[arg-type]
    assert await bot.send_message(42, "🏟" * 2048, reply_parameters=ReplyParameters(1))
    assert [m.reply_to for m in fake_bot_api.messages(42)] == [1]


async def test_edit_message_text(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.user_message(42, "hi")
    sent = await bot.send_message(42, "<i>v1</i>", parse_mode="HTML", reply_markup=keyboard("more"))
    edited = await bot.edit_message_text(
        "<i>v2</i>", 42, sent.message_id, parse_mode="HTML", reply_markup=keyboard("more")
    )
    assert isinstance(edited, type(sent)) and edited.text == "v2"
    with pytest.raises(BadRequest, match=said("message is not modified")):
        await bot.edit_message_text(
            "<i>v2</i>", 42, sent.message_id, parse_mode="HTML", reply_markup=keyboard("more")
        )
    with pytest.raises(BadRequest, match=said("message to edit not found")):
        await bot.edit_message_text("x", 42, 99)
    with pytest.raises(BadRequest, match=said("message can't be edited")):
        await bot.edit_message_text("x", 42, 1)
    await bot.edit_message_text("<i>v2</i>", 42, sent.message_id, parse_mode="HTML")  # the keyboard goes
    [message] = fake_bot_api.messages(42)
    assert message.versions == ("<i>v1</i>", "<i>v2</i>", "<i>v2</i>")
    assert (message.reply_markup, message.edited, message.plain) == (None, True, "v2")


async def test_commands_per_scope_and_language(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.add_chat(-100, "group")
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("digest", "Digest")])
    await bot.set_my_commands([BotCommand("start", "Démarrer")], language_code="fr")
    await bot.set_my_commands([BotCommand("digest", "Group digest")], scope=BotCommandScopeChat(-100))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "digest"]
    assert fake_bot_api.commands(lang="fr") == [("start", "Démarrer")]
    assert fake_bot_api.commands({"type": "chat", "chat_id": -100}) == [("digest", "Group digest")]
    await bot.delete_my_commands(language_code="fr")
    assert await bot.get_my_commands(language_code="fr") == ()
    with pytest.raises(BadRequest, match=said("BOT_COMMAND_INVALID")):
        await bot.set_my_commands([BotCommand("Start", "Upper case is refused")])
    with pytest.raises(BadRequest, match=said("chat not found")):
        await bot.set_my_commands([BotCommand("x", "y")], scope=BotCommandScopeChat(-5))


async def test_faults_map_to_ptb_errors(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.user_message(42, "hi")
    fake_bot_api.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(42, "x")
    assert raised.value.retry_after == dt.timedelta(seconds=7)
    for status, error in ((400, BadRequest), (403, Forbidden), (500, NetworkError), (502, NetworkError)):
        fake_bot_api.fail("sendMessage", status)
        with pytest.raises(error) as caught:
            await bot.send_message(42, "x")
        assert type(caught.value) is error  # BadRequest subclasses NetworkError: check the exact class
    fake_bot_api.fail("sendMessage", 500, chat_id=7, times=2)
    await bot.send_message(42, "delivered")
    assert [m.plain for m in fake_bot_api.messages(42)] == ["delivered"]
    statuses = [c.status for c in fake_bot_api.calls_to("sendMessage")]
    assert statuses == [429, 400, 403, 500, 502, 200]


async def test_blocked_kicked_and_channel_rights(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.user_message(42, "hi")
    fake_bot_api.block(42)
    with pytest.raises(Forbidden, match=said("bot was blocked by the user")):
        await bot.send_message(42, "x")
    fake_bot_api.user_message(42, "/start")  # writing to the bot again unblocks it
    await bot.send_message(42, "back")
    fake_bot_api.my_chat_member(-200, "member", kind="channel", title="Veille")
    with pytest.raises(BadRequest, match=said("need administrator rights in the channel chat")):
        await bot.send_message(-200, "x")
    fake_bot_api.my_chat_member(-200, "administrator")
    await bot.send_message(-200, "posted")
    fake_bot_api.my_chat_member(-200, "kicked")
    with pytest.raises(Forbidden, match=said("bot was kicked from the channel chat")):
        await bot.send_message(-200, "x")
    updates = await bot.get_updates()
    changes = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in updates
        if u.my_chat_member
    ]
    assert changes == [("left", "member"), ("member", "administrator"), ("administrator", "kicked")]


async def test_groups_admins_buttons(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.add_chat(-100, "supergroup", title="Newsroom", creator=1, admins=(5,))
    fake_bot_api.user_message(-100, "/digest@veille_test_bot now", user_id=9)
    [update] = await bot.get_updates()
    assert update.message is not None and update.message.from_user is not None
    assert (update.message.from_user.id, update.message.chat.title) == (9, "Newsroom")
    assert [(e.type, e.length) for e in update.message.entities] == [("bot_command", 23)]
    statuses = [(await bot.get_chat_member(-100, user)).status for user in (1, 5, 9, 10)]
    assert statuses == ["creator", "administrator", "member", "left"]
    assert [m.user.id for m in await bot.get_chat_administrators(-100)] == [1, 5]
    assert (await bot.get_chat(-100)).title == "Newsroom"
    sent = await bot.send_message(-100, "pick", reply_markup=keyboard("a", "b"))
    assert fake_bot_api.messages(-100)[0].buttons == (("A", "a"), ("B", "b"))
    fake_bot_api.press_button(-100, sent.message_id, "b", user_id=5)
    updates = await bot.get_updates(offset=update.update_id + 1)
    query = updates[0].callback_query
    assert query is not None and (query.data, query.from_user.id) == ("b", 5)
    assert await bot.answer_callback_query(query.id, "ok")
    with pytest.raises(BadRequest, match=said("query is too old")):
        await bot.answer_callback_query(query.id)
    with pytest.raises(ValueError, match="no button"):
        fake_bot_api.press_button(-100, sent.message_id, "c")


async def test_forum_topics(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.add_chat(-300, "supergroup", is_forum=True, topics=(7,))
    await bot.send_message(-300, "in topic", message_thread_id=7)
    await bot.send_chat_action(-300, "typing", message_thread_id=7)
    with pytest.raises(BadRequest, match=said("message thread not found")):
        await bot.send_message(-300, "x", message_thread_id=8)
    assert [m.plain for m in fake_bot_api.messages(-300, thread_id=7)] == ["in topic"]
    assert fake_bot_api.messages(-300, thread_id=8) == []


# -- long polling ------------------------------------------------------------------------------------------


async def test_long_poll_is_woken_by_a_user_message(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
    await fake_bot_api.wait_for_async(lambda c: c.method == "getMe")
    await asyncio.sleep(0.2)  # the poll is being held
    assert not poll.done()
    update_id = fake_bot_api.user_message(42, "/start")
    [update] = await asyncio.wait_for(poll, 5)  # well before the 30 s hold
    assert update.update_id == update_id and update.message is not None
    assert fake_bot_api.pending_updates == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert fake_bot_api.pending_updates == []


async def test_get_updates_limit_and_allowed_updates(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    ids = [fake_bot_api.user_message(42, f"m{i}") for i in range(3)]
    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[2:]
    sent = await bot.send_message(42, "pick", reply_markup=keyboard("a"))
    fake_bot_api.user_message(42, "skipped")
    press = fake_bot_api.press_button(42, sent.message_id, "a")
    assert [u.update_id for u in await bot.get_updates(allowed_updates=["callback_query"])] == [press]


async def test_a_newer_poll_ends_the_older_with_conflict(bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
    await asyncio.sleep(0.2)
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as second_instance:
        second = asyncio.create_task(second_instance.get_updates(timeout=0))
        with pytest.raises(Conflict, match=said("terminated by other getUpdates request")):
            await asyncio.wait_for(first, 5)
        assert await second == ()


async def test_stop_answers_a_held_poll() -> None:
    api = FakeBotAPI().start()
    async with Bot(api.token, base_url=api.base_url) as client:
        poll = asyncio.create_task(client.get_updates(timeout=30, read_timeout=40))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(api.stop)
        assert await asyncio.wait_for(poll, 5) == ()


# -- hooks, limits, waiting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "delivered"), [(CallAction.DROP_REQUEST, []), (CallAction.DROP_ANSWER, ["x"])]
)
async def test_a_hook_can_drop_a_call(
    bot: Bot, fake_bot_api: FakeBotAPI, action: CallAction, delivered: list[str]
) -> None:
    fake_bot_api.user_message(42, "hi")
    seen: list[Call] = []

    def hook(call: Call) -> CallAction | None:
        seen.append(call)
        return action if call.method == "sendMessage" and len(seen) == 1 else None

    fake_bot_api.on_call(hook)
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(42, "x")
    assert [m.plain for m in fake_bot_api.messages(42)] == delivered
    [call] = fake_bot_api.calls_to("sendMessage")
    assert (call.dropped, call.status, seen[0].status) == (True, 0 if not delivered else 200, 0)
    await bot.send_message(42, "y")
    assert [m.plain for m in fake_bot_api.messages(42)] == [*delivered, "y"]


@pytest.mark.parametrize("enforce", [False, True], ids=["recorded", "enforced"])
async def test_flood_limits(enforce: bool) -> None:
    api = FakeBotAPI(enforce_limits=enforce).start()
    try:
        async with Bot(api.token, base_url=api.base_url) as client:
            api.user_message(42, "hi")
            api.add_chat(-100, "group")
            await client.send_message(42, "one")
            if enforce:
                with pytest.raises(RetryAfter):
                    await client.send_message(42, "two")
            else:
                await client.send_message(42, "two")
            for i in range(21):
                with pytest.raises(RetryAfter) if enforce and i == 20 else contextlib.nullcontext():
                    await client.send_message(-100, f"g{i}")
        rules = [(v.chat_id, v.rule) for v in api.limit_violations]
        assert rules == [(42, "1 message/s in a private chat"), (-100, "20 messages/min in a group")]
        assert len(api.messages(-100)) == (20 if enforce else 21)
        assert all(v.retry_after >= 1 for v in api.limit_violations)
    finally:
        api.stop()


def test_wait_for_times_out_with_the_calls_seen(fake_bot_api: FakeBotAPI) -> None:
    with pytest.raises(TimeoutError, match="last calls: none"):
        fake_bot_api.wait_for(lambda c: c.method == "sendMessage", timeout=0.1)


# -- a PTB Application polling the fake --------------------------------------------------------------------


async def test_application_answers_start_and_stops_cleanly(fake_bot_api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Bienvenue</b> &amp; merci")

    app = ApplicationBuilder().token(fake_bot_api.token).base_url(fake_bot_api.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=dt.timedelta(seconds=2))
        fake_bot_api.user_message(42, "/start", lang="fr")
        call = await fake_bot_api.wait_for_async(lambda c: c.method == "sendMessage")
        await app.updater.stop()
        await app.stop()
    assert (call.status, call.params["chat_id"]) == (200, 42)
    [message] = fake_bot_api.messages(42)
    assert (message.plain, [e.type for e in message.entities]) == ("Bienvenue & merci", ["bold"])
    assert fake_bot_api.pending_updates == []  # stopping confirmed the update it had handled
    assert [c.method for c in fake_bot_api.calls][:2] == ["getMe", "deleteWebhook"]
