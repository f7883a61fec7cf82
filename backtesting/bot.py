"""The live bot's own decision code, imported here once so the backtester never carries a copy of it
(design invariant 11). Every backtesting module takes these names from this module."""
from api_client import SymbolRules
from market_maker import (BUY, SELL, Config, Quote, QuoteParams, build_parser, desired_quote, in_position,
                          needs_replace, parse_config)

__all__ = ["BUY", "SELL", "Config", "Quote", "QuoteParams", "SymbolRules", "build_parser", "desired_quote",
           "in_position", "needs_replace", "parse_config"]
