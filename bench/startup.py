"""Benchmark: how fast the command line answers (issue 13: ``veille --help`` under 0.5 s, ``veille poll --once``
on one small feed under 1.5 s, wall time on an idle machine).

    .venv/bin/python bench/startup.py [--runs 7]

Runs the installed ``veille`` of this virtual environment as a user does (a new process each time): ``--help``,
``sources list``, and ``poll --once`` of one small RSS feed served on loopback, into a fresh SQLite store and
again into the same store (the feed fetched and parsed again, its items found unchanged). Prints the
median and the worst wall time of each, and the machine's load average, which the figures depend on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VEILLE = Path(sys.executable).with_name("veille")
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>'
    + b"".join(
        f"<item><title>Item {i}</title><link>https://bench.example/{i}</link><guid>b{i}</guid>"
        f"<description>Europol said on Monday that item {i} happened.</description></item>".encode()
        for i in range(20)
    )
    + b"</channel></rss>"
)


class Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        pass


def timed(args: list[str], env: dict[str, str], before: list[str] | None = None) -> float:
    if before:
        subprocess.run([str(VEILLE), *before], env=env, capture_output=True, check=True)
    start = time.perf_counter()
    done = subprocess.run([str(VEILLE), *args], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"veille {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.yaml"
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        sources.write_text(f"sources:\n  - {{id: bench, name: Bench, kind: feed, url: '{url}'}}\n")
        base = dict(os.environ, VEILLE_ALLOW_PRIVATE="1", HF_HUB_OFFLINE="1")
        figures: dict[str, list[float]] = {
            "--help": [],
            "sources list": [],
            "poll --once (new store)": [],
            "poll --once (its store)": [],
        }
        for n in range(runs):
            env = dict(base, DATABASE_URL=f"sqlite:///{tmp}/run{n}.db")
            figures["--help"].append(timed(["--help"], env))
            figures["poll --once (new store)"].append(
                timed(["poll", "--once", "--sources", str(sources)], env)
            )
            figures["sources list"].append(timed(["sources", "list", "--sources", str(sources)], env))
            poll = ["poll", "--once", "--sources", str(sources)]
            figures["poll --once (its store)"].append(timed(poll, env))
    server.shutdown()
    load = os.getloadavg()
    print(f"veille command line, {runs} runs each, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, values in figures.items():
        print(f"  veille {name:26} median {statistics.median(values):.3f} s   worst {max(values):.3f} s")


if __name__ == "__main__":
    main()
