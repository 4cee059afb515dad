"""Run the veille CLI in a subprocess with the loopback-only network guard installed.

python -m tests.guarded_run poll --once

Tests call :func:`veille`: the command's exit code, stdout and stderr as text.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests import netguard

ROOT = Path(__file__).resolve().parent.parent


def veille(
    args: Sequence[str], env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``veille ARGS`` in a subprocess (guarded), its output captured as text; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "tests.guarded_run", *args],
        cwd=cwd,
        env=dict(env),
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


if __name__ == "__main__":
    netguard.install()
    from bot.cli import main

    sys.argv[0] = "veille"
    main()
