"""The project's own multilingual evaluation set: schema, counts and consistency of the two fixture files.

tests/fixtures/stories/multilingual.jsonl (clustering format) and multilingual_summaries.jsonl (summaries
format) describe the same events; other tests (clustering, entities, summaries) hold quality floors on them,
so this test guards what those floors rely on.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

STORIES = Path(__file__).resolve().parent.parent / "fixtures" / "stories"
ARTICLE_KEYS = {"id", "story", "lang", "title", "text", "published"}
LANGS = {"en", "fr", "de", "es", "ar"}


def _lines(name: str) -> list[dict[str, Any]]:
    with (STORIES / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def articles() -> list[dict[str, Any]]:
    return _lines("multilingual.jsonl")


@pytest.fixture(scope="module")
def summaries() -> list[dict[str, Any]]:
    return _lines("multilingual_summaries.jsonl")


def _by_story(articles: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for article in articles:
        grouped[article["story"]].append(article)
    return grouped


def test_articles_have_the_clustering_schema(articles: list[dict[str, Any]]) -> None:
    for article in articles:
        assert set(article) == ARTICLE_KEYS, article["id"]
        assert all(isinstance(article[key], str) and article[key].strip() for key in ARTICLE_KEYS)
        assert article["lang"] in LANGS
        published = datetime.fromisoformat(article["published"])
        assert published.tzinfo is not None, article["id"]


def test_ids_are_unique_and_articles_are_in_published_order(articles: list[dict[str, Any]]) -> None:
    ids = [article["id"] for article in articles]
    assert len(ids) == len(set(ids))
    times = [datetime.fromisoformat(article["published"]) for article in articles]
    assert times == sorted(times)


def test_counts_events_languages_and_articles_per_event(articles: list[dict[str, Any]]) -> None:
    grouped = _by_story(articles)
    assert len(grouped) >= 14
    assert 60 <= len(articles) <= 90
    assert {article["lang"] for article in articles} == LANGS
    langs_per_story = {story: {a["lang"] for a in items} for story, items in grouped.items()}
    assert all(3 <= len(items) <= 6 for items in grouped.values())
    assert all(len(langs) >= 2 for langs in langs_per_story.values())
    assert sum(len(langs) >= 3 for langs in langs_per_story.values()) > len(grouped) // 2


def test_texts_are_three_to_eight_sentences(articles: list[dict[str, Any]]) -> None:
    for article in articles:
        # A rough count: sentence-final punctuation followed by a space or the end (abbreviations aside).
        ends = sum(article["text"].count(mark + " ") for mark in ".?؟!") + 1
        assert 3 <= ends <= 10, (article["id"], ends)


def test_dates_span_about_three_weeks_and_each_event_about_two_days(articles: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(article["published"]) for article in articles]
    assert timedelta(days=14) <= max(times) - min(times) <= timedelta(days=28)
    for story, items in _by_story(articles).items():
        published = [datetime.fromisoformat(a["published"]) for a in items]
        assert max(published) - min(published) <= timedelta(days=2, hours=12), story


def test_look_alike_events_share_actors(articles: list[dict[str, Any]]) -> None:
    """Pairs of distinct events that a bag-of-names clusterer would merge: each name is in several stories."""
    grouped = _by_story(articles)
    for name in ("Europol", "Interpol", "Telegram", "Sudan", "ransom"):
        stories = {story for story, items in grouped.items() if any(name in a["text"] for a in items)}
        assert len(stories) >= 2, name


def test_summaries_file_mirrors_the_articles(
    articles: list[dict[str, Any]], summaries: list[dict[str, Any]]
) -> None:
    grouped = _by_story(articles)
    assert Counter(line["story"] for line in summaries) == Counter(set(grouped))
    for line in summaries:
        assert set(line) == {"story", "reference", "articles"}
        assert 2 <= line["reference"].count(". ") + 1 <= 3, line["story"]
        expected = [{k: a[k] for k in ("id", "lang", "title", "text")} for a in grouped[line["story"]]]
        assert line["articles"] == expected
