"""the market data recorder: `python record.py --help` (the code is in aster_mm.recording.recorder)."""

import sys

from aster_mm.recording.recorder import main

if __name__ == "__main__":
    sys.exit(main())
