"""Story clustering (pure logic on literal vectors, then the real USE model on labelled sets) and its scores.

Print the measured scores with:
    .venv/bin/python -m pytest tests/summarizer/test_clustering.py -q -p no:cacheprovider -s -k scores
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from summarizer.clustering import (
    BASELINE_PARAMS,
    DEFAULT_PARAMS,
    ClusterInput,
    ClusterParams,
    StoryClusterer,
    entity_overlap,
    state_from_dict,
    state_to_dict,
)
from summarizer.clustering_eval import (
    ClusteringItem,
    ClusteringScores,
    bcubed_scores,
    cluster_inputs,
    dump_clustering_file,
    embed_items,
    evaluate_clustering,
    load_clustering_file,
    load_wikinewssum,
    objective,
    pairwise_scores,
    score_inputs,
    tune,
)
from summarizer.embeddings import Embedder, Vector, load_embedder
from tests.conftest import shared_data

MULTILINGUAL = Path(__file__).resolve().parent.parent / "fixtures" / "stories" / "multilingual.jsonl"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# Literal parameters for the logic tests, so they do not move when the defaults are re-tuned.
PLAIN = ClusterParams(
    threshold=0.6, entity_weight=0.0, time_weight=0.0, window=timedelta(days=3), merge_threshold=None
)


def unit(*components: float, dim: int = 4) -> Vector:
    padded = np.zeros(dim)
    padded[: len(components)] = components
    return tuple((padded / np.linalg.norm(padded)).tolist())


def article(
    article_id: str,
    vector: Vector,
    hours: float = 0.0,
    entities: Sequence[str] = (),
    duplicate_of: str | None = None,
) -> ClusterInput:
    return ClusterInput(article_id, vector, frozenset(entities), T0 + timedelta(hours=hours), duplicate_of)


# -- the online algorithm on literal vectors ---------------------------------------------------------


def test_close_articles_join_and_distant_ones_start_stories() -> None:
    clusterer = StoryClusterer(PLAIN)
    assert clusterer.add(article("a", unit(1, 0))) == "sa"
    assert clusterer.add(article("b", unit(1, 0.2))) == "sa"
    assert clusterer.add(article("c", unit(0, 1))) == "sc"
    assert clusterer.stories() == {"sa": ["a", "b"], "sc": ["c"]}
    assert clusterer.story_of("b") == "sa" and clusterer.story_of("zz") is None
    assert clusterer.story("sa").sources == 2


def test_a_tie_goes_to_the_older_story() -> None:
    clusterer = StoryClusterer(PLAIN)
    clusterer.add(article("a", unit(1, 0)))
    clusterer.add(article("b", unit(0, 1)))
    assert clusterer.add(article("c", unit(1, 1))) == "sa"  # cosine 0.707 to both


def test_shared_entities_decide_between_equally_similar_stories() -> None:
    clusterer = StoryClusterer(replace(PLAIN, entity_weight=0.2))
    clusterer.add(article("a", unit(1, 0), entities=["europol"]))
    clusterer.add(article("b", unit(0, 1), entities=["interpol", "telegram"]))
    assert clusterer.add(article("c", unit(1, 1), entities=["telegram"])) == "sb"


@pytest.mark.parametrize(
    ("entities", "story", "expected"),
    [
        ({"a"}, {"a": 1}, 1.0),
        ({"a", "b"}, {"a": 3, "b": 3}, 1.0),
        ({"a"}, {"a": 1, "b": 1}, 1 / math.sqrt(2)),
        ({"a", "c"}, {"a": 2}, 1 / math.sqrt(2)),
        ({"c"}, {"a": 1}, 0.0),
        (set(), {"a": 1}, 0.0),
        ({"a"}, {}, 0.0),
        ({"a", "b"}, {"a": 3, "b": 1}, 4 / math.sqrt(2 * 10)),
    ],
    ids=["same", "same-profile-bigger-story", "story-has-more", "article-has-more", "disjoint", "no-entities",
         "story-without-entities", "weighted"],
)  # fmt: skip
def test_entity_overlap(entities: set[str], story: dict[str, int], expected: float) -> None:
    assert entity_overlap(dict.fromkeys(entities, 1), story) == pytest.approx(expected)
    assert entity_overlap(story, dict.fromkeys(entities, 1)) == pytest.approx(expected)


def test_converging_stories_merge_and_the_older_id_survives() -> None:
    clusterer = StoryClusterer(replace(PLAIN, merge_threshold=0.6))
    clusterer.add(article("a", unit(1, 0)))
    clusterer.add(article("b", unit(0.5, 1)))  # cosine 0.45 with a: a story of its own
    assert clusterer.add(article("c", unit(1, 1))) == "sb"  # closer to b; b's centroid is 0.58 from a
    assert clusterer.stories() == {"sa": ["a"], "sb": ["b", "c"]}
    assert clusterer.add(article("d", unit(0.8, 0.6))) == "sa"  # joins b, whose centroid reaches a: merge
    assert clusterer.stories() == {"sa": ["a", "b", "c", "d"]}
    assert clusterer.resolve("sb") == "sa" and clusterer.story_of("c") == "sa"
    assert clusterer.story("sb").story_id == "sa"
    assert clusterer.story("sa").sources == 4
    assert clusterer.active_count() == 1


def test_without_merging_the_stories_stay_apart() -> None:
    clusterer = StoryClusterer(PLAIN)
    for item in (article("a", unit(1, 0)), article("b", unit(0.5, 1)), article("c", unit(1, 1))):
        clusterer.add(item)
    assert clusterer.add(article("d", unit(0.8, 0.6))) == "sb"
    assert set(clusterer.stories()) == {"sa", "sb"}


def test_duplicates_join_their_original_without_moving_it() -> None:
    clusterer = StoryClusterer(PLAIN)
    clusterer.add(article("a", unit(1, 0), entities=["europol"]))
    before = clusterer.story("sa")
    assert clusterer.add(article("copy", unit(0, 1), hours=30, entities=["x"], duplicate_of="a")) == "sa"
    after = clusterer.story("sa")
    assert after.articles == ("a", "copy") and after.duplicates == ("copy",)
    assert (after.sources, after.vector_sum, after.entities) == (
        before.sources,
        before.vector_sum,
        before.entities,
    )
    assert after.last_seen == before.last_seen
    assert clusterer.add(article("e", unit(0, 1))) == "se"  # the copy's vector did not pull the centroid
    assert (
        clusterer.add(article("orphan", unit(1, 0), duplicate_of="never-seen")) == "sa"
    )  # clustered as usual


def test_a_duplicate_follows_its_original_into_a_merged_story() -> None:
    clusterer = StoryClusterer(replace(PLAIN, merge_threshold=0.6))
    for item in (article("a", unit(1, 0)), article("b", unit(0.5, 1)), article("c", unit(1, 1))):
        clusterer.add(item)
    clusterer.add(article("d", unit(0.8, 0.6)))
    assert clusterer.add(article("copy", unit(0, 0, 1), duplicate_of="b")) == "sa"


def test_an_article_a_month_later_starts_a_new_story() -> None:
    clusterer = StoryClusterer(PLAIN)
    clusterer.add(article("a", unit(1, 0)))
    assert clusterer.add(article("b", unit(1, 0), hours=48)) == "sa"  # inside the window
    assert clusterer.add(article("late", unit(1, 0), hours=30 * 24)) == "slate"
    closed = clusterer.story("sa")
    assert not closed.active and closed.vector_sum == () and closed.articles == ("a", "b")
    assert clusterer.active_count() == 1


def test_closed_stories_can_be_handed_over_and_forgotten() -> None:
    clusterer = StoryClusterer(replace(PLAIN, merge_threshold=0.6))
    for item in (article("a", unit(1, 0)), article("b", unit(0.5, 1)), article("c", unit(1, 1))):
        clusterer.add(item)
    clusterer.add(article("d", unit(0.8, 0.6)))  # b merges into a
    clusterer.add(article("late", unit(0, 0, 1), hours=30 * 24))
    dropped = clusterer.drop_closed()
    assert [(story.story_id, story.articles) for story in dropped] == [("sa", ("a", "b", "c", "d"))]
    assert clusterer.stories() == {"slate": ["late"]}
    assert clusterer.snapshot().aliases == ()
    assert clusterer.story_of("a") is None
    assert clusterer.add(article("copy", unit(1, 0), hours=30 * 24, duplicate_of="a")) == "scopy"
    assert clusterer.drop_closed() == []


def test_the_time_gap_lowers_the_score() -> None:
    timed = replace(PLAIN, time_weight=0.7)
    near, far = StoryClusterer(timed), StoryClusterer(timed)
    for clusterer in (near, far):
        clusterer.add(article("a", unit(1, 0)))
    assert near.add(article("b", unit(1, 0.3), hours=6)) == "sa"  # cosine 0.96 - 0.06
    assert far.add(article("b", unit(1, 0.3), hours=60)) == "sb"  # cosine 0.96 - 0.58


def test_replaying_an_article_changes_nothing() -> None:
    clusterer = StoryClusterer(PLAIN)
    clusterer.add(article("a", unit(1, 0)))
    before = state_to_dict(clusterer.snapshot())
    assert clusterer.add(article("a", unit(0, 1), hours=5)) == "sa"
    assert state_to_dict(clusterer.snapshot()) == before


def test_bad_inputs_are_refused_or_neutralized() -> None:
    clusterer = StoryClusterer(PLAIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        clusterer.add(ClusterInput("naive", unit(1), frozenset(), datetime(2024, 3, 1)))
    clusterer.add(article("a", unit(1, 0)))
    with pytest.raises(ValueError, match="expected"):
        clusterer.add(article("short", (1.0, 0.0)))
    assert clusterer.add(article("nan", (math.nan, 1.0, 0.0, 0.0))) == "snan"  # no vector: a story of its own
    assert clusterer.add(article("zero", (0.0, 0.0, 0.0, 0.0))) == "szero"
    with pytest.raises(ValueError, match="window"):
        ClusterParams(window=timedelta(0))


def test_work_per_article_stays_flat_as_stories_accumulate() -> None:
    """1,000 events over 500 days, 5 articles each: only the stories of the last few days are scored."""
    rng = np.random.default_rng(7)
    items = []
    for event in range(1000):
        topic = rng.normal(size=32)
        for copy in range(5):
            vector = topic / np.linalg.norm(topic) + 0.15 * rng.normal(size=32) / math.sqrt(32)
            hours = event * 12 + copy * 7 + float(rng.uniform(0, 3))
            items.append(article(f"e{event}-{copy}", tuple(vector.tolist()), hours=hours))
    items.sort(key=lambda item: item.published)
    clusterer = StoryClusterer(DEFAULT_PARAMS)
    work = []
    for item in items:
        clusterer.add(item)
        work.append(clusterer.last_examined)
    early, late = np.mean(work[500:1000]), np.mean(work[-500:])
    print(f"\ncandidates scored per article: {early:.1f} (articles 500-1000), {late:.1f} (last 500); "
          f"{len(clusterer.stories())} stories, {clusterer.active_count()} active")  # fmt: skip
    assert len(clusterer.stories()) >= 900  # stories did accumulate...
    assert late <= 1.5 * early and late < 40  # ...but only the window's ~7 events are searched
    assert clusterer.active_count() < 20


def _run(items: Sequence[ClusterInput], params: ClusterParams = DEFAULT_PARAMS) -> StoryClusterer:
    clusterer = StoryClusterer(params)
    for item in items:
        clusterer.add(item)
    return clusterer


# -- the real model on the project's multilingual set ------------------------------------------------

CAPITALIZED = re.compile(r"\b[A-Z][\w-]{2,}")
NOT_NAMES = {"The", "This", "That", "They", "There", "These", "Their", "When", "What", "After", "But", "And", "For",
             "With", "From", "His", "Her", "Its", "Our", "Some", "Also", "Les", "Der", "Die", "Das", "Una", "Los",
             "Las", "Une", "Dans", "Pour"}  # fmt: skip


def capitalized_words(item: ClusteringItem) -> frozenset[str]:
    """A STAND-IN for the entity linker (summarizer.entities): capitalized words of the title and lead.

    Crude on purpose: it only shows what the entity term adds; real canonical ids are language-neutral.
    """
    text = f"{item.title} {item.text[:1000]}"
    return frozenset(m.group(0).lower() for m in CAPITALIZED.finditer(text) if m.group(0) not in NOT_NAMES)


@pytest.fixture(scope="session")
def use() -> Embedder:
    return load_embedder("use")  # one shared instance per process: the model loads once


@pytest.fixture(scope="module")
def multilingual() -> list[ClusteringItem]:
    return load_clustering_file(MULTILINGUAL)


@pytest.fixture(scope="module")
def multilingual_inputs(multilingual: list[ClusteringItem], use: Embedder) -> list[ClusterInput]:
    vectors = embed_items(multilingual, use)
    return cluster_inputs(multilingual, vectors, [capitalized_words(item) for item in multilingual])


def test_same_order_gives_the_same_stories(multilingual_inputs: list[ClusterInput]) -> None:
    one, two = _run(multilingual_inputs), _run(multilingual_inputs)
    assert one.stories() == two.stories()
    assert state_to_dict(one.snapshot()) == state_to_dict(two.snapshot())


def test_a_restart_from_a_snapshot_goes_on_identically(multilingual_inputs: list[ClusterInput]) -> None:
    whole = _run(multilingual_inputs)
    half = len(multilingual_inputs) // 2
    first = _run(multilingual_inputs[:half])
    saved = json.dumps(state_to_dict(first.snapshot()))
    restarted = StoryClusterer(PLAIN)  # the snapshot's parameters replace these
    restarted.restore(state_from_dict(json.loads(saved)))
    assert restarted.params == DEFAULT_PARAMS
    replayed = [restarted.add(item) for item in multilingual_inputs[: half + 10]]  # replays change nothing
    assert replayed[:half] == [first.story_of(item.article_id) for item in multilingual_inputs[:half]]
    for item in multilingual_inputs[half + 10 :]:
        restarted.add(item)
    assert restarted.stories() == whole.stories()
    assert state_to_dict(restarted.snapshot()) == state_to_dict(whole.snapshot())


def _show(name: str, scores: ClusteringScores) -> None:
    pw, b3 = scores.pairwise, scores.bcubed
    print(f"{name:<44} pairwise P {pw.precision:.3f} R {pw.recall:.3f} F1 {pw.f1:.3f} | "
          f"BCubed P {b3.precision:.3f} R {b3.recall:.3f} F1 {b3.f1:.3f} | "
          f"{scores.predicted_stories} stories for {scores.gold_stories}")  # fmt: skip


def test_multilingual_set_scores(multilingual: list[ClusteringItem], use: Embedder) -> None:
    plain = evaluate_clustering(multilingual, use)
    with_entities = evaluate_clustering(multilingual, use, capitalized_words)
    print(
        f"\nmultilingual set: {plain.veille.articles} articles, {plain.veille.gold_stories} stories, 5 languages"
    )
    _show("dense centroid baseline (threshold 0.58)", plain.dense_baseline)
    _show("TF-IDF centroid baseline (threshold 0.2)", plain.tfidf_baseline)
    _show("hybrid, no entities", plain.veille)
    _show("hybrid + capitalized-word stand-in", with_entities.veille)
    # the shipped model was trained on this set too: these floors guard against regressions, not generalization
    assert plain.veille.pairwise.f1 >= 0.82 and plain.veille.bcubed.f1 >= 0.87
    assert with_entities.veille.pairwise.f1 >= 0.82 and with_entities.veille.bcubed.f1 >= 0.87
    assert plain.veille.pairwise.f1 >= plain.dense_baseline.pairwise.f1 + 0.1
    assert plain.veille.pairwise.f1 >= plain.tfidf_baseline.pairwise.f1 + 0.1


# -- WikinewsSum: real, labelled, mostly English stories ---------------------------------------------


@pytest.fixture(scope="module")
def wikinews() -> list[ClusteringItem]:
    return load_wikinewssum(shared_data("stories", "wikinewssum-sample", "endataset.json"))


def test_wikinewssum_loads_one_story_per_record_in_date_order(wikinews: list[ClusteringItem]) -> None:
    assert len(wikinews) == 234
    assert len({item.story for item in wikinews}) == 90  # 11 of the 101 records have no sources
    dates = [item.published for item in wikinews]
    assert dates == sorted(dates)
    assert dates[0] == datetime(2004, 11, 13, tzinfo=UTC) and dates[-1] == datetime(2005, 1, 7, tzinfo=UTC)
    assert {"en", "pt", "nl", "de"} <= {item.lang for item in wikinews}
    by_story: dict[str, set[datetime]] = {}
    for item in wikinews:
        by_story.setdefault(item.story, set()).add(item.published)
    assert all(len(days) == 1 for days in by_story.values())  # dated by the Wikinews article


def test_wikinewssum_scores(wikinews: list[ClusteringItem], use: Embedder) -> None:
    vectors = embed_items(wikinews, use)
    no_entities = cluster_inputs(wikinews, vectors, [frozenset()] * len(wikinews))
    stand_in = cluster_inputs(wikinews, vectors, [capitalized_words(item) for item in wikinews])
    # exact copies: 8 archive copies inside a story, 5 sources cited by two Wikinews articles
    assert sum(item.duplicate_of is not None for item in no_entities) == 13
    baseline = score_inputs(wikinews, no_entities, BASELINE_PARAMS)
    plain = score_inputs(wikinews, no_entities, DEFAULT_PARAMS)
    with_entities = score_inputs(wikinews, stand_in, DEFAULT_PARAMS)
    print(f"\nWikinewsSum sample: {plain.articles} articles, {plain.gold_stories} stories")
    _show("baseline (centroid threshold 0.58)", baseline)
    _show("default params", plain)
    _show("default params + capitalized-word stand-in", with_entities)
    assert 0.45 <= baseline.pairwise.f1 <= 0.6 and 0.72 <= baseline.bcubed.f1 <= 0.8  # the issue's ~0.52/0.76
    # the threshold that keeps the demo corpus' same-day events apart splits stories here (pairwise recall 0.43)
    assert plain.pairwise.f1 >= 0.57 and plain.bcubed.f1 >= 0.77
    assert with_entities.pairwise.f1 >= 0.59 and with_entities.bcubed.f1 >= 0.78


def test_tune_ranks_a_grid_best_first(
    multilingual: list[ClusteringItem], multilingual_inputs: list[ClusterInput]
) -> None:
    grid = [replace(DEFAULT_PARAMS, threshold=t) for t in (0.2, 0.45, 0.9)]
    ranked = tune(multilingual, multilingual_inputs, grid)
    assert sorted(params.threshold for params, _ in ranked) == [0.2, 0.45, 0.9]
    values = [objective(scores) for _, scores in ranked]
    assert values == sorted(values, reverse=True) and ranked[0][0].threshold == 0.45


# -- scores and file formats --------------------------------------------------------------------------


def test_pairwise_and_bcubed_on_a_worked_example() -> None:
    gold = {"a": "1", "b": "1", "c": "2", "d": "2"}
    predicted = {"a": "x", "b": "x", "c": "x", "d": "y"}
    pairwise = pairwise_scores(gold, predicted)  # pairs predicted ab ac bc, expected ab cd
    assert (pairwise.precision, pairwise.recall) == pytest.approx((1 / 3, 1 / 2))
    assert pairwise.f1 == pytest.approx(0.4)
    bcubed = bcubed_scores(gold, predicted)  # precision 2/3 2/3 1/3 1, recall 1 1 1/2 1/2
    assert (bcubed.precision, bcubed.recall) == pytest.approx((2 / 3, 3 / 4))
    assert bcubed.f1 == pytest.approx(2 * (2 / 3) * (3 / 4) / (2 / 3 + 3 / 4))


@pytest.mark.parametrize(
    ("predicted", "pairwise", "bcubed"),
    [
        ({"a": "1", "b": "1", "c": "2"}, (1.0, 1.0), (1.0, 1.0)),
        ({"a": "x", "b": "y", "c": "z"}, (1.0, 0.0), (1.0, 2 / 3)),
        ({"a": "x", "b": "x", "c": "x"}, (1 / 3, 1.0), (5 / 9, 1.0)),
    ],
    ids=["perfect", "all-singletons", "all-in-one"],
)
def test_scores_at_the_extremes(
    predicted: dict[str, str], pairwise: tuple[float, float], bcubed: tuple[float, float]
) -> None:
    gold = {"a": "1", "b": "1", "c": "2"}
    got_pairwise, got_bcubed = pairwise_scores(gold, predicted), bcubed_scores(gold, predicted)
    assert (got_pairwise.precision, got_pairwise.recall) == pytest.approx(pairwise)
    assert (got_bcubed.precision, got_bcubed.recall) == pytest.approx(bcubed)


def test_scores_need_the_same_articles() -> None:
    with pytest.raises(ValueError, match="same articles"):
        pairwise_scores({"a": "1"}, {"b": "1"})


def test_clustering_file_round_trip_and_order(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        {"id": "2", "story": "s", "lang": "fr", "title": "Deux", "text": "b", "published": "2024-03-02T10:00:00+01:00"},
        {"id": "1", "story": "s", "lang": "en", "title": "One", "text": "a", "published": "2024-03-01T10:00:00"},
        {"id": "3", "story": "t", "lang": "de", "title": "Drei", "text": "c", "published": "2024-03-02T09:00:00Z"},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    items = load_clustering_file(path)
    assert [item.id for item in items] == ["1", "2", "3"]
    assert items[0].published == datetime(2024, 3, 1, 10, tzinfo=UTC)  # no offset: UTC
    copy = tmp_path / "copy.jsonl"
    dump_clustering_file(items, copy)
    assert load_clustering_file(copy) == items


def test_a_bad_clustering_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "story": "s", "published": "2024-03-01"}\n{"id": "2", "story": "s"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_clustering_file(path)
