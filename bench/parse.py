"""Benchmark: items/s of parse + normalize over the real-world feeds, next to feedparser alone on the same files.

    .venv/bin/python bench/parse.py [--repeat 5]

Reads ../shared/data/feeds/real-world/input*/ (31 real feeds) and the well-formed feedparser corpus; exits with a
message when that folder is absent. Aim: parse + normalize costs at most 1.5x feedparser alone.
"""

from __future__ import annotations

import argparse
import sys
import time
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


def load(corpus: str) -> list[tuple[str, bytes, dict[str, str]]]:
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


def feedparser_alone(docs: list[tuple[str, bytes, dict[str, str]]]) -> int:
    items = 0
    for _name, body, headers in docs:
        items += len(feedparser.parse(body, response_headers=headers).entries)
    return items


def veille_pipeline(docs: list[tuple[str, bytes, dict[str, str]]]) -> int:
    now = datetime.now(UTC)
    items = 0
    for name, body, headers in docs:
        try:
            parsed = parse_feed(body, headers, f"https://example.test/{name}")
        except ParseError:
            continue
        items += len(normalize_items(parsed.items, source_id="bench", declared_language="auto", now=now))
    return items


def timed(func: object, docs: list[tuple[str, bytes, dict[str, str]]], repeat: int) -> tuple[float, int]:
    best, items = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        items = func(docs)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared feed data not found at {DATA}")
    veille_pipeline(load("real-world")[:3])  # warm-up: language model and lazy imports
    for corpus in ("real-world", "feedparser-wellformed"):
        docs = load(corpus)
        fp_s, fp_items = timed(feedparser_alone, docs, args.repeat)
        vp_s, vp_items = timed(veille_pipeline, docs, args.repeat)
        print(f"{corpus}: {len(docs)} files")
        print(
            f"  feedparser alone      {fp_items:6d} items  {fp_s * 1000:8.1f} ms  {fp_items / fp_s:9.0f} items/s"
        )
        print(
            f"  parse + normalize     {vp_items:6d} items  {vp_s * 1000:8.1f} ms  {vp_items / vp_s:9.0f} items/s"
        )
        print(f"  cost ratio            {vp_s / fp_s:.2f}x feedparser alone (aim <= 1.5x)")


if __name__ == "__main__":
    main()
