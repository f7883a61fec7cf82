"""The live bot's own decision code and option parser, imported here once so the backtester never
carries a copy of them (design invariant 11). Every backtesting module takes these names from here."""
from aster_mm.config import Config, build_parser, parse_config
from aster_mm.decisions import BUY, SELL, Quote, QuoteParams, desired_quote, in_position, needs_replace
from aster_mm.rules import SymbolRules
from aster_mm.spreads import describe
from aster_mm.state import Book, StrategyState
from aster_mm.strategy import Strategy

__all__ = ["BUY", "SELL", "Book", "Config", "Quote", "QuoteParams", "Strategy", "StrategyState",
           "SymbolRules", "build_parser", "describe", "desired_quote", "in_position", "needs_replace", "parse_config"]
