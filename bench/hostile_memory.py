"""Benchmark: peak memory (RSS) of hostile bodies under the default 10 MB cap (issue 12, point 6).

    .venv/bin/python bench/hostile_memory.py [--code PATH] [--case NAME]

Each case runs in a fresh subprocess, which prints its outcome, its time and its peak RSS (VmHWM):

- ``entity-feed``: a 10 MB feed of 1,000 items whose short entity (64 characters, which the DOCTYPE guard
  keeps) is referenced 3.5 million times: 220 MB of text once expanded. One real poll: served on loopback,
  fetched, parsed, normalized and stored in a temporary SQLite file.
- ``plain-feed``: a 10 MB feed of plain text, the same shape, polled the same way: what a feed at the cap
  costs anyway.
- ``fulltext-pages``: six 9.8 MB article pages through ``extract_fulltext`` on six threads at once, as the
  poller's worker threads run them.

``--code PATH`` imports ``monitor`` from another checkout (e.g. ``git archive HEAD`` unpacked elsewhere) to
print "before" figures next to the current ones. Figures on the 2-core reference machine (peak RSS, time),
before the point 6 fixes -> after: entity feed 968 MB, 21 s (1,000 articles, 218 M characters stored) ->
121 MB, 1.2 s (refused as ``too_large`` before parsing); plain feed 175 MB -> 180 MB (unchanged); fulltext
pages 954 MB, 23 s -> 338 MB, 6 s (each page cut to 2 MiB before parsing).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("entity-feed", "plain-feed", "fulltext-pages")
WORDS = ("harbour", "authority", "approved", "dredging", "plan", "after", "public", "consultation", "ministry",
         "police", "court", "border")  # fmt: skip
CAP = 10 * 1024 * 1024
ITEMS = 1000
RSS_HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def feed(doctype: str, descriptions: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Story {n}</title><link>https://h.example/{n}</link><guid>{n}</guid>"
        f"<description>{text}</description></item>"
        for n, text in enumerate(descriptions)
    )
    head = '<?xml version="1.0" encoding="utf-8"?>'
    return f'{head}{doctype}<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def entity_feed() -> bytes:
    value = words(random.Random(1), 20)[:63] + "."
    per_item = (CAP - (256 << 10)) // ITEMS // len("&e;")
    return feed(f'<!DOCTYPE rss [<!ENTITY e "{value}">]>', ["&e;" * per_item] * ITEMS)


def plain_feed() -> bytes:
    rng = random.Random(2)
    return feed("", [words(rng, (CAP - (256 << 10)) // ITEMS // 8) for _ in range(ITEMS)])


def article_page(seed: int) -> bytes:
    rng = random.Random(seed)
    paragraphs = "".join(f"<p>{words(rng, 60)}.</p>\n" for _ in range(20_000))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Harbour</title></head>"
        f"<body><article><h1>Harbour {seed}</h1>{paragraphs}</article></body></html>"
    ).encode()


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


async def poll_once(body: bytes) -> str:
    """One poll of ``body`` served on loopback, into a temporary SQLite store; its outcome in a few words."""
    from monitor.cli import fetch_settings
    from monitor.config import SourceConfig
    from monitor.fetch import Fetcher
    from monitor.poller import Poller
    from monitor.settings import MonitorSettings
    from monitor.store import Store
    from tests.httpserver import serve

    with tempfile.TemporaryDirectory() as folder, serve() as server:
        server.route("/feed", body, headers=RSS_HEADERS)
        url = f"sqlite:///{folder}/bench.db"
        settings = MonitorSettings(database_url=url, allow_private=True)
        store = Store.open(url)
        source = SourceConfig(id="bench", name="bench", kind="feed", url=server.url("/feed"), language="en")
        async with Fetcher(fetch_settings(settings)) as fetcher:
            outcome = await Poller(store, fetcher, settings).poll(source)
        stored = store.list_articles(source_id="bench")
        store.close()
    if outcome.status == "failed":
        return f"{len(body) / 2**20:.1f} MB: refused ({outcome.error_kind})"
    chars = sum(len(article.text) for article in stored)
    return f"{len(body) / 2**20:.1f} MB: {len(stored)} articles, {chars / 1e6:.0f} M characters stored"


def run_case(case: str) -> str:
    """Run one case in this process; returns its outcome in a few words."""
    from monitor.fulltext import extract_fulltext

    if case == "fulltext-pages":
        pages = [article_page(seed) for seed in range(6)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            texts = list(pool.map(lambda page: extract_fulltext(page, "https://h.example/a"), pages))
        sizes = [len(text or "") for text in texts]
        return f"6 pages of {len(pages[0]) / 2**20:.1f} MB: texts of {min(sizes)}-{max(sizes)} characters"
    return asyncio.run(poll_once(entity_feed() if case == "entity-feed" else plain_feed()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose monitor/ is measured")
    parser.add_argument("--case", choices=CASES, help="run this case in this process (used internally)")
    args = parser.parse_args()
    sys.path[:0] = [
        str(args.code.resolve()),
        str(ROOT),
    ]  # monitor/ from --code; tests/ (the server) from here
    if args.case:
        started = time.perf_counter()
        outcome = run_case(args.case)
        print(f"{outcome}\t{time.perf_counter() - started:.1f}\t{peak_rss_mb():.0f}")
        return
    print(f"code: {args.code.resolve()}")
    print(f"{'case':<16} {'peak RSS':>9} {'time':>7}  outcome")
    for case in CASES:
        run = subprocess.run(
            [sys.executable, __file__, "--code", str(args.code), "--case", case],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            print(f"{case:<16} failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        outcome, seconds, peak = run.stdout.strip().splitlines()[-1].split("\t")
        print(f"{case:<16} {peak + ' MB':>9} {seconds + ' s':>7}  {outcome}")


if __name__ == "__main__":
    main()
