"""The live bot's own decision code and option parser, imported here once so the backtester never
carries a copy of them (design invariant 11). Every backtesting module takes these names from here."""

from aster_mm.core.actions import Cancel, Halt, Place, Resting, Situation, next_action
from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote, QuoteParams, desired_quote, in_position, needs_replace
from aster_mm.core.kinds import Bias, Side, SpreadModel, TimeInForce
from aster_mm.core.rules import SymbolRules
from aster_mm.core.signals import Features, SignalConfig, SignalState, SignalWeights
from aster_mm.core.spreads import AdaptiveSpreads
from aster_mm.core.state import Book, FeeRates, StrategyState
from aster_mm.core.strategy import OPENS_NOTHING, TOP_OF_BOOK, Reads, Strategy
from aster_mm.settings.parser import build_parser, parse_config

__all__ = [
    "AdaptiveSpreads",
    "Bias",
    "Book",
    "Cancel",
    "Config",
    "FeeRates",
    "Features",
    "Halt",
    "OPENS_NOTHING",
    "Place",
    "Quote",
    "QuoteParams",
    "Reads",
    "Resting",
    "Side",
    "SignalConfig",
    "SignalState",
    "SignalWeights",
    "Situation",
    "SpreadModel",
    "Strategy",
    "StrategyState",
    "SymbolRules",
    "TOP_OF_BOOK",
    "TimeInForce",
    "build_parser",
    "desired_quote",
    "in_position",
    "needs_replace",
    "next_action",
    "parse_config",
]
