"""The one-line status the bot logs every 30 s and at start and stop: mode, position and PnL, order, market."""
from __future__ import annotations

from decimal import Decimal

from aster_mm.decisions import in_position
from aster_mm.state import StrategyState


def status_line(state: StrategyState, threshold_usd: Decimal, used_weight: int | None, money: str = "") -> str:
    """`money`: the session's PnL figures (aster_mm.pnl.pnl_text), which include the position."""
    o = state.live
    resting = f"{o.quote.side} {o.remaining}@{o.quote.price} {o.state.value}" if o else "none"
    book = state.book
    market = f"mid={book.mid} spread={book.ask - book.bid}" if book else "mid=? (no market data yet)"
    mode = "SELL" if book is not None and in_position(state.position.amount, book.mid, threshold_usd) else "BUY"
    position = money or f"position={state.position.amount}"
    return (f"mode={mode} {position} order={resting} {market} "
            f"wallet={state.wallet}" + (f" weight_1m={used_weight}" if used_weight is not None else ""))
