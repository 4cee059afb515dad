"""Entity-extraction quality on CoNLL-style files: per-type precision, recall and F1 by exact span match.

File format: one token per line with its IOB2 tag in the last column (earlier columns, such as an index, are
ignored; tabs or spaces), a blank line between sentences, ``-DOCSTART-`` lines skipped. An ``I-`` tag that does
not continue a span of its type starts one (IOB1 files read the same).

Each sentence is rebuilt as its tokens joined by spaces, run through the extractor as one text, and its
mentions are compared with the gold spans by character offsets and type. CoNLL types are mapped to ours::

    PER -> person    ORG -> organisation (our agency, platform and group count as organisation)
    LOC -> place     MISC excluded: its gold spans are dropped, and a prediction exactly on one is ignored
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from summarizer.entities import ArticleEntities

TYPES = ("person", "organisation", "place")
_GOLD_TYPES = {"PER": "person", "ORG": "organisation", "LOC": "place"}
_PREDICTED_TYPES = {"person": "person", "place": "place"}  # anything else is an organisation
MAPPING_NOTE = (
    "types: PER->person, ORG->organisation (agency, platform and group count as organisation), "
    "LOC->place; MISC excluded (gold spans dropped, predictions exactly on them ignored)"
)

Span = tuple[int, int, str]


class Extractor(Protocol):
    def extract_many(
        self, texts_with_langs: Iterable[tuple[str, str | None]], batch_size: int = ...
    ) -> list[ArticleEntities]: ...


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a CoNLL file: its tokens and their IOB tags."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def spans(self) -> list[Span]:
        """``(start, end, CoNLL type)`` of each gold entity, in character offsets of :attr:`text`."""
        spans: list[Span] = []
        position, current = 0, None
        for token, tag in zip(self.tokens, self.tags, strict=True):
            prefix, _, kind = tag.partition("-")
            if prefix == "I" and current is not None and current[2] == kind:
                current = (current[0], position + len(token), kind)
            else:
                if current is not None:
                    spans.append(current)
                current = (position, position + len(token), kind) if prefix in ("B", "I") else None
            position += len(token) + 1
        return [*spans, current] if current is not None else spans


def read_conll(path: str | Path, limit: int | None = None) -> list[Sentence]:
    """The first ``limit`` sentences (all when ``None``) of a CoNLL-style file.

    Raises ``ValueError`` naming the file and line of a malformed tag.
    """
    sentences: list[Sentence] = []
    for sentence in _sentences(Path(path)):
        if limit is not None and len(sentences) >= limit:
            break
        sentences.append(sentence)
    return sentences


def _sentences(path: Path) -> Iterator[Sentence]:
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if tokens:
                    yield Sentence(tuple(tokens), tuple(tags))
                tokens, tags = [], []
                continue
            tag = columns[-1]
            if len(columns) < 2 or not (tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)):
                raise ValueError(
                    f"{path}:{number}: expected a token and an IOB tag (O, B-X, I-X), got {line!r}"
                )
            tokens.append(columns[-2])
            tags.append(tag)
    if tokens:
        yield Sentence(tuple(tokens), tuple(tags))


@dataclass(frozen=True, slots=True)
class TypeScore:
    """Counts of one type (or of all, for the micro average) and the scores they give (fields, so that
    ``dataclasses.asdict`` shows them too)."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    support: int = field(init=False)  # the number of gold spans
    precision: float = field(init=False)
    recall: float = field(init=False)
    f1: float = field(init=False)

    def __post_init__(self) -> None:
        found, support = (
            self.true_positives + self.false_positives,
            self.true_positives + self.false_negatives,
        )
        precision = self.true_positives / found if found else 0.0
        recall = self.true_positives / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        for name, value in (("support", support), ("precision", precision), ("recall", recall), ("f1", f1)):
            object.__setattr__(self, name, value)

    def __add__(self, other: TypeScore) -> TypeScore:
        return TypeScore(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }


@dataclass(frozen=True, slots=True)
class EntityScores:
    """Scores of an extractor on a CoNLL file: per type (:data:`TYPES`) and micro-averaged over them."""

    path: str
    lang: str
    sentences: int
    per_type: Mapping[str, TypeScore]
    micro: TypeScore
    excluded_gold: int = 0  # MISC spans
    ignored_predictions: int = 0  # predictions exactly on a MISC span
    mapping: str = field(default=MAPPING_NOTE)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "lang": self.lang,
            "sentences": self.sentences,
            "per_type": {kind: score.to_dict() for kind, score in self.per_type.items()},
            "micro": self.micro.to_dict(),
            "excluded_gold_misc": self.excluded_gold,
            "ignored_predictions": self.ignored_predictions,
            "mapping": self.mapping,
        }


def score_sentence(gold: Sequence[Span], predicted: Sequence[Span]) -> tuple[dict[str, TypeScore], int]:
    """Per-type counts for one sentence (gold in CoNLL types, predictions in ours) and the number of
    predictions ignored because they sit exactly on a MISC span."""
    misc = {(start, end) for start, end, kind in gold if kind not in _GOLD_TYPES}
    truth = {(start, end, _GOLD_TYPES[kind]) for start, end, kind in gold if kind in _GOLD_TYPES}
    guesses = {
        (s, e, _PREDICTED_TYPES.get(kind, "organisation")) for s, e, kind in predicted if (s, e) not in misc
    }
    ignored = len({(s, e) for s, e, _ in predicted} & misc)
    scores = {
        kind: TypeScore(
            len({g for g in guesses & truth if g[2] == kind}),
            len({g for g in guesses - truth if g[2] == kind}),
            len({g for g in truth - guesses if g[2] == kind}),
        )
        for kind in TYPES
    }
    return scores, ignored


def evaluate_entities(
    path: str | Path, extractor: Extractor, lang: str, limit: int | None = None, batch_size: int = 64
) -> EntityScores:
    """Scores of ``extractor`` on the first ``limit`` sentences of a CoNLL-style file in ``lang``."""
    sentences = read_conll(path, limit)
    results = extractor.extract_many(((s.text, lang) for s in sentences), batch_size=batch_size)
    totals = {kind: TypeScore() for kind in TYPES}
    excluded = ignored = 0
    for sentence, result in zip(sentences, results, strict=True):
        gold = sentence.spans()
        predicted = [(m.start, m.end, m.label) for m in result.mentions]
        scores, skipped = score_sentence(gold, predicted)
        totals = {kind: totals[kind] + scores[kind] for kind in TYPES}
        excluded += sum(1 for _, _, kind in gold if kind not in _GOLD_TYPES)
        ignored += skipped
    micro = sum(totals.values(), TypeScore())
    return EntityScores(str(path), lang, len(sentences), totals, micro, excluded, ignored)


def format_entity_scores(scores: EntityScores) -> str:
    """A plain-text table of the scores, with what was compared."""
    lines = [
        f"entities: {scores.path} ({scores.lang}), {scores.sentences:,} sentences",
        f"{'type':<14}{'precision':>10}{'recall':>9}{'f1':>8}{'support':>9}",
    ]
    for kind, score in [*scores.per_type.items(), ("micro", scores.micro)]:
        lines.append(
            f"{kind:<14}{score.precision:>10.3f}{score.recall:>9.3f}{score.f1:>8.3f}{score.support:>9,}"
        )
    lines.append(scores.mapping)
    lines.append(
        f"MISC: {scores.excluded_gold:,} gold spans excluded, {scores.ignored_predictions:,} predictions ignored"
    )
    return "\n".join(lines)
