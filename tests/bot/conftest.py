"""Fixtures of the bot tests: a fake Telegram Bot API on loopback (tests/fakebotapi.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakebotapi import FakeBotAPI


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta time periods: with ints, reading RetryAfter.retry_after (which PTB itself
    does when it builds the exception) warns PTBDeprecationWarning, an error under filterwarnings=error."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake_bot_api() -> Iterator[FakeBotAPI]:
    """A running FakeBotAPI with the default token; PTB's base_url is ``fake_bot_api.base_url``."""
    with FakeBotAPI() as api:
        yield api
