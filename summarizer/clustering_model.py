"""The learned decisions of the story clusterer: two logistic regressions in a small JSON file.

A :class:`Decision` is a logistic regression over standardized features (``p = 1 / (1 + exp(-(w . (x -
mean) / scale + b)))``) and the probability at or above which the clusterer acts. A :class:`ClusteringModel`
holds two: ``join`` (an article joins a same-language event, :data:`summarizer.hybrid.JOIN_FEATURES`) and
``link`` (two events of different languages become one story, :data:`summarizer.hybrid.LINK_FEATURES`),
with what it was trained on and when.

The file is plain JSON (no pickle: loading a model runs no code). The default model ships in the package
(``summarizer/data/clustering_model.json``); ``veille train clustering FILE...`` makes another
(:mod:`summarizer.clustering_train`) and ``--model FILE`` or the setting ``cluster_model`` selects it.
Loading checks the feature names against the clusterer's and bounds every number, so a file from another
version or a hand-edited one is refused with a clear message instead of clustering nonsense.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

FORMAT = "veille-clustering-model/1"
MAX_WEIGHT = 1e4


class ModelError(ConfigError):
    """A clustering model file that cannot be used (the message says why): a configuration error, exit code 2."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A logistic regression over named, standardized features, and the probability to act at."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float = 0.5

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ModelError(f"{n} features but {len(self.weights)} weights, {len(self.mean)} means")
        numbers = (*self.weights, *self.mean, *self.scale, self.intercept)
        if not all(math.isfinite(x) and abs(x) <= MAX_WEIGHT for x in numbers):
            raise ModelError(f"weights must be finite numbers within +-{MAX_WEIGHT:g}")
        if not all(s > 0 for s in self.scale):
            raise ModelError("feature scales must be positive")
        if not 0.0 < self.threshold < 1.0:
            raise ModelError(f"threshold {self.threshold} is not a probability strictly between 0 and 1")

    @classmethod
    def fixed(cls, features: Sequence[str], margin: float) -> Decision:
        """A decision that ignores the features: always (margin > 0) or never (margin < 0) at 0.5."""
        n = len(features)
        return cls(tuple(features), (0.0,) * n, margin, (0.0,) * n, (1.0,) * n)

    @classmethod
    def single(cls, features: Sequence[str], name: str, threshold: float) -> Decision:
        """A decision on one feature alone: yes (at 0.5) when it is at ``threshold`` or more."""
        n = len(features)
        weights = tuple(1.0 if f == name else 0.0 for f in features)
        return cls(tuple(features), weights, -threshold, (0.0,) * n, (1.0,) * n)

    def margin(self, features: Sequence[float]) -> float:
        return self.intercept + sum(
            w * (x - m) / s for w, x, m, s in zip(self.weights, features, self.mean, self.scale, strict=True)
        )

    def probability(self, features: Sequence[float]) -> float:
        z = max(-60.0, min(60.0, self.margin(features)))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class ClusteringModel:
    """The join and link decisions, with where they come from."""

    name: str
    join: Decision
    link: Decision
    trained_on: tuple[str, ...] = ()
    trained_at: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}


def model_from_dict(
    data: Mapping[str, Any], join_features: Sequence[str], link_features: Sequence[str]
) -> ClusteringModel:
    """A model from its JSON form; ModelError if it is not one, or not for these features."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ModelError(f'not a veille clustering model (expected "format": "{FORMAT}")')
    try:
        join = _decision(data["join"])
        link = _decision(data["link"])
        model = ClusteringModel(
            str(data["name"])[:200], join, link, tuple(str(s)[:500] for s in data.get("trained_on", ()))[:100],
            str(data.get("trained_at", ""))[:40], str(data.get("notes", ""))[:2000],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"not a valid clustering model: {exc}") from exc
    for level, decision, expected in (("join", join, join_features), ("link", link, link_features)):
        if decision.features != tuple(expected):
            raise ModelError(
                f"the {level} decision was trained on features {list(decision.features)}, this version "
                f"computes {list(expected)}: retrain it with `veille train clustering`"
            )
    return model


def _decision(data: Mapping[str, Any]) -> Decision:
    return Decision(
        tuple(str(f) for f in data["features"]), tuple(float(w) for w in data["weights"]),
        float(data["intercept"]), tuple(float(m) for m in data["mean"]), tuple(float(s) for s in data["scale"]),
        float(data.get("threshold", 0.5)),
    )  # fmt: skip


def load_model(path: Path) -> ClusteringModel:
    """A model file; ModelError (with the path) if it cannot be read or is not a model for this version."""
    from summarizer.hybrid import JOIN_FEATURES, LINK_FEATURES

    hint = "give a file written by `veille train clustering`, or remove the setting to use the shipped model"
    try:
        if path.stat().st_size > 1_000_000:
            raise ModelError("larger than 1 MB: not a clustering model", path=str(path), hint=hint)
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read it ({exc.strerror or exc})", path=str(path), hint=hint) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"not JSON ({exc})", path=str(path), hint=hint) from exc
    try:
        return model_from_dict(data, JOIN_FEATURES, LINK_FEATURES)
    except ModelError as exc:
        raise ModelError(exc.detail, path=str(path), hint=hint) from exc


def save_model(model: ClusteringModel, path: Path) -> None:
    path.write_text(json.dumps(model.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


DEFAULT_MODEL = "clustering_model.json"


@cache
def default_model() -> ClusteringModel:
    """The model shipped in the package (summarizer/data/clustering_model.json)."""
    with resources.as_file(resources.files("summarizer") / "data" / DEFAULT_MODEL) as path:
        return load_model(path)
