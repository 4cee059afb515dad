"""Benchmark: ``veille poll --once`` next to the ``reader`` library, side by side on the same feeds (issue 13).

    .venv/bin/python bench/vs_reader.py --reader-python /path/to/venv/bin/python [--feeds 2000] [--hosts 50]
    (or: .venv/bin/python bench/poll.py --vs-reader /path/to/venv/bin/python)

``reader`` is not a dependency of veille: give the python of a virtual environment that has it
(``python3 -m venv /tmp/reader-venv && /tmp/reader-venv/bin/pip install reader==3.26``).

One feed server (``bench/feedserver.py --rounds``) serves N synthetic RSS feeds spread over H loopback hosts
(127.0.0.1 to 127.0.0.H); each tool gets its own fresh SQLite store and polls them all, as a user would run it:

- round 1: every feed new;
- round 2: half the feeds changed (16 new items each), the other half answer 304 to their validators.

veille runs as ``veille poll --once`` with its default settings; reader as ``update_feeds(workers=8,
scheduled=False)`` (every feed, due or not, as ``poll --once`` does). Printed:
wall time per round and tool, veille's speed relative to reader's, the articles each stored, the peak RSS of each
tool (summed over its processes: veille's parser workers count; sampled every 0.2 s), and the machine's load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VEILLE = Path(sys.executable).with_name("veille")

READER_SCRIPT = """
import json, sys, time
from reader import make_reader
db, urls = sys.argv[1], sys.argv[2]
r = make_reader(db)
for url in open(urls).read().split():
    r.add_feed(url, exist_ok=True)
start = time.perf_counter()
r.update_feeds(workers=8, scheduled=False)  # every feed, as veille poll --once does
elapsed = time.perf_counter() - start
print(json.dumps({"elapsed": elapsed, "entries": r.get_entry_counts().total}))
r.close()
"""


def tree_rss_kb(root: int) -> int:
    """Resident memory (kB) of ``root`` and every process below it (veille's parser workers), read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measured(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall time, peak RSS (MB, summed over the process and its children, sampled every 0.2 s) and stdout of
    ``command``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, tree_rss_kb(proc.pid))
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{command[0]} failed ({proc.returncode}): {err.read()[-1500:]}")
        return elapsed, peak_kb // 1024, out.read()


def count_articles(database: Path) -> int:
    import sqlite3

    with sqlite3.connect(database) as conn:
        return int(conn.execute("select count(*) from articles").fetchone()[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader-python", required=True, help="python of a virtual environment with reader")
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument(
        "--veille-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for veille, e.g. VEILLE_PARSE_PROCESSES=0 (repeatable)",
    )
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.veille_setting)
    serve = [sys.executable, str(HERE / "feedserver.py"), "--rounds", "--feeds", str(args.feeds)]
    server = subprocess.Popen(
        [*serve, "--hosts", str(args.hosts)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        urls = [f"http://127.0.0.{1 + i % args.hosts}:{port}/feed/{i}" for i in range(args.feeds)]
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "urls.txt").write_text("\n".join(urls))
            (work / "sources.yaml").write_text(
                "sources:\n"
                + "".join(
                    f"  - {{id: f{i}, name: F{i}, kind: feed, url: '{u}'}}\n" for i, u in enumerate(urls)
                )
            )
            (work / "reader_run.py").write_text(READER_SCRIPT)
            env = dict(
                os.environ,
                DATABASE_URL=f"sqlite:///{work / 'veille.db'}",
                VEILLE_ALLOW_PRIVATE="1",
                HF_HUB_OFFLINE="1",
            )
            env.update(extra)
            veille_cmd = [str(VEILLE), "poll", "--once", "--json", "--sources", str(work / "sources.yaml")]
            reader_cmd = [
                args.reader_python,
                str(work / "reader_run.py"),
                str(work / "reader.db"),
                str(work / "urls.txt"),
            ]
            rows = []
            for round_no in (1, 2):
                if round_no == 2:
                    server.send_signal(signal.SIGUSR1)
                    time.sleep(1)
                v_time, v_rss, _ = measured(veille_cmd, env)
                r_time, r_rss, out = measured(reader_cmd, env)
                r_entries = json.loads(out.strip().splitlines()[-1])["entries"]
                rows.append(
                    (round_no, v_time, v_rss, count_articles(work / "veille.db"), r_time, r_rss, r_entries)
                )
    finally:
        server.kill()
        server.wait()
    load = os.getloadavg()
    print(
        f"{args.feeds} feeds over {args.hosts} loopback hosts; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if extra:
        print("veille settings: " + " ".join(f"{k}={v}" for k, v in extra.items()))
    names = {1: "round 1 (all new)", 2: "round 2 (half changed, half 304)"}
    for round_no, v_time, v_rss, v_articles, r_time, r_rss, r_entries in rows:
        print(
            f"{names[round_no]:34} veille {v_time:6.1f} s ({v_articles} articles, peak {v_rss} MB)   "
            f"reader {r_time:6.1f} s ({r_entries} entries, peak {r_rss} MB)   veille is {r_time / v_time:.2f}x reader"
        )


if __name__ == "__main__":
    main()
