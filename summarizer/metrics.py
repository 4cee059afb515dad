"""Precision, recall and F1: the one score type shared by the evaluations (clustering, ROUGE)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PRF:
    precision: float
    recall: float
    f1: float


def prf(precision: float, recall: float) -> PRF:
    """The scores with F1 as the harmonic mean of precision and recall (0 when both are 0)."""
    total = precision + recall
    return PRF(precision, recall, 2 * precision * recall / total if total else 0.0)


def pairs_within(keys: Iterable[Hashable]) -> int:
    """The pairs of items sharing a key (the items of each key, n, make n * (n - 1) / 2 pairs)."""
    return sum(n * (n - 1) // 2 for n in Counter(keys).values())


def pair_scores(together: int, predicted_pairs: int, gold_pairs: int) -> PRF:
    """Pair-counting scores; with no pair predicted (or none expected) precision (or recall) is 1.0."""
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / gold_pairs if gold_pairs else 1.0
    return prf(precision, recall)
