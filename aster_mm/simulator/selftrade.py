"""Self-trade prevention, V3 doc: New Order `stpMode` "Self-Trade Prevention mode for this order. Overrides the
account-level default. EXPIRE_TAKER: cancel the taker side; EXPIRE_MAKER: cancel the maker side;
EXPIRE_BOTH: cancel both sides." and "Change STP Mode (TRADE)": "Change user's Self-Trade Prevention (STP)
mode on EVERY symbol" ("EXPIRE_TAKER: expire taker order; EXPIRE_MAKER: expire maker order; EXPIRE_BOTH:
expire both maker and taker orders").

A self-trade is an incoming order of the account meeting one of the account's own resting orders. In this
simulator the displayed book is other people's, and a taker fills wholly at its best price, so our own
resting order is met first only when it is better than the displayed best (A24). Readings (docs/simulator.md):
the account's mode until it sets one (A22), how a removed order ends (A23: EXPIRED, or CANCELED), and who
is "self" (A25: the one account the simulator has, whichever of its wallets placed the order).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from .accounts import Accounts
from .options import Readings
from .orders import Book, Order


class Engine(Protocol):
    """What self-trade prevention reads and does of the matching engine (engine.Engine)."""

    books: dict[str, Book]
    accounts: Accounts
    readings: Readings

    def own_crossed(self, symbol: str, side: str, price: Decimal) -> list[Order]: ...

    async def finish(self, order: Order, status: str) -> None: ...


def self_trade_makers(engine: Engine, taker: Order) -> list[Order]:
    """Our own resting orders the taker would meet before the displayed book."""
    bid, ask = engine.books[taker.symbol].best()
    best = ask if taker.side == "BUY" else bid
    return [
        o
        for o in engine.own_crossed(taker.symbol, taker.side, taker.price)
        if o is not taker and (best is None or (o.price < best if taker.side == "BUY" else o.price > best))
    ]


async def prevent_self_trade(engine: Engine, taker: Order) -> bool:
    """Apply the taker's STP mode to the own orders it would meet; True when the taker itself is gone
    (EXPIRE_TAKER, EXPIRE_BOTH). With EXPIRE_MAKER the taker goes on matching."""
    makers = self_trade_makers(engine, taker)
    if not makers:
        return False
    mode, status = taker.stp_mode or engine.accounts.stp_mode, engine.readings.stp_report
    if mode in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
        for maker in makers:
            await engine.finish(maker, status)
    if mode in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
        await engine.finish(taker, status)
        return True
    return False
