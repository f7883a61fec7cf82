"""The one-line status the bot logs every 30 s and at start and stop: mode, position and PnL, order, market."""

from __future__ import annotations

from decimal import Decimal

from aster_mm.core.decisions import QuoteParams, in_position
from aster_mm.core.kinds import Side
from aster_mm.core.rules import SymbolRules
from aster_mm.core.state import StrategyState

CENT = Decimal("0.01")


def rounded(value: Decimal, unit: Decimal | None) -> Decimal:
    """`value` to the precision of `unit` (the symbol's tick or step), as it would be sent."""
    exponent = unit.normalize().as_tuple().exponent if unit else None
    if not isinstance(exponent, int):  # no unit, or not a finite one
        return value
    return value.quantize(Decimal(1).scaleb(min(exponent, 0)))


def mode(state: StrategyState, params: QuoteParams) -> str:
    """BUY or SELL: the side of the order the bot wants (the closing side while in a position); or
    CLOSE-ONLY when flat and not allowed to open; PAUSED or HALTED by a loss limit."""
    if state.halted or state.paused:
        return "HALTED" if state.halted else "PAUSED"
    book = state.book
    if book is not None and in_position(state.position.amount, book.mid, params.position_threshold_usd):
        return Side.SELL if state.position.amount > 0 else Side.BUY
    return "CLOSE-ONLY" if state.close_only else params.open_side


def status_line(
    state: StrategyState,
    params: QuoteParams,
    used_weight: int | None,
    rules: SymbolRules | None = None,
    money: str = "",
) -> str:
    """`money`: the session's PnL figures (aster_mm.accounting.pnl.pnl_text), which include the position."""
    tick, step = (rules.tick, rules.step) if rules else (None, None)
    o = state.live
    resting = f"{o.quote.side} {o.remaining}@{o.quote.price} {o.state.value}" if o else "none"
    book = state.book
    market = (
        f"mid={rounded(book.mid, tick)} book_spread_abs={rounded(book.ask - book.bid, tick)}"
        if book
        else "mid=? (no market data yet)"
    )
    close_only = f" close-only=({state.close_only_reason})" if state.close_only else ""
    if state.halted or state.paused:
        close_only += f" why=({state.halted or state.paused})"
    position = money or f"position={rounded(state.position.amount, step)}"
    return (
        f"mode={mode(state, params)}{close_only} {position} "
        f"order={resting} {market} wallet={rounded(state.wallet, CENT)}"
        + (f" weight_1m={used_weight}" if used_weight is not None else "")
    )
