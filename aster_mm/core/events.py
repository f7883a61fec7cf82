"""Exchange stream payloads parsed once, at the edge, into typed records.

A malformed payload raises (ValueError, KeyError, TypeError, ...) before anything is changed, so
the caller skips it whole. Numbers stay strings until they become exact decimals here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aster_mm.core.kinds import Side

# TRADE is an ordinary fill; CALCULATED a liquidation's (the exchange's own order, with a trade id).
FILL_EXECUTIONS = ("TRADE", "CALCULATED")
FORCED_CLIENT_IDS = ("autoclose-", "adl_autoclose")  # liquidation and auto-deleverage orders
STABLE_ASSETS = ("USDT", "USDF")  # the wallet assets counted as USD
MALFORMED = (ValueError, KeyError, IndexError, TypeError, AttributeError, ArithmeticError)
Payload = dict[str, Any]  # a JSON object as received: anything in it may be missing or malformed


def market_frame(msg: Payload) -> tuple[str, Payload]:
    """(event type, payload) of a market-stream frame, plain or combined ({"stream", "data"})."""
    data = msg.get("data", msg)
    return data.get("e", ""), data


def top_of_book(data: Payload) -> tuple[str, str] | None:
    """Best bid and ask prices as received in a depth payload, None if a side is empty."""
    bids, asks = data["b"], data["a"]
    if not bids or not asks:
        return None
    return bids[0][0], asks[0][0]


def depth_levels(data: Payload) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Every level of a depth payload as (price, quantity) floats, best first: the signal's statistics."""
    return [(float(p), float(q)) for p, q in data["b"]], [(float(p), float(q)) for p, q in data["a"]]


@dataclass(frozen=True)
class Trade:
    """One fill of one of our orders."""

    trade_id: int
    at_ms: int  # trade time
    qty: Decimal  # last filled quantity, unsigned
    price: str  # last fill price, as received
    commission: Decimal = Decimal(0)  # n: what the fill cost (a rebate is negative)
    commission_asset: str = "USDT"  # N
    maker: bool = True  # m
    realized: Decimal = Decimal(0)  # rp: the PnL this fill realized, before commission


@dataclass(frozen=True)
class OrderReport:
    """An ORDER_TRADE_UPDATE for our symbol."""

    client_id: str
    side: Side
    status: str  # X: the order's status after this event
    order_id: int
    cum_filled: Decimal  # z: cumulative filled quantity
    trade: Trade | None  # set when the execution type x is TRADE or CALCULATED
    forced: bool = False  # a liquidation or auto-deleverage, not an order of ours
    price: Decimal | None = None  # p: the order's price (0 for a market order)
    event_ms: int = 0  # E: when the exchange sent the event

    @property
    def signed_qty(self) -> Decimal:
        """The fill's quantity, positive for a BUY; only a report of a fill has one."""
        if self.trade is None:
            raise ValueError(f"the report of {self.client_id} carries no fill")
        return self.trade.qty if self.side == Side.BUY else -self.trade.qty


def parse_order_update(msg: Payload, symbol: str) -> OrderReport | None:
    """The report, or None when it is about another symbol."""
    o = msg["o"]
    if o["s"] != symbol:
        return None
    trade = None
    if o["x"] in FILL_EXECUTIONS:
        trade = Trade(
            int(o["t"]),
            int(o["T"]),
            Decimal(o["l"]),
            o["L"],
            Decimal(o.get("n") or 0),
            str(o.get("N") or "USDT"),
            bool(o.get("m", True)),
            Decimal(o.get("rp") or 0),
        )
    forced = o["x"] == "CALCULATED" or str(o["c"]).startswith(FORCED_CLIENT_IDS)
    side, status, order_id, cum_filled = o["S"], o["X"], int(o["i"]), Decimal(o["z"])
    if side not in tuple(Side):
        raise ValueError(f"unexpected side {side!r}")  # an unknown status only leaves the order as is
    price = Decimal(o["p"]) if o.get("p") not in (None, "") else None
    return OrderReport(o["c"], Side(side), status, order_id, cum_filled, trade, forced, price, int(msg.get("E") or 0))


@dataclass(frozen=True)
class AccountUpdate:
    """An ACCOUNT_UPDATE: wallet balances and our symbol's one-way position amounts."""

    event_ms: int
    at_ms: int  # transaction time
    balances: dict[str, Decimal]
    positions: list[Decimal]
    hedge: bool = False  # the symbol's position came as LONG/SHORT rows: hedge mode
    reason: str = ""  # m: ORDER, FUNDING_FEE, DEPOSIT, ...
    changes: dict[str, Decimal] = field(default_factory=dict)  # bc per asset: balance change except PnL, fees
    entry: Decimal | None = None  # ep: the entry price of our symbol's one-way row
    unrealized: Decimal | None = None  # up of that row
    other_symbols: bool = False  # P names another symbol (and not ours)


def parse_account_update(msg: Payload, symbol: str) -> AccountUpdate:
    update, event_ms = msg["a"], int(msg["E"])
    stable = [b for b in update.get("B", []) if b["a"] in STABLE_ASSETS]
    balances = {b["a"]: Decimal(b["wb"]) for b in stable}
    changes = {b["a"]: Decimal(b["bc"]) for b in stable if b.get("bc") not in (None, "", "0")}
    rows = [p for p in update.get("P", []) if p["s"] == symbol]
    one_way = [p for p in rows if p.get("ps", "BOTH") == "BOTH"]
    positions = [Decimal(p["pa"]) for p in one_way]
    hedge = any(p.get("ps", "BOTH") != "BOTH" for p in rows)
    entry = Decimal(one_way[-1]["ep"]) if one_way and one_way[-1].get("ep") is not None else None
    upnl = Decimal(one_way[-1]["up"]) if one_way and one_way[-1].get("up") is not None else None
    others = bool(update.get("P")) and not rows
    return AccountUpdate(
        event_ms,
        int(msg.get("T", event_ms)),
        balances,
        positions,
        hedge,
        str(update.get("m", "")),
        changes,
        entry,
        upnl,
        others,
    )
