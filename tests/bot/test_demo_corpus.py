"""The demo corpus (bot/demo_data/corpus.yaml): its shape, its languages, and how the real stages read it.

``veille demo`` serves this corpus as feeds, polls it with the monitor and clusters it with the summarizer;
these tests guard what the demo relies on:

1. shape: 8-10 sources (exactly one ``page``), 75-90 articles (unique ids, known sources, offsets within the
   two days, 60-250 words, 3-8 sentences), every language well represented, events told in several
   languages and a few in one, each event reported over many hours, names written the local way;
2. duplicates: each copy names an earlier original of another source with the same text but for a
   "City (Agency) –" dateline, and the monitor's normalize + ingest flag exactly these copies;
3. languages: the project's detector (monitor.langid) agrees with every declared language;
4. stories: the real models (USE embeddings, spaCy + gazetteer entities) and the clusterer with its shipped
   model, fed as ``Summarizer.process_pending`` feeds it (publication order, the monitor's
   duplicates), rebuild the gold events: pairwise and BCubed F1 are printed and must reach
   :data:`MIN_F1`, and the designed look-alike events must resemble each other yet stay apart.

Print the figures with:
    .venv/bin/python -m pytest tests/bot/test_demo_corpus.py -q -p no:cacheprovider -s -k stories
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import select

from monitor.ingest import ingest
from monitor.langid import choose_language, detect_language
from monitor.models import Article, RawItem
from monitor.normalize import normalize_items
from monitor.store import Store
from monitor.tables import articles as articles_table
from summarizer.clustering import ClusterInput
from summarizer.clustering_eval import bcubed_scores, pairwise_scores
from summarizer.embeddings import Embedder, embedding_text, load_embedder
from summarizer.entities import EntityExtractor
from summarizer.hybrid import HybridClusterer

CORPUS = Path(__file__).resolve().parents[2] / "bot" / "demo_data" / "corpus.yaml"
LANGS = {"en", "fr", "de", "es", "ar"}
KINDS = {"rss", "atom", "json", "page"}
SPAN = timedelta(hours=48)
MIN_F1 = 0.85
# Pairs of different events written to share agencies, platforms and vocabulary (see the corpus header).
LOOK_ALIKES = (("ev01", "ev02"), ("ev04", "ev05"), ("ev07", "ev09"))
# How each language names the Islamic State, and names that belong to other languages only.
IS_NAMES = {
    "en": ("Islamic State", "ISIS", "ISIL"),
    "fr": ("État islamique", "Daech"),
    "de": ("Islamischer Staat", "Islamischen Staat", "IS-"),
    "es": ("Estado Islámico", "Dáesh"),
    "ar": ("داعش", "تنظيم الدولة"),
}
FOREIGN_IS_NAMES = (
    "Daech",
    "Dáesh",
    "Daesh",
    "État islamique",
    "Estado Islámico",
    "Islamischer Staat",
    "داعش",
)
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
OFFSET = re.compile(r"\+(?:(\d+)h)?(?:(\d+)m)?")
DATELINE = re.compile(
    r"[^\n()]{1,40}\([^\n()]{1,20}\)\s*[.:]?\s*[-–—]\s+"
)  # "Paris (AFP) – ", "Madrid (EFE).- "
SENTENCE_END = re.compile(r"[.?!؟](?=\s|$)")

Row = dict[str, Any]


def offset(value: str) -> timedelta:
    """``+3h15m`` -> 3 h 15 min; ValueError for anything else."""
    match = OFFSET.fullmatch(value)
    if match is None or not any(match.groups()):
        raise ValueError(f"not an offset such as +3h15m: {value!r}")
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


def without_dateline(text: str) -> str:
    """The text with single spaces and without a leading "City (Agency) –" dateline."""
    flat = " ".join(text.split())
    return DATELINE.sub("", flat, count=1) if DATELINE.match(flat) else flat


@pytest.fixture(scope="module")
def corpus() -> Row:
    with CORPUS.open(encoding="utf-8") as handle:
        data: Row = yaml.safe_load(handle)
    return data


@pytest.fixture(scope="module")
def rows(corpus: Row) -> list[Row]:
    """The articles in publication order (ids break ties)."""
    return sorted(corpus["articles"], key=lambda r: (offset(r["published"]), r["id"]))


def by_story(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["story"]].append(row)
    return grouped


# -- 1. shape ------------------------------------------------------------------------------------------------


def test_sources_are_feeds_of_each_kind_and_one_page(corpus: Row, rows: list[Row]) -> None:
    sources = corpus["sources"]
    assert corpus["version"] == 1
    assert 8 <= len(sources) <= 10
    ids = [s["id"] for s in sources]
    assert len(ids) == len(set(ids)) and all(SLUG.fullmatch(i) for i in ids)
    assert all(set(s) <= {"id", "name", "kind", "language", "tags"} and s["name"].strip() for s in sources)
    kinds = Counter(s["kind"] for s in sources)
    assert set(kinds) == KINDS and kinds["page"] == 1
    assert {s["language"] for s in sources} == LANGS
    assert all(isinstance(s["tags"], list) and all(isinstance(t, str) for t in s["tags"]) for s in sources)
    assert {r["source"] for r in rows} == set(ids)  # every source publishes, every article has a source


def test_articles_have_the_schema(corpus: Row, rows: list[Row]) -> None:
    required = {"id", "source", "story", "lang", "published", "title", "text"}
    language = {s["id"]: s["language"] for s in corpus["sources"]}
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    start = corpus["start"]
    assert isinstance(start, datetime) and start.utcoffset() == timedelta(0)
    for row in rows:
        assert required <= set(row) <= required | {"duplicate_of"}, row["id"]
        assert all(isinstance(row[k], str) and row[k].strip() for k in required), row["id"]
        assert row["lang"] == language[row["source"]], row["id"]  # a feed has one language
        assert timedelta(0) <= offset(row["published"]) < SPAN, row["id"]
        assert 60 <= len(row["text"].split()) <= 250, row["id"]
        # A rough count: ordinals ("26. November") count too, hence the upper bound of 10.
        assert 3 <= len(SENTENCE_END.findall(row["text"])) <= 10, row["id"]


def test_counts_of_articles_languages_and_events(rows: list[Row]) -> None:
    assert 75 <= len(rows) <= 90
    per_lang = Counter(r["lang"] for r in rows)
    assert set(per_lang) == LANGS and min(per_lang.values()) >= 8, per_lang
    langs = {story: {r["lang"] for r in items} for story, items in by_story(rows).items()}
    assert 12 <= len(langs) <= 14
    assert sum(len(found) >= 3 for found in langs.values()) >= 8
    assert 2 <= sum(len(found) == 1 for found in langs.values()) <= 3


def test_each_event_is_reported_over_many_hours(corpus: Row, rows: list[Row]) -> None:
    """A first report, follow-ups hours later; most events run over both days."""
    both_days = 0
    for story, items in by_story(rows).items():
        times = sorted(corpus["start"] + offset(r["published"]) for r in items)
        assert len(set(times)) >= 3 and times[-1] - times[0] >= timedelta(hours=12), story
        both_days += len({t.date() for t in times}) == 2
    assert both_days >= 2 * len(by_story(rows)) // 3


def test_names_are_written_the_way_each_language_writes_them(rows: list[Row]) -> None:
    for lang, names in IS_NAMES.items():
        texts = [f"{r['title']} {r['text']}" for r in rows if r["lang"] == lang]
        assert sum(any(name in text for name in names) for text in texts) >= 3, lang
        foreign = [name for name in FOREIGN_IS_NAMES if name not in names]
        assert not [(name, text[:60]) for text in texts for name in foreign if name in text], lang


# -- 2. duplicates -------------------------------------------------------------------------------------------


def test_duplicates_are_syndicated_copies_from_other_sources(rows: list[Row]) -> None:
    by_id = {r["id"]: r for r in rows}
    copies = [r for r in rows if "duplicate_of" in r]
    assert 5 <= len(copies) <= 8
    for copy in copies:
        original = by_id[copy["duplicate_of"]]
        assert "duplicate_of" not in original and original["source"] != copy["source"], copy["id"]
        assert (original["story"], original["lang"]) == (copy["story"], copy["lang"]), copy["id"]
        assert offset(original["published"]) < offset(copy["published"]), copy["id"]
        assert original["title"].casefold() == copy["title"].casefold(), copy["id"]
        assert without_dateline(copy["text"]) == without_dateline(original["text"]), copy["id"]


@dataclass(frozen=True, slots=True)
class Stored:
    """A corpus article as the monitor stored it (with the copy it found, if any)."""

    row: Row
    article: Article


@pytest.fixture(scope="module")
def stored(rows: list[Row], tmp_path_factory: pytest.TempPathFactory, corpus: Row) -> Iterator[list[Stored]]:
    """The corpus through the monitor's normalize and ingest, each article when its source publishes it."""
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'veille.db'}")
    kept: list[Stored] = []
    for row in rows:
        published = corpus["start"] + offset(row["published"])
        item = RawItem(
            guid=row["id"],
            link=f"https://{row['source']}.example/{row['id']}",
            title=row["title"],
            content=row["text"],
            published=published,
        )
        [article] = normalize_items(
            [item], source_id=row["source"], declared_language=row["lang"], now=published
        )
        with store.transaction() as tx:
            ingest(tx, [article], row["source"], published)
        kept.append(Stored(row, article))
    with store.engine.connect() as conn:
        copies = dict(conn.execute(select(articles_table.c.id, articles_table.c.duplicate_of)).all())
    yield [replace(s, article=replace(s.article, duplicate_of=copies[s.article.id])) for s in kept]
    store.close()


def test_the_monitor_finds_exactly_the_declared_copies(stored: list[Stored]) -> None:
    corpus_id = {s.article.id: s.row["id"] for s in stored}
    found = {s.row["id"]: corpus_id[s.article.duplicate_of] for s in stored if s.article.duplicate_of}
    declared = {s.row["id"]: s.row["duplicate_of"] for s in stored if "duplicate_of" in s.row}
    assert found == declared
    assert all(s.article.language == s.row["lang"] for s in stored)


# -- 3. languages --------------------------------------------------------------------------------------------


def test_the_language_detector_agrees_with_every_declared_language(rows: list[Row]) -> None:
    wrong = []
    for row in rows:
        detected, confidence = detect_language(f"{row['title']}\n{row['text']}")
        chosen = choose_language(row["lang"], None, row["title"], row["text"])
        if detected != row["lang"] or chosen != row["lang"]:
            wrong.append((row["id"], row["lang"], detected, round(confidence, 2), chosen))
    assert not wrong


# -- 4. stories ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("use")


@pytest.fixture(scope="session")
def extractor() -> EntityExtractor:
    return EntityExtractor()


@dataclass(frozen=True, slots=True)
class Read:
    """What the summarizer's stages make of the corpus: per corpus id, its vector, entities and story."""

    vectors: Mapping[str, tuple[float, ...]]
    entities: Mapping[str, frozenset[str]]
    stories: Mapping[str, str]


@pytest.fixture(scope="module")
def read(stored: list[Stored], embedder: Embedder, extractor: EntityExtractor) -> Read:
    """Steps 2-4 of Summarizer.process_pending: entities, embeddings, clustering in publication order."""
    found = extractor.extract_many(
        [(f"{s.article.title}\n\n{s.article.text}", s.article.language) for s in stored]
    )
    vectors = embedder.embed([embedding_text(s.article.title, s.article.text) for s in stored])
    clusterer = HybridClusterer()
    for s, entities, vector in zip(stored, found, vectors, strict=True):
        a = s.article
        clusterer.add(
            ClusterInput(a.id, vector, entities.entity_ids, a.published_at, a.duplicate_of, a.language or "",
                         a.title, a.text, frozenset(entities.counts))
        )  # fmt: skip
    ids = [s.row["id"] for s in stored]
    stories = {s.row["id"]: str(clusterer.story_of(s.article.id)) for s in stored}
    return Read(
        dict(zip(ids, map(tuple, vectors), strict=True)),
        dict(zip(ids, (e.entity_ids for e in found), strict=True)),
        stories,
    )


def _centroid_cosines(read: Read, rows: Sequence[Row]) -> dict[tuple[str, str], float]:
    """Mean cosine between the articles of two events (a pair of one event: its distinct articles)."""
    grouped = by_story([r for r in rows if "duplicate_of" not in r])
    unit = {}
    for story, items in grouped.items():
        matrix = np.array([read.vectors[r["id"]] for r in items])
        unit[story] = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    cosines = {}
    for a in grouped:
        for b in grouped:
            sims = unit[a] @ unit[b].T
            n = len(grouped[a])
            cosines[a, b] = float((sims.sum() - n) / (n * n - n)) if a == b else float(sims.mean())
    return cosines


def test_look_alike_events_share_names_and_vocabulary(read: Read, rows: list[Row]) -> None:
    """Each designed pair shares an agency, platform or group, and is among the closest pairs of events."""
    named: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        named[row["story"]] |= {e for e in read.entities[row["id"]] if not e.startswith("unk:")}
    cosines = _centroid_cosines(read, rows)
    between = sorted(v for (a, b), v in cosines.items() if a < b)
    for a, b in LOOK_ALIKES:
        assert named[a] & named[b], (a, b)
        assert cosines[a, b] > between[len(between) // 2], (a, b, cosines[a, b])
        assert cosines[a, b] < min(cosines[a, a], cosines[b, b]), (a, b)  # still two events


def test_the_stories_rebuild_the_gold_events(read: Read, rows: list[Row]) -> None:
    gold = {r["id"]: r["story"] for r in rows}
    pairwise = pairwise_scores(gold, read.stories)
    bcubed = bcubed_scores(gold, read.stories)
    print(
        f"\ndemo corpus, default clustering: {len(set(read.stories.values()))} stories for {len(set(gold.values()))}"
        f" events; pairwise P {pairwise.precision:.3f} R {pairwise.recall:.3f} F1 {pairwise.f1:.3f}; BCubed"
        f" P {bcubed.precision:.3f} R {bcubed.recall:.3f} F1 {bcubed.f1:.3f}"
    )
    majority = {
        story: Counter(read.stories[r["id"]] for r in items).most_common(1)[0][0]
        for story, items in by_story(rows).items()
    }
    merged = [(a, b) for a, b in LOOK_ALIKES if majority[a] == majority[b]]
    print(
        f"look-alike events told apart: {len(LOOK_ALIKES) - len(merged)} of {len(LOOK_ALIKES)}; merged: {merged}"
    )
    assert pairwise.f1 >= MIN_F1 and bcubed.f1 >= MIN_F1
    assert not merged
