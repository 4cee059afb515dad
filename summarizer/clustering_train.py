"""Training the clusterer's two decisions on labelled streams (``veille train clustering FILE...``).

1. **Examples**, as the clusterer meets them: each labelled set is replayed in publication order through a
   :class:`~summarizer.hybrid.HybridClusterer` whose articles are placed by their gold labels (teacher
   forcing: an article joins the event of its gold story and language, and that event is linked to the other
   languages' events of the story). Before each placement, the candidates the clusterer would score give one
   example each: the join features of (article, candidate event), positive when the candidate is the
   article's gold event; the link features of (its event, candidate event of another language), positive
   when both belong to one gold story. The candidates, features and online document frequencies are exactly
   those of clustering, so the model learns on what it will see.
2. **Weights**: a logistic regression per decision (scikit-learn, standardized features, L2), each set
   weighing the same whatever its size, so a big same-language set does not drown a small multilingual one.
3. **Thresholds**: the probability to act at is chosen by clustering the training sets with the new weights
   over a grid (join first, then link) and keeping the one with the best mean of pairwise and BCubed F1,
   averaged over the sets. Nothing of a set left out of training is used.

scikit-learn is imported here only: clustering itself needs numpy alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from summarizer.clustering import ClusterInput
from summarizer.clustering_eval import ClusteringItem, objective, predict, scores_of
from summarizer.clustering_model import ClusteringModel, Decision, default_model
from summarizer.hybrid import JOIN_FEATURES, LINK_FEATURES, HybridClusterer

JOIN_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
HARD_NEGATIVES = 3
LINK_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """One labelled stream: its name, its articles (in publication order) and their clusterer inputs."""

    name: str
    items: Sequence[ClusteringItem]
    inputs: Sequence[ClusterInput]


@dataclass(slots=True)
class Examples:
    rows: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def extend(self, other: Examples, weight: float) -> None:
        self.rows.extend(other.rows)
        self.labels.extend(other.labels)
        self.weights.extend([weight] * len(other.rows))


def examples(labelled: LabelledSet) -> tuple[Examples, Examples]:
    """The join and link examples of one set, by a gold-guided replay (see the module docstring)."""
    gold = {item.id: item.story for item in labelled.items}
    clusterer = HybridClusterer()
    join, link = Examples(), Examples()
    event_gold: dict[str, str] = {}
    gold_event: dict[tuple[str, str], str] = {}
    for item in labelled.inputs:
        article = clusterer.prepare(item)
        if article is None:
            continue
        story = gold[item.article_id]
        target = gold_event.get((story, article.lang))
        candidates = clusterer.join_candidates(article)
        # the decision is about the closest events: the far ones teach nothing but "far is no"
        candidates = sorted(candidates, key=lambda c: -c[1][0])[:HARD_NEGATIVES]
        for event, features in candidates:
            join.rows.append(features)
            join.labels.append(int(event.event_id == target))
        # an event that left the active window cannot be joined: the article starts a new one
        placed = clusterer.place(article, clusterer.active_event(target))
        event_gold[placed.event_id] = story
        gold_event[(story, article.lang)] = placed.event_id
        partners = []
        for other, features in clusterer.link_candidates(placed):
            link.rows.append(features)
            same = event_gold.get(other.event_id) == story
            link.labels.append(int(same))
            if same:
                partners.append(other)
        for other in partners:
            clusterer.link(placed, other)
    return join, link


def fit_decision(names: Sequence[str], data: Examples) -> Decision:
    """A standardized L2 logistic regression on the examples (threshold set later)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(data.rows, dtype=np.float64).reshape(-1, len(names))
    y = np.asarray(data.labels)
    if len(set(y.tolist())) < 2:
        raise ValueError(
            f"the training sets give {len(y)} examples of one class only for {names[0]}...: they need stories "
            "with several articles (and, to link languages, several languages)"
        )
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    fitted = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y, sample_weight=data.weights)
    return Decision(
        tuple(names), tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]),
        tuple(float(m) for m in mean), tuple(float(s) for s in scale),
    )  # fmt: skip


def mean_objective(model: ClusteringModel, sets: Sequence[LabelledSet]) -> float:
    """Mean over the sets of the eval objective ((pairwise F1 + BCubed F1) / 2) with this model."""
    scores = [scores_of(s.items, predict(s.inputs, HybridClusterer(model))) for s in sets]
    return sum(objective(score) for score in scores) / len(scores)


def train(
    sets: Sequence[LabelledSet],
    *,
    name: str = "trained",
    base: ClusteringModel | None = None,
    progress: Callable[[str], None] = lambda _line: None,
    now: datetime | None = None,
) -> ClusteringModel:
    """A model trained on labelled sets (see the module docstring)."""
    if not sets:
        raise ValueError("no labelled set to train on")
    join, link = Examples(), Examples()
    for labelled in sets:
        j, lk = examples(labelled)
        progress(f"{labelled.name}: {len(j.rows)} join examples ({sum(j.labels)} positive), "
                 f"{len(lk.rows)} link examples ({sum(lk.labels)} positive)")  # fmt: skip
        join.extend(j, 1000.0 / max(len(j.rows), 1))
        link.extend(lk, 1000.0 / max(len(lk.rows), 1))
    join_decision = fit_decision(JOIN_FEATURES, join)
    if len(set(link.labels)) == 2:
        link_decision = fit_decision(LINK_FEATURES, link)
    else:  # no story told in two languages: the cross-language decision cannot be learned from these sets
        link_decision = (base or default_model()).link
        progress("no cross-language example in these sets: the link decision is kept from the default model")
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    model = ClusteringModel(name, join_decision, link_decision, tuple(s.name for s in sets), stamp)
    multilingual = [s for s in sets if len({i.lang for i in s.items}) > 1]
    best = max(JOIN_GRID, key=lambda t: (mean_objective(_with(model, join=t), sets), -abs(t - 0.5)))
    model = _with(model, join=best)
    progress(f"join threshold {best}")
    if multilingual and len(set(link.labels)) == 2:
        best = max(
            LINK_GRID, key=lambda t: (mean_objective(_with(model, link=t), multilingual), -abs(t - 0.5))
        )
        model = _with(model, link=best)
        progress(f"link threshold {best}")
    return model


def _with(model: ClusteringModel, *, join: float | None = None, link: float | None = None) -> ClusteringModel:
    return replace(
        model,
        join=replace(model.join, threshold=join) if join is not None else model.join,
        link=replace(model.link, threshold=link) if link is not None else model.link,
    )
