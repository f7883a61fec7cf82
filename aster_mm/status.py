"""The one-line status the bot logs every 30 s and at start and stop: mode, position, order, market."""
from __future__ import annotations

from aster_mm.decisions import BUY, SELL, QuoteParams, in_position
from aster_mm.state import StrategyState


def mode(state: StrategyState, params: QuoteParams) -> str:
    """BUY or SELL: the side of the order the bot wants (the closing side while in a position); or
    CLOSE-ONLY when flat and not allowed to open."""
    book = state.book
    if book is not None and in_position(state.position.amount, book.mid, params.position_threshold_usd):
        return SELL if state.position.amount > 0 else BUY
    return "CLOSE-ONLY" if state.close_only else params.open_side


def status_line(state: StrategyState, params: QuoteParams, used_weight: int | None) -> str:
    o = state.live
    resting = f"{o.quote.side} {o.remaining}@{o.quote.price} {o.state.value}" if o else "none"
    book = state.book
    market = f"mid={book.mid} spread={book.ask - book.bid}" if book else "mid=? (no market data yet)"
    close_only = f" close-only=({state.close_only_reason})" if state.close_only else ""
    return (f"mode={mode(state, params)}{close_only} position={state.position.amount} order={resting} {market} "
            f"wallet={state.wallet}" + (f" weight_1m={used_weight}" if used_weight is not None else ""))
