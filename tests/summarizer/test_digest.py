from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import ConfigError
from summarizer.digest import (
    DigestSentence,
    StoryFilter,
    StoryVariant,
    StoryView,
    build_digest,
    localize,
    matches,
    parse_filter,
    trending,
)

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

STORY = StoryView(
    story_id="s1",
    headline="Europol : Daech veut créer son propre réseau social",
    sentences=(DigestSentence("Europol a mené une opération de 48 heures.", "a1", 0, "fr"),),
    entities=("isis", "europol", "telegram"),
    languages=("fr", "en"),
    tags=frozenset({"agency", "eu"}),
    sources=3,
    articles=4,
    first_seen=T0,
    last_update=T0 + timedelta(hours=2),
    importance=3.5,
    text="Islamic State propaganda online, referral action day",
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", StoryFilter()),
        ("europol", StoryFilter(keywords=("europol",))),
        ('"réseau social" -football', StoryFilter(keywords=("reseau social",), excluded=("football",))),
        ("entity:isis,al-qaeda", StoryFilter(entities=frozenset({"isis", "al-qaeda"}))),
        (
            "lang:FR,en tag:agency min:2.5",
            StoryFilter(languages=frozenset({"fr", "en"}), tags=frozenset({"agency"}), min_importance=2.5),
        ),
    ],
    ids=["empty", "keyword", "phrase-and-negation", "entities", "lang-tag-min"],
)
def test_parse_filter(query: str, expected: StoryFilter) -> None:
    assert parse_filter(query) == expected


@pytest.mark.parametrize(
    "query",
    ['"unclosed', "min:lots", "min:nan", "min:-1", "min:1e9", "lang:xx", "lang:fr,klingon"],
    ids=["quote", "min", "min-nan", "min-negative", "min-huge", "lang-unknown", "lang-one-unknown"],
)
def test_parse_filter_errors_say_how_to_fix(query: str) -> None:
    with pytest.raises(ConfigError, match="fix:"):
        parse_filter(query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", True),
        ("europol", True),
        ("EUROPOL daech", True),  # case-insensitive, all keywords
        ("reseau social", True),  # accents ignored
        ("europol -football", True),
        ("europol -propaganda", False),  # excluded word in the articles' text
        ("interpol", False),
        ("entity:isis", True),
        ("entity:al-qaeda", False),
        ("lang:de", False),
        ("lang:de,en", True),
        ("tag:news", False),
        ("min:3.5", True),
        ("min:3.6", False),
    ],
)
def test_matches(query: str, expected: bool) -> None:
    assert matches(STORY, parse_filter(query)) is expected


def test_digest_orders_by_importance_then_recency_and_keeps_the_window() -> None:
    stories = [
        replace(STORY, story_id="low", importance=1.0),
        replace(STORY, story_id="old", last_update=T0 - timedelta(days=2), importance=9.0),
        replace(STORY, story_id="high", importance=5.0),
        replace(STORY, story_id="high-later", importance=5.0, last_update=T0 + timedelta(hours=3)),
    ]
    digest = build_digest(
        stories, StoryFilter(), since=T0 - timedelta(hours=24), until=T0 + timedelta(hours=24)
    )
    assert [s.story_id for s in digest.stories] == ["high-later", "high", "low"]
    limited = build_digest(stories, parse_filter("min:2"), since=T0, until=T0 + timedelta(days=1), limit=1)
    assert [s.story_id for s in limited.stories] == ["high-later"]


def test_trending_ranks_growth_then_count() -> None:
    rows = trending({"isis": 12, "europol": 6, "telegram": 6, "rare": 1}, {"isis": 12, "europol": 2})
    assert [(t.key, t.count, t.previous) for t in rows] == [
        ("telegram", 6, 0),
        ("europol", 6, 2),
        ("isis", 12, 12),
    ]
    assert rows[0].growth == 6.0


def test_localize_picks_the_readers_language_else_keeps_the_original() -> None:
    english = StoryVariant("en", "Europol: ISIS wants its own social network", "en", ())
    story = replace(STORY, headline_lang="fr", variants=(english,))
    assert localize(story, "en").headline == english.headline
    assert localize(story, "EN").headline_lang == "en"
    assert localize(story, "de") == story  # no German variant: the original, marked by headline_lang
    assert localize(story, None) == story
