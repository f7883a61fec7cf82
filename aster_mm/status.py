"""The one-line status the bot logs every 30 s and at start and stop: mode, position, order, market."""
from __future__ import annotations

from decimal import Decimal

from aster_mm.decisions import in_position
from aster_mm.rules import SymbolRules
from aster_mm.state import StrategyState

CENT = Decimal("0.01")


def rounded(value: Decimal, unit: Decimal | None) -> Decimal:
    """`value` to the precision of `unit` (the symbol's tick or step), as it would be sent."""
    if not unit:
        return value
    return value.quantize(Decimal(1).scaleb(min(unit.normalize().as_tuple().exponent, 0)))


def status_line(state: StrategyState, threshold_usd: Decimal, used_weight: int | None,
                rules: SymbolRules | None = None) -> str:
    tick, step = (rules.tick, rules.step) if rules else (None, None)
    o = state.live
    resting = f"{o.quote.side} {o.remaining}@{o.quote.price} {o.state.value}" if o else "none"
    book = state.book
    market = (f"mid={rounded(book.mid, tick)} book_spread_abs={rounded(book.ask - book.bid, tick)}" if book
              else "mid=? (no market data yet)")
    mode = "SELL" if book is not None and in_position(state.position.amount, book.mid, threshold_usd) else "BUY"
    return (f"mode={mode} position={rounded(state.position.amount, step)} order={resting} {market} "
            f"wallet={rounded(state.wallet, CENT)}" + (f" weight_1m={used_weight}" if used_weight is not None else ""))
