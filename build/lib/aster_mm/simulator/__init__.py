"""A local simulator of the Aster perpetual futures exchange (Binance USD-M shaped), one idea per file.

It serves the REST API and the WebSocket streams on one aiohttp port on 127.0.0.1, so the real bot can
trade against it unchanged. Layers, each importing only those below it:
  exchange (SimExchange, the facade tests use) -> server -> rest, streams -> engine -> accounts -> orders
  -> wire; beside them auth, faults, journal (clock and record), markets (synthetic, replay) and live_feed
  (a real exchange's public streams, for paper trading).
It shares no code with the bot.
"""

from .exchange import SimExchange
from .live_feed import LiveFeed
from .markets import MarketSetupError, ReplayMarket, SyntheticMarket, symbol_table, synthetic_spec
from .orders import SymbolSpec

__all__ = [
    "LiveFeed",
    "MarketSetupError",
    "ReplayMarket",
    "SimExchange",
    "SymbolSpec",
    "SyntheticMarket",
    "symbol_table",
    "synthetic_spec",
]
