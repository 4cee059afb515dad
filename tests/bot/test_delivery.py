"""Delivery through the outbox to a fake Telegram Bot API over real HTTP: order, faults, blocked chats, edits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from telegram import Bot

from bot.delivery import Deliverer, DeliveryCounts
from bot.ratelimit import Limits, RateLimiter
from bot.repository import BotRepository, NewMessage
from bot.telegram import TelegramSender
from monitor.store import Store
from tests.fakebotapi import FakeBotAPI

FAST = Limits(global_per_s=1000, chat_interval_s=0.0, group_per_min=100_000)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def repo(sqlite_url: str) -> Iterator[BotRepository]:
    store = Store.open(sqlite_url)
    yield BotRepository(store)
    store.close()


@pytest.fixture
async def bot(fake_bot_api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as b:
        yield b


def deliverer(repo: BotRepository, bot: Bot, limits: Limits = FAST) -> Deliverer:
    return Deliverer(repo, TelegramSender(bot), RateLimiter(limits), backoff_base_s=0.05, backoff_cap_s=0.2)


async def drain_all(d: Deliverer, repo: BotRepository, limit_s: float = 20.0) -> DeliveryCounts:
    """Drain until nothing is pending (waiting for retries), summing the counts."""
    total = DeliveryCounts()
    async with asyncio.timeout(limit_s):
        while True:
            counts = await d.drain()
            for name in ("messages", "items", "retried", "failed", "deactivated"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            if repo.outbox_counts().get("pending", 0) == 0:
                return total
            await asyncio.sleep(0.05)


def subscribe(repo: BotRepository, api: FakeBotAPI, chat_id: int, kind: str = "private") -> None:
    api.add_chat(chat_id, kind)
    repo.ensure_subscriber(chat_id, kind, None, now())


def texts(api: FakeBotAPI, chat_id: int, thread_id: int | None = None) -> list[str]:
    return [m.text for m in api.messages(chat_id, thread_id)]


async def test_parts_go_in_order_once_under_faults(
    repo: BotRepository, bot: Bot, fake_bot_api: FakeBotAPI
) -> None:
    api = fake_bot_api
    for chat in (11, 12, 13, -100):
        subscribe(repo, api, chat, "private" if chat > 0 else "supergroup")
    parts = {
        chat: tuple(f"<b>digest</b> for {chat}, part {n} &amp; more" for n in range(3))
        for chat in (11, 12, 13, -100)
    }
    repo.enqueue([NewMessage(chat, "digest:1:slot", "digest", p) for chat, p in parts.items()], now())
    api.fail("sendMessage", 429, retry_after=1, chat_id=11)
    api.fail("sendMessage", 500, times=2, chat_id=12)
    api.fail("sendMessage", 502, times=1, chat_id=-100)
    api.block(13)
    counts = await drain_all(deliverer(repo, bot), repo)
    for chat in (11, 12, -100):
        assert texts(api, chat) == list(parts[chat])  # complete, in order, once
    assert texts(api, 13) == []
    chat13 = repo.subscriber(13)
    assert chat13 is not None and not chat13.active and "blocked" in (chat13.deactivated_reason or "")
    assert repo.outbox_counts() == {"sent": 3, "dropped": 1}
    assert (counts.items, counts.deactivated, counts.failed) == (3, 1, 0) and counts.retried >= 4
    wait = [c.time for c in api.calls_to("sendMessage") if c.params["chat_id"] == 11]
    assert wait[1] - wait[0] >= 0.9  # retried after retry_after, not before


async def test_a_refused_message_fails_alone(repo: BotRepository, bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    subscribe(repo, fake_bot_api, 21)
    repo.enqueue(
        [
            NewMessage(21, "a", "digest", ("<b>unclosed",)),
            NewMessage(21, "b", "digest", ("fine &amp; valid",)),
        ],
        now(),
    )
    counts = await drain_all(deliverer(repo, bot), repo)
    assert texts(fake_bot_api, 21) == ["fine &amp; valid"]
    [failed] = repo.recent(status="failed")
    assert failed.item_key == "a" and "parse entities" in (failed.last_error or "")
    assert (counts.failed, counts.items) == (1, 1)


async def test_an_update_replies_to_the_alert(
    repo: BotRepository, bot: Bot, fake_bot_api: FakeBotAPI
) -> None:
    api = fake_bot_api
    subscribe(repo, api, 31)
    [alert] = repo.enqueue([NewMessage(31, "alert:s1", "alert", ("🚨 <b>Europol</b> 2 sources",))], now())
    repo.enqueue(
        [NewMessage(31, "update:s1:a", "update", ("🆕 <b>Europol</b> afp",), reply_to_item=alert)], now()
    )
    d = deliverer(repo, bot)
    await drain_all(d, repo)
    first, reply = api.messages(31)
    assert first.text.endswith("2 sources") and not first.edited  # the alert stays as it was
    assert reply.text.endswith("afp") and reply.reply_to == first.message_id  # a reply: Telegram notifies it
    # the alert was deleted in the chat: the update still goes, as a plain message
    api.delete_message(31, first.message_id)
    repo.enqueue(
        [NewMessage(31, "update:s1:b", "update", ("🆕 <b>Europol</b> dpa",), reply_to_item=alert)], now()
    )
    await drain_all(d, repo)
    assert api.messages(31)[-1].text.endswith("dpa")
    assert repo.outbox_counts() == {"sent": 3}


async def test_forum_topic_target(repo: BotRepository, bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.add_chat(-200, "supergroup", is_forum=True, topics=[5])
    repo.ensure_subscriber(-200, "supergroup", "Forum", now())
    repo.enqueue([NewMessage(-200, "d", "digest", ("in the topic",), thread_id=5)], now())
    await drain_all(deliverer(repo, bot), repo)
    assert texts(fake_bot_api, -200, 5) == ["in the topic"]
    [call] = fake_bot_api.calls_to("sendMessage")
    assert (
        call.params["link_preview_options"] == {"is_disabled": True} and call.params["parse_mode"] == "HTML"
    )


async def test_real_limits_are_respected(repo: BotRepository, sqlite_url: str) -> None:
    with FakeBotAPI(enforce_limits=True) as api:
        async with Bot(api.token, base_url=api.base_url) as b:
            for chat in range(1, 41):
                subscribe(repo, api, chat)
            subscribe(repo, api, -300, "channel")
            messages = [NewMessage(c, "d", "digest", ("one", "two")) for c in range(1, 41)]
            messages.append(NewMessage(-300, "d", "digest", tuple(f"channel post {n}" for n in range(3))))
            repo.enqueue(messages, now())
            counts = await drain_all(deliverer(repo, b, Limits()), repo)
        assert counts.messages == 83 and api.limit_violations == [] and counts.retried == 0


async def test_run_stops_cleanly_and_resumes(repo: BotRepository, bot: Bot, fake_bot_api: FakeBotAPI) -> None:
    subscribe(repo, fake_bot_api, 41)
    repo.enqueue([NewMessage(41, "d", "digest", tuple(f"part {n}" for n in range(5)))], now())
    d = deliverer(repo, bot, Limits(chat_interval_s=0.2))
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    await asyncio.to_thread(
        fake_bot_api.wait_for, lambda c: c.method == "sendmessage" or c.method == "sendMessage"
    )
    stop.set()
    await asyncio.wait_for(task, 5)
    sent = len(texts(fake_bot_api, 41))
    assert 1 <= sent < 5
    [item] = repo.due(now())
    assert item.sent_parts == sent  # what went out is recorded
    await drain_all(deliverer(repo, bot), repo)
    assert texts(fake_bot_api, 41) == [f"part {n}" for n in range(5)]
