"""Every shared feed file is served on loopback and polled by the real poller into a real SQLite store.

feedparser's corpus (2,107 files) and the 35 real-world feeds go through fetch, parse, normalize, dedup and store.
No unhandled exception is allowed: a bug would surface as an ``internal`` error on the source. The test prints how
many files gave articles and how many were classified as errors, by kind.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from monitor.cli import fetch_settings
from monitor.config import SourceConfig
from monitor.errors import ErrorKind
from monitor.fetch import Fetcher
from monitor.poller import Poller, PollOutcome
from monitor.settings import MonitorSettings
from monitor.store import Store
from tests.conftest import shared_data
from tests.httpserver import LoopbackServer
from tests.monitor.test_feed_corpus import headers_for

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def corpus_files() -> list[Path]:
    feeds = shared_data("feeds")
    return sorted(p for p in feeds.rglob("*") if p.is_file() and ("/tests/" in str(p) or "/input" in str(p)))


async def poll_corpus(server: LoopbackServer, files: list[Path], database_url: str) -> list[PollOutcome]:
    sources = []
    for n, path in enumerate(files):
        body = path.read_bytes()
        server.route(f"/f/{n}", body, headers=headers_for(path, body))
        sources.append(SourceConfig(id=f"f{n}", name=path.name, kind="feed", url=server.url(f"/f/{n}")))
    settings = MonitorSettings(database_url=database_url, allow_private=True, per_host_concurrency=8)
    store = Store.open(database_url)
    try:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            poller = Poller(store, fetcher, settings, clock=lambda: NOW, rng=random.Random(0))
            return list(await asyncio.gather(*(poller.poll(s) for s in sources)))
    finally:
        store.close()


def test_every_shared_feed_goes_through_the_whole_pipeline(
    http_server: LoopbackServer, sqlite_url: str
) -> None:
    files = corpus_files()
    assert len(files) >= 2100
    outcomes = asyncio.run(poll_corpus(http_server, files, sqlite_url))
    tally: Counter[str] = Counter()
    for o in outcomes:
        tally[
            f"error:{o.error_kind}"
            if o.error_kind
            else ("articles" if o.new or o.duplicates else "no articles")
        ] += 1
    internal = [
        (files[int(o.source_id[1:])].name, o.error_message)
        for o in outcomes
        if o.error_kind == ErrorKind.INTERNAL
    ]
    print(f"\n{len(files)} shared feed files: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    assert internal == []
    assert set(tally) <= {"articles", "no articles", "error:unparseable"}
    # Most of feedparser's unit-test files hold one entry testing one element (a geo point, an image's alt text)
    # with no link, title or text: such entries are not articles and are dropped by normalize.
    assert tally["articles"] > 500
    with Store.open(sqlite_url) as store:
        stored = store.count_articles()
    assert stored == sum(o.new + o.duplicates for o in outcomes)
    print(f"stored articles: {stored} ({sum(o.duplicates for o in outcomes)} recorded as duplicates)")
