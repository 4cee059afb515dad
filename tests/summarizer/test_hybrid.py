"""The two-level story clusterer (summarizer.hybrid), its features, its model file and its training.

Inputs here are the project's multilingual set with stand-in dense vectors (one random direction per gold
event plus noise, seeded): fast, and the lexical features are the real ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from summarizer import textfeatures
from summarizer.clustering import ClusterInput
from summarizer.clustering_eval import ClusteringItem, load_clustering_file, pairwise_scores
from summarizer.clustering_model import (
    ClusteringModel,
    Decision,
    ModelError,
    default_model,
    load_model,
    save_model,
)
from summarizer.clustering_train import LabelledSet, examples, train
from summarizer.hybrid import JOIN_FEATURES, LINK_FEATURES, HybridClusterer
from summarizer.textfeatures import DocumentFrequencies, terms

SET = Path(__file__).parent.parent / "fixtures" / "stories" / "multilingual.jsonl"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


JOIN_ALL = ClusteringModel(
    "join-all", Decision.fixed(JOIN_FEATURES, 50.0), Decision.fixed(LINK_FEATURES, -50.0)
)
LINK_ALL = ClusteringModel(
    "link-all", Decision.fixed(JOIN_FEATURES, -50.0), Decision.fixed(LINK_FEATURES, 50.0)
)


def _inputs(items: Sequence[ClusteringItem], seed: int = 3, noise: float = 0.35) -> list[ClusterInput]:
    rng = np.random.default_rng(seed)
    direction = {story: rng.normal(size=32) for story in sorted({i.story for i in items})}
    out = []
    for item in items:
        vector = (
            direction[item.story] + noise * np.linalg.norm(direction[item.story]) * rng.normal(size=32) / 5
        )
        out.append(
            ClusterInput(item.id, tuple(vector.tolist()), frozenset(), item.published, None, item.lang, item.title,
                         item.text, frozenset())
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def multilingual() -> list[ClusteringItem]:
    return load_clustering_file(SET)


@pytest.fixture(scope="module")
def inputs(multilingual: list[ClusteringItem]) -> list[ClusterInput]:
    return _inputs(multilingual)


def _run(items: Sequence[ClusterInput], model: ClusteringModel | None = None) -> HybridClusterer:
    clusterer = HybridClusterer(model)
    for item in items:
        clusterer.add(item)
    return clusterer


def _item(
    article_id: str, lang: str, text: str, hours: float = 0, vector: Sequence[float] = (1.0, 0.0)
) -> ClusterInput:
    return ClusterInput(article_id, vector, frozenset(), T0 + timedelta(hours=hours), None, lang, text, text)


# --- features -------------------------------------------------------------------------------------------------


def test_terms_fold_accents_elisions_and_numbers() -> None:
    found = terms("L'EI revendique", "Dáesh a publié 2,910 messages; 2 910 selon Europol.", "fr", ["europol"])
    assert "ei" in found.bags["tok"] and "daesh" in found.bags["tok"]
    assert "le" not in found.bags["tok"] and "a" not in found.bags["tok"]  # spaCy's French stop words
    assert found.bags["num"] == {"2910": 2}
    assert found.bags["ent"] == {"europol": 1}
    assert found.bags["stem"]["revend"] == 1 and found.bags["title"] == {"ei": 1, "revendique": 1}
    arabic = terms("", "والشرطة بالشرطة", "ar")
    assert set(arabic.bags["stem"]) == {"شرطة"}


def test_document_frequencies_weigh_rare_terms_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    df = DocumentFrequencies()
    for n in range(20):
        df.add(terms("", f"police report {'arrest' if n == 0 else 'weather'}", "en"))
    vector = df.vectors(terms("", "police arrest", "en"))["tok"]
    assert math.isclose(sum(w * w for w in vector.values()), 1.0)
    assert vector["arrest"] > vector["police"]  # seen once vs every time
    monkeypatch.setattr(textfeatures, "MAX_TERMS", 40)
    for n in range(200):
        df.add(terms("", f"word{n} other{n}", "en"))
    assert len(df.tables["tok:en"]) <= 40
    assert df.tables["tok:en"]["police"] == 20  # frequent terms are the ones kept


def test_a_huge_article_is_bounded() -> None:
    words = " ".join(f"w{n}x" for n in range(50_000))
    found = terms(words, words, "en")
    assert all(len(bag) <= textfeatures.MAX_TERMS_PER_ARTICLE for bag in found.bags.values())


# --- clustering -----------------------------------------------------------------------------------------------


def test_same_order_same_stories_and_a_restart_goes_on_identically(inputs: list[ClusterInput]) -> None:
    whole = _run(inputs)
    assert whole.stories() == _run(inputs).stories()
    half = len(inputs) // 2
    first = _run(inputs[:half])
    saved = json.dumps(first.snapshot())
    restarted = HybridClusterer()
    restarted.restore(json.loads(saved))
    replayed = [restarted.add(item) for item in inputs[: half + 5]]  # replays change nothing
    assert replayed[:half] == [first.story_of(item.article_id) for item in inputs[:half]]
    for item in inputs[half + 5 :]:
        restarted.add(item)
    assert restarted.stories() == whole.stories()
    assert json.dumps(restarted.snapshot()) == json.dumps(whole.snapshot())


def test_the_shipped_model_rebuilds_the_stand_in_events(
    multilingual: list[ClusteringItem], inputs: list[ClusterInput]
) -> None:
    clusterer = _run(inputs)
    predicted = {a: s for s, articles in clusterer.stories().items() for a in articles}
    score = pairwise_scores({i.id: i.story for i in multilingual}, predicted)
    assert score.f1 >= 0.85, score


def test_duplicates_join_their_original_without_counting() -> None:
    clusterer = HybridClusterer()
    story = clusterer.add(_item("a", "en", "Europol takes down a botnet"))
    copy = replace(_item("b", "en", "Something else entirely", vector=(0.0, 1.0)), duplicate_of="a")
    assert clusterer.add(copy) == story
    state = clusterer.story(story)
    assert state.articles == ("a", "b") and state.duplicates == ("b",) and state.sources == 1
    unknown = replace(_item("c", "en", "A third text", vector=(0.0, 1.0)), duplicate_of="zzz")
    assert clusterer.add(unknown) != story  # a duplicate of an unknown article is clustered like any other


def test_a_story_holds_one_event_per_language() -> None:
    """Even a model that links everything never puts two events of one language in one story (no chaining
    through a third language)."""
    clusterer = HybridClusterer(LINK_ALL)
    for n, lang in enumerate(("en", "fr", "en", "de", "fr")):
        clusterer.add(_item(f"a{n}", lang, f"text {n}", hours=n))
    for articles in clusterer.stories().values():
        langs = [clusterer.event_of(a).lang for a in articles]  # type: ignore[union-attr]
        assert len(langs) == len(set(langs))
    assert len(clusterer.stories()) == 2  # en+fr+de, then en+fr


def test_stories_close_after_the_window_and_leave_the_index() -> None:
    clusterer = HybridClusterer(JOIN_ALL, window=timedelta(days=1))
    first = clusterer.add(_item("a", "en", "one", hours=0))
    assert clusterer.add(_item("b", "en", "two", hours=10)) == first
    later = clusterer.add(_item("c", "en", "three", hours=40))  # more than a day after the last source
    assert later != first and clusterer.active_count() == 1
    closed = clusterer.drop_closed()
    assert [s.story_id for s in closed] == [first] and closed[0].articles == ("a", "b")
    assert clusterer.story_of("a") is None and set(clusterer.stories()) == {later}


def test_bad_inputs_are_refused_clearly() -> None:
    clusterer = HybridClusterer()
    with pytest.raises(ValueError, match="timezone-aware"):
        clusterer.add(replace(_item("a", "en", "x"), published=datetime(2024, 3, 1)))
    clusterer.add(_item("b", "en", "x"))
    with pytest.raises(ValueError, match="expected"):
        clusterer.add(_item("c", "en", "x", vector=(1.0, 0.0, 0.0)))
    nan = clusterer.add(
        _item("d", "en", "y", vector=(math.nan, 1.0))
    )  # a broken vector: kept, no dense signal
    assert nan in clusterer.stories()
    with pytest.raises(ValueError, match="not a hybrid"):
        clusterer.restore({"version": 1})


def test_adopt_rebuilds_a_story_under_its_id(inputs: list[ClusterInput]) -> None:
    clusterer = HybridClusterer()
    clusterer.adopt("s-old", 4, inputs[:3])
    assert clusterer.stories() == {"s-old": [i.article_id for i in inputs[:3]]}
    assert clusterer.story_of(inputs[0].article_id) == "s-old"
    assert clusterer.snapshot()["next_seq"] == 5


# --- the model file -------------------------------------------------------------------------------------------


def test_the_default_model_loads_and_round_trips(tmp_path: Path) -> None:
    model = default_model()
    assert model.join.features == JOIN_FEATURES and model.link.features == LINK_FEATURES
    assert model.trained_on and model.trained_at
    path = tmp_path / "m.json"
    save_model(model, path)
    assert load_model(path) == model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {"format": "other"}, "not a veille clustering model"),
        (lambda d: {**d, "join": {**d["join"], "features": ["x"] * len(d["join"]["features"])}}, "retrain"),
        (lambda d: {**d, "join": {**d["join"], "weights": d["join"]["weights"][:-1]}}, "weights"),
        (lambda d: {**d, "link": {**d["link"], "threshold": 1.5}}, "threshold"),
        (lambda d: {**d, "link": {**d["link"], "intercept": 1e300}}, "finite"),
        (lambda d: {k: v for k, v in d.items() if k != "join"}, "join"),
    ],
)
def test_a_bad_model_file_is_refused_with_its_path(tmp_path: Path, change: object, message: str) -> None:
    good = default_model().to_dict()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(change(good)))  # type: ignore[operator]
    with pytest.raises(ModelError, match=message) as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_not_json_and_missing_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ModelError, match="not JSON"):
        load_model(tmp_path / "x.json")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.json")


# --- training -------------------------------------------------------------------------------------------------


def test_examples_label_the_gold_event_and_story(
    multilingual: list[ClusteringItem], inputs: list[ClusterInput]
) -> None:
    join, link = examples(LabelledSet("ml", multilingual, inputs))
    assert len(join.rows) == len(join.labels) and all(len(r) == len(JOIN_FEATURES) for r in join.rows)
    assert 0 < sum(join.labels) < len(join.labels) and 0 < sum(link.labels) < len(link.labels)


def test_training_learns_to_rebuild_the_events(multilingual: list[ClusteringItem]) -> None:
    """Trained on one stand-in stream, the model rebuilds another drawn the same way (other seed)."""
    train_set = LabelledSet("a", multilingual, _inputs(multilingual, seed=5))
    model = train([train_set], name="t", now=T0)
    assert model.trained_on == ("a",) and model.trained_at == "2024-03-01T00:00:00+00:00"
    clusterer = _run(_inputs(multilingual, seed=9), model)
    predicted = {a: s for s, articles in clusterer.stories().items() for a in articles}
    assert pairwise_scores({i.id: i.story for i in multilingual}, predicted).f1 >= 0.8
