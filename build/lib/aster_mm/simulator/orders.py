"""The simulator's market data model: symbols and their filters, orders, the displayed book.

Also the stateless half of order validation (`parse_order`: the checks that need only the request and
the symbol's filters) and how an order and a book look on the wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from .wire import ZERO, ApiError, D, dec_param, fmt, fmt_unit, mandatory, to_dec

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


@dataclass
class SymbolSpec:
    symbol: str
    tick: Decimal = D("0.01")
    step: Decimal = D("0.001")
    min_qty: Decimal = D("0.001")
    min_notional: Decimal = D("5")
    status: str = "TRADING"
    max_qty: Decimal = D("1000000")  # LOT_SIZE.maxQty (MARKET_LOT_SIZE shows the same)
    min_price: Decimal | None = None  # PRICE_FILTER.minPrice; None: one tick
    max_price: Decimal = D("1000000")
    multiplier_up: Decimal = D("1.05")  # PERCENT_PRICE
    multiplier_down: Decimal = D("0.95")
    max_num_orders: int = 200  # MAX_NUM_ORDERS

    def __post_init__(self) -> None:
        self.tick, self.step = to_dec(self.tick), to_dec(self.step)
        self.min_qty, self.min_notional = to_dec(self.min_qty), to_dec(self.min_notional)
        self.max_qty, self.max_price = to_dec(self.max_qty), to_dec(self.max_price)
        self.multiplier_up, self.multiplier_down = to_dec(self.multiplier_up), to_dec(self.multiplier_down)

    @property
    def base_asset(self) -> str:
        return self.symbol.removesuffix("USDT")

    @property
    def lowest_price(self) -> Decimal:
        return self.tick if self.min_price is None else to_dec(self.min_price)


def default_symbols() -> dict[str, SymbolSpec]:
    specs = [
        SymbolSpec("ETHUSDT", D("0.01"), D("0.001"), D("0.001")),
        SymbolSpec("BNBUSDT", D("0.01"), D("0.01"), D("0.01")),
        SymbolSpec("ASTERUSDT", D("0.0001"), D("0.01"), D("0.01")),
        SymbolSpec("OLDUSDT", D("0.01"), D("0.01"), D("0.01"), status="SETTLING"),
    ]
    return {s.symbol: s for s in specs}


@dataclass
class Order:
    order_id: int
    spec: SymbolSpec
    side: str
    price: Decimal
    qty: Decimal
    tif: str
    reduce_only: bool
    client_id: str
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    # Queue model (see engine): displayed size ahead of us at our price (None: the level was never
    # visible since we joined), and our place in line among our own orders (lower is earlier).
    ahead: Decimal | None = None
    priority: int = 0
    modifications: int = 0
    stp_mode: str | None = None  # the order's own STP mode; None: the account's

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def avg_price(self) -> str:
        return fmt(self.cum_quote / self.executed) if self.executed else "0"

    def accepted_dict(self) -> dict:
        """The order as the exchange accepted it, before matching (the ACK answer)."""
        return {
            **self.to_dict(),
            "status": "NEW",
            "executedQty": fmt_unit(ZERO, self.spec.step),
            "cumQty": fmt_unit(ZERO, self.spec.step),
            "cumQuote": "0",
            "avgPrice": "0",
            "updateTime": self.time,
        }

    def to_dict(self) -> dict:
        s = self.spec
        return {
            "orderId": self.order_id,
            "symbol": s.symbol,
            "status": self.status,
            "clientOrderId": self.client_id,
            "price": fmt_unit(self.price, s.tick),
            "avgPrice": self.avg_price(),
            "origQty": fmt_unit(self.qty, s.step),
            "executedQty": fmt_unit(self.executed, s.step),
            "cumQty": fmt_unit(self.executed, s.step),
            "cumQuote": fmt(self.cum_quote),
            "timeInForce": self.tif,
            "type": "LIMIT",
            "reduceOnly": self.reduce_only,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": "LIMIT",
            "time": self.time,
            "updateTime": self.update_time,
        }

    def to_event(
        self,
        exec_type: str,
        t: int,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        fee: Decimal = ZERO,
        trade_id: int = 0,
        maker: bool = False,
        realized: Decimal = ZERO,
    ) -> dict:
        """The "o" object of an ORDER_TRADE_UPDATE, with the fields the V3 doc lists ("Event: Order Update");
        `N` and `n` only with a commission ("will not push if no commission")."""
        spec = self.spec
        event = {
            "s": self.symbol,
            "c": self.client_id,
            "S": self.side,
            "o": "LIMIT",
            "f": self.tif,
            "q": fmt_unit(self.qty, spec.step),
            "p": fmt_unit(self.price, spec.tick),
            "ap": self.avg_price(),
            "sp": "0",
            "x": exec_type,
            "X": self.status,
            "i": self.order_id,
            "l": fmt_unit(last_qty, spec.step),
            "z": fmt_unit(self.executed, spec.step),
            "L": fmt_unit(last_price, spec.tick),
            "T": t,
            "t": trade_id,
            "b": "0",
            "a": "0",
            "m": maker,
            "R": self.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": "LIMIT",
            "ps": "BOTH",
            "cp": False,
            "rp": fmt(realized),
        }
        if fee:
            event |= {"N": "USDT", "n": fmt(fee)}
        return event


@dataclass
class Book:
    bids: list = field(default_factory=list)
    asks: list = field(default_factory=list)
    update_id: int = 1000
    last_price: Decimal | None = None

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        return (self.bids[0][0] if self.bids else None), (self.asks[0][0] if self.asks else None)

    def frame(self, spec: SymbolSpec, levels: int, now: int) -> dict:
        """A depthUpdate frame of the top `levels` levels (also the body of GET /fapi/v1/depth)."""

        def side(rows):
            return [[fmt_unit(p, spec.tick), fmt_unit(q, spec.step)] for p, q in rows[:levels]]

        return {
            "e": "depthUpdate",
            "E": now,
            "T": now,
            "s": spec.symbol,
            "U": self.update_id,
            "u": self.update_id,
            "pu": self.update_id - 1,
            "b": side(self.bids),
            "a": side(self.asks),
        }


TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "HIDDEN")  # V3 doc; HIDDEN matches as GTC here (A12)


def parse_order(params: dict, spec: SymbolSpec, mark: Decimal) -> tuple[str, Decimal, Decimal, str, bool, str | None]:
    """Check a new LIMIT order against the symbol's filters, in the exchange's order of checks;
    returns (side, price, qty, timeInForce, reduce_only, client order id or None).

    A symbol out of TRADING (PRE_SETTLE, SETTLING, CLOSE, ...) takes reduce-only orders only (-4140,
    "Invalid symbol status for opening position")."""
    side = mandatory(params, "side")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.")
    if mandatory(params, "type") != "LIMIT":
        raise ApiError(-1116, "Invalid orderType.")
    tif = params.get("timeInForce") or "GTC"
    if tif not in TIME_IN_FORCE:
        raise ApiError(-1115, "Invalid timeInForce.")
    qty, price = dec_param(params, "quantity"), dec_param(params, "price")
    reduce_only = params.get("reduceOnly", "false").lower() == "true"
    if spec.status != "TRADING" and not reduce_only:
        raise ApiError(-4140, "Invalid symbol status for opening position.")
    client_id = params.get("newClientOrderId") or None
    if client_id is not None and not CLIENT_ID_RE.match(client_id):
        raise ApiError(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    check_filters(spec, side, price, qty, reduce_only, mark)
    return side, price, qty, tif, reduce_only, client_id


def check_filters(spec: SymbolSpec, side: str, price: Decimal, qty: Decimal, reduce_only: bool, mark: Decimal) -> None:
    """The V3 doc's symbol filters ("Filters"), each refused with its documented code: PRICE_FILTER
    ("price >= minPrice", "price <= maxPrice", "(price-minPrice) % tickSize == 0"), LOT_SIZE (the same for
    quantity with minQty, maxQty, stepSize), PERCENT_PRICE ("BUY: price <= markPrice * multiplierUp", "SELL:
    price >= markPrice * multiplierDown"; skipped while there is no mark price) and MIN_NOTIONAL. The docs
    give no order of checks (docs/simulator.md, A11)."""
    if price <= 0:
        raise ApiError(-4001, "Price less than 0.")
    if qty <= 0:
        raise ApiError(-4003, "Quantity less than zero.")
    low = spec.lowest_price
    if price < low:
        raise ApiError(-4013, "Price less than min price.")
    if price > spec.max_price:
        raise ApiError(-4002, "Price greater than max price.")
    if (price - low) % spec.tick:
        raise ApiError(-4014, "Price not increased by tick size.")
    if qty < spec.min_qty:
        raise ApiError(-4004, "Quantity less than min quantity.")
    if qty > spec.max_qty:
        raise ApiError(-4005, "Quantity greater than max quantity.")
    if (qty - spec.min_qty) % spec.step:
        raise ApiError(-4023, "Qty not increased by step size.")
    if mark > 0 and side == "BUY" and price > mark * spec.multiplier_up:
        raise ApiError(-4016, "Price is higher than mark price multiplier cap.")
    if mark > 0 and side == "SELL" and price < mark * spec.multiplier_down:
        raise ApiError(-4024, "Price is lower than mark price multiplier floor.")
    if price * qty < spec.min_notional and not reduce_only:
        raise ApiError(
            -4164, f"Order's notional must be no smaller than {fmt(spec.min_notional)} (unless you choose reduce only)"
        )
