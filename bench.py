"""the benchmark: `python bench.py --help` (the code is in aster_mm.bench.cli)."""

import sys

from aster_mm.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
