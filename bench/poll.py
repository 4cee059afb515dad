"""Benchmark: poll N feeds served on loopback through the real poller and store; print feeds/s, items/s, RSS.

    .venv/bin/python bench/poll.py [--feeds 2000] [--database-url URL]
    .venv/bin/python bench/poll.py --vs-reader /path/to/reader-venv/bin/python   (side by side: bench/vs_reader.py)

Rounds: 1) cold (every feed answers 200, all items new); 2) warm (even feeds answer 304 to their ETag, odd feeds
re-serve the same items: parsed, found unchanged); 3) the 304 path alone (only the even feeds).
The server runs in a separate process so that it does not share the GIL with the poller.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.cli import fetch_settings  # noqa: E402
from monitor.config import SourceConfig  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.poller import Poller, PollOutcome  # noqa: E402
from monitor.settings import MonitorSettings  # noqa: E402
from monitor.store import Store  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_round(poller: Poller, sources: list[SourceConfig]) -> tuple[float, list[PollOutcome]]:
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(poller.poll(s) for s in sources))
    return time.perf_counter() - started, list(outcomes)


def report(name: str, elapsed: float, outcomes: list[PollOutcome]) -> None:
    items = sum(o.items for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    kinds = {o.status for o in outcomes}
    print(
        f"{name:<22} feeds={len(outcomes):5d}  {len(outcomes) / elapsed:8.1f} feeds/s  "
        f"items={items:7d}  {items / elapsed:9.1f} items/s  new={sum(o.new for o in outcomes):7d}  "
        f"failed={len(failed)}  statuses={sorted(kinds)}  elapsed={elapsed:.2f}s"
    )
    if failed:
        print("  first failure:", failed[0].error_kind, failed[0].error_message)


async def bench(n: int, database_url: str, port: int) -> None:
    settings = MonitorSettings(
        database_url=database_url, allow_private=True, global_concurrency=64, per_host_concurrency=16
    )
    sources = [
        SourceConfig(
            id=f"bench-{i}",
            name=f"Bench {i}",
            kind="feed",
            url=f"http://127.0.0.1:{port}/feed/{i}",
            language="en",
        )
        for i in range(n)
    ]
    store = Store.open(database_url)
    try:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings)
            report("cold (all 200, new)", *await run_round(poller, sources))
            report("warm (half 304)", *await run_round(poller, sources))
            report(
                "304 path only", *await run_round(poller, [s for i, s in enumerate(sources) if i % 2 == 0])
            )
    finally:
        store.close()
    print(f"peak RSS {peak_rss_mb():.0f} MB (poller process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: an SQLite file in a temporary folder")
    parser.add_argument(
        "--vs-reader", metavar="PYTHON", help="run next to reader (bench/vs_reader.py) instead"
    )
    args = parser.parse_args()
    if args.vs_reader:
        from vs_reader import main as side_by_side

        side_by_side(["--reader-python", args.vs_reader, "--feeds", str(args.feeds)])
        return
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("feedserver.py")), "--feeds", str(args.feeds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/bench.db"
            print(f"{args.feeds} feeds on 127.0.0.1:{port}, store {url.split('://')[0]}")
            asyncio.run(bench(args.feeds, url, port))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
