"""SIGKILL the poller in the middle of a round, restart it: no article lost, none stored twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.httpserver import LoopbackServer, Request, Response

pytestmark = pytest.mark.slow

FEEDS = 40
ITEMS = 30
WORDS = [
    "europol",
    "interpol",
    "police",
    "raid",
    "arrest",
    "network",
    "fraud",
    "court",
    "ministry",
    "border",
    "drugs",
    "cyber",
    "data",
    "terror",
    "propaganda",
    "online",
    "platform",
    "seized",
    "suspects",
    "investigation",
    "warrant",
    "judges",
]


def feed_xml(i: int) -> bytes:
    rng = random.Random(i)
    items = []
    for k in range(ITEMS):
        body = " ".join(rng.choice(WORDS) for _ in range(60))
        items.append(
            f"<item><title>Source {i} story {k}</title><link>https://s{i}.example.org/a/{k}</link>"
            f"<guid>s{i}-{k}</guid><pubDate>Mon, 02 Nov 2026 {k % 24:02d}:00:00 GMT</pubDate>"
            f"<description>{body}</description></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>S{i}</title>'
        f"<link>https://s{i}.example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


def write_sources(path: Path, server: LoopbackServer) -> None:
    lines = ["sources:"]
    for i in range(FEEDS):
        lines += [
            f"  - id: s{i}",
            f"    name: Source {i}",
            "    kind: feed",
            f"    url: {server.url(f'/feed/{i}')}",
            "    language: en",
            "    interval: 30m",
        ]
    path.write_text("\n".join(lines) + "\n")


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.guarded_run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def count_rows(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
            distinct = conn.execute(text("SELECT count(DISTINCT canonical_url) FROM articles")).scalar_one()
            dups = conn.execute(
                text("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(total), int(distinct), int(dups)


def test_sigkill_mid_round_then_restart_loses_nothing(
    database_url: str, http_server: LoopbackServer, tmp_path: Path
) -> None:
    served: list[int] = []

    def handler_for(i: int) -> object:
        body = feed_xml(i)

        def handler(_req: Request) -> Response:
            served.append(i)
            return Response(
                200, body, {"Content-Type": "application/rss+xml", "ETag": f'"e{i}"'}, delay_s=0.05 * (i % 7)
            )

        return handler

    for i in range(FEEDS):
        http_server.route(f"/feed/{i}", handler=handler_for(i))  # type: ignore[arg-type]
    sources = tmp_path / "sources.yaml"
    write_sources(sources, http_server)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        VEILLE_ALLOW_PRIVATE="1",
        PYTHONPATH=str(ROOT),
        VEILLE_PER_HOST_CONCURRENCY="4",
    )
    args = ["poll", "--once", "--sources", str(sources), "--json"]

    first = run_cli(args, env, tmp_path)
    deadline = time.monotonic() + 60
    while len(served) < FEEDS // 3 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    # Some polls committed (after the parser workers' start-up), others still to fetch, parse or write.
    while count_rows(database_url)[0] == 0 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    time.sleep(0.1)
    assert first.poll() is None, "the first round finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    killed_total, _, _ = count_rows(database_url)
    assert 0 < killed_total < FEEDS * ITEMS, "kill did not land in the middle of the round"

    second = run_cli(args, env, tmp_path)
    stdout, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr.decode()[-2000:]
    total, distinct, dups = count_rows(database_url)
    assert (total, distinct, dups) == (FEEDS * ITEMS, FEEDS * ITEMS, 0)

    third = run_cli(args, env, tmp_path)  # a third round finds nothing new (304s and sightings)
    stdout, stderr = third.communicate(timeout=120)
    assert third.returncode == 0, stderr.decode()[-2000:]
    assert count_rows(database_url) == (FEEDS * ITEMS, FEEDS * ITEMS, 0)
    rows = [json.loads(line) for line in stdout.decode().splitlines()]
    assert (
        len(rows) == FEEDS
        and {r["status"] for r in rows} == {"unchanged"}
        and sum(r["new"] for r in rows) == 0
    )
