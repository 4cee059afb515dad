"""Clustering diagnostics: where a predicted clustering goes wrong, beyond one F1 figure.

Pure functions over three mappings keyed by article id (the same keys everywhere, ``ValueError``
otherwise): ``gold`` (the gold story label), ``predicted`` (the predicted story id) and ``langs`` (the
language code). Nothing here loads a model; the counts come from :class:`collections.Counter` cells, so
each function is linear in the number of articles (sets reach 10,000 articles, 50 million pairs).

- :func:`pairwise_by_language`: the pairwise precision/recall/F1 of
  :func:`summarizer.clustering_eval.pairwise_scores`, once over the pairs of articles in the same
  language and once over the pairs in different languages (same convention: with no predicted pair
  precision is 1.0, with no gold pair recall is 1.0). Pairs are counted per (gold, predicted, language)
  cell, the cross-language counts being all pairs minus same-language pairs.
- :func:`size_distribution`: how many predicted stories have 1, 2, 3-5, 6-10, 11-20, 21-50 or more than
  50 articles; :func:`size_line` renders it on one line with the largest size.
- :func:`worst_merges`: the predicted stories that hold several gold events, each with its two largest
  events (:class:`Merge`), ranked by the wrong pairs those two make (``n1 * n2``), most first.
- :func:`worst_splits`: the gold events spread over several predicted stories (:class:`Split`), ranked by
  their missed pairs (pairs of the event's articles not in one predicted story), most first.
- :func:`write_predictions`: one JSON Lines record per article, ``{"id", "story", "predicted",
  "lang"}``, sorted by id, to compare runs or read the errors with other tools.
- :func:`format_explain`: human-readable lines for merges and splits, with article titles shortened to
  60 characters.

Ties are broken by label or id (never by mapping order), so the reports are reproducible.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from summarizer.metrics import PRF, pair_scores, pairs_within

SIZE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    (">50", 51, None),
)
"""The size buckets of :func:`size_distribution`: key, smallest and largest size (``None``: no bound)."""

TITLE_WIDTH = 60
"""The longest title :func:`format_explain` prints, ellipsis included."""

SAMPLE_SIZE = 3
"""How many article ids of each event a :class:`Merge` keeps."""


def _check_keys(
    gold: Mapping[str, str], predicted: Mapping[str, str], langs: Mapping[str, str] | None
) -> None:
    if gold.keys() != predicted.keys():
        raise ValueError("gold and predicted labels must cover the same articles")
    if langs is not None and langs.keys() != gold.keys():
        raise ValueError("languages must cover the same articles as the labels")


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")


def pairwise_by_language(
    gold: Mapping[str, str], predicted: Mapping[str, str], langs: Mapping[str, str]
) -> tuple[PRF, PRF]:
    """Pairwise scores over same-language pairs and over cross-language pairs, in that order."""
    _check_keys(gold, predicted, langs)
    ids = list(gold)
    together_all = pairs_within((gold[i], predicted[i]) for i in ids)
    predicted_all = pairs_within(predicted[i] for i in ids)
    gold_all = pairs_within(gold[i] for i in ids)
    together_same = pairs_within((gold[i], predicted[i], langs[i]) for i in ids)
    predicted_same = pairs_within((predicted[i], langs[i]) for i in ids)
    gold_same = pairs_within((gold[i], langs[i]) for i in ids)
    same = pair_scores(together_same, predicted_same, gold_same)
    cross = pair_scores(together_all - together_same, predicted_all - predicted_same, gold_all - gold_same)
    return same, cross


def size_distribution(predicted: Mapping[str, str]) -> dict[str, int]:
    """The number of predicted stories per size bucket (every key of :data:`SIZE_BUCKETS`, in order)."""
    counts = dict.fromkeys((key for key, _, _ in SIZE_BUCKETS), 0)
    for size in Counter(predicted.values()).values():
        for key, low, high in SIZE_BUCKETS:
            if size >= low and (high is None or size <= high):
                counts[key] += 1
                break
    return counts


def size_line(predicted: Mapping[str, str]) -> str:
    """``story sizes: 1: 120, 2: 40, ..., >50: 0; largest 17`` (largest 0 without articles)."""
    buckets = ", ".join(f"{key}: {count}" for key, count in size_distribution(predicted).items())
    largest = max(Counter(predicted.values()).values(), default=0)
    return f"story sizes: {buckets}; largest {largest}"


@dataclass(frozen=True, slots=True)
class Merge:
    """A predicted story mixing gold events: its two largest events, their sizes and a few article ids.

    ``first`` is the larger event (the smaller label on equal sizes); ``first_ids`` and ``second_ids`` are
    the first :data:`SAMPLE_SIZE` article ids of each event in sorted order.
    """

    story: str
    first: str
    first_size: int
    first_ids: tuple[str, ...]
    second: str
    second_size: int
    second_ids: tuple[str, ...]

    @property
    def wrong_pairs(self) -> int:
        """The pairs of one article of each event, wrongly put together."""
        return self.first_size * self.second_size


def _members(labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Each label's article ids, sorted."""
    members: defaultdict[str, list[str]] = defaultdict(list)
    for article in sorted(labels):
        members[labels[article]].append(article)
    return members


def worst_merges(gold: Mapping[str, str], predicted: Mapping[str, str], limit: int = 10) -> list[Merge]:
    """Up to ``limit`` predicted stories holding two gold events or more, most wrong pairs first."""
    _check_keys(gold, predicted, None)
    _check_limit(limit)
    events_by_story: defaultdict[str, defaultdict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for article in sorted(gold):
        events_by_story[predicted[article]][gold[article]].append(article)
    merges = []
    for story, events in events_by_story.items():
        if len(events) < 2:
            continue
        (first, first_ids), (second, second_ids) = sorted(
            events.items(), key=lambda event: (-len(event[1]), event[0])
        )[:2]
        first_sample, second_sample = tuple(first_ids[:SAMPLE_SIZE]), tuple(second_ids[:SAMPLE_SIZE])
        merges.append(
            Merge(story, first, len(first_ids), first_sample, second, len(second_ids), second_sample)
        )
    merges.sort(key=lambda merge: (-merge.wrong_pairs, merge.story))
    return merges[:limit]


@dataclass(frozen=True, slots=True)
class Split:
    """A gold event spread over several predicted stories.

    ``sizes`` are the sizes of its parts, largest first; ``stories`` the predicted story ids of the two
    largest parts (the smaller id first on equal sizes).
    """

    label: str
    sizes: tuple[int, ...]
    stories: tuple[str, str]

    @property
    def missed_pairs(self) -> int:
        """The pairs of the event's articles that are not in one predicted story."""
        total = sum(self.sizes)
        return total * (total - 1) // 2 - sum(size * (size - 1) // 2 for size in self.sizes)


def worst_splits(gold: Mapping[str, str], predicted: Mapping[str, str], limit: int = 10) -> list[Split]:
    """Up to ``limit`` gold events spread over two predicted stories or more, most missed pairs first."""
    _check_keys(gold, predicted, None)
    _check_limit(limit)
    parts_by_event: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for article, label in gold.items():
        parts_by_event[label][predicted[article]] += 1
    splits = []
    for label, parts in parts_by_event.items():
        if len(parts) < 2:
            continue
        ranked = sorted(parts.items(), key=lambda part: (-part[1], part[0]))
        splits.append(Split(label, tuple(size for _, size in ranked), (ranked[0][0], ranked[1][0])))
    splits.sort(key=lambda split: (-split.missed_pairs, split.label))
    return splits[:limit]


def write_predictions(
    path: Path, gold: Mapping[str, str], predicted: Mapping[str, str], langs: Mapping[str, str]
) -> None:
    """Writes one JSON line ``{"id", "story", "predicted", "lang"}`` per article, sorted by id, in UTF-8."""
    _check_keys(gold, predicted, langs)
    with path.open("w", encoding="utf-8") as out:
        for article in sorted(gold):
            row = {
                "id": article,
                "story": gold[article],
                "predicted": predicted[article],
                "lang": langs[article],
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _short(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1].rstrip() + "…"


def _event(label: str, size: int, ids: Sequence[str], titles: Mapping[str, str]) -> str:
    samples = ", ".join(f"'{_short(titles.get(article, article))}'" for article in ids)
    more = ", ..." if size > len(ids) else ""
    noun = "article" if size == 1 else "articles"
    return f"event {label} ({size} {noun}: {samples}{more})"


def format_explain(merges: Iterable[Merge], splits: Iterable[Split], titles: Mapping[str, str]) -> list[str]:
    """One line per merge then per split, in the given order.

    ``merge in story s123: event A (5 articles: 'title', ..., ...) + event B (3 articles: ...)`` shows the
    sampled articles' titles (the article id when ``titles`` lacks it), shortened to 60 characters;
    ``split of event X: parts 4 + 2 + 1 (stories s1, s9)`` names the stories of the two largest parts.
    """
    lines = [
        f"merge in story {merge.story}: "
        f"{_event(merge.first, merge.first_size, merge.first_ids, titles)} + "
        f"{_event(merge.second, merge.second_size, merge.second_ids, titles)}"
        for merge in merges
    ]
    lines.extend(
        f"split of event {split.label}: parts {' + '.join(map(str, split.sizes))} "
        f"(stories {', '.join(split.stories)})"
        for split in splits
    )
    return lines
