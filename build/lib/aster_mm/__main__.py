"""`python -m aster_mm --symbol ETHUSDT`: the bot, as `market_maker.py` runs it."""

import sys

import aster_mm.python_version  # noqa: F401  (first: on Python < 3.11 it exits 2 with a clear message)
from aster_mm.live.main import main

sys.exit(main())
