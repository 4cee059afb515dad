"""Sparse lexical features for story clustering: terms, online document frequencies, TF-IDF vectors.

The research on streaming news clustering (Miranda et al., EMNLP 2018; Staykovski et al., 2019) found that
TF-IDF cosines over tokens, lemmas and entities group the articles of one language into events better than
dense embeddings do. This module makes those vectors, with no model and no download:

- :func:`terms`: the bags of an article: ``tok`` (words of title and body, stop words out), ``title`` (words of
  the title), ``stem`` (a lemma stand-in: Latin-script words cut to :data:`STEM_LENGTH` letters, Arabic words
  without their attached article and proclitics, then cut), ``ent`` (entity keys: canonical ids and the
  normalized names of unknown entities) and ``num`` (numbers with two or more digits, separators removed:
  "2,910", "2 910" and "2.910" are one term, and they read the same in every language).
- :class:`DocumentFrequencies`: how many articles of the stream held each term, per language for the words
  (an English "police" says nothing of a Spanish one) and across languages for entities and numbers; learned
  online (an article counts once it has been vectorized) and bounded: past :data:`MAX_TERMS` terms in one
  table, the terms seen once are forgotten (they weigh like unseen terms anyway).
- :func:`tfidf`: ``(1 + log tf) * idf`` with ``idf = log((N + 1) / (df + 1)) + 1``, L2-normalized, as a plain
  ``dict`` (term -> weight); :func:`dot` of two such vectors.

Every bag is bounded (:data:`MAX_CHARS` of text, :data:`MAX_TERMS_PER_ARTICLE` distinct terms) so one huge
article costs what a long one does.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

STEM_LENGTH = 6
MAX_CHARS = 6000  # of the body: the lead carries the event; the rest adds cost, not signal
MAX_TERMS_PER_ARTICLE = 400
MAX_TERMS = 60_000  # per document-frequency table
KINDS = ("tok", "title", "stem", "ent", "num")
SHARED_KINDS = frozenset(("ent", "num"))  # one table for every language

SparseVector = dict[str, float]

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d[\d.,\u00a0\u202f ]*\d|\d", re.UNICODE)
_ELISION = re.compile(r"^(?:l|d|j|qu|n|s|c|m|t)['’]")
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_MARKS = re.compile(r"[\u064b-\u065f\u0670\u0640]")  # harakat, superscript alef, tatweel


@cache
def stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words for a language (none for a language spaCy has no list for)."""
    import importlib

    if not re.fullmatch(r"[a-z]{2,3}", lang):
        return frozenset()
    try:
        module = importlib.import_module(f"spacy.lang.{lang}.stop_words")
    except ImportError:
        return frozenset()
    return frozenset(word.casefold() for word in getattr(module, "STOP_WORDS", ()))


def _stem(word: str) -> str:
    if _ARABIC.search(word):
        word = _MARKS.sub("", word)
        for prefix in _ARABIC_PREFIXES:
            if word.startswith(prefix) and len(word) - len(prefix) >= 3:
                word = word[len(prefix) :]
                break
        return word[:5]
    return word[:STEM_LENGTH]


def _fold(word: str) -> str:
    """Lower case without accents (Dáesh = daesh), apostrophes unified, French elision cut (l'EI -> ei)."""
    word = unicodedata.normalize("NFKD", word.casefold())
    word = "".join(ch for ch in word if not unicodedata.combining(ch)).replace("’", "'")
    return _ELISION.sub("", word)


def _words(text: str, stops: frozenset[str]) -> tuple[list[str], list[str]]:
    words, numbers = [], []
    for match in _WORD.finditer(text):
        token = match.group()
        if token[0].isdigit():
            digits = re.sub(r"\D", "", token)
            if len(digits) >= 2:
                numbers.append(digits[:12])
            continue
        word = _fold(token)
        if len(word) >= 2 and word not in stops:
            words.append(word[:40])
    return words, numbers


@dataclass(frozen=True, slots=True)
class Terms:
    """An article's bags of terms (term -> count), by kind (see :data:`KINDS`), and its language."""

    lang: str
    bags: Mapping[str, Mapping[str, int]]


def _bounded(counts: Counter[str]) -> dict[str, int]:
    if len(counts) <= MAX_TERMS_PER_ARTICLE:
        return dict(counts)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TERMS_PER_ARTICLE])


def terms(title: str, text: str, lang: str, entities: Iterable[str] = ()) -> Terms:
    """The bags of terms of one article (see the module docstring); ``lang`` may be empty or unknown."""
    lang = (lang or "und").split("-")[0].lower()[:8]
    stops = stop_words(lang)
    title_words, title_numbers = _words(title[:1000], stops)
    body_words, body_numbers = _words(text[:MAX_CHARS], stops)
    words = title_words + body_words
    bags = {
        "tok": _bounded(Counter(words)),
        "title": _bounded(Counter(title_words)),
        "stem": _bounded(Counter(_stem(w) for w in words)),
        "ent": _bounded(Counter(str(e)[:200] for e in entities)),
        "num": _bounded(Counter(title_numbers + body_numbers)),
    }
    return Terms(lang, bags)


@dataclass(slots=True)
class DocumentFrequencies:
    """Online document frequencies: per (kind, language) table, or per kind for :data:`SHARED_KINDS`."""

    docs: Counter[str] = field(default_factory=Counter)  # table name -> articles counted
    tables: dict[str, Counter[str]] = field(default_factory=dict)

    @staticmethod
    def table(kind: str, lang: str) -> str:
        return kind if kind in SHARED_KINDS else f"{kind}:{lang}"

    def add(self, found: Terms) -> None:
        """Counts an article (after it was vectorized, so that it does not weigh itself)."""
        for kind, bag in found.bags.items():
            name = self.table(kind, found.lang)
            self.docs[name] += 1
            counts = self.tables.setdefault(name, Counter())
            counts.update(bag.keys())
            if len(counts) > MAX_TERMS:
                self._prune(counts)

    @staticmethod
    def _prune(counts: Counter[str]) -> None:
        """Forgets the rarest terms until the table is at 3/4 of its bound (ties: the later term goes)."""
        keep = sorted(counts.items(), key=lambda kv: -kv[1])[: MAX_TERMS * 3 // 4]
        counts.clear()
        counts.update(dict(keep))

    def vectors(self, found: Terms) -> dict[str, SparseVector]:
        """The TF-IDF unit vector of each kind (empty for an empty bag)."""
        return {kind: self._vector(self.table(kind, found.lang), bag) for kind, bag in found.bags.items()}

    def _vector(self, name: str, bag: Mapping[str, int]) -> SparseVector:
        n = self.docs.get(name, 0)
        counts = self.tables.get(name, Counter())
        weights = {
            term: (1.0 + math.log(tf)) * (math.log((n + 1) / (counts.get(term, 0) + 1)) + 1.0)
            for term, tf in bag.items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {term: w / norm for term, w in weights.items()} if norm > 0 else {}

    def to_dict(self) -> dict[str, Any]:
        return {"docs": dict(self.docs), "tables": {name: dict(t) for name, t in self.tables.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DocumentFrequencies:
        docs = Counter({str(k): int(v) for k, v in data["docs"].items()})
        tables = {str(n): Counter({str(k): int(v) for k, v in t.items()}) for n, t in data["tables"].items()}
        return cls(docs, tables)


def dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The dot product of two sparse vectors (iterates the smaller one)."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(term, 0.0) for term, w in a.items())
