"""Benchmark: feedparser alone, veille's parse + normalize without and with the fast path, on the real feeds.

    .venv/bin/python bench/parse.py [--repeat 5] [--corpus real-world|feedparser-wellformed]

Reads ../shared/data/feeds/real-world/input*/ (35 real feeds; or the well-formed feedparser corpus); exits with
a message when that folder is absent. Three paths over the same bytes and headers: (a) plain
``feedparser.parse(body, response_headers=headers)``; (b) ``parse_feed(..., fast=False)`` + ``normalize_items``,
veille as it was before the fast path; (c) ``parse_feed`` + ``normalize_items`` with the fast path
(monitor/fastfeed.py). Aim: (c) at least 3x faster than (a). The runs alternate and the best of each path is
kept, so that load from elsewhere on the machine does not land on one path only. The share of files on the
fast path is counted once, outside the timed runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "feeds"

import feedparser  # noqa: E402

from monitor import fastfeed  # noqa: E402
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


def feedparser_alone(docs: Docs) -> int:
    return sum(len(feedparser.parse(body, response_headers=headers).entries) for _name, body, headers in docs)


def pipeline(docs: Docs, fast: bool) -> int:
    """Articles kept by parse + normalize."""
    now = datetime.now(UTC)
    articles = 0
    for name, body, headers in docs:
        try:
            parsed = parse_feed(body, headers, f"https://example.test/{name}", fast=fast)
        except ParseError:
            continue
        articles += len(normalize_items(parsed.items, source_id="bench", declared_language="auto", now=now))
    return articles


def fast_share(docs: Docs) -> int:
    """How many documents the fast path takes."""
    taken = 0
    original = fastfeed.parse_fast

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        nonlocal taken
        result = original(*args, **kwargs)
        taken += result is not None
        return result

    import monitor.feed

    setattr(monitor.feed, "parse_fast", counting)  # noqa: B010 - the name is not exported
    try:
        pipeline(docs, fast=True)
    finally:
        setattr(monitor.feed, "parse_fast", original)  # noqa: B010
    return taken


def best_times(docs: Docs, repeat: int) -> list[tuple[float, int]]:
    """Best time and count of each path, the paths run in turn."""
    paths: list[Callable[[Docs], int]] = [
        feedparser_alone,
        lambda d: pipeline(d, fast=False),
        lambda d: pipeline(d, fast=True),
    ]
    best = [float("inf")] * len(paths)
    counts = [0] * len(paths)
    for _ in range(repeat):
        for index, func in enumerate(paths):
            started = time.perf_counter()
            counts[index] = func(docs)
            best[index] = min(best[index], time.perf_counter() - started)
    return list(zip(best, counts, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    parser.add_argument("--corpus", choices=("real-world", "feedparser-wellformed"), default="real-world")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared feed data not found at {DATA}")
    docs = load(args.corpus)
    pipeline(docs[:3], fast=True)  # warm-up: language model and lazy imports
    (fp_s, fp_n), (slow_s, slow_n), (fast_s, fast_n) = best_times(docs, args.repeat)
    taken = fast_share(docs)
    print(f"{args.corpus}: {len(docs)} files, {taken} on the fast path ({taken / len(docs):.0%})")
    rows = [
        ("(a) feedparser.parse alone", fp_s, f"{fp_n} entries"),
        ("(b) veille, fast path off", slow_s, f"{slow_n} articles"),
        ("(c) veille, fast path on", fast_s, f"{fast_n} articles"),
    ]
    for label, seconds, what in rows:
        print(
            f"  {label:28s} {seconds * 1000:8.1f} ms  {len(docs) / seconds:7.1f} files/s"
            f"  {seconds / fp_s:5.2f}x the time of (a)  ({what})"
        )
    print(f"  speed-up of (c) over (a): {fp_s / fast_s:.2f}x (aim >= 3x)")


if __name__ == "__main__":
    main()
