"""The rate limiter's bookkeeping, with literal times: Telegram's global, per-chat and per-group limits."""

from __future__ import annotations

import pytest

from bot.ratelimit import Limits, RateLimiter


def send_times(limiter: RateLimiter, chats: list[int], *, is_group: bool = False) -> list[float]:
    """When each message (one per entry of ``chats``) may go, sending as early as the limiter allows."""
    now, times = 0.0, []
    for chat in chats:
        now += limiter.delay(chat, is_group, now)
        limiter.record(chat, is_group, now)
        times.append(now)
    return times


def test_one_message_per_second_to_a_chat() -> None:
    times = send_times(RateLimiter(Limits()), [1, 1, 1])
    assert times == [0.0, 1.0, 2.0]


def test_thirty_per_second_overall() -> None:
    times = send_times(RateLimiter(Limits()), list(range(1, 91)))
    assert times[29] == 0.0 and times[30] == pytest.approx(1.0) and times[60] == pytest.approx(2.0)
    assert times[-1] == pytest.approx(Limits().ideal_seconds(90, 90))
    for i in range(len(times)):  # never more than 30 within any one second
        assert sum(1 for t in times if times[i] <= t < times[i] + 1.0) <= 30


def test_twenty_per_minute_to_a_group() -> None:
    times = send_times(RateLimiter(Limits()), [-100] * 41, is_group=True)
    assert times[19] == pytest.approx(19.0)  # one per second...
    assert times[20] == pytest.approx(60.0)  # ...then the 21st waits for the minute
    assert times[40] == pytest.approx(120.0)
    assert times[39] == pytest.approx(Limits().ideal_seconds(40, 1, groups=True))


def test_a_hold_delays_one_chat_or_all() -> None:
    clock = [100.0]
    limiter = RateLimiter(Limits(), clock=lambda: clock[0])
    limiter.hold(7, 5.0)
    assert limiter.delay(7, False, 100.0) == pytest.approx(5.0)
    assert limiter.delay(8, False, 100.0) == 0.0
    limiter.hold(None, 2.0)
    assert limiter.delay(8, False, 100.0) == pytest.approx(2.0)
    assert limiter.delay(7, False, 106.0) == 0.0


@pytest.mark.parametrize(
    ("messages", "chats", "groups", "expected"),
    [
        pytest.param(1000, 1000, False, 33.0, id="one-each"),
        pytest.param(3000, 1000, False, 99.0, id="three-each-global-bound"),
        pytest.param(10, 1, False, 9.0, id="one-chat"),
        pytest.param(40, 1, True, 60.0 + 19.0, id="one-group"),
        pytest.param(0, 5, False, 0.0, id="nothing"),
    ],
)
def test_ideal_time(messages: int, chats: int, groups: bool, expected: float) -> None:
    assert Limits().ideal_seconds(messages, chats, groups=groups) == pytest.approx(expected)


async def test_acquire_waits_for_the_answer_then_the_chat_interval() -> None:
    limiter = RateLimiter(Limits(chat_interval_s=0.05))
    ticket = await limiter.acquire(1, False)
    assert (
        limiter.delay(1, False, limiter.clock() + 100) > 0
    )  # in flight: counts as sent "now", whatever the time
    limiter.done(ticket)
    answered = limiter.clock()
    limiter.done(await limiter.acquire(1, False))
    assert limiter.clock() - answered >= 0.05


def test_a_slow_answer_pushes_the_window() -> None:
    """Telegram counts a message when it arrives, between the request's start and its answer: the 31st message
    may only start one second after the 1st one's answer, so no 31 arrivals fall within one second."""
    limiter = RateLimiter(Limits())
    tickets = [limiter.start(chat, False) for chat in range(30)]
    assert limiter.delay(99, False, 0.5) > 0  # 30 in flight
    for ticket in tickets:
        limiter.done(ticket, 0.4)
    assert limiter.delay(99, False, 1.39) == pytest.approx(0.01)
    assert limiter.delay(99, False, 1.41) == 0.0
