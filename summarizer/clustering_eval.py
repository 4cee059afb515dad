"""Clustering evaluation: labelled articles in, pairwise and BCubed precision/recall/F1 out.

The file format (``veille eval clustering FILE``) is JSON Lines, one article per line:
``{"id", "story", "lang", "title", "text", "published"}``, where ``story`` is the gold label and
``published`` an ISO 8601 time (a time without offset is taken as UTC). Articles are fed to the
clusterer in ``published`` order, file order breaking ties.

:func:`load_wikinewssum` turns the WikinewsSum sample (``../shared/data/stories/wikinewssum-sample``,
JSON Lines of Wikinews articles with their sources) into that format: one record is one story, its
sources are the articles, all dated by the Wikinews article. The date is the ``{{date|...}}`` template or
a bold "Month D, YYYY" line of the article; the many articles without one take the date of the
previous dated article (the file is in publication order, November 2004 to January 2005).

Scores (:func:`pairwise_scores`, :func:`bcubed_scores`):

- pairwise: precision is the share of the article pairs put in one story that belong together, recall
  the share of the pairs that belong together that were put together; with no pair predicted (or none
  expected) precision (or recall) is 1.0. Big stories weigh quadratically.
- BCubed (Bagga & Baldwin 1998): per article, the share of its predicted story that is in its gold story
  (precision) and the share of its gold story that is in its predicted story (recall), averaged over
  articles; singletons count.

:func:`evaluate_clustering` embeds ``title + start of text`` in batches, takes the entities from an
optional extractor (entity keys), marks exact copies (same title and text as an earlier article) as
duplicates as the monitor's ``content_hash`` would, and runs the story clusterer
(:class:`~summarizer.hybrid.HybridClusterer`) next to two plain baselines computed on the same inputs: the
dense centroid threshold (:class:`~summarizer.clustering.StoryClusterer` with ``BASELINE_PARAMS``) and the
TF-IDF centroid threshold (:func:`tfidf_baseline`). :func:`tune` scores a grid of the centroid clusterer's
parameters on precomputed vectors of one set.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from summarizer.clustering import BASELINE_PARAMS, ClusterInput, ClusterParams, StoryClusterer
from summarizer.clustering_model import ClusteringModel, Decision
from summarizer.embeddings import Embedder, Vector, embedding_text
from summarizer.hybrid import JOIN_FEATURES, LINK_FEATURES, HybridClusterer
from summarizer.metrics import PRF, pair_scores, pairs_within, prf


@dataclass(frozen=True, slots=True)
class ClusteringItem:
    """One labelled article of a clustering file."""

    id: str
    story: str
    lang: str
    title: str
    text: str
    published: datetime


@dataclass(frozen=True, slots=True)
class ClusteringScores:
    pairwise: PRF
    bcubed: PRF
    articles: int
    gold_stories: int
    predicted_stories: int


Extractor = Callable[[ClusteringItem], frozenset[str]]  # entity keys: canonical ids and unk:<type>:<name>
TFIDF_BASELINE_THRESHOLD = 0.2  # the plain TF-IDF centroid's best single threshold on the shared English sets


def _cells(
    gold: Mapping[str, str], predicted: Mapping[str, str]
) -> tuple[Counter[str], Counter[str], Counter[tuple[str, str]]]:
    if gold.keys() != predicted.keys():
        raise ValueError("gold and predicted labels must cover the same articles")
    cells = Counter((gold[item], predicted[item]) for item in gold)
    return Counter(gold.values()), Counter(predicted.values()), cells


def pairwise_scores(gold: Mapping[str, str], predicted: Mapping[str, str]) -> PRF:
    """Pair-counting precision/recall/F1 between two labellings of the same articles."""
    _cells(gold, predicted)  # the same articles, or ValueError
    ids = list(gold)
    return pair_scores(
        pairs_within((gold[i], predicted[i]) for i in ids),
        pairs_within(predicted[i] for i in ids),
        pairs_within(gold[i] for i in ids),
    )


def bcubed_scores(gold: Mapping[str, str], predicted: Mapping[str, str]) -> PRF:
    """BCubed precision/recall/F1 between two labellings of the same articles."""
    gold_sizes, predicted_sizes, cells = _cells(gold, predicted)
    if not cells:
        return prf(1.0, 1.0)
    precision = sum(n * n / predicted_sizes[p] for (_, p), n in cells.items()) / len(gold)
    recall = sum(n * n / gold_sizes[g] for (g, _), n in cells.items()) / len(gold)
    return prf(precision, recall)


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _in_order(items: Iterable[ClusteringItem]) -> list[ClusteringItem]:
    return sorted(items, key=lambda item: item.published)  # stable: file order breaks ties


def load_clustering_file(path: Path) -> list[ClusteringItem]:
    """The articles of a clustering JSON Lines file, in published order; ValueError names a bad line."""
    items = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                item = ClusteringItem(
                    str(row["id"]), str(row["story"]), str(row.get("lang") or ""), str(row.get("title") or ""),
                    str(row.get("text") or ""), _aware(str(row["published"])),
                )  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a clustering record ({exc})") from exc
            items.append(item)
    return _in_order(items)


def dump_clustering_file(items: Iterable[ClusteringItem], path: Path) -> None:
    """Writes articles in the clustering JSON Lines format."""
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            row = {**asdict(item), "published": item.published.isoformat()}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAY = r"((?:" + _MONTHS + r") \d{1,2}, \d{4})"
_DATE_TEMPLATE = re.compile(r"\{\{date\|\s*" + _DAY + r"\s*\}\}", re.IGNORECASE)
_DATE_LINE = re.compile("^'''" + _DAY + "'''", re.IGNORECASE | re.MULTILINE)


def _wikinews_date(paragraphs: Sequence[str]) -> datetime | None:
    text = "\n".join(paragraphs)
    match = _DATE_TEMPLATE.search(text) or _DATE_LINE.search(text)
    if match is None:
        return None
    return datetime.strptime(match.group(1).title(), "%B %d, %Y").replace(tzinfo=UTC)


def load_wikinewssum(path: Path) -> list[ClusteringItem]:
    """The WikinewsSum sample's sources as clustering items (story = record), in published order."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    dates = [_wikinews_date(record.get("text") or []) for record in records]
    known = [date for date in dates if date is not None]
    if not known:
        raise ValueError(f"{path}: no dated Wikinews article")
    current, items = known[0], []
    for number, (record, date) in enumerate(zip(records, dates, strict=True)):
        current = date or current
        for index, source in enumerate(record.get("sources") or []):
            item_id = f"wn{number:03d}-{index}"
            items.append(ClusteringItem(item_id, f"wn{number:03d}", str(source.get("language") or ""),
                                        str(source.get("title") or ""), str(source.get("maintext") or ""),
                                        current))  # fmt: skip
    return _in_order(items)


def embed_items(items: Sequence[ClusteringItem], embedder: Embedder) -> list[Vector]:
    """Each article's vector: title and start of text, embedded in the embedder's batches."""
    return embedder.embed([embedding_text(item.title, item.text) for item in items])


def cluster_inputs(
    items: Sequence[ClusteringItem], vectors: Sequence[Vector], entities: Sequence[frozenset[str]]
) -> list[ClusterInput]:
    """Clusterer inputs; an article with the same title and text as an earlier one is its duplicate.

    ``entities`` are each article's entity keys (canonical ids and ``unk:<type>:<name>`` keys): the
    canonical ones are the input's ``entities``, all of them its ``mentions``."""
    first: dict[tuple[str, str], str] = {}
    inputs = []
    for item, vector, found in zip(items, vectors, entities, strict=True):
        key = (item.title.strip(), item.text.strip())
        original = first.setdefault(key, item.id)
        duplicate_of = original if original != item.id else None
        inputs.append(
            ClusterInput.from_keys(item.id, vector, found, item.published, duplicate_of, item.lang, item.title,
                                   item.text)
        )  # fmt: skip
    return inputs


class Clusterer(Protocol):
    def add(self, item: ClusterInput) -> str: ...
    def stories(self) -> dict[str, list[str]]: ...


def predict(inputs: Iterable[ClusterInput], clusterer: Clusterer) -> dict[str, str]:
    """Article id -> predicted story id, by running the clusterer over the inputs in order."""
    for item in inputs:
        clusterer.add(item)
    return {article: story for story, articles in clusterer.stories().items() for article in articles}


def scores_of(items: Sequence[ClusteringItem], predicted: Mapping[str, str]) -> ClusteringScores:
    gold = {item.id: item.story for item in items}
    return ClusteringScores(
        pairwise=pairwise_scores(gold, predicted),
        bcubed=bcubed_scores(gold, predicted),
        articles=len(gold),
        gold_stories=len(set(gold.values())),
        predicted_stories=len(set(predicted.values())),
    )


def score_inputs(
    items: Sequence[ClusteringItem], inputs: Iterable[ClusterInput], params: ClusterParams
) -> ClusteringScores:
    """Runs a fresh centroid clusterer over the inputs and scores its stories against the items' gold labels."""
    return scores_of(items, predict(inputs, StoryClusterer(params)))


def tfidf_baseline(threshold: float = TFIDF_BASELINE_THRESHOLD) -> HybridClusterer:
    """The plain TF-IDF centroid baseline: an article joins the same-language story whose TF-IDF centre is the
    closest at ``threshold`` or more (one feature, one threshold, no linking across languages)."""
    join = Decision.single(JOIN_FEATURES, "tok_centre", threshold)
    never = Decision.fixed(LINK_FEATURES, -50.0)
    return HybridClusterer(ClusteringModel("tf-idf centroid baseline", join, never))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The scores of veille and of the two baselines on one labelled file, and veille's predictions."""

    veille: ClusteringScores
    dense_baseline: ClusteringScores
    tfidf_baseline: ClusteringScores
    predicted: Mapping[str, str]


def evaluate_clustering(
    items: Sequence[ClusteringItem],
    embedder: Embedder,
    extractor: Extractor | None = None,
    model: ClusteringModel | None = None,
) -> Evaluation:
    """Embeds, extracts entities (none without an extractor), clusters and scores the items, with baselines."""
    items = _in_order(items)
    vectors = embed_items(items, embedder)
    entities = [extractor(item) if extractor else frozenset[str]() for item in items]
    inputs = cluster_inputs(items, vectors, entities)
    predicted = predict(inputs, HybridClusterer(model))
    plain = cluster_inputs(items, vectors, [frozenset()] * len(items))
    return Evaluation(
        scores_of(items, predicted),
        score_inputs(items, plain, BASELINE_PARAMS),
        scores_of(items, predict(plain, tfidf_baseline())),
        predicted,
    )


def objective(scores: ClusteringScores) -> float:
    """What :func:`tune` maximizes: the mean of pairwise and BCubed F1."""
    return (scores.pairwise.f1 + scores.bcubed.f1) / 2


def tune(
    items: Sequence[ClusteringItem], inputs: Sequence[ClusterInput], grid: Iterable[ClusterParams]
) -> list[tuple[ClusterParams, ClusteringScores]]:
    """Every parameter set of the grid with its scores, best first (grid order breaks ties)."""
    results = [(params, score_inputs(items, inputs, params)) for params in grid]
    return sorted(results, key=lambda result: -objective(result[1]))
