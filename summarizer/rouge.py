"""ROUGE metrics and the evaluation of extractive summaries against reference summaries.

Metrics (pure Python, no stemming, no stop-word removal):

1. :func:`tokenize`: the text in Unicode NFC, lower-cased, cut into runs of letters and digits; a combining
   mark (an Arabic vowel sign, a decomposed accent) stays inside its word, so accents are preserved
   ("été" and "ete" are different words) and every script is tokenized the same way.
2. :func:`rouge_n`: ROUGE-N, the clipped overlap of word n-grams; recall = overlap / reference n-grams,
   precision = overlap / candidate n-grams, F1 their harmonic mean (0 when either side is empty).
3. :func:`rouge_l`: ROUGE-L, from the longest common subsequence of the two token sequences (the whole
   text as one sequence, as ``rougeL`` of Google's rouge-score; not the sentence-level ``rougeLsum``);
   time is len(candidate) x len(reference), so it is meant for summaries, not whole articles.

Evaluation: :func:`evaluate_summaries` reads the project's summaries format (JSON Lines of ``{"story",
"reference", "articles": [{"id", "lang", "title", "text"}]}``), or :func:`load_wikinewssum` turns the
WikinewsSum sample (the Wikinews article is the reference, its sources the story) into the same cases;
:func:`evaluate_cases` summarizes each story with :func:`summarizer.summaries.summarize` and with the
lead-3 baseline (:func:`summarizer.summaries.lead3`: the first three sentences of the first article,
in the wanted language when the story has one) and averages ROUGE-1/2/L over stories (macro average).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from summarizer.metrics import PRF, prf
from summarizer.summaries import EmbedFn, SummaryArticle, lead3, summarize

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
    """Macro-averaged ROUGE of our summaries and of the lead-3 baseline over ``stories`` stories."""

    stories: int
    ours: RougeScores
    lead3: RougeScores
    baseline: str = "lead-3 of the first article (in the wanted language when the story has one)"


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


def _score(overlap: int, candidate_total: int, reference_total: int) -> RougeScore:
    if overlap == 0 or candidate_total == 0 or reference_total == 0:
        return RougeScore(0.0, 0.0, 0.0)
    return prf(overlap / candidate_total, overlap / reference_total)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(candidate: str, reference: str, n: int) -> RougeScore:
    """ROUGE-N of a candidate text against a reference text (n >= 1)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    cand = _ngrams(tokenize(candidate), n)
    ref = _ngrams(tokenize(reference), n)
    overlap = sum((cand & ref).values())
    return _score(overlap, sum(cand.values()), sum(ref.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (one DP row, O(len(a)*len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> RougeScore:
    """ROUGE-L (F1 with beta = 1) of a candidate text against a reference text."""
    cand = tokenize(candidate)
    ref = tokenize(reference)
    return _score(lcs_length(cand, ref), len(cand), len(ref))


def rouge(candidate: str, reference: str) -> RougeScores:
    """ROUGE-1, ROUGE-2 and ROUGE-L of a candidate against a reference."""
    return RougeScores(
        rouge_n(candidate, reference, 1), rouge_n(candidate, reference, 2), rouge_l(candidate, reference)
    )


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
    """ROUGE of :func:`summarize` and of :func:`lead3` against each case's reference, averaged over cases."""
    ours, baseline = [], []
    for case in cases:
        summary = summarize(case.articles, embed, lang=lang)
        ours.append(rouge(" ".join(s.text for s in summary.sentences), case.reference))
        baseline.append(rouge(" ".join(lead3(case.articles, lang)), case.reference))
    return SummaryScores(stories=len(cases), ours=mean_scores(ours), lead3=mean_scores(baseline))


def evaluate_summaries(path: Path, embed: EmbedFn, lang: str | None = "en") -> SummaryScores:
    """:func:`evaluate_cases` over a file in the summaries format."""
    return evaluate_cases(load_summary_cases(path), embed, lang)


def format_scores(scores: SummaryScores) -> str:
    """A small table of F1 (and recall) per metric, ours next to the baseline."""
    lines = [
        f"{scores.stories} stories; baseline: {scores.baseline}",
        f"{'':10}{'ours F1 (R)':>16}{'lead-3 F1 (R)':>18}",
    ]
    for name in ("rouge1", "rouge2", "rougeL"):
        mine, base = getattr(scores.ours, name), getattr(scores.lead3, name)
        lines.append(f"{name:10}{mine.f1:>9.3f} ({mine.recall:.3f}){base.f1:>11.3f} ({base.recall:.3f})")
    return "\n".join(lines)
