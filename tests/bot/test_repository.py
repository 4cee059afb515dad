"""The bot's repository on SQLite and PostgreSQL: subscribers, subscriptions, and the outbox's guarantees."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.repository import AlertRecord, BotRepository, NewMessage, format_times, parse_times
from monitor.store import Store

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def repo(database_url: str) -> Iterator[BotRepository]:
    store = Store.open(database_url)
    yield BotRepository(store)
    store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("08:00", (time(8),), id="one"),
        pytest.param("18:30, 08:00;8", (time(8), time(18, 30)), id="sorted-distinct"),
        pytest.param("", (), id="none"),
    ],
)
def test_parse_times(text: str, expected: tuple[time, ...]) -> None:
    assert parse_times(text) == expected
    assert parse_times(format_times(expected)) == expected


@pytest.mark.parametrize("text", ["25:00", "8h", "08:61", "noon"])
def test_parse_times_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_times(text)


def test_subscriber_lifecycle(repo: BotRepository) -> None:
    chat = repo.ensure_subscriber(42, "private", "Ana", T0, language="fr")
    assert (chat.language, chat.timezone, chat.active) == ("fr", "UTC", True)
    repo.update_subscriber(
        42, T0, language="en", timezone="Europe/Paris", muted_until=T0 + timedelta(hours=8)
    )
    found = repo.subscriber(42)
    assert found is not None and found.language == "en"
    assert found.muted(T0) and not found.muted(T0 + timedelta(hours=9))
    sub = repo.add_subscription(42, "europol", T0, digest_times=[time(8)], alerts=True, thread_id=7)
    assert repo.subscriptions(42) == [sub] and sub.thread_id == 7 and sub.last_digest_at == T0
    same = repo.add_subscription(42, "europol", T0, digest_times=[time(8)], alerts=True, thread_id=7)
    assert same == sub and len(repo.subscriptions(42)) == 1  # a re-delivered /subscribe adds nothing
    repo.enqueue([NewMessage(42, "x", "digest", ("hello",))], T0)
    assert repo.deactivate(42, "Forbidden: bot was blocked by the user", T0) == 1
    assert repo.subscriptions() == [] and repo.subscriptions(active_only=False) == [sub]
    assert repo.outbox_counts() == {"dropped": 1}
    again = repo.ensure_subscriber(42, "private", "Ana", T0)  # /start again: active again, settings kept
    assert again.active and again.language == "en" and repo.subscriptions() == [sub]
    with pytest.raises(ValueError, match="can only update"):
        repo.update_subscriber(42, T0, active=True)


def test_outbox_records_each_item_once_per_chat(repo: BotRepository) -> None:
    first = repo.enqueue(
        [NewMessage(1, "digest:1:a", "digest", ("p1", "p2")), NewMessage(2, "digest:1:a", "digest", ("q",))],
        T0,
    )
    assert len(first) == 2
    assert repo.enqueue([NewMessage(1, "digest:1:a", "digest", ("other",))], T0) == []  # same chat, same key
    [item, other] = repo.due(T0)
    assert (item.parts, item.sent_parts, item.status) == (("p1", "p2"), 0, "pending")
    repo.mark_part_sent(item, 0, 501, T0)
    repo.mark_part_sent(item, 0, 999, T0)  # a repeated mark (same part) changes nothing
    [again, _] = repo.due(T0)
    assert (again.sent_parts, again.message_ids) == (1, (501,))
    repo.mark_part_sent(again, 1, 502, T0)
    done = repo.item(item.id)
    assert done is not None and (done.status, done.message_ids, done.sent_at) == ("sent", (501, 502), T0)
    repo.retry_later(other.id, T0 + timedelta(seconds=30), "500 Internal Server Error")
    assert repo.due(T0) == [] and repo.next_due() == T0 + timedelta(seconds=30)
    [later] = repo.due(T0 + timedelta(seconds=30))
    assert (later.attempts, later.last_error) == (1, "500 Internal Server Error")
    repo.fail(later.id, "Bad Request: can't parse entities")
    assert repo.outbox_counts() == {"sent": 1, "failed": 1}
    with pytest.raises(ValueError, match="empty part"):
        repo.enqueue([NewMessage(1, "y", "digest", ("",))], T0)


def test_digest_window_moves_with_the_record(repo: BotRepository) -> None:
    repo.ensure_subscriber(5, "private", None, T0)
    sub = repo.add_subscription(5, "", T0, digest_times=[time(9)])
    slot = T0 + timedelta(hours=1)
    message = NewMessage(5, f"digest:{sub.id}:{slot.isoformat()}", "digest", ("d",), subscription_id=sub.id)
    assert repo.enqueue_digest(sub.id, slot, message, slot) is not None
    assert repo.enqueue_digest(sub.id, slot, message, slot) is None  # planned twice: recorded once
    assert repo.subscriptions(5)[0].last_digest_at == slot


def test_alert_records_and_updates(repo: BotRepository) -> None:
    repo.ensure_subscriber(5, "private", None, T0)
    sub = repo.add_subscription(5, "europol", T0, alerts=True)
    alert = NewMessage(5, "alert:s1", "alert", ("a",), subscription_id=sub.id)
    first = repo.enqueue_alert(alert, "s1", ["europol"], ["One."], T0)
    assert first is not None
    [(key, record)] = repo.alert_records(["s1", "s2"]).items()
    assert key == (5, "s1") and record == AlertRecord(first, frozenset({"europol"}), frozenset({"One."}), T0)
    assert repo.enqueue_alert(alert, "s1", ["europol"], ["One."], T0) is None  # recorded once
    later = T0 + timedelta(hours=1)
    update = NewMessage(5, "update:s1:x", "update", ("b",), subscription_id=sub.id, reply_to_item=first)
    assert (
        repo.enqueue_alert(update, "s1", ["europol", "afp"], ["One.", "Two."], later, record=record)
        is not None
    )
    assert (
        repo.enqueue_alert(update, "s1", ["europol", "afp"], ["One.", "Two."], later, record=record) is None
    )
    [after] = repo.alert_records(["s1"]).values()
    assert after == AlertRecord(first, frozenset({"europol", "afp"}), frozenset({"One.", "Two."}), later)


def test_subscription_numbers_are_per_chat_and_never_reused(repo: BotRepository) -> None:
    for chat in (5, 6):
        repo.ensure_subscriber(chat, "private", None, T0)
    one = repo.add_subscription(5, "europol", T0)
    two = repo.add_subscription(5, "interpol", T0)
    assert (one.number, two.number) == (1, 2)
    assert repo.add_subscription(6, "europol", T0).number == 1  # another chat counts its own
    assert repo.remove_subscriptions(5, 2) == 1
    assert repo.add_subscription(5, "ransomware", T0).number == 3  # not 2 again
    assert repo.remove_subscriptions(5) == 2
    assert repo.add_subscription(5, "europol", T0).number == 4


def test_an_update_is_handled_once(repo: BotRepository) -> None:
    repo.ensure_subscriber(5, "private", None, T0)
    with repo.once(100, 5, T0) as bound:
        assert bound is not None
        bound.add_subscription(5, "europol", T0)
    with repo.once(100, 5, T0) as bound:
        assert bound is None  # delivered again: nothing to do
    assert repo.was_handled(100) and not repo.was_handled(101)
    with pytest.raises(RuntimeError), repo.once(101, 5, T0) as bound:
        assert bound is not None
        bound.add_subscription(5, "interpol", T0)
        raise RuntimeError("crash before the commit")
    assert not repo.was_handled(101) and [s.query for s in repo.subscriptions(5)] == [
        "europol"
    ]  # rolled back
    assert repo.mark_handled(101, 5, T0) and not repo.mark_handled(101, 5, T0)


def test_named_state(repo: BotRepository) -> None:
    assert repo.state("w") is None
    repo.set_state("w", "2026-11-30T08:00:00+00:00", T0)
    repo.set_state("w", "2026-11-30T09:00:00+00:00", T0)
    assert repo.state("w") == "2026-11-30T09:00:00+00:00"
