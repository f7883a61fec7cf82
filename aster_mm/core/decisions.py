"""The pure quoting decisions: which one order we want resting, and whether the resting one will do.

No I/O and no state: plain data in, plain data out, so the live bot, the simulator's tests and the
backtester all judge the same code. The two sides are symmetric; nothing here assumes long-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from aster_mm.core.kinds import Bias, Side, TimeInForce
from aster_mm.core.rules import SymbolRules


class QuoteSettings(Protocol):
    """The settings `QuoteParams` is made of (core.config.Config has them; the config in turn holds the signal
    model's policy, whose quoter builds on these decisions, so this module names only what it reads)."""

    @property
    def buy_spread(self) -> Decimal: ...
    @property
    def sell_spread(self) -> Decimal: ...
    @property
    def balance_fraction(self) -> Decimal: ...
    @property
    def position_threshold_usd(self) -> Decimal: ...
    @property
    def side(self) -> Bias: ...


MAX_MODIFICATIONS = 10000  # V3 doc, Modify Order: "Maximum 10000 modifications per order."


class Requote(StrEnum):
    """What to do with the resting order when the order wanted changes (`requote_action`)."""

    REUSE = "reuse"  # leave it: close enough to the order wanted
    MODIFY = "modify"  # move it in place (V3 Modify Order)
    REPLACE = "replace"  # cancel it, then place the order wanted


@dataclass(frozen=True)
class Quote:
    side: Side
    price: Decimal
    qty: Decimal
    reduce_only: bool
    time_in_force: TimeInForce = TimeInForce.GTX  # post-only; IOC only for a stop that must cross the spread


@dataclass(frozen=True)
class QuoteParams:
    buy_spread: Decimal
    sell_spread: Decimal
    balance_fraction: Decimal
    position_threshold_usd: Decimal
    open_side: Side = Side.BUY  # BUY: long-biased (the original script); SELL: short-biased

    @classmethod
    def from_config(cls, config: QuoteSettings) -> QuoteParams:
        return cls(
            config.buy_spread,
            config.sell_spread,
            config.balance_fraction,
            config.position_threshold_usd,
            open_side=Bias(config.side).opening_side,
        )


def in_position(position: Decimal, mid: Decimal, threshold_usd: Decimal) -> bool:
    """A position counts only once its notional exceeds the threshold; below it we are 'flat'."""
    return abs(position) * mid > threshold_usd


def quote_price(side: Side, mid: Decimal, params: QuoteParams, rules: SymbolRules) -> Decimal:
    """Away from mid by the side's spread, rounded away from mid onto the tick grid."""
    if side == Side.BUY:
        return rules.price_down(mid * (1 - params.buy_spread))
    return rules.price_up(mid * (1 + params.sell_spread))


def capped(qty: Decimal, rules: SymbolRules) -> Decimal:
    """No larger than the symbol's LOT_SIZE.maxQty: a bigger close is done in successive orders."""
    return qty if rules.max_qty is None else min(qty, rules.max_qty)


def desired_quote(
    position: Decimal,
    mid: Decimal,
    wallet: Decimal,
    params: QuoteParams,
    rules: SymbolRules,
    close_only: str = "",
    room: Decimal | None = None,
) -> tuple[Quote | None, str]:
    """The one order we want resting now, or None with the reason why we want none. `wallet` is the
    balance usable for margin; `close_only`, when set, is why no opening order may be sent; `room`,
    when set, is the most an opening order may add to the position (--max-position-usd)."""
    if in_position(position, mid, params.position_threshold_usd):
        side = Side.SELL if position > 0 else Side.BUY
        price = quote_price(side, mid, params, rules)
        qty = capped(abs(position), rules)
        if qty < rules.min_qty:
            return None, f"position {position} is below the minimum quantity {rules.min_qty}"
        return Quote(side, price, qty, reduce_only=True), "close"
    if close_only:
        return None, f"close-only ({close_only}): no opening orders"
    side = params.open_side
    price = quote_price(side, mid, params, rules)
    qty = capped(rules.qty_down(wallet * params.balance_fraction / mid), rules)
    if room is not None and qty > room:
        qty = rules.qty_down(room)
        if qty < rules.min_qty or qty * price < rules.min_notional:
            return None, f"position limit: room for {room:.8f} more, below the symbol's minimum order"
    if qty <= 0 or qty < rules.min_qty:
        return None, f"order size {qty} is below the minimum quantity {rules.min_qty} (wallet {wallet})"
    if qty * price < rules.min_notional:
        return None, f"order notional {qty * price} is below the minimum {rules.min_notional} (wallet {wallet})"
    return Quote(side, price, qty, reduce_only=False), "open"


def needs_replace(resting: Quote, remaining: Decimal, want: Quote, threshold: Decimal) -> bool:
    """Reuse the resting order unless it is on the wrong side, of the wrong kind, a closing order of
    the wrong size, or its price is more than `threshold` (relative) away from the target."""
    if (
        resting.side != want.side
        or resting.reduce_only != want.reduce_only
        or resting.time_in_force != want.time_in_force
    ):
        return True
    if want.reduce_only and remaining != want.qty:
        return True
    return abs(want.price - resting.price) > threshold * resting.price


def requote_action(
    resting: Quote,
    remaining: Decimal,
    want: Quote,
    threshold: Decimal,
    *,
    can_modify: bool,
    modifications: int,
    crosses: bool,
) -> Requote:
    """REUSE the resting order, MODIFY it in place (one request, never a moment without a quote), or
    REPLACE it (cancel, then place). Modify only what needs nothing but a new price: same side and kind,
    nothing filled yet (the docs do not say what `quantity` means once part of it has traded), for a
    closing order the right size; never past the exchange's modification limit (the order is replaced
    one modification before it), never to a price that crosses the book (post-only)."""
    if not needs_replace(resting, remaining, want, threshold):
        return Requote.REUSE
    if (
        not can_modify
        or resting.side != want.side
        or resting.reduce_only != want.reduce_only
        or resting.time_in_force != want.time_in_force
        or remaining != resting.qty
        or (want.reduce_only and want.qty != remaining)
        or modifications + 1 >= MAX_MODIFICATIONS
        or crosses
    ):
        return Requote.REPLACE
    return Requote.MODIFY


def crosses_book(quote: Quote, best_bid: Decimal, best_ask: Decimal) -> bool:
    """A post-only quote at this price would take liquidity."""
    return quote.price >= best_ask if quote.side == Side.BUY else quote.price <= best_bid
