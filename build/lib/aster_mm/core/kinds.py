"""The bot's small closed vocabularies. Each value is the string the exchange, the command line and the
logs already use, so a member goes on the wire and into a log line unchanged (StrEnum: str(Side.BUY) is
"BUY", and Side.BUY == "BUY")."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """An order's side, as the exchange spells it."""

    BUY = "BUY"
    SELL = "SELL"


class TimeInForce(StrEnum):
    GTX = "GTX"  # post-only: the exchange expires it rather than let it take liquidity
    IOC = "IOC"  # immediate or cancel: only a stop that must cross the spread


class Bias(StrEnum):
    """--side: which way the bot opens a position."""

    LONG = "long"  # BUY to open, SELL to close (the original script)
    SHORT = "short"  # SELL to open, BUY to close

    @property
    def opening_side(self) -> Side:
        return Side.BUY if self is Bias.LONG else Side.SELL


class SpreadModel(StrEnum):
    """--spread-model: how the one order is priced."""

    FIXED = "fixed"  # --buy-spread / --sell-spread as given
    ADAPTIVE = "adaptive"  # GLFT distances from live estimates (aster_mm.core.spreads)
    SIGNAL = "signal"  # signal-gated touch entry, entry-aware exit (aster_mm.core.signals, aster_mm.core.quoting)
