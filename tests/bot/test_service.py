"""The bot service as it runs: Telegram updates, the planner loop and the deliverer together, against the fake
Bot API over HTTP and a real store: a user subscribes to alerts, a story arrives and is alerted once, the story
grows and a reply to the alert says what is new, then a graceful stop leaves nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.service import build_service
from bot.settings import bot_settings_from_env
from monitor.store import Store
from tests.bot.stories import Piece, add_story
from tests.fakebotapi import FakeBotAPI


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    s.close()


async def test_alert_then_a_reply_with_the_news_then_graceful_stop(
    store: Store, fake_bot_api: FakeBotAPI
) -> None:
    api = fake_bot_api
    env = {"TELEGRAM_BOT_TOKEN": api.token, "VEILLE_TELEGRAM_API_URL": api.url, "VEILLE_PLAN_INTERVAL_S": "1"}
    settings = bot_settings_from_env({**env, "VEILLE_ALERT_UPDATE_MIN_INTERVAL_S": "0"})
    service = build_service(settings, store)
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    try:
        api.user_message(100, "/start", lang="fr")
        api.user_message(100, "/subscribe entity:europol alerts")
        await api.wait_for_async(  # the subscription is saved (the welcome names europol too: not that one)
            lambda c: c.method == "sendMessage" and "entity:europol" in str(c.params.get("text", ""))
        )
        pieces = [
            Piece(
                "europol", "en", "Europol takes down Daesh propaganda servers", "Europol led the action day."
            )
        ]
        add_story(store, "s1", pieces, at=datetime.now(UTC), entities=["europol", "isis"])
        alert = await api.wait_for_async(
            lambda c: c.method == "sendMessage" and "🚨" in str(c.params.get("text", ""))
        )
        first = api.messages(100)[-1]
        assert "Europol takes down" in first.text and alert.params["chat_id"] == 100

        pieces.append(
            Piece("lemonde", "fr", "Europol démantèle les serveurs de Daech", "Europol a mené l'action.")
        )
        add_story(store, "s1", pieces, at=datetime.now(UTC), entities=["europol", "isis"], new_from=1)
        await api.wait_for_async(
            lambda c: c.method == "sendMessage" and "🆕" in str(c.params.get("text", "")), timeout=15
        )
        reply = api.messages(100)[-1]
        assert reply.reply_to == first.message_id and "Du nouveau sur ce sujet" in reply.text
        assert "lemonde" in reply.plain and "Europol led the action day" not in reply.plain  # only the news
        assert sum("🚨" in m.text for m in api.messages(100)) == 1 and not first.edited
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert service.repo.outbox_counts() == {"sent": 2}
    # the command menus were registered with Telegram at start, in English and French
    assert ("subscribe" in dict(api.commands({"type": "all_private_chats"}))) and api.commands(
        {"type": "all_private_chats"}, "fr"
    )
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert others == []
