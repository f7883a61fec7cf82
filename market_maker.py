"""aster-mm: a one-symbol market maker for Aster perpetual futures.

`python market_maker.py --symbol ETHUSDT` (see README.md). The bot lives in the `aster_mm` package; this
file is its command line entry point, kept here so the command and the systemd units stay as they were.
"""

import sys

import aster_mm.python_version  # noqa: F401  (first: on Python < 3.11 it exits 2 with a clear message)
from aster_mm.live.main import main

if __name__ == "__main__":
    sys.exit(main())
