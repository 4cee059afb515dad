#!/usr/bin/env python3
"""Set up and run veille with nothing but Python 3.11+ on the machine.

    python3 tasks.py demo    # create .venv, install veille, run the offline demo (veille demo)
    python3 tasks.py test    # create .venv, install veille[dev], run ruff, mypy and pytest
    python3 tasks.py run     # create .venv, install veille, run veille (veille run; extra args go to veille)

Each command installs what it needs into ./.venv first (quietly, and only when pyproject.toml or
constraints.txt changed since the last install). constraints.txt pins torch (brought by the dev extra's
sentence-transformers) to the CPU build at hand.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=env)  # noqa: S603 - our own fixed commands
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the child too: let it stop cleanly, then leave with its code
        code = proc.wait()
    if code:
        sys.exit(code)


def _install(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv, on any python3
        sys.exit(f"veille needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp_src = b"".join((ROOT / f).read_bytes() for f in ("pyproject.toml", "constraints.txt"))
    stamp = hashlib.sha256(stamp_src + extras.encode()).hexdigest()
    marker = VENV / ".veille-installed"
    if marker.exists() and marker.read_text() == stamp:
        return
    _sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    _sh(PY, "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", target)
    marker.write_text(stamp)


def run(argv: list[str]) -> None:
    _install("")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    _sh(BIN / "veille", *(argv or ["run"]), env=env)


def demo(argv: list[str]) -> None:
    run(["demo", *argv])


def test(argv: list[str]) -> None:
    _install("dev")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    _sh(BIN / "ruff", "check", ".")
    _sh(BIN / "ruff", "format", "--check", ".")
    _sh(BIN / "mypy")
    _sh(PY, "-m", "pytest", *argv, env=env)


if __name__ == "__main__":
    commands = {"run": run, "test": test, "demo": demo}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 tasks.py demo|test|run [args...]")
    commands[sys.argv[1]](sys.argv[2:])
