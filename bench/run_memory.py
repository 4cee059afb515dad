"""Benchmark: peak memory (RSS) of ``veille run`` with the default models loaded and working.

    .venv/bin/python bench/run_memory.py [--articles 300]

Starts ``veille run`` as a subprocess on a fresh SQLite store, with loopback feeds of N articles taken from the
project's labelled multilingual set (repeated with new ids) and the default models (multilingual USE, spaCy fr/en
and the gazetteers); waits until every article is summarized, then reads the process's peak RSS (VmHWM) and its
current RSS from /proc, and prints them with the time to load and process. Aim: under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from tests.httpserver import serve  # noqa: E402

SET = ROOT / "tests" / "fixtures" / "stories" / "multilingual.jsonl"


def rss_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def feed(rows: list[dict[str, str]], now: datetime) -> bytes:
    items = "".join(
        f"<item><title>{escape(r['title'])}</title><link>https://n.example/{r['id']}</link><guid>{r['id']}</guid>"
        f"<pubDate>{(now - timedelta(minutes=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>{escape(r['text'])}</description></item>"
        for n, r in enumerate(rows)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>bench</title>{items}</channel></rss>'.encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    args = parser.parse_args()
    base = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    rows = [
        dict(r, id=f"{r['id']}-{n // len(base)}", title=f"{r['title']} ({n // len(base)})")
        for n, r in zip(range(args.articles), base * (args.articles // len(base) + 1), strict=False)
    ]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, serve() as server:
        chunks = [rows[i : i + 50] for i in range(0, len(rows), 50)]
        for n, chunk in enumerate(chunks):
            server.route(f"/f{n}.xml", feed(chunk, now), headers={"Content-Type": "application/rss+xml"})
        sources = Path(tmp) / "sources.yaml"
        sources.write_text(
            "version: 1\nsources:\n"
            + "".join(
                f"  - {{id: f{n}, name: F{n}, kind: feed, url: '{server.url(f'/f{n}.xml')}', interval: 1h}}\n"
                for n in range(len(chunks))
            )
        )
        database = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = dict(
            os.environ,
            DATABASE_URL=database,
            VEILLE_ALLOW_PRIVATE="1",
            VEILLE_STARTUP_SPREAD_S="0",
            VEILLE_SUMMARIZE_INTERVAL_S="1",
            VEILLE_METRICS_PORT=str(free_port()),
            HF_HUB_OFFLINE="1",
        )
        env.pop("TELEGRAM_BOT_TOKEN", None)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "veille"), "run", "--sources", str(sources)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        engine = create_engine(database)
        peak = 0.0
        try:
            while True:
                time.sleep(0.5)
                peak = max(peak, rss_mb(proc.pid)[0])
                try:
                    with engine.connect() as conn:
                        done = conn.execute(text("select count(*) from article_nlp")).scalar_one()
                except Exception:  # tables not created yet
                    done = 0
                if done >= len(rows):
                    break
                if proc.poll() is not None or time.perf_counter() - started > 900:
                    raise SystemExit(
                        f"veille run stopped or took too long (exit {proc.returncode}, {done} done)"
                    )
            elapsed = time.perf_counter() - started
            peak, current = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            engine.dispose()
    print(f"veille run, default models, {len(rows)} articles polled and summarized in {elapsed:.1f} s")
    print(f"peak RSS {peak:.0f} MB (aim < 1024 MB); RSS at the end {current:.0f} MB")


if __name__ == "__main__":
    main()
