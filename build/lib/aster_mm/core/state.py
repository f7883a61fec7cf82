"""`StrategyState`: everything the bot knows (book top, position, wallet, its order), fed by the two
streams and REST reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aster_mm.core.events import AccountUpdate
from aster_mm.core.orders import Order
from aster_mm.core.position import PositionTracker

log = logging.getLogger("mm")
LIQUIDATION = "liquidation"  # the close-only cause a liquidation or margin call sets


@dataclass
class Book:
    bid: Decimal
    ask: Decimal
    seen_at: float  # monotonic seconds
    raw: tuple[str, str] = ("", "")  # best bid/ask as received, to spot an unchanged top cheaply

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass
class StrategyState:
    """Everything the bot knows, fed by the two streams and REST reconciliation."""

    book: Book | None = None
    position: PositionTracker = field(default_factory=PositionTracker)
    balances: dict[str, Decimal] = field(default_factory=dict)
    live: Order | None = None  # the one order that may be open
    orders: dict[str, Order] = field(default_factory=dict)  # this run's recent orders by client id
    strays: set[str] = field(default_factory=set)  # open orders of ours that are not `live`
    market_up: bool = False
    market_seen_at: float = 0.0  # the last frame of any kind on the market connection
    mark_price: Decimal | None = None
    unrealized: Decimal | None = None  # its unrealized PnL, as the exchange last said
    user_up: bool = False
    need_reconcile: bool = True
    position_dirty: bool = False  # REST showed fills the stream has not: re-read
    available: Decimal = Decimal(0)  # balance usable for new margin, as the exchange says
    wallet_dirty: bool = False  # the wallet changed: re-read `available` before opening
    multi_assets: bool = False  # multi-assets margin mode (else single-asset USDT)
    leverage: int | None = None  # the symbol's leverage and margin type in force
    margin_type: str | None = None
    hedge_mode: bool = False  # dual-side positions: this bot cannot trade them
    modes_stale: bool = False  # the account's configuration changed: re-read its modes
    rules_stale: bool = False  # a filter rejection: re-read the symbol's rules
    close_only: dict[str, str] = field(default_factory=dict)  # why no opening order may be sent, by cause
    size_scale: Decimal = Decimal(1)  # halved after each -2019 until an order rests or fills
    on_alert: Callable[[str], None] = field(default=lambda text: None, repr=False, compare=False)  # operator alerts
    entry_price: Decimal = Decimal(0)  # of the position, as the exchange reports it
    paused: str = ""  # why a loss limit paused the bot (resumes by itself)
    halted: str = ""  # why a loss limit halted it until restarted

    @property
    def wallet(self) -> Decimal:
        return self.balances.get("USDT", Decimal(0)) + self.balances.get("USDF", Decimal(0))

    @property
    def close_only_reason(self) -> str:
        return "; ".join(self.close_only.values())

    def go_close_only(self, cause: str, why: str) -> None:
        if self.close_only.get(cause) != why:
            self.close_only[cause] = why
            log.critical("CLOSE-ONLY: %s; no opening orders, closing continues", why)
            self.on_alert(f"CLOSE-ONLY: {why}")

    def apply_account_update(self, update: AccountUpdate) -> None:
        if update.balances:
            self.wallet_dirty = True
        self.balances.update(update.balances)
        self.hedge_mode = self.hedge_mode or update.hedge
        for amount in update.positions:
            if self.position.apply_snapshot(amount, update.at_ms, update.event_ms):
                self.entry_price = update.entry if update.entry is not None else self.entry_price
                self.unrealized = update.unrealized if update.unrealized is not None else self.unrealized

    def remember(self, order: Order) -> None:
        self.orders[order.client_id] = order
        if len(self.orders) > 500:  # keep finished orders a while for late fills
            for cid in [c for c, o in self.orders.items() if not o.live][:100]:
                del self.orders[cid]
