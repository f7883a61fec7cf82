"""A local simulator of the Aster perpetual futures exchange, modelled on the official API docs
(asterdex/api-docs), one idea per file. docs/simulator.md says how to use it, what it models, and lists
every reading it takes where the docs are silent ("Assumptions"; options.py holds them as settings).

It serves the REST API and the WebSocket streams on one aiohttp port on 127.0.0.1, so any client (the bot,
ccxt, a script) can trade against it unchanged. Layers, each importing only those below it:
  exchange (SimExchange, the facade tests use; controls) -> server (ratelimit, ws) -> rest (routes,
  api_market, api_orders, api_account, api_protection) -> streams -> engine (modify, selftrade, mmp,
  market_events, queue, public) -> accounts (account_views, history) -> orders -> wire;
beside them auth (eip712), faults, journal (clock and record), options, markets (synthetic, replay) and
live_feed (a real exchange's public streams, for paper trading). It shares no code with the bot.
"""

from .exchange import SimExchange
from .live_feed import LiveFeed
from .markets import MarketSetupError, ReplayMarket, SyntheticMarket, symbol_table, synthetic_spec
from .options import RateLimits, Readings, WsLimits
from .orders import SymbolSpec

__all__ = [
    "LiveFeed",
    "MarketSetupError",
    "RateLimits",
    "Readings",
    "WsLimits",
    "ReplayMarket",
    "SimExchange",
    "SymbolSpec",
    "SyntheticMarket",
    "symbol_table",
    "synthetic_spec",
]
