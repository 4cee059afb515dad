"""Telegram unreachable for a while, as the running bot service sees it (the fake Bot API drops every request):
one warning when it starts failing and one when it is back, no traceback per retry, the service reports the
bot as degraded meanwhile, and what was queued goes out once Telegram answers again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.metrics import MetricsServer
from bot.repository import NewMessage
from bot.runner import Runner, telegram_off
from bot.service import build_service
from bot.settings import ServiceSettings, bot_settings_from_env
from monitor.settings import MonitorSettings
from monitor.store import Store
from summarizer.settings import SummarizerSettings
from tests.bot.test_metrics import get
from tests.fakebotapi import CallAction, FakeBotAPI


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    s.close()


async def test_an_outage_is_two_log_lines_and_a_degraded_bot(
    store: Store, fake_bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = fake_bot_api
    env = {
        "TELEGRAM_BOT_TOKEN": api.token,
        "VEILLE_TELEGRAM_API_URL": api.url,
        "VEILLE_PLAN_INTERVAL_S": "1",
        "VEILLE_RETRY_BASE_S": "0.1",
        "VEILLE_RETRY_CAP_S": "1",
    }
    settings = bot_settings_from_env(env)
    service = build_service(settings, store)
    runner = Runner(
        MonitorSettings(), SummarizerSettings(), settings, ServiceSettings(), []
    )  # for its /healthz
    runner._bot, runner.health = service, {"monitor": True, "summarizer": True, "bot": True}
    endpoint = MetricsServer(store, runner.metrics, runner.health_parts, "127.0.0.1", 0)
    await endpoint.start()
    healthz = f"http://127.0.0.1:{endpoint.port}/healthz"
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    down = False

    def degraded() -> bool:  # a call, not an attribute: the flag changes under the test's feet
        return not service.telegram_ok

    api.on_call(lambda call: CallAction.DROP_REQUEST if down else None)
    try:
        api.user_message(100, "/start")
        await api.wait_for_async(lambda c: c.method == "sendMessage" and c.status == 200)
        assert not degraded()
        assert (await asyncio.to_thread(get, healthz))[0] == 200

        down = True  # Telegram stops answering: polls and sends fail for a few seconds
        now = datetime.now(UTC)
        await asyncio.to_thread(
            service.repo.enqueue, [NewMessage(100, "note:1", "broadcast", ("Hello",))], now
        )
        service.wake()
        await asyncio.sleep(3.0)  # real time: PTB's polling loop and the deliverer's backoff retry meanwhile
        assert degraded()
        status, body = await asyncio.to_thread(get, healthz)
        assert status == 503 and json.loads(body) == {
            "status": "degraded",
            "parts": {"monitor": True, "summarizer": True, "bot": True, "telegram": False},
        }
        dropped = [c for c in api.calls if c.dropped]
        assert len(dropped) >= 3  # it did retry (sends with backoff, polls), quietly

        down = False
        await api.wait_for_async(
            lambda c: c.method == "sendMessage" and c.params.get("text") == "Hello", timeout=15
        )
        async with asyncio.timeout(5):
            while degraded():  # noqa: ASYNC110 - the flag has no event
                await asyncio.sleep(0.05)
        assert (await asyncio.to_thread(get, healthz))[0] == 200
    finally:
        api.on_call(None)
        stop.set()
        await asyncio.wait_for(running, 15)
        await endpoint.stop()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    messages = [r.getMessage() for r in loud]
    assert len(loud) == 2, messages  # nothing else above DEBUG: no line per failed poll or send
    assert messages[0].startswith("Telegram unreachable: ")
    assert messages[1].startswith("Telegram reachable again after ")
    assert not any(r.exc_info for r in loud)
    assert [m.text for m in api.messages(100)].count("Hello") == 1


def test_without_a_token_the_run_says_why_the_bot_is_off() -> None:
    off = telegram_off(bot_settings_from_env({}))
    assert off is not None and off.startswith("Telegram bot off: no token (set TELEGRAM_BOT_TOKEN")
    with_email = telegram_off(bot_settings_from_env({"VEILLE_EMAIL_TO": "desk@example.org"}))
    assert with_email is not None and with_email.endswith("and the daily email")
    assert telegram_off(bot_settings_from_env({"TELEGRAM_BOT_TOKEN": "1:x"})) is None
