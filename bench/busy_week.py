"""Benchmark: a busy week of mixed news; does any predicted story mix articles of two sets?

    .venv/bin/python bench/busy_week.py [--out busy-week.jsonl] [--days 7]

Builds one stream from the labelled sets (../shared/data/stories: multinews-val, ecbplus-odd, the WikinewsSum
sample; the project's multilingual set; the demo corpus): each set keeps its own order and is spread evenly
over the week, so the sets interleave article by article; each gold label is prefixed with its set. Writes it
as a clustering file (``--out``, for ``veille eval clustering``), clusters it with the shipped model (USE,
packaged gazetteer), and prints the scores, the story sizes and every predicted story holding articles of two
sets (there should be none: the sets share no event).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.demo_feeds import load_corpus  # noqa: E402
from summarizer.clustering_eval import (  # noqa: E402
    ClusteringItem,
    dump_clustering_file,
    evaluate_clustering,
    load_clustering_file,
    load_wikinewssum,
)
from summarizer.clustering_report import size_line  # noqa: E402
from summarizer.embeddings import load_embedder  # noqa: E402
from summarizer.entities import EntityExtractor  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "stories"
START = datetime(2026, 11, 23, tzinfo=UTC)


def sets() -> dict[str, list[ClusteringItem]]:
    found = {
        "multinews": load_clustering_file(SHARED / "multinews-val" / "clustering.jsonl"),
        "ecbplus": load_clustering_file(SHARED / "ecbplus-odd" / "clustering.jsonl"),
        "wikinews": load_wikinewssum(SHARED / "wikinewssum-sample" / "endataset.json"),
        "multilingual": load_clustering_file(ROOT / "tests" / "fixtures" / "stories" / "multilingual.jsonl"),
    }
    corpus = load_corpus(ROOT / "bot" / "demo_data" / "corpus.yaml")
    found["demo"] = sorted(
        (ClusteringItem(a.id, a.story, a.lang, a.title, a.text, START + a.offset) for a in corpus.articles),
        key=lambda i: i.published,
    )
    return found


def week(by_set: dict[str, list[ClusteringItem]], days: int) -> list[ClusteringItem]:
    """Every set spread evenly over the days, in its own order; ids and labels prefixed with the set."""
    span = timedelta(days=days).total_seconds()
    out = []
    for name, items in by_set.items():
        for n, item in enumerate(items):
            when = START + timedelta(seconds=span * (n + 0.5) / len(items))
            out.append(replace(item, id=f"{name}:{item.id}", story=f"{name}:{item.story}", published=when))
    return sorted(out, key=lambda i: (i.published, i.id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("busy-week.jsonl"))
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: this benchmark needs the shared data sets")
    items = week(sets(), args.days)
    dump_clustering_file(items, args.out)
    print(
        f"{len(items)} articles, {len({i.story for i in items})} events over {args.days} days -> {args.out}"
    )
    extractor = EntityExtractor()

    def keys(item: ClusteringItem) -> frozenset[str]:
        return frozenset(extractor.extract(f"{item.title}\n\n{item.text}", item.lang).counts)

    started = time.perf_counter()
    result = evaluate_clustering(items, load_embedder("use"), keys)
    print(f"embedded, extracted and clustered in {time.perf_counter() - started:.0f}s")
    for name, s in (("veille", result.veille), ("dense centroid", result.dense_baseline),
                    ("TF-IDF centroid", result.tfidf_baseline)):  # fmt: skip
        print(f"{name:>16}: pairwise P {s.pairwise.precision:.3f} R {s.pairwise.recall:.3f} F1 {s.pairwise.f1:.3f}"
              f" | BCubed F1 {s.bcubed.f1:.3f} | {s.predicted_stories} stories for {s.gold_stories}")  # fmt: skip
    print(size_line(result.predicted))
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for article, story in result.predicted.items():
        members[story][article.split(":", 1)[0]] += 1
    mixed = {story: sets_ for story, sets_ in members.items() if len(sets_) > 1}
    print(f"predicted stories mixing two sets: {len(mixed)}")
    for story, sets_ in sorted(mixed.items()):
        print(f"  {story}: {dict(sets_)}")


if __name__ == "__main__":
    main()
