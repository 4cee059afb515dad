"""Benchmark: items/s of parse + normalize over the real-world feeds, next to feedparser alone on the same files.

    .venv/bin/python bench/parse.py [--repeat 5]

Reads ../shared/data/feeds/real-world/input*/ (35 real feeds) and the well-formed feedparser corpus; exits with a
message when that folder is absent. Aim: parse + normalize costs at most 1.5x feedparser alone.

Both sides get the same bytes and headers; feedparser alone is plain ``feedparser.parse(body,
response_headers=headers)``. The runs of the two alternate and the best of each is kept, so that load from
elsewhere on the machine does not land on one side only. Items per second count the entries parsed on both
sides; the articles kept are shown apart: normalize drops entries with neither link, title nor text (many
files of feedparser's corpus test one element alone, such as an author or a date).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "feeds"

import feedparser  # noqa: E402

from monitor.errors import ParseError  # noqa: E402
from monitor.feed import parse_feed  # noqa: E402
from monitor.normalize import normalize_items  # noqa: E402

CONTENT_TYPES = {
    ".json": "application/feed+json",
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
}
Docs = list[tuple[str, bytes, dict[str, str]]]


def load(corpus: str) -> Docs:
    if corpus == "real-world":
        files = sorted(p for p in (DATA / "real-world").glob("input*/*") if p.is_file())
    else:
        files = sorted(
            p for p in (DATA / "feedparser-corpus" / "tests" / "wellformed").rglob("*") if p.is_file()
        )
    return [
        (p.name, p.read_bytes(), {"content-type": CONTENT_TYPES.get(p.suffix, "application/xml")})
        for p in files
    ]


def feedparser_alone(docs: Docs) -> tuple[int, int]:
    entries = 0
    for _name, body, headers in docs:
        entries += len(feedparser.parse(body, response_headers=headers).entries)
    return entries, entries


def veille_pipeline(docs: Docs) -> tuple[int, int]:
    """(items parsed, articles kept)."""
    now = datetime.now(UTC)
    items = articles = 0
    for name, body, headers in docs:
        try:
            parsed = parse_feed(body, headers, f"https://example.test/{name}")
        except ParseError:
            continue
        items += len(parsed.items)
        articles += len(normalize_items(parsed.items, source_id="bench", declared_language="auto", now=now))
    return items, articles


def timed_pair(docs: Docs, repeat: int) -> list[tuple[float, tuple[int, int]]]:
    """Best time and counts of each side, the two sides run in turn."""
    sides: list[Callable[[Docs], tuple[int, int]]] = [feedparser_alone, veille_pipeline]
    best = [float("inf")] * len(sides)
    counts = [(0, 0)] * len(sides)
    for _ in range(repeat):
        for index, func in enumerate(sides):
            started = time.perf_counter()
            counts[index] = func(docs)
            best[index] = min(best[index], time.perf_counter() - started)
    return list(zip(best, counts, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared feed data not found at {DATA}")
    veille_pipeline(load("real-world")[:3])  # warm-up: language model and lazy imports
    for corpus in ("real-world", "feedparser-wellformed"):
        docs = load(corpus)
        (fp_s, (fp_items, _)), (vp_s, (vp_items, articles)) = timed_pair(docs, args.repeat)
        print(f"{corpus}: {len(docs)} files")
        print(
            f"  feedparser alone      {fp_items:6d} items  {fp_s * 1000:8.1f} ms  {fp_items / fp_s:9.0f} items/s"
        )
        print(
            f"  parse + normalize     {vp_items:6d} items  {vp_s * 1000:8.1f} ms  {vp_items / vp_s:9.0f} items/s"
            f"  ({articles} articles kept)"
        )
        print(f"  cost ratio            {vp_s / fp_s:.2f}x feedparser alone (aim <= 1.5x)")


if __name__ == "__main__":
    main()
