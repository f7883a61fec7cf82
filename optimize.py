"""the walk-forward optimiser: `python optimize.py --help` (the code is in aster_mm.optimize.cli)."""

import sys

from aster_mm.optimize.cli import main

if __name__ == "__main__":
    sys.exit(main())
