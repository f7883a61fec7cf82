"""Queue position rules of the "queue" fill model, as small pure functions over the displayed book.

`ahead` is the quantity of other participants' orders in front of one of ours at its price level, or
None when it is unknown (the level lay beyond the visible book when we joined and has not been seen
since). The engine keeps one per resting order and applies these rules on every book and trade event.
"""

from __future__ import annotations

from decimal import Decimal

from .wire import ZERO


def displayed(levels: list[tuple[Decimal, Decimal]], side: str, price: Decimal) -> Decimal | None:
    """The size shown at `price` on one side of the book (`levels` best first, `side` the side of that
    book half): the level's size; zero when the price is inside the visible levels or better than the best
    but shows nothing (an empty level, or an improvement of the best price); None when it lies beyond the
    worst visible level (or the side is empty), where the book says nothing."""
    for level_price, qty in levels:
        if level_price == price:
            return qty
    if not levels:
        return None
    worst = levels[-1][0]
    return None if (price < worst if side == "BUY" else price > worst) else ZERO


def on_join(shown: Decimal | None, ours_ahead: Decimal) -> Decimal | None:
    """Size ahead of an order arriving at a level: everything displayed there (the book does not
    contain our orders, so our own earlier orders at that price are added), unknown if not visible."""
    return None if shown is None else shown + ours_ahead


def on_book(ahead: Decimal | None, shown: Decimal | None, ours_ahead: Decimal) -> Decimal | None:
    """Size ahead after a book update. A level shrinking below the size ahead shrinks it (cancellations
    are assumed to come from behind us first, the cautious assumption); a level growing does not grow it
    (newcomers queue behind us). A level first seen after we joined counts wholly ahead of us."""
    if shown is None:
        return ahead
    visible = shown + ours_ahead
    return visible if ahead is None else min(ahead, visible)


def on_trade(ahead: Decimal | None, qty: Decimal) -> tuple[Decimal, Decimal | None]:
    """A print of `qty` at our price consumes the size ahead first: returns (quantity that reaches us,
    the new size ahead). With the queue unknown, nothing reaches us."""
    if ahead is None:
        return ZERO, None
    return max(ZERO, qty - ahead), max(ZERO, ahead - qty)
