"""The life of one order as a small state machine, fed by exchange reports from the stream and REST.

An order is registered before its request is sent, so a stream report that beats the REST answer still
finds it. Reports only move an order forward; a terminal state is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side


class OrderState(StrEnum):
    PENDING_NEW = "PENDING_NEW"  # sent, no answer yet
    UNKNOWN = "UNKNOWN"  # the placement's fate is unknown: counts as live
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"  # cancel sent, no answer yet
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


TERMINAL = {OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED}
# Order of progress: an older event (a late NEW after PARTIALLY_FILLED) never moves an order back.
_RANK = {
    OrderState.PENDING_NEW: 0,
    OrderState.UNKNOWN: 0,
    OrderState.NEW: 1,
    OrderState.PENDING_CANCEL: 1,
    OrderState.PARTIALLY_FILLED: 2,
}
EXCHANGE_STATUS = {
    "NEW": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
    "REJECTED": OrderState.REJECTED,
}


@dataclass
class Order:
    client_id: str
    quote: Quote
    state: OrderState = OrderState.PENDING_NEW
    filled: Decimal = Decimal(0)  # cumulative filled quantity, the largest seen from any source
    traded: Decimal = Decimal(0)  # how much of it the position tracker already reflects
    since: float = 0.0  # when it entered its current doubtful state (UNKNOWN)
    assumed_gone: bool = False  # finished by our inference (the exchange said -2013), not its word
    modifications: int = 0  # Modify Order requests sent for it (the exchange caps them)
    no_modify: bool = False  # a modification was refused: replace it instead
    amend_unknown: bool = False  # a modification's outcome is unknown: query before anything else

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL

    @property
    def remaining(self) -> Decimal:
        return self.quote.qty - self.filled


def next_state(current: OrderState, exchange_status: str) -> OrderState:
    """Where an exchange status report moves an order. Terminal states are final; a pending cancel
    waits for its answer; otherwise an order only moves forward."""
    reported = EXCHANGE_STATUS.get(exchange_status)
    if reported is None or current in TERMINAL:
        return current
    if reported in TERMINAL:
        return reported
    if current == OrderState.PENDING_CANCEL:
        return current
    return reported if _RANK[reported] >= _RANK[current] else current


def apply_report(order: Order, status: str, cum_filled: Decimal) -> None:
    """Apply an exchange status report (stream or REST) to an order."""
    order.state = next_state(order.state, status)
    order.filled = max(order.filled, cum_filled)


def meets(side: Side, price: Decimal, other_side: Side, other_price: Decimal | None) -> bool:
    """An order of `other_side` at `other_price` would trade with ours (`side` at `price`): opposite sides and
    prices that reach; a market order (price 0 or none) reaches any."""
    if side == other_side:
        return False
    if not other_price:
        return True
    return other_price >= price if other_side == Side.BUY else other_price <= price
