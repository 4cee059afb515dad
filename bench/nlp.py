"""Benchmark: articles/s through language id + entities + embedding + clustering, at 1,000 and 10,000 articles.

    .venv/bin/python bench/nlp.py [--sizes 1000 10000] [--batch 64]

The stream is built from the project's multilingual set (tests/fixtures/stories/multilingual.jsonl, 5 languages):
each round replays its 70 articles 4 days later than the previous round, with a round-specific sentence appended, so
events keep arriving over months as in production. Prints end-to-end articles/s, the share of each stage, and the
per-article clustering time at each size (aim: at 10,000 no more than 1.5x that at 1,000).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from monitor.langid import detect_language  # noqa: E402
from summarizer.clustering import ClusterInput  # noqa: E402
from summarizer.embeddings import embedding_text, load_embedder  # noqa: E402
from summarizer.entities import EntityExtractor  # noqa: E402
from summarizer.hybrid import HybridClusterer  # noqa: E402

SET = ROOT / "tests" / "fixtures" / "stories" / "multilingual.jsonl"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: str
    text: str
    published: datetime


def stream(n: int) -> list[Item]:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    rng = random.Random(7)
    out: list[Item] = []
    for k in range(n):
        row = rows[k % len(rows)]
        rnd = k // len(rows)
        published = datetime.fromisoformat(row["published"]) + timedelta(days=4 * rnd)
        extra = f" Update {rnd}: {rng.choice(['officials', 'police', 'prosecutors'])} gave new figures."
        out.append(Item(f"{row['id']}-{rnd}", row["title"], row["text"] + extra, published))
    return sorted(out, key=lambda i: (i.published, i.id))


def run(n: int, batch: int, extractor: EntityExtractor, embedder: object) -> dict[str, float]:
    items = stream(n)
    clusterer = HybridClusterer()
    stories: dict[str, str] = {}
    timings = {"langid": 0.0, "entities": 0.0, "embedding": 0.0, "clustering": 0.0}
    started = time.perf_counter()
    for i in range(0, n, batch):
        chunk = items[i : i + batch]
        t = time.perf_counter()
        langs = [detect_language(f"{it.title} {it.text}")[0] for it in chunk]
        timings["langid"] += time.perf_counter() - t
        t = time.perf_counter()
        found = extractor.extract_many(
            [(f"{it.title}\n\n{it.text}", lang) for it, lang in zip(chunk, langs, strict=True)]
        )
        timings["entities"] += time.perf_counter() - t
        t = time.perf_counter()
        vectors = embedder.embed([embedding_text(it.title, it.text) for it in chunk])  # type: ignore[attr-defined]
        timings["embedding"] += time.perf_counter() - t
        t = time.perf_counter()
        for it, ents, vec, lang in zip(chunk, found, vectors, langs, strict=True):
            stories[it.id] = clusterer.add(
                ClusterInput(it.id, vec, ents.entity_ids, it.published, None, lang or "", it.title, it.text,
                             frozenset(ents.counts))
            )  # fmt: skip
        clusterer.drop_closed()  # as the pipeline does after each batch: closed stories live in the store
        timings["clustering"] += time.perf_counter() - t
    total = time.perf_counter() - started
    state = len(json.dumps(clusterer.snapshot()))  # what the pipeline saves with each batch
    return {
        "total": total,
        **timings,
        "stories": float(len({clusterer.resolve(s) for s in stories.values()})),
        "state": float(state),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    t = time.perf_counter()
    extractor = EntityExtractor()
    embedder = load_embedder("use")
    extractor.extract_many([("Europol warm-up.", lang) for lang in ("en", "fr", "de", "es", "ar")])
    embedder.embed(["warm-up"])
    print(f"models loaded in {time.perf_counter() - t:.1f}s; {os.cpu_count()} cores")
    per_article: dict[int, float] = {}
    for n in args.sizes:
        r = run(n, args.batch, extractor, embedder)
        per_article[n] = r["clustering"] / n
        shares = ", ".join(
            f"{k} {r[k] / r['total']:.0%}" for k in ("langid", "entities", "embedding", "clustering")
        )
        print(
            f"{n:6d} articles: {n / r['total']:7.1f} articles/s end to end ({r['total']:.1f}s; {shares}); "
            f"clustering {per_article[n] * 1e3:.3f} ms/article; {int(r['stories'])} stories; "
            f"saved state {r['state'] / 1e6:.1f} MB"
        )
    if len(per_article) >= 2:
        small, large = min(per_article), max(per_article)
        print(
            f"per-article clustering time at {large} / at {small}: {per_article[large] / per_article[small]:.2f}x "
            "(aim <= 1.5x)"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
