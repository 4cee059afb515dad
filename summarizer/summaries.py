"""Summaries: a story's articles -> headline, extractive summary with provenance, counts, importance.

Stages of :func:`summarize`, in order:

1. Articles: duplicates (``is_duplicate``) count as articles, not as sources, and lend no sentence or
   title unless the story has nothing else; each text is cut to ``MAX_TEXT_CHARS`` first, so a 5 MB
   article costs what a long normal one does.
2. Sentences: :func:`split_sentences` cuts each text at line breaks and at ``. ! ? ؟ …`` followed by a
   word that does not start in lower case, except after an abbreviation of the language ("M.", "Dr.",
   "z. B.", "Sr.", "U.S."), an initial, or a German ordinal ("27. Februar"); a dateline ("LA HAYE (AFP) -")
   is dropped. :func:`is_content` keeps sentences of ``MIN_WORDS``..``MAX_WORDS`` words that end like a
   sentence and are not bylines, credits or calls to read more. At most ``MAX_SENTENCES_PER_ARTICLE`` per
   article and ``MAX_CANDIDATES`` per story (the early sentences of every article first), so a story of
   hundreds of articles costs a bounded amount of work; when no sentence passes, the raw ones are used,
   and when there is no text at all, the titles.
3. Vectors: titles and candidate sentences go through the injected ``embed`` function in one call;
   each article's vector is the mean of its sentences', the story centroid the mean of its articles'
   (so a long article does not outweigh a short one). Vectors stay inside this module.
4. One language: a summary is written in the wanted language when the story has articles in it, else in
   the story's main language (most articles; ties: the earliest published), never in several: headline
   and sentences come from the articles of that language only (all articles when none has a known one).
   Headline: the title closest to the centroid of those titles.
5. Sentences: MMR. Relevance = cosine to the story centroid + ``LEAD_BONUS / (1 + position)`` (news puts
   the essentials first) + ``LANG_BONUS`` for a sentence in the wanted language.
   Each step takes the candidate maximizing ``lambda_ * relevance - (1 - lambda_) * max similarity to
   the sentences already taken``, skipping near-copies (similarity >= ``REDUNDANT``, e.g. the same
   sentence in another language). Sentences come out in reading order (oldest article first, then
   position), each with its article id, sentence index and language; a sentence that cannot stand alone
   (it opens with a pronoun or a connective referring back: "He added", "Mais", "Dabei", or tells backstory in
   the pluperfect: "Das Gericht hatte ...") is not the lead:
   the first one that can is moved before it. The defaults (``LEAD_BONUS`` 0.1,
   ``LANG_BONUS`` 0.2, ``lambda_`` 0.7) were checked on tests/fixtures/stories/multilingual_summaries.jsonl
   and the WikinewsSum sample: ROUGE moves by about 0.01-0.02 across 0-0.2 / 0.1-0.3 / 0.5-0.85.

:func:`summarize_each` does this for several wanted languages with one embedding call. Two lengths: the
digest's few sentences (``max_sentences``), and the full summary (``words``: sentences are taken until about
that many words, ``FULL_WORDS`` for /story, the email and ``stories show``).
:func:`importance` scores a summary (formula in its docstring); :func:`lead3` is the lead-3 baseline and
:func:`lead_words` the length-matched lead baseline (the first sentences of each article in turn).
Bad input (empty text or title, an unknown language, a huge article, naive dates) gives a result; only
an empty list of articles is refused (a story has at least one article).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from monitor.models import Article

EmbedFn = Callable[[Sequence[str]], Sequence[Sequence[float]]]
Matrix = npt.NDArray[np.float64]

MAX_TEXT_CHARS = 20_000
MAX_SENTENCES_PER_ARTICLE = 30
MAX_CANDIDATES = 300  # per story: bounds the embedding work of a story with hundreds of articles
MIN_WORDS, MAX_WORDS = 6, 70
FULL_WORDS = 150  # the full summary: about this many words (at most FULL_WORDS * 4 / 3)
LEAD_BONUS = 0.1
LANG_BONUS = 0.2
REDUNDANT = 0.8
UNKNOWN_LANG = "und"

_ABBREVIATIONS = {
    "en": "mr mrs ms dr prof st sr jr gen col lt sgt capt gov sen rep rev inc ltd co corp no vs"
    " jan feb aug sept oct nov dec",
    "fr": "m mm mme mmes mlle dr pr me mgr st ste av apr env cf ex art p vol",
    "de": "dr prof nr st str bzw ca vgl ggf evtl hr fr abs art inkl bspw mio mrd jh",
    "es": "sr sra srta sres dr dra lic ud uds d dña av pág núm aprox",
    "ar": "",
}
ABBREVIATIONS = {lang: frozenset(words.split()) for lang, words in _ABBREVIATIONS.items()}
_ALL_ABBREVIATIONS = frozenset().union(*ABBREVIATIONS.values())
_BACK_REFERENCES = {  # first words of a sentence that leans on the one before it
    "en": "he she it they this these those such but however also meanwhile moreover furthermore additionally"
    " nevertheless instead still his her its their him them",
    "fr": "il elle ils elles ce cet cette ces cela ceci celui celle mais cependant toutefois pourtant néanmoins"
    " également ensuite puis lui leur leurs son sa ses",
    "de": "er sie es dies diese dieser dieses dabei damit dazu deshalb jedoch aber zudem außerdem ihr ihre"
    " sein seine seiner ebenfalls",
    "es": "él ella ellos ellas esto este esta estos estas eso esa pero sin además también luego su sus",
    "ar": "لكن لكنه هذا هذه ذلك تلك كما أيضا وأضاف وتابع",
}
BACK_REFERENCES = {lang: frozenset(words.split()) for lang, words in _BACK_REFERENCES.items()}
# a pluperfect auxiliary right after the subject ("Das Gericht hatte ...", "The court had ..."): backstory
# told after the news, not a lead
BACKSTORY = {"en": {"had"}, "fr": {"avait", "avaient"}, "de": {"hatte", "hatten"}, "es": {"había", "habían"}}
_WORD_RE = re.compile(r"[\w'’-]+")
_ENDS = ".!?؟…"
_CLOSERS = "\"'»”’)]"
_OPENERS = "\"'«“‘([¿¡"
_DATELINE = re.compile(r"^(?P<place>[^()\n]{2,50}?)\s*(?:\((?P<agency>[^)]{1,30})\))?\s*(?:--|[-–—])\s+")
_BYLINE = re.compile(
    r"^(?:[Bb]y|[Pp]ar|[Vv]on|[Pp]or)\s+[A-ZÀ-Þ][\w.'-]*(?:\s+(?:and|et|und|y|&|[A-ZÀ-Þ][\w.'-]*)){0,5}\s*(?:[,|/]|$)|^بقلم\s"
)
_BOILERPLATE = re.compile(
    r"©|all rights reserved|tous droits réservés|alle rechte vorbehalten|todos los derechos reservados"
    r"|^(?:read more|see also|(?:à )?lire aussi|voir aussi|lesen sie auch|mehr zum thema|lea también|leer más"
    r"|اقرأ أيضا)|click here|cliquez ici|hier klicken|haga clic|subscribe to|sign up for our|abonnez-vous"
    r"|inscrivez-vous|abonnieren sie|suscríbete|^(?:photo|image|source|credit|crédit|quelle|bild|foto|fuente)\s*:",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SummaryArticle:
    """What the summarizer needs of an article of a story."""

    id: str
    lang: str
    title: str
    text: str
    published: datetime
    source_id: str = ""
    is_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class SummarySentence:
    text: str
    article_id: str
    position: int  # index in split_sentences(article text) (0 = the lead); -1 when the title stands in
    lang: str


@dataclass(frozen=True, slots=True)
class StorySummary:
    headline: str
    headline_article_id: str
    sentences: tuple[SummarySentence, ...]
    languages: tuple[str, ...]  # most articles first
    sources: int  # distinct sources of the articles that are not duplicates
    articles: int  # every article, duplicates included
    first_seen: datetime
    last_update: datetime
    full: tuple[SummarySentence, ...] = ()  # the full summary (``full_words``), when asked for


class SentenceLike(Protocol):
    """A summary sentence as stored (``SummarySentence``) or as read back (``digest.DigestSentence``)."""

    @property
    def text(self) -> str: ...
    @property
    def article_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def lang(self) -> str | None: ...


def sentence_record(sentence: SentenceLike) -> dict[str, Any]:
    """A summary sentence as the story's stored summary holds it (text, article id, position, language)."""
    return {
        "text": sentence.text,
        "article_id": sentence.article_id,
        "position": sentence.position,
        "lang": sentence.lang,
    }


def from_monitor_article(article: Article) -> SummaryArticle:
    """The summarizer's view of an article from the monitor's store."""
    return SummaryArticle(
        id=article.id,
        lang=article.language or "",
        title=article.title,
        text=article.text or article.summary,
        published=article.published_at,
        source_id=article.source_id,
        is_duplicate=article.duplicate_of is not None,
    )


def normalize_lang(lang: str | None) -> str:
    """ "fr-FR", "FR", "fr_fr" -> "fr"; empty or missing -> "und"."""
    code = re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]
    return code or UNKNOWN_LANG


def _is_abbreviation(word: str, lang: str) -> bool:
    core = word.lstrip(_OPENERS).rstrip(".")
    if not core:
        return False
    if (len(core) == 1 and core.isalpha()) or "." in core:  # an initial, "M.", "z. B.", "U.S.", "EE.UU."
        return True
    if lang == "de" and core.isdigit() and len(core) <= 2:  # "am 27. Februar"
        return True
    known = ABBREVIATIONS.get(lang, _ALL_ABBREVIATIONS)
    return core.lower() in known


def _ends_sentence(token: str, following: str, lang: str) -> bool:
    core = token.rstrip(_CLOSERS)
    if not core or core[-1] not in _ENDS:
        return False
    start = following.lstrip(_OPENERS)[:1]
    if start.islower():
        return False
    return not (core[-1] == "." and not core.endswith("..") and _is_abbreviation(core, lang))


def _split_line(line: str, lang: str) -> list[str]:
    tokens = line.split()
    sentences, current = [], []
    for i, token in enumerate(tokens):
        current.append(token)
        if i + 1 == len(tokens) or _ends_sentence(token, tokens[i + 1], lang):
            sentences.append(" ".join(current))
            current = []
    return sentences


def strip_dateline(sentence: str) -> str:
    """ "LA HAYE (AFP) - Europol a ..." -> "Europol a ...": a place in capitals or an agency, then a dash."""
    match = _DATELINE.match(sentence)
    if match is None:
        return sentence
    place = match["place"]
    shouting = any(c.isalpha() for c in place) and place == place.upper() and place != place.lower()
    short = len(place.split()) <= 4
    if short and (shouting or match["agency"] is not None):
        return sentence[match.end() :]
    return sentence


def split_sentences(text: str, lang: str | None = None) -> list[str]:
    """Sentences of a text (line breaks always end one), datelines removed; see the module docstring."""
    code = normalize_lang(lang)
    sentences: list[str] = []
    for line in text.splitlines():
        for sentence in _split_line(line, code):
            cleaned = strip_dateline(sentence) if not sentences else sentence
            if cleaned:
                sentences.append(cleaned)
    return sentences


def is_content(sentence: str) -> bool:
    """Whether a sentence can go in a summary: a real sentence, not a heading, byline or credit line."""
    words = len(sentence.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        return False
    if sentence.rstrip(_CLOSERS)[-1:] not in _ENDS and words < 15:
        return False
    return _BYLINE.search(sentence) is None and _BOILERPLATE.search(sentence) is None


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    article: int  # index in the story's list of articles
    position: int


def _usable(articles: Sequence[SummaryArticle]) -> list[SummaryArticle]:
    originals = [a for a in articles if not a.is_duplicate]
    return originals or list(articles)


def _candidates(articles: Sequence[SummaryArticle], *, strict: bool) -> list[_Candidate]:
    """Candidate sentences in (article, position) order; past MAX_CANDIDATES, the leads of all articles win."""
    found = []
    for index, article in enumerate(articles):
        sentences = split_sentences(article.text[:MAX_TEXT_CHARS], article.lang)
        kept = [(pos, s) for pos, s in enumerate(sentences) if not strict or is_content(s)]
        for rank, (pos, sentence) in enumerate(kept[:MAX_SENTENCES_PER_ARTICLE]):
            found.append((rank, _Candidate(sentence if strict else _clip(sentence), index, pos)))
    if len(found) > MAX_CANDIDATES:
        found = sorted(
            sorted(found, key=lambda item: item[0])[:MAX_CANDIDATES], key=lambda item: item[1].article
        )
    return [candidate for _, candidate in found]


def _clip(text: str, limit: int = 400) -> str:
    """A raw sentence (fallback path: it failed is_content, maybe a whole unpunctuated page) cut short."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit] + "…"


def _title_candidates(articles: Sequence[SummaryArticle]) -> list[_Candidate]:
    return [_Candidate(_clip(a.title.strip()), i, -1) for i, a in enumerate(articles) if a.title.strip()]


def _unit_rows(vectors: Sequence[Sequence[float]]) -> Matrix:
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2:
        return np.zeros((len(vectors), 1))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Matrix = matrix / np.where(norms > 0.0, norms, 1.0)
    return unit


def _mean_unit(rows: Matrix) -> Matrix:
    if rows.shape[0] == 0:
        return np.zeros(rows.shape[1])
    mean: Matrix = rows.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0.0 else mean


def _centroid(vectors: Matrix, candidates: Sequence[_Candidate]) -> Matrix:
    """Mean of the per-article means: each article weighs the same whatever its length."""
    owners = np.array([c.article for c in candidates])
    per_article = [_mean_unit(vectors[owners == a]) for a in sorted(set(owners.tolist()))]
    return _mean_unit(np.vstack(per_article)) if per_article else np.zeros(vectors.shape[1])


def _pick_headline(
    titles: Sequence[_Candidate], vectors: Matrix, articles: Sequence[SummaryArticle], lang: str | None
) -> _Candidate | None:
    if not titles:
        return None
    centre = _mean_unit(vectors)
    wanted = [i for i, t in enumerate(titles) if lang and normalize_lang(articles[t.article].lang) == lang]
    pool = wanted or list(range(len(titles)))
    return titles[max(pool, key=lambda i: (float(vectors[i] @ centre), -i))]


def _mmr(relevance: Matrix, vectors: Matrix, count: int, lambda_: float) -> list[int]:
    """Maximal marginal relevance; one matrix-vector product per pick, ties to the earliest candidate."""
    chosen: list[int] = []
    closest = np.zeros(len(relevance))  # max similarity to a chosen sentence (negative counts as 0)
    open_ = np.ones(len(relevance), dtype=bool)
    while len(chosen) < count:
        open_ &= closest < REDUNDANT
        if not open_.any():
            break
        score = np.where(open_, lambda_ * relevance - (1.0 - lambda_) * closest, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        open_[best] = False
        closest = np.maximum(closest, vectors @ vectors[best])
    return chosen


def _relevance(
    vectors: Matrix, candidates: Sequence[_Candidate], articles: Sequence[SummaryArticle], lang: str | None
) -> Matrix:
    centrality: Matrix = vectors @ _centroid(vectors, candidates)
    lead = np.array([LEAD_BONUS / (1 + max(c.position, 0)) for c in candidates])
    in_lang = np.array([normalize_lang(articles[c.article].lang) == lang for c in candidates])
    result: Matrix = centrality + lead + LANG_BONUS * in_lang
    return result


def _languages(articles: Sequence[SummaryArticle]) -> tuple[str, ...]:
    counts = Counter(normalize_lang(a.lang) for a in articles)
    return tuple(sorted(counts, key=lambda code: (-counts[code], code)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def summarize(
    articles: Sequence[SummaryArticle],
    embed: EmbedFn,
    *,
    lang: str | None = None,
    max_sentences: int = 3,
    lambda_: float = 0.7,
    words: int | None = None,
) -> StorySummary:
    """Headline, up to ``max_sentences`` summary sentences (or about ``words`` words) and counts for one story
    (module docstring)."""
    return summarize_each(
        articles, embed, (lang,), max_sentences=max_sentences, lambda_=lambda_, words=words
    )[lang]


def summarize_each(
    articles: Sequence[SummaryArticle],
    embed: EmbedFn,
    langs: Sequence[str | None],
    *,
    max_sentences: int = 3,
    lambda_: float = 0.7,
    words: int | None = None,
    full_words: int | None = None,
) -> dict[str | None, StorySummary]:
    """``summarize`` for several wanted languages at the cost of one: the sentences are embedded once; with
    ``full_words``, each summary also carries the full one (``StorySummary.full``) from the same vectors."""
    if not articles:
        raise ValueError("a story has at least one article")
    usable = _usable(articles)
    titles = _title_candidates(usable)
    candidates = _candidates(usable, strict=True) or _candidates(usable, strict=False) or titles
    texts = [t.text for t in titles] + [c.text for c in candidates]
    vectors = _unit_rows(embed(texts)) if texts else np.zeros((0, 1))  # one call; none for nothing
    body = vectors[len(titles) :]
    moments = [_aware(a.published) for a in articles]
    present = {normalize_lang(a.lang) for a in usable} - {UNKNOWN_LANG}
    results: dict[str | None, StorySummary] = {}
    for lang in langs:
        wanted = normalize_lang(lang) if lang else None
        written = wanted if wanted in present else main_language(usable)
        keep_titles = _of_language(titles, usable, written)
        keep = _of_language(candidates, usable, written)
        headline = _pick_headline(
            [titles[i] for i in keep_titles],
            vectors[keep_titles] if keep_titles else vectors[:0],
            usable,
            written,
        )
        picked = [candidates[i] for i in keep]
        relevance = _relevance(body[keep], picked, usable, written)
        # one MMR ranking serves both lengths: a greedy ranking's first k picks are its ranking of k
        depth = len(picked) if words or full_words else max_sentences
        ranked = _mmr(relevance, body[keep], depth, lambda_)
        chosen = ranked[:max_sentences] if words is None else _within_words(ranked, picked, words)
        sentences = _standalone_first(_in_reading_order(chosen, picked, usable))
        full = (
            _standalone_first(_in_reading_order(_within_words(ranked, picked, full_words), picked, usable))
            if full_words
            else ()
        )
        stand_in = sentences[0] if sentences else SummarySentence("", usable[0].id, -1, "")  # when no title
        headline_text, headline_id = (
            (headline.text, usable[headline.article].id) if headline else (stand_in.text, stand_in.article_id)
        )
        results[lang] = StorySummary(
            headline=headline_text,
            headline_article_id=headline_id,
            sentences=sentences,
            languages=_languages(usable),
            sources=len({a.source_id or a.id for a in articles if not a.is_duplicate}),
            articles=len(articles),
            first_seen=min(moments),
            last_update=max(moments),
            full=full,
        )
    return results


def _within_words(ranked: Sequence[int], candidates: Sequence[_Candidate], words: int) -> list[int]:
    """The best-ranked sentences until about ``words`` words: a sentence that would pass a third more than
    ``words`` is skipped (a shorter one may still fit); the first is always taken."""
    chosen: list[int] = []
    total = 0
    for index in ranked:
        size = len(candidates[index].text.split())
        if chosen and total + size > words * 4 // 3:
            continue
        chosen.append(index)
        total += size
        if total >= words:
            break
    return chosen


def main_language(articles: Sequence[SummaryArticle]) -> str | None:
    """The language of most of the articles (ties: the earliest published article's); None when none is known."""
    known = [a for a in articles if normalize_lang(a.lang) != UNKNOWN_LANG]
    if not known:
        return None
    counts = Counter(normalize_lang(a.lang) for a in known)
    first: dict[str, datetime] = {}
    for a in sorted(known, key=lambda a: _aware(a.published)):
        first.setdefault(normalize_lang(a.lang), _aware(a.published))
    return min(counts, key=lambda code: (-counts[code], first[code], code))


def _of_language(
    candidates: Sequence[_Candidate], articles: Sequence[SummaryArticle], lang: str | None
) -> list[int]:
    """Indexes of the candidates from articles in ``lang`` (all of them when ``lang`` is None or none is)."""
    found = [i for i, c in enumerate(candidates) if normalize_lang(articles[c.article].lang) == lang]
    return found if lang and found else list(range(len(candidates)))


def leans_back(sentence: str, lang: str | None) -> bool:
    """Whether a sentence opens with a pronoun or connective that refers to what came before."""
    code = normalize_lang(lang)
    words = [w.lower() for w in _WORD_RE.findall(sentence.lstrip(_OPENERS + " \u00a0\u202f")[:200])]
    if words and words[0] in BACK_REFERENCES.get(code, frozenset()):
        return True
    return any(w in BACKSTORY.get(code, ()) for w in words[1:4])


def _standalone_first(sentences: tuple[SummarySentence, ...]) -> tuple[SummarySentence, ...]:
    """The sentences with the first one that can stand alone moved to the front (when the first cannot)."""
    if not sentences or not leans_back(sentences[0].text, sentences[0].lang):
        return sentences
    lead = next((i for i, s in enumerate(sentences) if not leans_back(s.text, s.lang)), None)
    if lead is None:
        return sentences
    return (sentences[lead], *sentences[:lead], *sentences[lead + 1 :])


def _in_reading_order(
    chosen: Sequence[int], candidates: Sequence[_Candidate], articles: Sequence[SummaryArticle]
) -> tuple[SummarySentence, ...]:
    """The chosen sentences, oldest article first, then by position in the article."""
    order = sorted(
        chosen, key=lambda i: (_aware(articles[candidates[i].article].published), candidates[i].article, i)
    )
    return tuple(_sentence(candidates[i], articles) for i in order)


def _sentence(candidate: _Candidate, articles: Sequence[SummaryArticle]) -> SummarySentence:
    article = articles[candidate.article]
    return SummarySentence(candidate.text, article.id, candidate.position, normalize_lang(article.lang))


def lead3(articles: Sequence[SummaryArticle], lang: str | None = None) -> list[str]:
    """The lead-3 baseline: the first three content sentences of the first article (in published order)
    in the wanted language when the story has one, else of the first article."""
    usable = sorted(_usable(articles), key=lambda a: _aware(a.published))
    wanted = normalize_lang(lang) if lang else None
    in_lang = [a for a in usable if wanted and normalize_lang(a.lang) == wanted]
    for article in in_lang[:1] or usable[:1]:
        sentences = split_sentences(article.text[:MAX_TEXT_CHARS], article.lang)
        return [s for s in sentences if is_content(s)][:3]
    return []


def lead_words(articles: Sequence[SummaryArticle], words: int, lang: str | None = None) -> list[str]:
    """The length-matched lead baseline: the first content sentence of each article (in published order, those
    in the wanted language when the story has any), then the second of each, ... until ``words`` words."""
    usable = sorted(_usable(articles), key=lambda a: _aware(a.published))
    wanted = normalize_lang(lang) if lang else None
    usable = [a for a in usable if normalize_lang(a.lang) == wanted] or usable
    leads = [[s for s in split_sentences(a.text[:MAX_TEXT_CHARS], a.lang) if is_content(s)] for a in usable]
    chosen: list[str] = []
    total = 0
    for rank in range(max((len(x) for x in leads), default=0)):
        for sentences in leads:
            if rank < len(sentences) and total < words:
                chosen.append(sentences[rank])
                total += len(sentences[rank].split())
    return chosen


def importance(summary: StorySummary, *, agencies: int, growth_per_hour: float) -> float:
    """How much a story matters, for ordering a digest; non-decreasing in each input, 0 for nothing.

    ``importance = ln(1 + sources) + 0.5 * ln(1 + languages) + 0.3 * ln(1 + agencies)
    + 0.5 * ln(1 + growth_per_hour)``, where ``sources`` and ``languages`` (known ones) come from the summary,
    ``agencies`` is the number of distinct agencies among the story's entities and ``growth_per_hour``
    the articles per hour over the recent window (negative values count as 0). Logarithms, because the
    tenth source says less than the second; sources weigh most, since a story repeated by independent
    outlets is the surest sign of news.
    """
    languages = sum(code != UNKNOWN_LANG for code in summary.languages)
    return (
        math.log1p(max(summary.sources, 0))
        + 0.5 * math.log1p(languages)
        + 0.3 * math.log1p(max(agencies, 0))
        + 0.5 * math.log1p(max(growth_per_hour, 0.0))
    )
