"""The scheduling rules of monitor.policy, one table per rule, with literal times and seeded randomness."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import ErrorKind
from monitor.policy import (
    HINT_CAP_S,
    Policy,
    backoff_s,
    base_interval,
    next_check,
    should_pause,
    startup_times,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = 60.0
HOUR = 3600.0
DAY = 86400.0

POLICY = Policy(
    interval_s=30 * MIN,
    min_interval_s=5 * MIN,
    max_interval_s=DAY,
    adaptive=True,
    backoff_base_s=5 * MIN,
    backoff_cap_s=6 * HOUR,
    jitter_fraction=0.0,
    pause_after_errors=10,
)


def _delay(
    policy: Policy = POLICY,
    *,
    base_s: float = 30 * MIN,
    ttl_s: float | None = None,
    cache_s: float | None = None,
    retry_after_s: float | None = None,
    errors: int = 0,
    seed: int = 0,
) -> float:
    when = next_check(
        policy,
        now=NOW,
        base_s=base_s,
        ttl_s=ttl_s,
        cache_s=cache_s,
        retry_after_s=retry_after_s,
        consecutive_errors=errors,
        rng=random.Random(seed),
    )
    return (when - NOW).total_seconds()


def _every(gap: timedelta, count: int, *, newest_ago: timedelta = timedelta(0)) -> list[datetime]:
    return [NOW - newest_ago - gap * i for i in range(count)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, 30 * MIN, id="base-only"),
        pytest.param({"ttl_s": 2 * HOUR}, 2 * HOUR, id="ttl-longer-wins"),
        pytest.param({"ttl_s": 60.0}, 30 * MIN, id="ttl-shorter-ignored"),
        pytest.param({"cache_s": 45 * MIN}, 45 * MIN, id="cache-longer-wins"),
        pytest.param({"cache_s": 0.0}, 30 * MIN, id="max-age-0-no-effect"),
        pytest.param({"cache_s": -5.0}, 30 * MIN, id="negative-hint-ignored"),
        pytest.param({"retry_after_s": 3 * HOUR}, 3 * HOUR, id="retry-after-wins"),
        pytest.param(
            {"ttl_s": HOUR, "cache_s": 2 * HOUR, "retry_after_s": 90 * MIN}, 2 * HOUR, id="max-of-all"
        ),
        pytest.param({"ttl_s": 30 * DAY}, HINT_CAP_S, id="ttl-capped-at-7-days"),
        pytest.param({"cache_s": 365 * DAY}, HINT_CAP_S, id="cache-capped-at-7-days"),
        pytest.param({"retry_after_s": 365 * DAY}, HINT_CAP_S, id="retry-after-capped-at-7-days"),
        pytest.param({"base_s": 10 * DAY}, 10 * DAY, id="base-not-capped"),
    ],
)
def test_next_check_takes_the_longest_hint(kwargs: dict[str, float], expected: float) -> None:
    assert _delay(**kwargs) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        pytest.param(0, 0.0, id="no-errors"),
        pytest.param(1, 5 * MIN, id="first-error-base"),
        pytest.param(2, 10 * MIN, id="doubles"),
        pytest.param(3, 20 * MIN, id="doubles-again"),
        pytest.param(7, 320 * MIN, id="just-under-cap"),
        pytest.param(8, 6 * HOUR, id="capped"),
        pytest.param(50, 6 * HOUR, id="stays-capped"),
        pytest.param(100_000, 6 * HOUR, id="huge-count-no-overflow"),
    ],
)
def test_backoff_doubles_up_to_the_cap(errors: int, expected: float) -> None:
    assert backoff_s(POLICY, errors) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("errors", "base_s", "retry_after_s", "expected"),
    [
        pytest.param(1, 30 * MIN, None, 30 * MIN, id="backoff-below-base"),
        pytest.param(4, 30 * MIN, None, 40 * MIN, id="backoff-above-base"),
        pytest.param(20, 30 * MIN, None, 6 * HOUR, id="backoff-capped"),
        pytest.param(20, 12 * HOUR, None, 12 * HOUR, id="base-above-cap-kept"),
        pytest.param(1, 30 * MIN, 2 * HOUR, 2 * HOUR, id="retry-after-above-backoff"),
        pytest.param(20, 30 * MIN, 2 * HOUR, 6 * HOUR, id="backoff-above-retry-after"),
        pytest.param(20, 30 * MIN, 2 * DAY, 2 * DAY, id="retry-after-over-cap-honoured"),
    ],
)
def test_backoff_after_errors(
    errors: int, base_s: float, retry_after_s: float | None, expected: float
) -> None:
    assert _delay(base_s=base_s, retry_after_s=retry_after_s, errors=errors) == pytest.approx(expected)


@pytest.mark.parametrize(
    "fraction",
    [pytest.param(0.1, id="ten-percent"), pytest.param(0.5, id="fifty-percent")],
)
def test_jitter_stays_within_bounds(fraction: float) -> None:
    policy = replace(POLICY, jitter_fraction=fraction)
    delays = [_delay(policy, seed=seed) for seed in range(500)]
    low, high = 30 * MIN * (1 - fraction), 30 * MIN * (1 + fraction)
    assert all(low <= d <= high for d in delays)
    assert min(delays) < low + 0.1 * (high - low)  # the whole spread is used...
    assert max(delays) > high - 0.1 * (high - low)
    assert len(set(delays)) == 500  # ...so sources drift apart


def test_jitter_never_goes_below_retry_after() -> None:
    policy = replace(POLICY, jitter_fraction=0.5)
    delays = [_delay(policy, base_s=20 * MIN, retry_after_s=20 * MIN, seed=seed) for seed in range(500)]
    assert min(delays) == 20 * MIN
    assert max(delays) > 25 * MIN
    assert sum(d == 20 * MIN for d in delays) > 100  # the lower half of the jitter lands on Retry-After


def test_jitter_is_reproducible_with_a_seed() -> None:
    policy = replace(POLICY, jitter_fraction=0.1)
    assert _delay(policy, seed=42) == _delay(policy, seed=42)
    assert _delay(policy, seed=42) != _delay(policy, seed=43)


@pytest.mark.parametrize(
    ("published", "adaptive", "expected"),
    [
        pytest.param([], True, 30 * MIN, id="no-dates-configured"),
        pytest.param(_every(timedelta(hours=1), 2), True, 30 * MIN, id="two-dates-configured"),
        pytest.param(_every(timedelta(hours=2), 10), True, 2 * HOUR * 9 / 10 / 2, id="every-2h"),
        pytest.param(
            _every(timedelta(hours=2), 10, newest_ago=timedelta(hours=2)),
            True,
            2 * HOUR / 2,
            id="every-2h-open-gap-counts",
        ),
        pytest.param(_every(timedelta(minutes=1), 20), True, 5 * MIN, id="very-fast-clamped-to-min"),
        pytest.param(_every(timedelta(days=4), 8), True, DAY, id="slow-clamped-to-max"),
        pytest.param(
            _every(timedelta(hours=6), 4, newest_ago=timedelta(days=3)),
            True,
            (3 * DAY + 18 * HOUR) / 8,
            id="gone-quiet-slows-down",
        ),
        pytest.param(
            _every(timedelta(hours=1), 10, newest_ago=timedelta(days=40)),
            True,
            30 * MIN,
            id="all-older-than-window",
        ),
        pytest.param(_every(timedelta(hours=2), 10), False, 30 * MIN, id="adaptive-off"),
        pytest.param(
            _every(timedelta(minutes=30), 20) + _every(timedelta(days=2), 10, newest_ago=timedelta(days=2)),
            True,
            19 * 30 * MIN / 20 / 2,
            id="only-latest-20-count",
        ),
        pytest.param(
            [NOW + timedelta(days=1)] * 5 + _every(timedelta(hours=4), 3),
            True,
            4 * HOUR * 2 / 3 / 2,
            id="future-dates-ignored",
        ),
        pytest.param(
            list(reversed(_every(timedelta(hours=2), 10))), True, 2 * HOUR * 9 / 10 / 2, id="any-order"
        ),
        pytest.param([NOW - timedelta(hours=3)] * 6, True, 3 * HOUR / 6 / 2, id="batch-same-date"),
    ],
)
def test_base_interval_follows_publishing(published: list[datetime], adaptive: bool, expected: float) -> None:
    policy = replace(POLICY, adaptive=adaptive)
    assert base_interval(policy, published, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("interval_s", "expected"),
    [
        pytest.param(MIN, 5 * MIN, id="below-min"),
        pytest.param(10 * DAY, DAY, id="above-max"),
        pytest.param(HOUR, HOUR, id="within"),
    ],
)
def test_configured_interval_is_clamped(interval_s: float, expected: float) -> None:
    assert base_interval(replace(POLICY, interval_s=interval_s, adaptive=False), [], NOW) == expected


@pytest.mark.parametrize(
    ("kind", "errors", "threshold", "expected"),
    [
        pytest.param(ErrorKind.NOT_FOUND, 10, 10, True, id="permanent-at-threshold"),
        pytest.param(ErrorKind.GONE, 25, 10, True, id="permanent-past-threshold"),
        pytest.param(ErrorKind.NOT_FOUND, 9, 10, False, id="permanent-below-threshold"),
        pytest.param(ErrorKind.DNS, 10, 10, True, id="dns-is-permanent"),
        pytest.param(ErrorKind.BLOCKED, 10, 10, True, id="blocked-is-permanent"),
        pytest.param(ErrorKind.TIMEOUT, 100, 10, False, id="timeout-never-pauses"),
        pytest.param(ErrorKind.SERVER_ERROR, 100, 10, False, id="5xx-never-pauses"),
        pytest.param(ErrorKind.RATE_LIMITED, 100, 10, False, id="429-never-pauses"),
        pytest.param(ErrorKind.CONNECT, 100, 10, False, id="connect-never-pauses"),
        pytest.param(ErrorKind.NOT_FOUND, 1000, 0, False, id="zero-threshold-disables"),
        pytest.param(ErrorKind.NOT_FOUND, 1, 1, True, id="threshold-one"),
    ],
)
def test_should_pause(kind: ErrorKind, errors: int, threshold: int, expected: bool) -> None:
    assert should_pause(replace(POLICY, pause_after_errors=threshold), kind, errors) is expected


def test_every_permanent_kind_pauses_and_no_other() -> None:
    for kind in ErrorKind:
        assert should_pause(POLICY, kind, POLICY.pause_after_errors) is kind.permanent


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"min_interval_s": 0.0}, id="zero-min"),
        pytest.param({"min_interval_s": 2 * DAY}, id="min-above-max"),
        pytest.param({"interval_s": 0.0}, id="zero-interval"),
        pytest.param({"backoff_base_s": -1.0}, id="negative-backoff"),
        pytest.param({"jitter_fraction": 1.0}, id="jitter-one"),
        pytest.param({"pause_after_errors": -1}, id="negative-pause"),
    ],
)
def test_policy_rejects_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        replace(POLICY, **changes)  # type: ignore[arg-type]


def _h(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("due", "expected_order"),
    [
        pytest.param({"a": _h(-1), "b": _h(-3), "c": _h(-2)}, ["b", "c", "a"], id="oldest-due-first"),
        pytest.param({"old": _h(-1), "new": None}, ["new", "old"], id="never-polled-first"),
        pytest.param({"z": None, "y": None, "x": None}, ["x", "y", "z"], id="ties-by-id"),
        pytest.param({"s": _h(-2), "r": _h(-2)}, ["r", "s"], id="same-due-by-id"),
        pytest.param({"now": NOW, "late": _h(-1)}, ["late", "now"], id="due-exactly-now-is-overdue"),
    ],
)
def test_startup_order(due: dict[str, datetime | None], expected_order: list[str]) -> None:
    for seed in range(20):
        times = startup_times(due, now=NOW, spread_s=120.0, rng=random.Random(seed))
        assert sorted(times, key=times.__getitem__) == expected_order


def test_startup_keeps_future_times_and_spreads_the_rest() -> None:
    due: dict[str, datetime | None] = {f"s{i:03d}": _h(-1 - i / 100) for i in range(100)}
    due |= {"future": _h(2), "never": None}
    times = startup_times(due, now=NOW, spread_s=120.0, rng=random.Random(7))
    assert times["future"] == _h(2)
    assert set(times) == set(due)
    spread = sorted((t - NOW).total_seconds() for sid, t in times.items() if sid != "future")
    assert len(spread) == 101
    assert all(0 <= s < 120 for s in spread)
    slot = 120 / 101
    for index, offset in enumerate(spread):  # one source per slot: evenly spread, never a burst
        assert index * slot <= offset < (index + 1) * slot
    assert max(sum(1 for s in spread if lo <= s < lo + 10) for lo in range(0, 120, 10)) <= 10


@pytest.mark.parametrize(
    "spread_s",
    [pytest.param(0.0, id="zero-window"), pytest.param(-5.0, id="negative-window")],
)
def test_startup_without_window_means_now(spread_s: float) -> None:
    times = startup_times({"a": None, "b": _h(-1)}, now=NOW, spread_s=spread_s, rng=random.Random(0))
    assert times == {"a": NOW, "b": NOW}


def test_startup_with_nothing_due() -> None:
    assert startup_times({}, now=NOW, spread_s=120.0, rng=random.Random(0)) == {}
