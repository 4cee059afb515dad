"""Digests under a fault schedule: 429 with retry_after, intermittent 500s, a user who blocked the bot, and the
delivering process killed with SIGKILL mid-delivery then restarted: every subscriber gets each digest exactly
once, complete and in order, and the blocked one is deactivated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bot.repository import BotRepository
from bot.tables import outbox
from monitor.store import Store
from tests.bot.stories import Piece, add_story
from tests.conftest import ROOT
from tests.fakebotapi import Call, CallAction, FakeBotAPI
from tests.telegram_html import check_html

pytestmark = pytest.mark.slow

CHATS = [*range(1, 25), -1001]  # 24 private chats and a channel
BLOCKED = 7
KILL_AT = 30  # the sendMessage call during which the process is killed


def _env(database_url: str, api: FakeBotAPI) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=api.token,
        VEILLE_TELEGRAM_API_URL=api.url,
        VEILLE_RETRY_BASE_S="0.2",
        VEILLE_RETRY_CAP_S="1",
    )


def _command() -> list[str]:
    return [sys.executable, "-m", "tests.guarded_run", "bot", "deliver", "--max-wait", "60"]


def deliver(database_url: str, api: FakeBotAPI) -> subprocess.CompletedProcess[str]:
    env = _env(database_url, api)
    return subprocess.run(
        _command(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def seed(store: Store, now: datetime) -> None:
    """Stories processed three hours ago, and chats whose 1-hour-ago digest is due."""
    for n in range(40):
        text = " ".join(
            f"Europol and partners act against network {n} in operation {k} today." for k in range(6)
        )
        add_story(
            store,
            f"story-{n}",
            [Piece(f"src{n}", "en", f"Operation {n} <against> fraud & propaganda 🚨", text)],
            at=now - timedelta(hours=3),
            importance=float(n % 7),
        )
    repo = BotRepository(store)
    slot = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    for chat in CHATS:
        repo.ensure_subscriber(chat, "private" if chat > 0 else "channel", None, now - timedelta(days=1))
        repo.add_subscription(chat, "", now - timedelta(days=1), digest_times=[slot])


def test_each_digest_exactly_once_through_faults_and_a_kill(database_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = Store.open(database_url)
    seed(store, now)
    with FakeBotAPI() as api:
        for chat in CHATS:
            api.add_chat(chat, "private" if chat > 0 else "channel")
        api.block(BLOCKED)
        api.fail("sendMessage", 429, retry_after=1, chat_id=3, times=2)
        api.fail("sendMessage", 500, chat_id=5, times=2)
        api.fail("sendMessage", 502, chat_id=-1001)
        api.fail("sendMessage", 500, chat_id=11)
        victim: list[subprocess.Popen[bytes]] = []
        seen, cut, killed = [0], threading.Event(), threading.Event()
        probe = create_engine(database_url)

        def recorded() -> int:
            with probe.connect() as conn:
                return int(conn.execute(select(func.coalesce(func.sum(outbox.c.sent_parts), 0))).scalar_one())

        def kill_mid_delivery(call: Call) -> CallAction | None:
            """At the KILL_AT-th send, with that request and every later one in flight: once every message
            Telegram accepted is recorded (the process is between sends), SIGKILL it; the requests in flight die
            with it. (A message Telegram accepted in the milliseconds before a kill, and not yet recorded, would
            go again after the restart: the Bot API has no idempotency key; see bot/delivery.py.)"""
            if call.method.lower() != "sendmessage":
                return None
            if cut.is_set():
                killed.wait(30)
                return CallAction.DROP_REQUEST
            seen[0] += 1
            if seen[0] != KILL_AT:
                return None
            cut.set()
            deadline = time.monotonic() + 20
            while recorded() != sum(len(api.messages(c)) for c in CHATS) and time.monotonic() < deadline:
                time.sleep(0.01)
            for proc in victim:
                os.kill(proc.pid, signal.SIGKILL)
            killed.set()
            return CallAction.DROP_REQUEST

        api.on_call(kill_mid_delivery)
        with (tmp_path / "first.log").open("w") as log:
            first = subprocess.Popen(
                _command(), env=_env(database_url, api), cwd=ROOT, stdout=log, stderr=log
            )
            victim.append(first)
            first.wait(timeout=120)
        probe.dispose()
        assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()
        delivered_before = sum(len(api.messages(c)) for c in CHATS)
        assert delivered_before > 0

        api.on_call(None)
        second = deliver(database_url, api)
        assert second.returncode == 0, second.stderr
        third = deliver(database_url, api)  # nothing due any more: nothing sent again
        assert third.returncode == 0, third.stderr

        repo = BotRepository(store)
        items = {i.chat_id: i for status in ("sent", "dropped") for i in repo.recent(100, status=status)}
        for chat in CHATS:
            got = [m.text for m in api.messages(chat)]
            if chat == BLOCKED:
                assert got == []
                continue
            expected = list(items[chat].parts)
            assert got == expected, f"chat {chat}: {len(got)} messages, expected {len(expected)}"
            assert all(check_html(part) for part in got)
        assert len(items[1].parts) > 1  # the digests really were split in several messages
        blocked = repo.subscriber(BLOCKED)
        assert blocked is not None and not blocked.active
        assert repo.outbox_counts() == {"sent": len(CHATS) - 1, "dropped": 1}
    store.close()
