"""ROUGE metrics against hand-computed examples, and the loaders of the summary evaluation files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarizer.rouge import (
    RougeScore,
    RougeScores,
    load_summary_cases,
    load_wikinewssum,
    mean_scores,
    rouge,
    tokenize,
    wiki_plain,
)
from tests.conftest import shared_data


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("L'État a dit : «Non !»", ["l", "état", "a", "dit", "non"]),
        ("14,600 people; U.S.-led", ["14", "600", "people", "u", "s", "led"]),
        ("Die Straße, z. B. in Gera", ["die", "straße", "z", "b", "in", "gera"]),
        ("e\u0301te\u0301 ÉTÉ", ["été", "été"]),  # decomposed accents are composed, not dropped
        ("بِسْمِ اللَّهِ، داعش!", ["بِسْمِ", "اللَّهِ", "داعش"]),  # Arabic vowel marks stay in their word
        ("under_score  \t\n", ["under", "score"]),
        ("", []),
    ],
    ids=["french", "numbers", "german", "decomposed", "arabic", "underscore", "empty"],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def _approx(score: RougeScore, precision: float, recall: float, f1: float) -> None:
    assert (score.precision, score.recall, score.f1) == pytest.approx((precision, recall, f1))


def test_one_word_changed() -> None:
    # unigrams: the x2, cat, on, mat shared -> 5 of 6; bigrams: "the cat", "on the", "the mat" -> 3 of 5;
    # LCS "the cat on the mat" -> 5 of 6.
    found = rouge("The cat sat on the mat.", "the cat lay on the mat")
    _approx(found.rouge1, 5 / 6, 5 / 6, 5 / 6)
    _approx(found.rouge2, 3 / 5, 3 / 5, 3 / 5)
    _approx(found.rougeL, 5 / 6, 5 / 6, 5 / 6)


def test_short_candidate_has_full_precision_and_partial_recall() -> None:
    found = rouge("Police arrested two men", "police arrested two men in Berlin on Friday")
    # 4 of 8 reference words, 3 of 7 reference bigrams, LCS 4: F1 = 2PR / (P + R).
    _approx(found.rouge1, 1.0, 4 / 8, 2 / 3)
    _approx(found.rouge2, 1.0, 3 / 7, 3 / 5)
    _approx(found.rougeL, 1.0, 4 / 8, 2 / 3)


def test_order_matters_to_bigrams_and_lcs_only() -> None:
    found = rouge("a b c d", "d c b a")
    _approx(found.rouge1, 1.0, 1.0, 1.0)
    _approx(found.rouge2, 0.0, 0.0, 0.0)
    _approx(found.rougeL, 1 / 4, 1 / 4, 1 / 4)


def test_counts_are_clipped() -> None:
    # "the" x4 against one "the" in the reference: overlap 1; P = 1/4, R = 1/2, F1 = 1/3.
    _approx(rouge("the the the the", "the cat").rouge1, 1 / 4, 1 / 2, 1 / 3)


def test_english_is_stemmed_as_published_figures_are() -> None:
    assert rouge("police arrests", "police arrested").rouge1.f1 == 1.0  # Porter stemmer, as rouge-score's
    assert rouge("police arrests", "police arrested", "fr").rouge1.f1 == 0.5  # other languages: no stemming


def test_other_languages_keep_accents_and_scripts() -> None:
    """rouge-score's own tokenizer keeps only a-z0-9: without ours, every Arabic word would vanish."""
    assert rouge("ete", "été", "fr").rouge1.f1 == 0.0
    assert rouge("ÉTÉ", "été", "fr").rouge1.f1 == 1.0
    assert rouge("داعش يوروبول", "يوروبول وداعش", "ar").rouge1.f1 == 0.5
    assert rouge("Daech", "داعش", "ar").rouge1.f1 == 0.0


@pytest.mark.parametrize(
    ("candidate", "reference"), [("", "something"), ("something", ""), ("", ""), ("!", "?")]
)
def test_empty_sides_score_zero(candidate: str, reference: str) -> None:
    assert rouge(candidate, reference) == RougeScores(*(RougeScore(0.0, 0.0, 0.0),) * 3)


def test_mean_scores_macro_averages() -> None:
    first = rouge("a b", "a b")  # all 1.0
    second = rouge("a b", "c d")  # all 0.0
    mean = mean_scores([first, second])
    assert mean.rouge1 == mean.rouge2 == mean.rougeL == RougeScore(0.5, 0.5, 0.5)
    assert mean_scores([]).rouge1 == RougeScore(0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("wikitext", "plain"),
    [
        (
            "{{w|Hu Jintao|Hu Jintao}}, the [[w:President of Brazil|President]] of [[Brazil]]",
            "Hu Jintao, the President of Brazil",
        ),
        (["{{date|November 13, 2004}}\n{{Brazil}}", "''Reuters'' said {{w|NASA}}."], "Reuters said NASA."),
        ("[[File:Powell.jpg|thumb|left|[[Colin Powell]]]]Text here.", "Text here."),
        ("found at [http://www.example.org Example.org] &mdash; today", "found at Example.org — today"),
        ("{{byline|date[w:US District Court|US District Court]] Judge", "US District Court Judge"),
        ("{{haveyoursay}}\n{publish}}\n{{archive}}", ""),
    ],
    ids=["links", "paragraphs", "file", "external", "broken-byline", "only-templates"],
)
def test_wiki_plain(wikitext: str | list[str], plain: str) -> None:
    assert wiki_plain(wikitext) == plain


def test_load_summary_cases(tmp_path: Path) -> None:
    path = tmp_path / "summaries.jsonl"
    record = {
        "story": "s1",
        "reference": "A reference.",
        "articles": [
            {"id": "a", "lang": "en", "title": "T1", "text": "Text one."},
            {"id": "b", "lang": "fr", "title": "T2", "text": "Texte deux."},
        ],
    }
    path.write_text(json.dumps(record) + "\n\n", encoding="utf-8")
    [case] = load_summary_cases(path)
    assert (case.story, case.reference) == ("s1", "A reference.")
    assert [(a.id, a.lang, a.title, a.source_id) for a in case.articles] == [
        ("a", "en", "T1", "a"),
        ("b", "fr", "T2", "b"),
    ]
    assert case.articles[0].published < case.articles[1].published


def test_load_wikinewssum_format(tmp_path: Path) -> None:
    path = tmp_path / "endataset.json"
    records = [
        {
            "title": "T",
            "text": ["{{w|Europol}} said so."],
            "sources": [{"language": "en", "title": "S", "maintext": "M."}],
        },
        {"title": "No sources", "text": ["Text."], "sources": []},
        {
            "title": "No reference",
            "text": ["{{archive}}"],
            "sources": [{"language": "en", "title": "S", "maintext": None}],
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    [case] = load_wikinewssum(path)
    assert (case.story, case.reference) == ("T", "Europol said so.")
    assert [(a.lang, a.title, a.text) for a in case.articles] == [("en", "S", "M.")]


def test_load_the_real_wikinewssum_sample() -> None:
    path = shared_data("stories", "wikinewssum-sample", "endataset.json")
    cases = load_wikinewssum(path)
    assert 80 <= len(cases) <= 101  # records without sources or without text are left out
    assert all(case.articles and case.reference for case in cases)
    assert not any("{{" in case.reference or "[[" in case.reference for case in cases)
