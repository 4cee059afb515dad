"""Precision, recall and F1: the one score type shared by the evaluations (clustering, ROUGE)."""

from __future__ import annotations

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
