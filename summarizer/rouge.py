"""ROUGE with Google's ``rouge-score`` (the implementation the field reports with) and the evaluation of the
extractive summaries against reference summaries.

Metrics: :func:`rouge` gives ROUGE-1, ROUGE-2 and ROUGE-L (``rougeL``: the whole text as one sequence) F1,
precision and recall. English is scored exactly as published figures are (rouge-score's tokenizer and Porter
stemmer); for any other language rouge-score's tokenizer would keep only ``a-z0-9`` (it drops every accented
or non-Latin word), so :func:`tokenize` is used instead: Unicode NFC, lower case, runs of letters and digits,
combining marks (an Arabic vowel sign, a decomposed accent) inside their word, no stemming.

Evaluation: :func:`evaluate_summaries` reads the project's summaries format (JSON Lines of ``{"story",
"reference", "articles": [{"id", "lang", "title", "text"}]}``), or :func:`load_wikinewssum` turns the
WikinewsSum sample (the Wikinews article is the reference, its sources the story) into the same cases;
:func:`evaluate_cases` scores, per story, macro-averaged:

- the full summary (:func:`summarizer.summaries.summarize` with ``words=FULL_WORDS``) next to the
  length-matched lead baseline (:func:`summarizer.summaries.lead_words`: the first sentences of each article in
  turn, as many words as the full summary has);
- the digest's summary (3 sentences) next to lead-3 (:func:`summarizer.summaries.lead3`).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer, tokenizers

from summarizer.metrics import PRF
from summarizer.summaries import FULL_WORDS, EmbedFn, SummaryArticle, lead3, lead_words, summarize

# Articles of the evaluation files carry no dates: they get these, one minute apart, in file order.
_EVAL_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


RougeScore = PRF  # one ROUGE-n or ROUGE-L score


@dataclass(frozen=True, slots=True)
class RougeScores:
    rouge1: RougeScore
    rouge2: RougeScore
    rougeL: RougeScore


@dataclass(frozen=True, slots=True)
class SummaryCase:
    """One story of an evaluation file: its reference summary and its articles."""

    story: str
    reference: str
    articles: tuple[SummaryArticle, ...]


@dataclass(frozen=True, slots=True)
class SummaryScores:
    """Macro-averaged ROUGE over ``stories`` stories: the full summary and the length-matched lead baseline,
    the digest's summary and lead-3; ``words``: the full summary's mean length."""

    stories: int
    full: RougeScores
    lead: RougeScores
    ours: RougeScores
    lead3: RougeScores
    words: float = 0.0


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: runs of letters and digits, combining marks kept inside their word."""
    tokens: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFC", text).lower():
        if char.isalnum() or (current and unicodedata.category(char).startswith("M")):
            current.append(char)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


class _UnicodeTokenizer(tokenizers.Tokenizer):  # type: ignore[misc]  # rouge-score has no type hints
    """rouge-score's tokenizer interface over :func:`tokenize` (every script, no stemming)."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


_TYPES = ["rouge1", "rouge2", "rougeL"]
_ENGLISH = rouge_scorer.RougeScorer(_TYPES, use_stemmer=True)
_UNICODE = rouge_scorer.RougeScorer(_TYPES, tokenizer=_UnicodeTokenizer())


def rouge(candidate: str, reference: str, lang: str | None = "en") -> RougeScores:
    """ROUGE-1, ROUGE-2 and ROUGE-L of a candidate against a reference, by rouge-score (module docstring)."""
    scorer = _ENGLISH if (lang or "en").lower().startswith("en") else _UNICODE
    found = scorer.score(reference, candidate)
    one, two, lcs = (RougeScore(found[k].precision, found[k].recall, found[k].fmeasure) for k in _TYPES)
    return RougeScores(one, two, lcs)


def _mean(scores: Sequence[RougeScore]) -> RougeScore:
    count = len(scores) or 1
    return RougeScore(
        sum(s.precision for s in scores) / count,
        sum(s.recall for s in scores) / count,
        sum(s.f1 for s in scores) / count,
    )


def mean_scores(scores: Sequence[RougeScores]) -> RougeScores:
    """Macro average of each metric's precision, recall and F1 (zeros for an empty sequence)."""
    return RougeScores(
        _mean([s.rouge1 for s in scores]),
        _mean([s.rouge2 for s in scores]),
        _mean([s.rougeL for s in scores]),
    )


def _case(story: str, reference: str, articles: Iterable[tuple[str, str, str, str]]) -> SummaryCase:
    """A case from (id, lang, title, text) tuples, dated one minute apart and each its own source."""
    items = tuple(
        SummaryArticle(
            id=article_id,
            lang=lang,
            title=title,
            text=text,
            published=_EVAL_EPOCH + timedelta(minutes=i),
            source_id=article_id,
        )
        for i, (article_id, lang, title, text) in enumerate(articles)
    )
    return SummaryCase(story=story, reference=reference, articles=items)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


_WIKI_FILE = re.compile(r"\[\[(?:file|image):(?:[^\[\]]|\[\[[^\]]*\]\])*\]\]", re.IGNORECASE)
_WIKI_LINK = re.compile(r"\[\[?(?:w:)?(?:[^\[\]|]*\|)?([^\[\]|]*)\]\]", re.IGNORECASE)
_WIKI_EXTERNAL = re.compile(r"\[(?:https?:)?//[^\s\]]+\s*([^\]]*)\]")
_WIKI_W = re.compile(r"\{\{w\|(?:[^{}|]*\|)?([^{}|]*)\}\}", re.IGNORECASE)
_WIKI_OPENER = re.compile(r"\{\{[^{}\[\]\s]*(?=\[)")  # "{{byline|date[[w:..." in the dump: a cut template
_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_WIKI_DEBRIS = re.compile(r"\{+[^{}\s]*\}*|\}+|'{2,}|\[+(?:https?:)?//\S*")


def wiki_plain(parts: str | Sequence[str]) -> str:
    """Plain text of Wikinews wikitext: links and {{w|...}} become their label, templates and files go."""
    text = parts if isinstance(parts, str) else "\n".join(p for p in parts if isinstance(p, str))
    text = _WIKI_OPENER.sub("", _WIKI_FILE.sub("", text))
    text = _WIKI_W.sub(r"\1", _WIKI_LINK.sub(r"\1", _WIKI_EXTERNAL.sub(r"\1", text)))
    while _WIKI_TEMPLATE.search(text):
        text = _WIKI_TEMPLATE.sub("", text)
    text = html.unescape(_WIKI_DEBRIS.sub("", text))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def load_summary_cases(path: Path) -> list[SummaryCase]:
    """Cases from the summaries format: JSON Lines of {"story", "reference", "articles": [{id, lang, title, text}]}."""
    cases = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            rows = [
                (str(a["id"]), _text(a.get("lang")), _text(a.get("title")), _text(a.get("text")))
                for a in record["articles"]
            ]
            cases.append(_case(str(record["story"]), _text(record["reference"]), rows))
    return cases


def load_wikinewssum(path: Path) -> list[SummaryCase]:
    """Cases from WikinewsSum's endataset.json: the Wikinews text is the reference, its sources the articles."""
    cases = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            record = json.loads(line)
            sources = record.get("sources") or []
            rows = [
                (f"w{number}-{i}", _text(s.get("language")), _text(s.get("title")), _text(s.get("maintext")))
                for i, s in enumerate(sources)
            ]
            reference = wiki_plain(record.get("text") or "")
            if rows and reference:
                cases.append(_case(_text(record.get("title")) or f"w{number}", reference, rows))
    return cases


def evaluate_cases(cases: Sequence[SummaryCase], embed: EmbedFn, lang: str | None = "en") -> SummaryScores:
    """ROUGE of the full and the digest summaries and of their baselines against each case's reference."""
    full, lead, ours, baseline, lengths = [], [], [], [], []
    for case in cases:
        long = " ".join(
            s.text for s in summarize(case.articles, embed, lang=lang, words=FULL_WORDS).sentences
        )
        words = len(long.split())
        lengths.append(words)
        full.append(rouge(long, case.reference, lang))
        lead.append(rouge(" ".join(lead_words(case.articles, words, lang)), case.reference, lang))
        short = summarize(case.articles, embed, lang=lang)
        ours.append(rouge(" ".join(s.text for s in short.sentences), case.reference, lang))
        baseline.append(rouge(" ".join(lead3(case.articles, lang)), case.reference, lang))
    return SummaryScores(
        len(cases),
        mean_scores(full),
        mean_scores(lead),
        mean_scores(ours),
        mean_scores(baseline),
        sum(lengths) / (len(lengths) or 1),
    )


def evaluate_summaries(path: Path, embed: EmbedFn, lang: str | None = "en") -> SummaryScores:
    """:func:`evaluate_cases` over a file in the summaries format."""
    return evaluate_cases(load_summary_cases(path), embed, lang)


def format_scores(scores: SummaryScores) -> str:
    """F1 (and recall) per metric: the full summary next to the length-matched lead, then the digest's summary
    next to lead-3 (rouge-score)."""
    lines = [
        f"{scores.stories} stories; full summary {scores.words:.0f} words on average; ROUGE by rouge-score",
        f"{'':8}{'full F1 (R)':>15}{'lead F1 (R)':>15}{'digest F1 (R)':>17}{'lead-3 F1 (R)':>17}",
    ]
    for name in ("rouge1", "rouge2", "rougeL"):
        cells = [getattr(getattr(scores, part), name) for part in ("full", "lead", "ours", "lead3")]
        widths = (15, 15, 17, 17)
        lines.append(
            name.ljust(8)
            + "".join(f"{c.f1:.3f} ({c.recall:.3f})".rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)
