"""Clustering diagnostics on small hand-computed labellings."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from summarizer.clustering_report import (
    Merge,
    Split,
    format_explain,
    pairwise_by_language,
    size_distribution,
    size_line,
    worst_merges,
    worst_splits,
    write_predictions,
)
from summarizer.metrics import PRF


def _labels(groups: dict[str, list[str]]) -> dict[str, str]:
    """Article id -> label from label -> article ids."""
    return {article: label for label, articles in groups.items() for article in articles}


# -- pairwise_by_language -------------------------------------------------------------------------------


def test_pairwise_by_language_on_a_worked_example() -> None:
    # id:        a    b    c    d    e    f
    gold = {"a": "1", "b": "1", "c": "1", "d": "1", "e": "2", "f": "2"}
    predicted = {"a": "x", "b": "x", "c": "y", "d": "x", "e": "x", "f": "y"}
    langs = {"a": "en", "b": "en", "c": "en", "d": "fr", "e": "fr", "f": "en"}
    same, cross = pairwise_by_language(gold, predicted, langs)
    # same language: ab ac af bc bf cf (en), de (fr); gold ab ac bc; predicted ab cf de; both ab
    assert (same.precision, same.recall, same.f1) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # across: ad ae bd be cd ce fd fe; gold ad bd cd fe; predicted ad ae bd be; both ad bd
    assert (cross.precision, cross.recall, cross.f1) == pytest.approx((1 / 2, 1 / 2, 1 / 2))


def test_pairwise_by_language_with_no_pair_of_a_kind_scores_one() -> None:
    gold = {"a": "1", "b": "1", "c": "2"}
    predicted = {"a": "x", "b": "y", "c": "y"}
    same, cross = pairwise_by_language(gold, predicted, dict.fromkeys(gold, "en"))
    # same language: predicted bc (wrong), gold ab (missed)
    assert (same.precision, same.recall, same.f1) == (0.0, 0.0, 0.0)
    assert cross == PRF(1.0, 1.0, 1.0)  # one language: no cross-language pair at all
    # every article alone in its language: no same-language pair, all pairs are cross-language
    same, cross = pairwise_by_language(gold, predicted, {"a": "en", "b": "fr", "c": "de"})
    assert same == PRF(1.0, 1.0, 1.0)
    assert (cross.precision, cross.recall) == (0.0, 0.0)
    # nothing predicted together across languages, nothing to find: precision and recall 1.0
    same, cross = pairwise_by_language({"a": "1", "b": "2"}, {"a": "x", "b": "y"}, {"a": "en", "b": "fr"})
    assert same == cross == PRF(1.0, 1.0, 1.0)
    assert pairwise_by_language({}, {}, {}) == (PRF(1.0, 1.0, 1.0), PRF(1.0, 1.0, 1.0))


def _brute_force(
    gold: dict[str, str], predicted: dict[str, str], langs: dict[str, str], same_language: bool
) -> tuple[float, float]:
    together = predicted_pairs = gold_pairs = 0
    for a, b in itertools.combinations(sorted(gold), 2):
        if (langs[a] == langs[b]) != same_language:
            continue
        in_gold, in_predicted = gold[a] == gold[b], predicted[a] == predicted[b]
        together += in_gold and in_predicted
        predicted_pairs += in_predicted
        gold_pairs += in_gold
    return (
        together / predicted_pairs if predicted_pairs else 1.0,
        together / gold_pairs if gold_pairs else 1.0,
    )


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_by_language_counts_as_pair_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"n{i}" for i in range(60)]
    gold = {i: rng.choice("ABCD") for i in ids}
    predicted = {i: rng.choice("vwxyz") for i in ids}
    langs = {i: rng.choice(["en", "fr", "de"]) for i in ids}
    same, cross = pairwise_by_language(gold, predicted, langs)
    assert (same.precision, same.recall) == pytest.approx(_brute_force(gold, predicted, langs, True))
    assert (cross.precision, cross.recall) == pytest.approx(_brute_force(gold, predicted, langs, False))


def test_pairwise_by_language_is_linear_on_ten_thousand_articles() -> None:
    ids = [f"n{i}" for i in range(10_000)]
    gold = {item: str(index % 7) for index, item in enumerate(ids)}
    langs = {item: "en" if index % 2 else "fr" for index, item in enumerate(ids)}
    same, cross = pairwise_by_language(gold, dict(gold), langs)  # 50 million pairs, counted not enumerated
    assert same == cross == PRF(1.0, 1.0, 1.0)


# -- sizes ----------------------------------------------------------------------------------------------


def test_size_distribution_buckets_at_their_bounds() -> None:
    sizes = [1, 1, 2, 3, 5, 6, 10, 11, 20, 21, 50, 51]
    predicted = _labels(
        {f"s{index}": [f"s{index}-{n}" for n in range(size)] for index, size in enumerate(sizes)}
    )
    expected = {"1": 2, "2": 1, "3-5": 2, "6-10": 2, "11-20": 2, "21-50": 2, ">50": 1}
    assert size_distribution(predicted) == expected
    assert list(size_distribution(predicted)) == list(expected)
    assert size_line(predicted) == (
        "story sizes: 1: 2, 2: 1, 3-5: 2, 6-10: 2, 11-20: 2, 21-50: 2, >50: 1; largest 51"
    )


def test_size_distribution_keeps_empty_buckets() -> None:
    predicted = {"a": "s1", "b": "s1", "c": "s1", "d": "s2"}
    assert size_distribution(predicted) == {
        "1": 1,
        "2": 0,
        "3-5": 1,
        "6-10": 0,
        "11-20": 0,
        "21-50": 0,
        ">50": 0,
    }
    assert (
        size_line(predicted)
        == "story sizes: 1: 1, 2: 0, 3-5: 1, 6-10: 0, 11-20: 0, 21-50: 0, >50: 0; largest 3"
    )
    assert size_line({}) == "story sizes: 1: 0, 2: 0, 3-5: 0, 6-10: 0, 11-20: 0, 21-50: 0, >50: 0; largest 0"


# -- merges and splits ----------------------------------------------------------------------------------

MERGE_GOLD = _labels({
    "A": ["a4", "a1", "a3", "a2"], "B": ["b2", "b1"], "C": ["c1"],  # in s1
    "G": ["g1", "g2", "g3", "g4"], "F": ["f1", "f2"],  # in s0
    "E": ["e1", "e2"], "D": ["d1", "d2"],  # in s2
    "H": ["h1", "h2", "h3"],  # alone in s3
    "J": ["j1"], "I": ["i1"],  # in s4
})  # fmt: skip
MERGE_PREDICTED = {
    article: {"a": "s1", "b": "s1", "c": "s1", "g": "s0", "f": "s0", "e": "s2", "d": "s2", "h": "s3"}.get(
        article[0], "s4"
    )
    for article in MERGE_GOLD
}


def test_worst_merges_takes_the_two_largest_events_and_ranks_by_wrong_pairs() -> None:
    merges = worst_merges(MERGE_GOLD, MERGE_PREDICTED)
    assert merges == [
        Merge("s0", "G", 4, ("g1", "g2", "g3"), "F", 2, ("f1", "f2")),  # 8 wrong pairs, s0 before s1
        Merge("s1", "A", 4, ("a1", "a2", "a3"), "B", 2, ("b1", "b2")),  # 8 (C, the third event, left out)
        Merge("s2", "D", 2, ("d1", "d2"), "E", 2, ("e1", "e2")),  # 4, equal sizes: D before E
        Merge("s4", "I", 1, ("i1",), "J", 1, ("j1",)),  # 1; s3 holds one event only
    ]
    assert [merge.wrong_pairs for merge in merges] == [8, 8, 4, 1]
    assert worst_merges(MERGE_GOLD, MERGE_PREDICTED, limit=2) == merges[:2]
    assert worst_merges(MERGE_GOLD, MERGE_PREDICTED, limit=0) == []
    assert worst_merges(MERGE_GOLD, dict(MERGE_GOLD)) == []


def test_worst_splits_ranks_by_missed_pairs() -> None:
    gold = _labels({"A": ["a1", "a2", "a3", "a4", "a5", "a6"], "B": ["b1", "b2", "b3", "b4"],
                    "A2": ["c1", "c2", "c3", "c4"], "C": ["d1", "d2", "d3"]})  # fmt: skip
    predicted = {
        "a1": "x", "a2": "x", "a3": "x", "a4": "y", "a5": "y", "a6": "z",  # 3 + 2 + 1
        "b1": "q", "b2": "q", "b3": "p", "b4": "p",  # 2 + 2
        "c1": "t", "c2": "t", "c3": "s", "c4": "s",  # 2 + 2
        "d1": "w", "d2": "w", "d3": "w",  # whole
    }  # fmt: skip
    splits = worst_splits(gold, predicted)
    assert splits == [
        Split("A", (3, 2, 1), ("x", "y")),  # 15 pairs, 3 + 1 kept: 11 missed
        Split("A2", (2, 2), ("s", "t")),  # 6 pairs, 2 kept: 4 missed, A2 before B
        Split("B", (2, 2), ("p", "q")),
    ]
    assert [split.missed_pairs for split in splits] == [11, 4, 4]
    assert worst_splits(gold, predicted, limit=1) == splits[:1]
    assert worst_splits(gold, dict(gold)) == []
    # one story per article: every pair of an event is missed
    assert worst_splits({"a": "E", "b": "E", "c": "E"}, {"a": "1", "b": "2", "c": "3"}) == [
        Split("E", (1, 1, 1), ("1", "2"))
    ]


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        worst_merges(MERGE_GOLD, MERGE_PREDICTED, limit=-1)
    with pytest.raises(ValueError, match="limit"):
        worst_splits(MERGE_GOLD, MERGE_PREDICTED, limit=-1)


# -- output ---------------------------------------------------------------------------------------------


def test_write_predictions_writes_sorted_utf8_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    gold = {"b": "Élection", "a": "1", "c": "1"}
    predicted = {"c": "s2", "a": "s1", "b": "s1"}
    langs = {"a": "en", "b": "fr", "c": "de"}
    write_predictions(path, gold, predicted, langs)
    text = path.read_text(encoding="utf-8")
    assert "Élection" in text  # not \u-escaped
    assert [json.loads(line) for line in text.splitlines()] == [
        {"id": "a", "story": "1", "predicted": "s1", "lang": "en"},
        {"id": "b", "story": "Élection", "predicted": "s1", "lang": "fr"},
        {"id": "c", "story": "1", "predicted": "s2", "lang": "de"},
    ]
    assert text.endswith("\n") and text.count("\n") == 3


def test_format_explain_renders_merges_then_splits() -> None:
    long_title = "The quick brown fox jumps over the lazy dog " * 3
    titles = {"a1": long_title, "a2": "  Short\n  title ", "b1": "Élection à Paris"}  # a3 has no title
    merges = [Merge("s1", "A", 5, ("a1", "a2", "a3"), "B", 1, ("b1",))]
    splits = [Split("X", (4, 2, 1), ("s1", "s9")), Split("Y", (1, 1), ("s2", "s3"))]
    shortened = "The quick brown fox jumps over the lazy dog The quick brown…"
    assert len(shortened) == 60
    assert format_explain(merges, splits, titles) == [
        f"merge in story s1: event A (5 articles: '{shortened}', 'Short title', 'a3', ...)"
        " + event B (1 article: 'Élection à Paris')",
        "split of event X: parts 4 + 2 + 1 (stories s1, s9)",
        "split of event Y: parts 1 + 1 (stories s2, s3)",
    ]
    exact = "x" * 60
    line = format_explain(
        [Merge("s", "A", 2, ("a", "b"), "B", 1, ("c",))], [], {"a": exact, "b": exact + "y"}
    )
    assert line == [
        f"merge in story s: event A (2 articles: '{exact}', '{'x' * 59}…') + event B (1 article: 'c')"
    ]
    assert format_explain([], [], {}) == []


# -- inputs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda gold, predicted, langs: pairwise_by_language(gold, predicted, langs),
        lambda gold, predicted, langs: worst_merges(gold, predicted),
        lambda gold, predicted, langs: worst_splits(gold, predicted),
    ],
    ids=["pairwise_by_language", "worst_merges", "worst_splits"],
)
def test_labels_must_cover_the_same_articles(
    call: Callable[[dict[str, str], dict[str, str], dict[str, str]], object],
) -> None:
    with pytest.raises(ValueError, match="same articles"):
        call({"a": "1", "b": "1"}, {"a": "x"}, {"a": "en", "b": "en"})


def test_languages_must_cover_the_same_articles(tmp_path: Path) -> None:
    gold, predicted = {"a": "1", "b": "1"}, {"a": "x", "b": "x"}
    with pytest.raises(ValueError, match="same articles"):
        pairwise_by_language(gold, predicted, {"a": "en"})
    with pytest.raises(ValueError, match="same articles"):
        pairwise_by_language(gold, predicted, {"a": "en", "b": "en", "c": "fr"})
    with pytest.raises(ValueError, match="same articles"):
        write_predictions(tmp_path / "out.jsonl", gold, predicted, {"a": "en"})
    with pytest.raises(ValueError, match="same articles"):
        write_predictions(tmp_path / "out.jsonl", gold, {"a": "x"}, {"a": "en", "b": "en"})
