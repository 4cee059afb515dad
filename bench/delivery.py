"""Benchmark: deliver one digest to N subscribers through the fake Bot API over loopback HTTP, with Telegram's
rate limits on; print messages/s, the time taken, and the ideal time those limits allow.

    .venv/bin/python bench/delivery.py [--subscribers 1000] [--parts 1] [--channels 0] [--database-url URL]

Two runs on the same outbox shape: 1) Telegram's limits (30 messages/s overall, 1/s per chat, 20/min per group
or channel): the time should be close to the ideal; 2) limits off: what the outbox, the store and PTB can push
(the machinery's own ceiling). Digests are rendered from real story views, so each part is a full message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Bot  # noqa: E402

from bot.delivery import Deliverer  # noqa: E402
from bot.ratelimit import Limits, RateLimiter  # noqa: E402
from bot.render import LIMIT, split_html  # noqa: E402
from bot.repository import BotRepository, NewMessage  # noqa: E402
from bot.telegram import TelegramSender  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.fakebotapi import FakeBotAPI  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digest_parts(parts: int) -> tuple[str, ...]:
    block = (
        "<b>Europol &amp; partners act against online propaganda</b>\n" + "A sentence of the summary. " * 140
    )
    return tuple(split_html("\n\n".join([block] * (parts * 2)), LIMIT)[:parts])


async def deliver(
    url: str, api: FakeBotAPI, chats: list[int], parts: tuple[str, ...], limits: Limits, key: str
) -> float:
    store = Store.open(url)
    repo = BotRepository(store)
    now = datetime.now(UTC) - timedelta(seconds=1)
    repo.enqueue([NewMessage(c, key, "digest", parts) for c in chats], now)
    async with Bot(api.token, base_url=api.base_url) as bot:
        deliverer = Deliverer(repo, TelegramSender(bot), RateLimiter(limits))
        started = time.perf_counter()
        counts = await deliverer.drain()
        elapsed = time.perf_counter() - started
    pending = repo.outbox_counts().get("pending", 0)
    store.close()
    assert counts.messages == len(chats) * len(parts) and pending == 0, (counts, pending)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--parts", type=int, default=1, help="messages per digest")
    parser.add_argument("--channels", type=int, default=0, help="how many of the subscribers are channels")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(enforce_limits=True) as api:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        chats = [-(10**12) - n for n in range(args.channels)]
        chats += list(range(1, args.subscribers - args.channels + 1))
        for chat in chats:
            api.add_chat(chat, "channel" if chat < 0 else "private")
        parts = digest_parts(args.parts)
        messages = len(chats) * len(parts)
        limits = Limits()
        ideal = limits.ideal_seconds(messages, len(chats), groups=args.channels == len(chats))
        print(
            f"{len(chats)} subscribers ({args.channels} channels), {len(parts)} part(s) each: {messages} messages"
        )
        limited = asyncio.run(deliver(url, api, chats, parts, limits, "digest:limited"))
        violations = len(api.limit_violations)
        print(
            f"telegram limits: {limited:.1f} s, {messages / limited:.1f} messages/s; ideal {ideal:.1f} s "
            f"({limited / ideal if ideal else 0:.2f}x); flood-limit violations seen by the fake: {violations}"
        )
        api.enforce_limits = False
        free = Limits(global_per_s=1e9, chat_interval_s=0.0, group_per_min=10**9)
        unlimited = asyncio.run(deliver(url, api, chats, parts, free, "digest:free"))
        print(
            f"limits off: {unlimited:.1f} s, {messages / unlimited:.1f} messages/s (the machinery's ceiling)"
        )
        print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
