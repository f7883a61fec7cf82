"""`StrategyState`: everything the bot knows (book top, position, wallet, its order), fed by the two
streams and REST reconciliation."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from aster_mm.events import AccountUpdate
from aster_mm.orders import Order
from aster_mm.position import PositionTracker


@dataclass
class Book:
    bid: Decimal
    ask: Decimal
    seen_at: float                     # monotonic seconds
    raw: tuple[str, str] = ("", "")    # best bid/ask as received, to spot an unchanged top cheaply

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass
class StrategyState:
    """Everything the bot knows, fed by the two streams and REST reconciliation."""
    book: Book | None = None
    position: PositionTracker = field(default_factory=PositionTracker)
    balances: dict[str, Decimal] = field(default_factory=dict)
    live: Order | None = None                      # the one order that may be open
    orders: dict[str, Order] = field(default_factory=dict)   # this run's recent orders by client id
    strays: set[str] = field(default_factory=set)  # open orders of ours that are not `live`
    market_up: bool = False
    user_up: bool = False
    need_reconcile: bool = True
    position_dirty: bool = False                   # REST showed fills the stream has not: re-read

    @property
    def wallet(self) -> Decimal:
        return self.balances.get("USDT", Decimal(0)) + self.balances.get("USDF", Decimal(0))

    def apply_account_update(self, update: AccountUpdate) -> None:
        self.balances.update(update.balances)
        for amount in update.positions:
            self.position.apply_snapshot(amount, update.at_ms, update.event_ms)

    def remember(self, order: Order) -> None:
        self.orders[order.client_id] = order
        if len(self.orders) > 500:                 # keep finished orders a while for late fills
            for cid in [c for c, o in self.orders.items() if not o.live][:100]:
                del self.orders[cid]

