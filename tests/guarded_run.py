"""Run the veille CLI in a subprocess with the loopback-only network guard installed.

python -m tests.guarded_run poll --once
"""

from __future__ import annotations

import sys

from tests import netguard

if __name__ == "__main__":
    netguard.install()
    from bot.cli import main

    sys.argv[0] = "veille"
    main()
