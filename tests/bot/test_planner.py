"""Planning digests and alerts into the outbox: slots in the chat's time zone, windows by processing time,
one record per slot / story / update, mute, and restarts that plan nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.planner import Planner, latest_slot
from bot.repository import BotRepository
from monitor.store import Store
from summarizer.gazetteer import default_gazetteer
from summarizer.repository import NlpRepository
from tests.bot.stories import Piece, add_story
from tests.telegram_html import check_html

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # 07:00 in Paris
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("times", "after", "now", "expected"),
    [
        pytest.param(
            [time(8)], T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1), id="08:00-Paris-is-07:00Z"
        ),
        pytest.param([time(8)], T0, T0 + timedelta(minutes=59), None, id="not-yet"),
        pytest.param(
            [time(8), time(18)], T0, T0 + timedelta(hours=30), T0 + timedelta(hours=25), id="latest-only"
        ),
        pytest.param([time(8)], T0 + timedelta(hours=1), T0 + timedelta(hours=1), None, id="already-planned"),
        pytest.param([], T0, T0 + timedelta(days=3), None, id="no-times"),
        pytest.param(
            [time(2, 30)],
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            datetime(2026, 3, 29, 12, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 02:30 does not exist that night: sent at 03:30 CEST
            id="dst-gap",
        ),
    ],
)
def test_latest_slot(times: list[time], after: datetime, now: datetime, expected: datetime | None) -> None:
    assert latest_slot(times, PARIS, after, now) == expected


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.open(database_url)
    yield s
    s.close()


def europol_story(store: Store, story_id: str, at: datetime, extra: int = 0, new_from: int = 0) -> None:
    pieces = [
        Piece(
            "europol",
            "en",
            f"Europol & partners take down <ISIS> propaganda 🚨 ({story_id})",
            f"Europol coordinated referral day {story_id}.",
        ),
        Piece(
            "lemonde",
            "fr",
            f"Europol : Daech veut son réseau social ({story_id})",
            f"Europol a mené l'opération {story_id} contre Daech.",
        ),
    ]
    pieces += [
        Piece(f"wire{n}", "ar", f"يوروبول وداعش {story_id} {n}", f"أعلنت يوروبول عن عملية ضد داعش {n}.")
        for n in range(extra)
    ]
    add_story(store, story_id, pieces, at=at, entities=["europol", "isis"], importance=3.0, new_from=new_from)


def test_digests_by_slot_window_and_language(store: Store) -> None:
    repo, nlp = BotRepository(store), NlpRepository(store)
    planner = Planner(repo, nlp)
    repo.ensure_subscriber(1, "private", None, T0, language="fr")
    repo.update_subscriber(1, T0, timezone="Europe/Paris")
    sub = repo.add_subscription(1, "europol", T0, digest_times=[time(8)])
    repo.ensure_subscriber(2, "private", None, T0)
    repo.add_subscription(2, "football", T0, digest_times=[time(8)])  # matches nothing: no message
    europol_story(store, "s1", T0 + timedelta(minutes=30))

    assert planner.plan_digests(T0 + timedelta(minutes=50)) == 0  # 07:50 Paris: not yet
    assert planner.plan_digests(T0 + timedelta(hours=1, minutes=1)) == 1
    assert planner.plan_digests(T0 + timedelta(hours=1, minutes=2)) == 0  # the slot is planned once
    [item] = repo.due(T0 + timedelta(hours=2))
    assert item.item_key == f"digest:{sub.id}:2026-11-30T07:00Z" and item.chat_id == 1
    plain = "".join(check_html(part) for part in item.parts)
    assert "Europol" in plain and "&" in plain and "<ISIS>" in plain
    # chat 1's window moved to its slot; chat 2 (UTC) is not due before 08:00 UTC
    assert [s.last_digest_at for s in repo.subscriptions()] == [T0 + timedelta(hours=1), T0]

    # the next day: the story got no news since, so the next digest is empty and nothing is sent
    assert planner.plan_digests(T0 + timedelta(days=1, hours=1, minutes=1)) == 0
    # a story processed after the slot goes in the following digest, even if published long before
    europol_story(store, "s2", T0 + timedelta(days=1, hours=3))
    assert planner.plan_digests(T0 + timedelta(days=2, hours=1, minutes=1)) == 1


def test_muted_chat_gets_no_digest_and_no_backlog(store: Store) -> None:
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store))
    repo.ensure_subscriber(1, "private", None, T0)
    repo.add_subscription(1, "", T0, digest_times=[time(9)])
    repo.update_subscriber(1, T0, muted_until=T0 + timedelta(hours=12))
    europol_story(store, "s1", T0 + timedelta(hours=1))
    assert planner.plan_digests(T0 + timedelta(hours=4)) == 0
    repo.update_subscriber(1, T0, muted_until=None)
    assert planner.plan_digests(T0 + timedelta(hours=5)) == 0  # the muted window is not sent afterwards
    assert repo.outbox_counts() == {}


def test_one_alert_per_chat_and_story_then_one_update_reply_per_interval(store: Store) -> None:
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store), update_interval=timedelta(minutes=30))
    repo.ensure_subscriber(1, "private", None, T0)
    repo.add_subscription(1, "entity:europol", T0, alerts=True)  # two subscriptions the story matches:
    repo.add_subscription(1, "entity:isis", T0, alerts=True, digest_times=[time(8)])  # still one alert
    repo.ensure_subscriber(2, "private", None, T0)
    repo.add_subscription(2, "-europol", T0, alerts=True)  # excludes the story
    europol_story(store, "s1", T0 + timedelta(minutes=5))
    assert planner.plan_alerts(T0 + timedelta(minutes=10)) == 1
    assert planner.plan_alerts(T0 + timedelta(minutes=11)) == 0  # nothing new
    [alert] = repo.due(T0 + timedelta(hours=1))
    assert (alert.chat_id, alert.item_key, alert.kind) == (1, "alert:s1", "alert")

    europol_story(store, "s1", T0 + timedelta(minutes=20), extra=2, new_from=2)  # two new sources
    assert planner.plan_alerts(T0 + timedelta(minutes=25)) == 0  # 20 minutes after the alert: held back
    assert planner.plan_alerts(T0 + timedelta(minutes=41)) == 1  # the interval has passed: one notice
    assert planner.plan_alerts(T0 + timedelta(minutes=45)) == 0
    _, update = repo.due(T0 + timedelta(hours=1))
    assert (update.chat_id, update.kind, update.reply_to_item) == (1, "update", alert.id)
    text = check_html(update.parts[0])
    assert text.startswith("🆕 New in this story") and "New sources: wire0, wire1" in text
    assert "Europol coordinated referral day" not in text  # only what is new
    check_html(alert.parts[0])


def test_alerts_survive_a_crash_before_the_watermark(store: Store) -> None:
    repo = BotRepository(store)
    repo.ensure_subscriber(1, "private", None, T0)
    repo.add_subscription(1, "europol", T0, alerts=True)
    europol_story(store, "s1", T0 + timedelta(minutes=5))
    Planner(repo, NlpRepository(store)).plan_alerts(T0 + timedelta(minutes=10))
    repo.set_state("alerts_checked_at", T0.isoformat(), T0)  # as if the watermark write was lost
    assert Planner(repo, NlpRepository(store)).plan_alerts(T0 + timedelta(minutes=12)) == 0
    assert repo.outbox_counts() == {"pending": 1}


@pytest.mark.parametrize("others", [False, True], ids=["alone", "with-other-alert-subscriptions"])
def test_stories_from_before_a_subscription_do_not_alert_it(store: Store, others: bool) -> None:
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store))
    if others:  # an older alert subscription elsewhere widens the window the planner reads
        repo.ensure_subscriber(9, "private", None, T0 - timedelta(days=1))
        repo.add_subscription(9, "nothing-matches", T0 - timedelta(days=1), alerts=True)
        planner.plan_alerts(T0 - timedelta(hours=4))
    europol_story(store, "old", T0 - timedelta(hours=3))
    repo.ensure_subscriber(1, "private", None, T0)
    repo.add_subscription(1, "europol", T0, alerts=True)
    assert planner.plan_alerts(T0 + timedelta(minutes=1)) == 0
    europol_story(store, "old", T0 + timedelta(minutes=5), extra=1, new_from=2)  # the old story gets news
    assert planner.plan_alerts(T0 + timedelta(minutes=10)) == 0  # still a story from before
    europol_story(store, "new", T0 + timedelta(minutes=15))
    assert planner.plan_alerts(T0 + timedelta(minutes=20)) == 1
    assert [i.item_key for i in repo.due(T0 + timedelta(hours=1))] == ["alert:new"]


def test_digest_title_is_human(store: Store) -> None:
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store), gazetteer=default_gazetteer())
    repo.ensure_subscriber(1, "private", None, T0, language="fr")
    repo.update_subscriber(1, T0, timezone="Europe/Paris")
    repo.add_subscription(1, "entity:isis europol lang:fr,en min:2", T0, digest_times=[time(8)])
    europol_story(store, "s1", T0 + timedelta(minutes=5))
    assert planner.plan_digests(T0 + timedelta(hours=1, minutes=1)) == 1
    [digest] = repo.due(T0 + timedelta(hours=2))
    first_line = check_html(digest.parts[0]).split("\n")[0]
    assert first_line == "Votre synthèse de 08:00 : État islamique · europol · fr, en"


def test_digest_title_is_escaped_once(store: Store) -> None:
    """A filter word with "&" reads as typed in the digest's title (it was escaped twice: "AT&amp;T")."""
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store))
    repo.ensure_subscriber(1, "private", None, T0)
    repo.add_subscription(1, "europol -AT&T -<x>", T0, digest_times=[time(8)])
    europol_story(store, "s1", T0 + timedelta(minutes=5))
    assert planner.plan_digests(T0 + timedelta(hours=2, minutes=1)) == 1  # 08:00 UTC
    [digest] = repo.due(T0 + timedelta(hours=3))
    assert "-AT&amp;T · -&lt;x&gt;</b>" in digest.parts[0] and "&amp;amp;" not in digest.parts[0]
    assert check_html(digest.parts[0]).split("\n")[0] == "Your 08:00 digest: europol · -AT&T · -<x>"


def test_digest_now_covers_all_the_chats_filters(store: Store) -> None:
    repo = BotRepository(store)
    planner = Planner(repo, NlpRepository(store))
    chat = repo.ensure_subscriber(1, "private", None, T0, language="fr")
    europol_story(store, "s1", T0)
    add_story(
        store,
        "s2",
        [Piece("afp", "fr", "Interpol arrête un suspect", "Interpol a annoncé une arrestation.")],
        at=T0,
    )
    message = planner.digest_now(chat, ["europol", "interpol"], "now:77", T0 + timedelta(hours=1))
    plain = "".join(check_html(p) for p in message.parts)
    assert "Europol" in plain and "Interpol" in plain and message.item_key == "now:77"
    empty = planner.digest_now(chat, ["football"], "now:78", T0 + timedelta(hours=1))
    assert len(empty.parts) == 1 and check_html(empty.parts[0])
