"""Issue 12, point 9 (commands of the bot): ``bot deliver`` and ``bot run`` with the Bot API unreachable or
refusing the token give a clear line, never a traceback, and lose no planned message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.repository import BotRepository, NewMessage
from monitor.store import Store
from tests.bot.test_email import free_port
from tests.conftest import ROOT
from tests.fakebotapi import FakeBotAPI
from tests.guarded_run import veille


def test_p9_bot_deliver_with_the_bot_api_unreachable_says_so_and_keeps_the_outbox(sqlite_url: str) -> None:
    """``bot deliver`` used to end in a traceback (exit 1) when the Bot API did not answer. A runtime failure
    keeps exit 1 (a timer retries it), with one clear line; the message planned stays pending."""
    with Store.open(sqlite_url) as store:
        repo = BotRepository(store)
        repo.ensure_subscriber(100, "private", None, datetime.now(UTC) - timedelta(days=1))
        repo.enqueue([NewMessage(100, "note:1", "broadcast", ("Hello",))], datetime.now(UTC))
    env = dict(
        os.environ,
        DATABASE_URL=sqlite_url,
        TELEGRAM_BOT_TOKEN="123456:SECRET-token",
        VEILLE_TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    done = veille(["bot", "deliver", "--max-wait", "1"], env)
    assert done.returncode == 1, done.stderr
    assert "Telegram does not answer" in done.stderr and "wait in the outbox" in done.stderr
    assert "Traceback" not in done.stderr and "SECRET" not in done.stderr + done.stdout
    with Store.open(sqlite_url) as store:
        assert BotRepository(store).outbox_counts() == {"pending": 1}


def test_p9_bot_deliver_with_a_refused_token(sqlite_url: str, fake_bot_api: FakeBotAPI) -> None:
    env = dict(
        os.environ,
        DATABASE_URL=sqlite_url,
        TELEGRAM_BOT_TOKEN="999:not-the-token",
        VEILLE_TELEGRAM_API_URL=fake_bot_api.url,
    )
    done = veille(["bot", "deliver", "--max-wait", "1"], env)
    assert done.returncode == 1 and "Telegram refuses the bot token" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    bounded = veille(["bot", "deliver", "--max-wait", "inf"], env)
    assert bounded.returncode == 2 and "--max-wait" in bounded.stderr


def test_p9_bot_run_with_the_bot_api_unreachable_keeps_running(sqlite_url: str, tmp_path: Path) -> None:
    """``bot run`` retries until Telegram answers (the email and planning go on meanwhile), says so once,
    and stops cleanly on SIGTERM with exit 0."""
    env = dict(
        os.environ,
        DATABASE_URL=sqlite_url,
        TELEGRAM_BOT_TOKEN="123456:SECRET-token",
        VEILLE_TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    log = tmp_path / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.guarded_run", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + 60
        while "Telegram unreachable" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    text = log.read_text()
    assert text.count("Telegram unreachable") == 1 and "Traceback" not in text and "SECRET" not in text
