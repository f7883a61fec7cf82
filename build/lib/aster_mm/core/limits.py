"""Loss limits as pure decisions: how large an opening order may be, when a position must be stopped
out and with which order, and whether a loss limit pauses or halts the bot.

Nothing here does I/O or reads a clock: the caller passes the figures and the time. `LossGate` keeps
the little state a pause needs (why, until when, and where the next session loss is measured from).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from aster_mm.core.decisions import Quote, capped
from aster_mm.core.kinds import Side, TimeInForce
from aster_mm.core.rules import SymbolRules


def position_room(position: Decimal, mid: Decimal, max_position_usd: Decimal | None) -> Decimal | None:
    """How much an opening order may add before the position's notional reaches the limit (None: no
    limit). An adopted position and partial fills count: it is the position now that is measured."""
    if max_position_usd is None:
        return None
    return max(Decimal(0), max_position_usd / mid - abs(position))


def stop_triggered(position: Decimal, entry: Decimal, mark: Decimal, stop_loss: Decimal | None) -> bool:
    """The mark price is `stop_loss` (a fraction of the entry price) or more against the position."""
    if stop_loss is None or position == 0 or entry <= 0:
        return False
    if position > 0:
        return mark <= entry * (1 - stop_loss)
    return mark >= entry * (1 + stop_loss)


def stop_quote(position: Decimal, bid: Decimal, ask: Decimal, slippage: Decimal, rules: SymbolRules) -> Quote:
    """A reduce-only IOC order that closes the position (up to maxQty) crossing the spread by at most
    `slippage`: a long sells down to bid * (1 - slippage), a short buys up to ask * (1 + slippage)."""
    if position > 0:
        return Quote(Side.SELL, rules.price_up(bid * (1 - slippage)), capped(position, rules), True, TimeInForce.IOC)
    return Quote(Side.BUY, rules.price_down(ask * (1 + slippage)), capped(-position, rules), True, TimeInForce.IOC)


class LossChange(StrEnum):
    """What a loss-limit check changed (`LossGate.update`)."""

    BREACH = "breach"  # a limit fired: pause, or halt
    RESUME = "resume"  # a pause is over
    UNCHANGED = ""  # neither (falsy, like the empty reason)


@dataclass(frozen=True)
class LossLimits:
    max_loss_usd: Decimal | None = None  # session net PnL, unrealized included
    max_daily_loss_usd: Decimal | None = None  # UTC day, from the ledger
    cooldown_s: float = 0.0  # pause this long on a breach; 0: halt until restarted


def breached(limits: LossLimits, session_net: Decimal, day_net: Decimal) -> str:
    """Why a loss limit is breached now ("" when none is)."""
    if limits.max_loss_usd is not None and session_net <= -limits.max_loss_usd:
        return f"session net PnL {session_net:.2f} USD reached --max-loss-usd {limits.max_loss_usd}"
    if limits.max_daily_loss_usd is not None and day_net <= -limits.max_daily_loss_usd:
        return f"today's net PnL {day_net:.2f} USD reached --max-daily-loss-usd {limits.max_daily_loss_usd}"
    return ""


class LossGate:
    """Pauses on a loss limit and resumes after the cooldown, measuring the session's next loss from the
    net at the resume (else it would pause again at once); with no cooldown it halts for good. The
    daily limit pauses at least until the UTC day ends."""

    def __init__(self, limits: LossLimits):
        self.limits = limits
        self.reason = ""
        self.until = 0.0
        self.session_base = Decimal(0)

    @property
    def halts(self) -> bool:
        return self.limits.cooldown_s == 0

    def update(self, now: float, session_net: Decimal, day_net: Decimal, day_left_s: float) -> LossChange:
        """BREACH when a limit fires now, RESUME when a pause ends, else UNCHANGED."""
        if self.reason:
            if self.halts or now < self.until:
                return LossChange.UNCHANGED
            self.reason, self.session_base = "", session_net
            return LossChange.RESUME
        why = breached(self.limits, session_net - self.session_base, day_net)
        if not why:
            return LossChange.UNCHANGED
        self.reason = why
        daily = "daily" in why
        self.until = now + max(self.limits.cooldown_s, day_left_s if daily else 0.0)
        return LossChange.BREACH
