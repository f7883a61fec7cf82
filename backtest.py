"""the backtester: `python backtest.py --help` (the code is in aster_mm.backtest.cli)."""

import sys

from aster_mm.backtest.cli import main

if __name__ == "__main__":
    sys.exit(main())
