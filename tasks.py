#!/usr/bin/env python3
"""Set up and run veille with nothing but Python 3.11+ on the machine.

    python3 tasks.py demo    # create .venv, install veille, run the offline demo (veille demo)
    python3 tasks.py test    # create .venv, install veille[dev], run ruff, mypy, pytest, then wheelcheck
                             # (wheelcheck only when no pytest arguments are given)
    python3 tasks.py wheelcheck  # build the wheel, install it alone in a fresh venv, run veille --help and demo
    python3 tasks.py run     # create .venv, install veille, run veille (veille run; extra args go to veille)

Each command installs what it needs into ./.venv first (quietly, and only when pyproject.toml or
constraints.txt changed since the last install). constraints.txt pins torch (brought by the dev extra's
sentence-transformers) to the CPU build at hand.

``wheelcheck`` is what a user gets from a plain ``pip install``: the wheel built from a clean copy of the
sources, installed alone (no extras, no constraints, not editable) into a new venv in a temporary folder, where
``veille --help`` and ``veille demo`` (offline, on a store in that folder) must work and torch must be absent.
Only the package index is reached (pip's cache makes the next runs fast); it prints the venv's size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    if argv:  # a chosen part of the suite: the install check is for whole runs (CI)
        print("wheelcheck skipped (pytest arguments given): python3 tasks.py wheelcheck runs it", flush=True)
    else:
        wheelcheck([])


# what a clean copy of the sources leaves out: tools' state, builds, local stores and settings
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", "*.pyc", ".*_cache", ".hypothesis",
    "veille-demo", "exports", "*.db", "*.db-*", "veille.toml",
)  # fmt: skip


def _offline_env(home: Path) -> dict[str, str]:
    """The environment of the installed ``veille``: no model download, none of this shell's veille settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEILLE_", "TELEGRAM_", "PYTHON"))}
    return env | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HOME": str(home)}


def _checked(args: list[str | Path], cwd: Path, env: dict[str, str], what: str) -> str:
    """Run a command of the check and say how long it took; its output is shown only when it fails (which fails
    the check)."""
    print("+", " ".join(str(a) for a in args), end="", flush=True)
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own fixed commands
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    if done.returncode:
        sys.stdout.write(done.stdout[-20_000:])
        sys.stderr.write(done.stderr[-20_000:])
        sys.exit(f"wheelcheck: {what} failed (exit code {done.returncode})")
    return done.stdout


def _size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed), as ``du --apparent-size`` counts them."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def wheelcheck(argv: list[str]) -> None:
    """Build veille's wheel, install it alone into a fresh venv and run it there (see the module's docstring)."""
    if argv:
        sys.exit("usage: python3 tasks.py wheelcheck")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="veille-wheelcheck-") as tmp:
        work = Path(tmp)
        source, wheels, home, fresh = work / "src", work / "wheels", work / "home", work / "venv"
        shutil.copytree(ROOT, source, ignore=_NOT_SOURCES, symlinks=True)
        home.mkdir()
        print(f"wheelcheck: creating {fresh}", flush=True)
        venv.EnvBuilder(with_pip=True).create(fresh)
        fresh_bin = fresh / ("Scripts" if os.name == "nt" else "bin")
        python, env = fresh_bin / "python", dict(os.environ)
        pip: list[str | Path] = [python, "-m", "pip", "--quiet"]
        _checked([*pip, "wheel", "--no-deps", "-w", wheels, source], work, env, "building the wheel")
        [wheel] = wheels.glob("veille-*.whl")
        _checked([*pip, "install", wheel], work, env, f"installing {wheel.name}")
        listing = _checked([python, "-m", "pip", "list", "--format=json"], work, env, "pip list")
        installed = {p["name"].lower() for p in json.loads(listing)}
        size = _size(fresh)
        print(f"wheelcheck: the venv holds {len(installed)} distributions, {size / 1e6:.0f} MB", flush=True)
        if "torch" in installed:
            sys.exit("wheelcheck: a plain install brings torch (it belongs in the st extra)")
        run_env = _offline_env(home)
        usage = _checked([fresh_bin / "veille", "--help"], work, run_env, "veille --help")
        if "demo" not in usage:
            sys.exit("wheelcheck: veille --help does not list the demo command")
        demo: list[str | Path] = [fresh_bin / "veille", "demo", "--workdir", work / "demo", "--json"]
        shown = json.loads(_checked(demo, work, run_env, "veille demo"))
        if not shown.get("stories") or not Path(shown["export"]["eml"]).is_file():
            sys.exit("wheelcheck: veille demo showed no story or wrote no email export")
    print(
        f"wheelcheck: ok in {time.monotonic() - started:.0f} s: {wheel.name} installs alone "
        f"({len(installed)} distributions, no torch, venv {size / 1e6:.0f} MB), "
        f"veille --help and veille demo ({len(shown['stories'])} stories) run offline",
        flush=True,
    )


if __name__ == "__main__":
    commands = {"run": run, "test": test, "demo": demo, "wheelcheck": wheelcheck}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 tasks.py demo|test|run|wheelcheck [args...]")
    commands[sys.argv[1]](sys.argv[2:])
