"""The pure quoting decisions: which one order we want resting, and whether the resting one will do.

No I/O and no state: plain data in, plain data out, so the live bot, the simulator's tests and the
backtester all judge the same code. The two sides are symmetric; nothing here assumes long-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aster_mm.rules import SymbolRules

BUY, SELL = "BUY", "SELL"


@dataclass(frozen=True)
class Quote:
    side: str
    price: Decimal
    qty: Decimal
    reduce_only: bool


@dataclass(frozen=True)
class QuoteParams:
    buy_spread: Decimal
    sell_spread: Decimal
    balance_fraction: Decimal
    position_threshold_usd: Decimal
    open_side: str = BUY               # BUY: long-biased (the original script); SELL: short-biased


def in_position(position: Decimal, mid: Decimal, threshold_usd: Decimal) -> bool:
    """A position counts only once its notional exceeds the threshold; below it we are 'flat'."""
    return abs(position) * mid > threshold_usd


def quote_price(side: str, mid: Decimal, params: QuoteParams, rules: SymbolRules) -> Decimal:
    """Away from mid by the side's spread, rounded away from mid onto the tick grid."""
    if side == BUY:
        return rules.price_down(mid * (1 - params.buy_spread))
    return rules.price_up(mid * (1 + params.sell_spread))


def desired_quote(position: Decimal, mid: Decimal, wallet: Decimal, params: QuoteParams,
                  rules: SymbolRules) -> tuple[Quote | None, str]:
    """The one order we want resting now, or None with the reason why we want none."""
    if in_position(position, mid, params.position_threshold_usd):
        side = SELL if position > 0 else BUY
        price = quote_price(side, mid, params, rules)
        qty = abs(position)
        if qty < rules.min_qty:
            return None, f"position {position} is below the minimum quantity {rules.min_qty}"
        return Quote(side, price, qty, reduce_only=True), "close"
    side = params.open_side
    price = quote_price(side, mid, params, rules)
    qty = rules.qty_down(wallet * params.balance_fraction / mid)
    if qty <= 0 or qty < rules.min_qty:
        return None, f"order size {qty} is below the minimum quantity {rules.min_qty} (wallet {wallet})"
    if qty * price < rules.min_notional:
        return None, f"order notional {qty * price} is below the minimum {rules.min_notional} (wallet {wallet})"
    return Quote(side, price, qty, reduce_only=False), "open"


def needs_replace(resting: Quote, remaining: Decimal, want: Quote, threshold: Decimal) -> bool:
    """Reuse the resting order unless it is on the wrong side, of the wrong kind, a closing order of
    the wrong size, or its price is more than `threshold` (relative) away from the target."""
    if resting.side != want.side or resting.reduce_only != want.reduce_only:
        return True
    if want.reduce_only and remaining != want.qty:
        return True
    return abs(want.price - resting.price) > threshold * resting.price
