"""Local simulator of the Aster perpetual futures exchange (Binance USD-M shaped).

Serves the REST API and the WebSocket streams on one aiohttp port on 127.0.0.1, so the real bot can
trade against it unchanged (ASTER_REST_URL=http://127.0.0.1:PORT, ASTER_WS_URL=ws://127.0.0.1:PORT).
Prices, quantities and balances are Decimals inside and decimal strings on the wire.

Fill rule (queue position is unknown, so the simulator is optimistic about it):
  * a resting order is filled as maker, at its own price, when a market trade prints at or through its
    price (a SELL aggressor at or below a resting BUY, a BUY aggressor at or above a resting SELL), for
    min(remaining, trade qty); one print's qty is shared among our orders, best price first;
  * a resting order is filled fully, as maker at its own price, when the displayed book moves through
    it (best ask <= BUY price, best bid >= SELL price);
  * an incoming order that crosses the book: GTX expires (or is refused with -5022 if gtx_reject),
    GTC fills fully as taker at the best opposite price, IOC/FOK fill against the best level only;
  * a reduce-only order is capped to the position at fill time and expires once the position is flat.

Time: `clock` (plus the clock offset) drives timestamps and recvWindow checks; real-time durations
(countdownCancelAll, restart downtime, fault delays) use the event loop's clock.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from aiohttp import WSCloseCode, web

D = Decimal
ZERO = Decimal(0)
KINDS = ("market", "user")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
SIGNATURE_RE = re.compile(r"(?:^|&)signature=([0-9a-fA-F]*)$")
STREAM_RE = re.compile(r"^([a-z0-9]+)@(depth(5|10|20)|aggTrade)(@\d+ms)?$")
DEFAULT_LEVERAGE = 20
MAX_NOTIONAL = D("1000000")


# ----------------------------------------------------------------------------------------- helpers
def fmt(d: Any) -> str:
    """Decimal -> plain string, no exponent, no trailing zeros ("2500.1", "10000", "0")."""
    d = to_dec(d) + 0  # + 0 turns -0 into 0
    return format(d.normalize(), "f") if d else "0"


def fmt_unit(d: Any, unit: Decimal) -> str:
    """Format with the decimals of `unit` (tick or step) when exact: "2500.10", "1.000"."""
    d = to_dec(d) + 0
    q = d.quantize(unit)
    return format(q, "f") if q == d else fmt(d)


def to_dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else D(str(value))


def decimals(unit: Decimal) -> int:
    return max(0, -unit.normalize().as_tuple().exponent)


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400):
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def mandatory(params: dict, name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def dec_param(params: dict, name: str) -> Decimal:
    try:
        value = D(mandatory(params, name))
    except InvalidOperation:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


# ------------------------------------------------------------------------------------- data model
@dataclass
class SymbolSpec:
    symbol: str
    tick: Decimal = D("0.01")
    step: Decimal = D("0.001")
    min_qty: Decimal = D("0.001")
    min_notional: Decimal = D("5")
    status: str = "TRADING"

    def __post_init__(self):
        self.tick, self.step = to_dec(self.tick), to_dec(self.step)
        self.min_qty, self.min_notional = to_dec(self.min_qty), to_dec(self.min_notional)

    @property
    def base_asset(self) -> str:
        return self.symbol.removesuffix("USDT")


def default_symbols() -> dict[str, SymbolSpec]:
    specs = [SymbolSpec("ETHUSDT", D("0.01"), D("0.001"), D("0.001")),
             SymbolSpec("BNBUSDT", D("0.01"), D("0.01"), D("0.01")),
             SymbolSpec("ASTERUSDT", D("0.0001"), D("0.01"), D("0.01")),
             SymbolSpec("OLDUSDT", D("0.01"), D("0.01"), D("0.01"), status="SETTLING")]
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

    def to_dict(self) -> dict:
        s = self.spec
        return {"orderId": self.order_id, "symbol": s.symbol, "status": self.status,
                "clientOrderId": self.client_id, "price": fmt_unit(self.price, s.tick),
                "avgPrice": self.avg_price(), "origQty": fmt_unit(self.qty, s.step),
                "executedQty": fmt_unit(self.executed, s.step), "cumQuote": fmt(self.cum_quote),
                "timeInForce": self.tif, "type": "LIMIT", "reduceOnly": self.reduce_only,
                "closePosition": False, "side": self.side, "positionSide": "BOTH", "stopPrice": "0",
                "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT",
                "time": self.time, "updateTime": self.update_time}


@dataclass
class Position:
    amt: Decimal = ZERO
    entry: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    realized: Decimal = ZERO  # cumulative, before fees ("cr" in ACCOUNT_UPDATE)
    update_time: int = 0


@dataclass
class Stats:
    orders_sent: int = 0  # orders accepted by the exchange (got an orderId)
    rejected: int = 0
    cancelled: int = 0
    expired: int = 0
    fills: int = 0
    buy_volume: Decimal = ZERO
    sell_volume: Decimal = ZERO
    notional_volume: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    max_abs_position: Decimal = ZERO

    def record_fill(self, side: str, qty: Decimal, price: Decimal, realized: Decimal, fee: Decimal,
                    position: Decimal) -> None:
        self.fills += 1
        if side == "BUY":
            self.buy_volume += qty
        else:
            self.sell_volume += qty
        self.notional_volume += price * qty
        self.realized_pnl += realized
        self.fees += fee
        self.max_abs_position = max(self.max_abs_position, abs(position))


@dataclass
class Book:
    bids: list = field(default_factory=list)
    asks: list = field(default_factory=list)
    update_id: int = 1000
    last_price: Decimal | None = None


@dataclass
class Fault:
    method: str
    path: str
    count: int
    status: int
    body: dict | None
    retry_after: float | None
    execute: bool
    delay: float


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    kind: str  # "market" | "user"
    streams: list = field(default_factory=list)  # market: (name, symbol, type, levels)
    combined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def parse_stream(name: str) -> tuple | None:
    m = STREAM_RE.match(name)
    if not m:
        return None
    symbol, typ = m.group(1).upper(), m.group(2)
    if typ.startswith("depth"):
        return (name, symbol, "depth", int(m.group(3)))
    return (name, symbol, typ, 0)


DEFAULT_FAULT_BODIES = {
    429: (-1003, "Too many requests; current limit is 2400 requests per minute."),
    418: (-1003, "Way too many requests; IP banned."),
    403: (-1002, "You are not authorized to execute this request."),
    401: (-2015, "Invalid API-key, IP, or permissions for action."),
    400: (-1000, "An unknown error occured while processing the request."),
}
UNKNOWN_OUTCOME = (-1006, "An unexpected response was received from the message bus. Execution status unknown.")
DOWN_BODY = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}

# (method, path) -> (handler name, weight, security: "none" | "key" | "signed")
ROUTES = {
    ("GET", "/fapi/v1/ping"): ("h_ping", 1, "none"),
    ("GET", "/fapi/v1/time"): ("h_time", 1, "none"),
    ("GET", "/fapi/v1/exchangeInfo"): ("h_exchange_info", 1, "none"),
    ("GET", "/fapi/v1/depth"): ("h_depth", 2, "none"),
    ("POST", "/fapi/v1/order"): ("h_new_order", 1, "signed"),
    ("DELETE", "/fapi/v1/order"): ("h_cancel_order", 1, "signed"),
    ("GET", "/fapi/v1/order"): ("h_query_order", 1, "signed"),
    ("POST", "/fapi/v1/batchOrders"): ("h_batch_orders", 5, "signed"),
    ("DELETE", "/fapi/v1/batchOrders"): ("h_batch_cancel", 1, "signed"),
    ("DELETE", "/fapi/v1/allOpenOrders"): ("h_cancel_all", 1, "signed"),
    ("GET", "/fapi/v1/openOrders"): ("h_open_orders", 1, "signed"),
    ("POST", "/fapi/v1/countdownCancelAll"): ("h_countdown", 10, "signed"),
    ("GET", "/fapi/v2/positionRisk"): ("h_position_risk", 5, "signed"),
    ("GET", "/fapi/v2/balance"): ("h_balance", 5, "signed"),
    ("GET", "/fapi/v4/account"): ("h_account", 5, "signed"),
    ("POST", "/fapi/v1/leverage"): ("h_leverage", 1, "signed"),
    ("POST", "/fapi/v1/listenKey"): ("h_listen_key_new", 1, "key"),
    ("PUT", "/fapi/v1/listenKey"): ("h_listen_key_keepalive", 1, "key"),
    ("DELETE", "/fapi/v1/listenKey"): ("h_listen_key_close", 1, "key"),
}
ORDER_PATHS = ("/fapi/v1/order", "/fapi/v1/batchOrders", "/fapi/v1/allOpenOrders")


# ------------------------------------------------------------------------------------- exchange
class SimExchange:
    def __init__(self, api_key: str = "simkey", api_secret: str = "simsecret",
                 balances: dict[str, Decimal] | None = None,
                 symbols: dict[str, SymbolSpec] | None = None,
                 maker_fee: Decimal = D("0.0001"), taker_fee: Decimal = D("0.00035"),
                 gtx_reject: bool = False, clock: Callable[[], float] = time.time,
                 journal_limit: int | None = None):
        self.api_key, self.api_secret = api_key, api_secret
        self.symbols = symbols if symbols is not None else default_symbols()
        start = balances if balances is not None else {"USDT": D("10000"), "USDF": ZERO}
        self._wallet = {"USDT": ZERO, "USDF": ZERO} | {a: to_dec(v) for a, v in start.items()}
        self.maker_fee, self.taker_fee = to_dec(maker_fee), to_dec(taker_fee)
        self.gtx_reject = gtx_reject
        self._clock = clock
        self._offset = 0.0
        self.journal: list[dict] = []
        self._journal_limit = journal_limit  # keep about this many newest entries (None: all, for tests)
        self.peak_open_orders: dict[str, int] = {}
        self._orders: dict[int, Order] = {}  # every order ever accepted (finished ones stay queryable)
        self._live: dict[int, Order] = {}  # open orders only, in placement order
        self._by_client_id: dict[tuple[str, str], Order] = {}
        self._next_order_id = 100000001
        self._positions = {s: Position() for s in self.symbols}
        self._stats = {s: Stats() for s in self.symbols}
        self._books = {s: Book() for s in self.symbols}
        self._trade_ids = {s: 0 for s in self.symbols}
        self._conns: list[Conn] = []
        self._faults: list[Fault] = []
        self._frozen: set[str] = set()
        self._refused: set[str] = set()
        self._down_until = 0.0
        self._listen_key: str | None = None
        self._countdowns: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self._weight = (0, 0)  # (minute, used weight)
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    async def start(self, port: int = 0) -> SimExchange:
        app = web.Application()
        app.router.add_route("*", "/fapi/{tail:.*}", self._rest)
        app.router.add_get("/ws/{name}", self._ws_single)
        app.router.add_get("/stream", self._ws_combined)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._stopping.set()  # releases requests sleeping on a fault delay
        for handle in self._countdowns.values():
            handle.cancel()
        self._countdowns.clear()
        await self.drop_streams("all")
        for task in list(self._tasks):
            task.cancel()
        await runner.cleanup()

    async def __aenter__(self) -> SimExchange:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- time, journal, notification
    def now_ms(self) -> int:
        return int((self._clock() + self._offset) * 1000)

    def set_clock_offset(self, seconds: float) -> None:
        self._offset = seconds

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _log(self, entry: dict) -> None:
        self.journal.append(entry if "t" in entry else {"t": self._clock(), **entry})
        if self._journal_limit and len(self.journal) > 2 * self._journal_limit:
            del self.journal[:-self._journal_limit]
        self._notify()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        return result

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _is_down(self) -> bool:
        return asyncio.get_running_loop().time() < self._down_until

    # ---------------------------------------------------------------- inspection
    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [e for e in self.journal if e["kind"] == "request"
                and (method is None or e["method"] == method) and (path is None or e["path"] == path)]

    def order_requests(self) -> list[dict]:
        return [e for e in self.requests() if e["method"] in ("POST", "DELETE") and e["path"] in ORDER_PATHS]

    def _open(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._live.values() if symbol is None or o.symbol == symbol]

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        return [o.to_dict() for o in self._open(symbol)]

    def position(self, symbol: str) -> Decimal:
        return self._positions[symbol].amt

    def balances(self) -> dict[str, Decimal]:
        return dict(self._wallet)

    def summary(self, symbol: str) -> dict:
        return asdict(self._stats[symbol])

    @property
    def user_stream_connections(self) -> int:
        return sum(1 for c in self._conns if c.kind == "user")

    @property
    def market_stream_connections(self) -> int:
        return sum(1 for c in self._conns if c.kind == "market")

    def book(self, symbol: str) -> tuple[list, list]:
        b = self._books[symbol]
        return list(b.bids), list(b.asks)

    # ---------------------------------------------------------------- test setup
    def set_position(self, symbol: str, amount: Any, entry_price: Any) -> None:
        pos = self._positions[symbol]
        pos.amt, pos.entry, pos.update_time = to_dec(amount), to_dec(entry_price), self.now_ms()
        self._notify()

    async def place_order_direct(self, symbol: str, side: str, price: Any, qty: Any,
                                 client_order_id: str | None = None, reduce_only: bool = False) -> dict:
        order = await self._create(self._spec(symbol), side, to_dec(price), to_dec(qty), "GTC",
                                   reduce_only, client_order_id)
        return order.to_dict()

    # ---------------------------------------------------------------- fault injection
    def fail_next(self, method: str, path: str, count: int = 1, status: int = 503,
                  body: dict | None = None, retry_after: float | None = None,
                  execute: bool = False, delay: float = 0.0) -> None:
        self._faults.append(Fault(method.upper(), path, count, status, body, retry_after, execute, delay))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path == path:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _kinds(kind: str) -> tuple[str, ...]:
        if kind == "all":
            return KINDS
        if kind not in KINDS:
            raise ValueError(f"kind must be 'market', 'user' or 'all', not {kind!r}")
        return (kind,)

    async def drop_streams(self, kind: str = "all") -> None:
        kinds = self._kinds(kind)
        await asyncio.gather(*(self._close_conn(c) for c in list(self._conns) if c.kind in kinds))

    def refuse_streams(self, kind: str = "all", refuse: bool = True) -> None:
        for k in self._kinds(kind):
            (self._refused.add if refuse else self._refused.discard)(k)

    def freeze_streams(self, kind: str = "all", frozen: bool = True) -> None:
        for k in self._kinds(kind):
            (self._frozen.add if frozen else self._frozen.discard)(k)

    async def expire_listen_key(self) -> None:
        if self._listen_key is None:
            return
        await self._push_user({"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": self._listen_key})
        self._listen_key = None
        await self.drop_streams("user")

    async def restart(self, down_seconds: float = 2.0) -> None:
        """Exchange restart: returns at once; REST answers 503 and websockets are refused meanwhile."""
        self._down_until = asyncio.get_running_loop().time() + down_seconds
        await self.drop_streams("all")
        self._notify()

    async def send_raw(self, kind: str, text: str) -> None:
        """Send a raw text frame (e.g. malformed JSON) on every stream of that kind."""
        kinds = self._kinds(kind)
        self._log({"kind": "event", "stream": kind, "payload": {"raw": text}})
        for conn in [c for c in self._conns if c.kind in kinds]:
            await self._send(conn, text)

    async def _close_conn(self, conn: Conn) -> None:
        try:
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"sim: stream dropped")
        except Exception:  # noqa: BLE001 - a dying connection may fail in many ways; it is gone anyway
            pass

    # ---------------------------------------------------------------- market control
    def _spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise ApiError(-1121, "Invalid symbol.")
        return spec

    def _best(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        b = self._books[symbol]
        return (b.bids[0][0] if b.bids else None), (b.asks[0][0] if b.asks else None)

    def _mark(self, symbol: str) -> Decimal:
        bid, ask = self._best(symbol)
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        book = self._books[symbol]
        return book.last_price if book.last_price is not None else self._positions[symbol].entry

    async def set_book(self, symbol: str, bids: list, asks: list) -> None:
        self._spec(symbol)
        book = self._books[symbol]
        book.bids = [(to_dec(p), to_dec(q)) for p, q in bids]
        book.asks = [(to_dec(p), to_dec(q)) for p, q in asks]
        book.update_id += 1
        self._log({"kind": "event", "stream": "market", "payload": self._depth_payload(symbol, 20)})
        await self._broadcast_market(symbol, "depth")
        bid, ask = self._best(symbol)
        for order in self._open(symbol):
            if order.is_open and ((order.side == "BUY" and ask is not None and ask <= order.price)
                                  or (order.side == "SELL" and bid is not None and bid >= order.price)):
                await self._fill(order, order.remaining, order.price, maker=True)

    async def trade(self, symbol: str, aggressor_side: str, price: Any, qty: Any) -> None:
        spec = self._spec(symbol)
        side, price, left = aggressor_side.upper(), to_dec(price), to_dec(qty)
        tid = self._next_trade_id(symbol)
        self._books[symbol].last_price = price
        now = self.now_ms()
        payload = {"e": "aggTrade", "E": now, "s": symbol, "a": tid, "p": fmt_unit(price, spec.tick),
                   "q": fmt_unit(left, spec.step), "f": tid, "l": tid, "T": now, "m": side == "SELL"}
        self._log({"kind": "event", "stream": "market", "payload": payload})
        await self._broadcast_market(symbol, "aggTrade", payload)
        hit = "BUY" if side == "SELL" else "SELL"
        through = [o for o in self._open(symbol) if o.side == hit
                   and (o.price >= price if hit == "BUY" else o.price <= price)]
        through.sort(key=lambda o: (-o.price if hit == "BUY" else o.price, o.order_id))
        for order in through:
            if left <= 0:
                break
            if order.is_open:
                left -= await self._fill(order, min(order.remaining, left), order.price, maker=True)

    async def fill_order(self, symbol: str, client_order_id: str | None = None, qty: Any = None) -> dict:
        candidates = [o for o in self._open(symbol) if client_order_id in (None, o.client_id)]
        if len(candidates) != 1:
            raise ValueError(f"fill_order: {len(candidates)} matching open orders on {symbol}")
        order = candidates[0]
        await self._fill(order, order.remaining if qty is None else to_dec(qty), order.price, maker=True)
        return order.to_dict()

    def _next_trade_id(self, symbol: str) -> int:
        self._trade_ids[symbol] += 1
        return self._trade_ids[symbol]

    # ---------------------------------------------------------------- order engine
    async def _create(self, spec: SymbolSpec, side: str, price: Decimal, qty: Decimal, tif: str,
                      reduce_only: bool, client_id: str | None) -> Order:
        now = self.now_ms()
        order = Order(self._next_order_id, spec, side, price, qty, tif, reduce_only,
                      client_id or f"sim_{self._next_order_id}", now, update_time=now)
        self._next_order_id += 1
        self._orders[order.order_id] = order
        self._by_client_id[(spec.symbol, order.client_id)] = order
        self._stats[spec.symbol].orders_sent += 1
        self._track_open(order)
        await self._push_order_update(order, "NEW")
        return order

    def _track_open(self, order: Order) -> None:
        if order.is_open:
            self._live[order.order_id] = order
        else:
            self._live.pop(order.order_id, None)
        count = len(self._open(order.symbol))
        self.peak_open_orders[order.symbol] = max(self.peak_open_orders.get(order.symbol, 0), count)
        self._notify()

    def _validate(self, params: dict) -> tuple:
        spec = self._spec(mandatory(params, "symbol"))
        if spec.status != "TRADING":
            raise ApiError(-4140, "Invalid symbol status for opening position.")
        side = mandatory(params, "side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        if mandatory(params, "type") != "LIMIT":
            raise ApiError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce") or "GTC"
        if tif not in ("GTC", "GTX", "IOC", "FOK"):
            raise ApiError(-1115, "Invalid timeInForce.")
        qty, price = dec_param(params, "quantity"), dec_param(params, "price")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        client_id = params.get("newClientOrderId") or None
        if client_id is not None and not CLIENT_ID_RE.match(client_id):
            raise ApiError(-1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                  "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if price <= 0:
            raise ApiError(-4001, "Price less than 0.")
        if qty <= 0:
            raise ApiError(-4003, "Quantity less than or equal to zero.")
        if price % spec.tick:
            raise ApiError(-4014, "Price not increased by tick size.")
        if qty % spec.step:
            raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
        if qty < spec.min_qty:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        if price * qty < spec.min_notional and not reduce_only:
            raise ApiError(-4164, f"Order's notional must be no smaller than {fmt(spec.min_notional)} "
                                  "(unless you choose reduce only).")
        existing = self._by_client_id.get((spec.symbol, client_id)) if client_id else None
        if existing is not None and existing.is_open:
            raise ApiError(-4116, "ClientOrderId is duplicated.")
        pos = self._positions[spec.symbol].amt
        if reduce_only and (pos == 0 or (pos > 0) == (side == "BUY")):
            raise ApiError(-2022, "ReduceOnly Order is rejected.")
        if not reduce_only:
            reducing = abs(pos) if pos and (pos > 0) != (side == "BUY") else ZERO
            opening = max(ZERO, qty - reducing)
            if opening * price / self._positions[spec.symbol].leverage > self._available():
                raise ApiError(-2019, "Margin is insufficient.")
        return spec, side, price, qty, tif, reduce_only, client_id

    async def _place(self, params: dict) -> Order:
        try:
            spec, side, price, qty, tif, reduce_only, client_id = self._validate(params)
        except ApiError:
            if params.get("symbol") in self._stats:
                self._stats[params["symbol"]].rejected += 1
            raise
        bid, ask = self._best(spec.symbol)
        crosses = (ask is not None and price >= ask) if side == "BUY" else (bid is not None and price <= bid)
        if tif == "GTX" and crosses and self.gtx_reject:
            self._stats[spec.symbol].rejected += 1
            raise ApiError(-5022, "Due to the order could not be executed as maker, the Post Only order "
                                  "will be rejected. The order will not be recorded in the order history")
        order = await self._create(spec, side, price, qty, tif, reduce_only, client_id)
        if crosses and tif != "GTX":
            book = self._books[spec.symbol]
            best_price, best_qty = (book.asks if side == "BUY" else book.bids)[0]
            fill = order.remaining if tif == "GTC" else min(order.remaining, best_qty)
            if tif != "FOK" or fill == order.remaining:
                await self._fill(order, fill, best_price, maker=False)
        if order.is_open and (tif in ("IOC", "FOK") or (tif == "GTX" and crosses)):
            await self._finish(order, "EXPIRED")
        return order

    async def _fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool) -> Decimal:
        """Fill up to qty of order at price; returns the quantity actually filled."""
        if not order.is_open:  # e.g. cancelled while an earlier event was being pushed
            return ZERO
        qty = min(qty, order.remaining)
        pos = self._positions[order.symbol]
        if order.reduce_only:
            qty = min(qty, max(ZERO, -pos.amt if order.side == "BUY" else pos.amt))
            if qty <= 0:
                await self._finish(order, "EXPIRED")
                return ZERO
        now = self.now_ms()
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        realized = self._apply_fill(pos, order.side, qty, price, now)
        self._wallet["USDT"] += realized - fee
        order.executed += qty
        order.cum_quote += price * qty
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_time = now
        self._stats[order.symbol].record_fill(order.side, qty, price, realized, fee, pos.amt)
        self._books[order.symbol].last_price = price
        self._track_open(order)
        await self._push_order_update(order, "TRADE", last_qty=qty, last_price=price, fee=fee,
                                      trade_id=self._next_trade_id(order.symbol), maker=maker,
                                      realized=realized, t=now)
        await self._push_account_update(order.symbol, now)
        if order.reduce_only and order.is_open and pos.amt == 0:
            await self._finish(order, "EXPIRED")
        return qty

    @staticmethod
    def _apply_fill(pos: Position, side: str, qty: Decimal, price: Decimal, now: int) -> Decimal:
        signed = qty if side == "BUY" else -qty
        realized = ZERO
        if pos.amt == 0 or (pos.amt > 0) == (signed > 0):
            total = abs(pos.amt) + qty
            pos.entry = (abs(pos.amt) * pos.entry + qty * price) / total
        else:
            closing = min(qty, abs(pos.amt))
            realized = closing * (price - pos.entry) * (1 if pos.amt > 0 else -1)
            if qty > abs(pos.amt):  # flipped through zero: the rest opens at the fill price
                pos.entry = price
        pos.amt += signed
        if pos.amt == 0:
            pos.entry = ZERO
        pos.realized += realized
        pos.update_time = now
        return realized

    async def _finish(self, order: Order, status: str) -> None:
        order.status, order.update_time = status, self.now_ms()
        stats = self._stats[order.symbol]
        if status == "CANCELED":
            stats.cancelled += 1
        else:
            stats.expired += 1
        self._track_open(order)
        await self._push_order_update(order, status)

    async def _cancel_all(self, symbol: str) -> None:
        for order in self._open(symbol):
            await self._finish(order, "CANCELED")

    def _find_order(self, params: dict, missing: ApiError) -> Order:
        spec = self._spec(mandatory(params, "symbol"))
        if params.get("orderId"):
            order = self._orders.get(int(params["orderId"])) if params["orderId"].isdigit() else None
        elif params.get("origClientOrderId"):
            order = self._by_client_id.get((spec.symbol, params["origClientOrderId"]))
        else:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order.symbol != spec.symbol:
            raise missing
        return order

    # ---------------------------------------------------------------- margin and account views
    def _unrealized(self, symbol: str) -> Decimal:
        pos = self._positions[symbol]
        return pos.amt * (self._mark(symbol) - pos.entry) if pos.amt else ZERO

    def _position_margin(self) -> Decimal:
        return sum((abs(p.amt) * p.entry / p.leverage for p in self._positions.values()), ZERO)

    def _order_margin(self) -> Decimal:
        return sum((o.price * o.remaining / self._positions[o.symbol].leverage
                    for o in self._open() if not o.reduce_only), ZERO)

    def _available(self) -> Decimal:
        upnl = sum((self._unrealized(s) for s in self.symbols), ZERO)
        return sum(self._wallet.values(), ZERO) + upnl - self._position_margin() - self._order_margin()

    def _asset_available(self, asset: str) -> Decimal:
        # Collateral is pooled; USDF is counted first, the rest of what is available is shown as USDT.
        avail = max(ZERO, self._available())
        usdf = min(self._wallet["USDF"], avail)
        return usdf if asset == "USDF" else avail - usdf

    def _position_dict(self, symbol: str) -> dict:
        pos, mark = self._positions[symbol], self._mark(symbol)
        return {"symbol": symbol, "positionAmt": fmt(pos.amt), "entryPrice": fmt(round(pos.entry, 8)),
                "markPrice": fmt(round(mark, 8)), "unRealizedProfit": fmt(round(self._unrealized(symbol), 8)),
                "liquidationPrice": "0", "leverage": str(pos.leverage),
                "maxNotionalValue": fmt(MAX_NOTIONAL), "marginType": "cross", "isolatedMargin": "0",
                "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": fmt(round(pos.amt * mark, 8)),
                "isolatedWallet": "0", "updateTime": pos.update_time}

    def _position_event(self, symbol: str) -> dict:
        pos = self._positions[symbol]
        return {"s": symbol, "pa": fmt(pos.amt), "ep": fmt(round(pos.entry, 8)), "cr": fmt(pos.realized),
                "up": fmt(round(self._unrealized(symbol), 8)), "mt": "cross", "iw": "0", "ps": "BOTH"}

    # ---------------------------------------------------------------- user stream events
    async def _push_order_update(self, order: Order, exec_type: str, last_qty: Decimal = ZERO,
                                 last_price: Decimal = ZERO, fee: Decimal = ZERO, trade_id: int = 0,
                                 maker: bool = False, realized: Decimal = ZERO, t: int | None = None) -> None:
        spec, now = order.spec, self.now_ms()
        t = now if t is None else t
        o = {"s": order.symbol, "c": order.client_id, "S": order.side, "o": "LIMIT", "f": order.tif,
             "q": fmt_unit(order.qty, spec.step), "p": fmt_unit(order.price, spec.tick),
             "ap": order.avg_price(), "sp": "0", "x": exec_type, "X": order.status, "i": order.order_id,
             "l": fmt_unit(last_qty, spec.step), "z": fmt_unit(order.executed, spec.step),
             "L": fmt_unit(last_price, spec.tick), "N": "USDT", "n": fmt(fee), "T": t, "t": trade_id,
             "b": "0", "a": "0", "m": maker, "R": order.reduce_only, "wt": "CONTRACT_PRICE", "ot": "LIMIT",
             "ps": "BOTH", "cp": False, "rp": fmt(realized), "pP": False, "si": 0, "ss": 0}
        await self._push_user({"e": "ORDER_TRADE_UPDATE", "E": now, "T": t, "o": o})

    async def _push_account_update(self, symbol: str, t: int) -> None:
        balances = [{"a": a, "wb": fmt(w), "cw": fmt(w), "bc": "0"} for a, w in self._wallet.items()]
        await self._push_user({"e": "ACCOUNT_UPDATE", "E": self.now_ms(), "T": t,
                               "a": {"m": "ORDER", "B": balances, "P": [self._position_event(symbol)]}})

    async def _push_user(self, payload: dict) -> None:
        self._log({"kind": "event", "stream": "user", "payload": payload})
        for conn in [c for c in self._conns if c.kind == "user"]:
            await self._send(conn, payload)

    # ---------------------------------------------------------------- market stream frames
    def _depth_payload(self, symbol: str, levels: int) -> dict:
        book, spec, now = self._books[symbol], self.symbols[symbol], self.now_ms()

        def side(rows):
            return [[fmt_unit(p, spec.tick), fmt_unit(q, spec.step)] for p, q in rows[:levels]]
        return {"e": "depthUpdate", "E": now, "T": now, "s": symbol, "U": book.update_id,
                "u": book.update_id, "pu": book.update_id - 1, "b": side(book.bids), "a": side(book.asks)}

    def _stream_payload(self, stream: tuple) -> dict | None:
        _, symbol, typ, levels = stream
        book = self._books[symbol]
        return self._depth_payload(symbol, levels) if typ == "depth" and (book.bids or book.asks) else None

    async def _broadcast_market(self, symbol: str, typ: str, payload: dict | None = None) -> None:
        # The @100ms / @500ms suffixes do not throttle here: every book change is one frame.
        for conn in [c for c in self._conns if c.kind == "market"]:
            for stream in conn.streams:
                if stream[1] == symbol and stream[2] == typ:
                    frame = payload if payload is not None else self._stream_payload(stream)
                    if frame is not None:
                        await self._send(conn, {"stream": stream[0], "data": frame} if conn.combined else frame)

    async def _send(self, conn: Conn, payload: dict | str) -> None:
        if conn.kind in self._frozen or conn.ws.closed:
            return  # frozen feeds drop frames silently, nothing is buffered
        try:
            async with conn.lock:
                await conn.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))
        except (ConnectionError, RuntimeError):
            pass

    # ---------------------------------------------------------------- websocket endpoints
    async def _ws_single(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == self._listen_key and name is not None:
            return await self._serve_ws(request, "user", [], combined=False)
        stream = parse_stream(name)
        if stream is None or stream[1] not in self.symbols:
            return web.json_response({"code": -1125, "msg": "Invalid stream or listenKey."}, status=400)
        return await self._serve_ws(request, "market", [stream], combined=False)

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        streams = [parse_stream(n) for n in names]
        if not streams or any(s is None or s[1] not in self.symbols for s in streams):
            return web.json_response({"code": -1121, "msg": "Invalid stream."}, status=400)
        return await self._serve_ws(request, "market", streams, combined=True)

    async def _serve_ws(self, request: web.Request, kind: str, streams: list, combined: bool):
        if kind in self._refused or self._is_down() or self._runner is None:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0)  # bounds how long a drop waits for the peer's close
        await ws.prepare(request)
        conn = Conn(ws, kind, list(streams), combined)
        self._conns.append(conn)
        self._notify()
        try:
            for stream in conn.streams:
                await self._send_snapshot(conn, stream)
            async for _ in ws:  # incoming frames (e.g. SUBSCRIBE) are ignored; pings are answered by aiohttp
                pass
        finally:
            self._conns.remove(conn)
            self._notify()
        return ws

    async def _send_snapshot(self, conn: Conn, stream: tuple) -> None:
        frame = self._stream_payload(stream)
        if frame is not None:
            await self._send(conn, {"stream": stream[0], "data": frame} if conn.combined else frame)

    # ---------------------------------------------------------------- REST plumbing
    async def _rest(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        query, body = request.rel_url.raw_query_string, await request.text()
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        # Journaled on arrival (status None until answered), so a hanging request is visible at once.
        entry = {"t": self._clock(), "kind": "request", "method": method, "path": path, "params": params,
                 "status": None, "response": None}
        self._log(entry)
        status, payload, headers = await self._dispatch(request, method, path, params, query, body)
        entry.update(status=status, response=payload)
        self._notify()
        headers["X-MBX-USED-WEIGHT-1M"] = str(self._weight[1])
        return web.json_response(payload, status=status, headers=headers)

    async def _dispatch(self, request, method, path, params, query, body) -> tuple[int, Any, dict]:
        route = ROUTES.get((method, path))
        self._add_weight(route[1] if route else 1)
        if self._is_down():
            return 503, DOWN_BODY, {}
        fault = self._take_fault(method, path)
        if fault and not fault.execute:
            return await self._fault_answer(fault)
        if route is None:
            return 404, {"code": -1000, "msg": f"Unknown endpoint {method} {path}"}, {}
        name, _, security = route
        try:
            if security != "none":
                self._check_key(request)
            if security == "signed":
                self._check_signature(query, body)
                self._check_timestamp(params)
            status, payload = 200, await getattr(self, name)(params)
        except ApiError as err:
            status, payload = err.status, err.body()
        except (ValueError, TypeError, AttributeError):  # malformed numbers or JSON in some parameter
            status, payload = 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if fault:
            return await self._fault_answer(fault)
        return status, payload, {}

    async def _fault_answer(self, fault: Fault) -> tuple[int, Any, dict]:
        if fault.delay:
            try:  # wakes early when the sim stops, so a "hanging" request never blocks shutdown
                await asyncio.wait_for(self._stopping.wait(), fault.delay)
            except TimeoutError:
                pass
        code, msg = DEFAULT_FAULT_BODIES.get(fault.status, UNKNOWN_OUTCOME)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return fault.status, fault.body if fault.body is not None else {"code": code, "msg": msg}, headers

    def _add_weight(self, weight: int) -> None:
        minute = int(self._clock() // 60)
        used = self._weight[1] if self._weight[0] == minute else 0
        self._weight = (minute, used + weight)

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)

    def _check_signature(self, query: str, body: str) -> None:
        # signature is the last parameter of query + body: strip it from whichever part carries it
        sig = None
        if m := SIGNATURE_RE.search(body):
            sig, body = m.group(1), body[:m.start()]
        elif m := SIGNATURE_RE.search(query):
            sig, query = m.group(1), query[:m.start()]
        expected = hmac.new(self.api_secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig.lower(), expected):
            raise ApiError(-1022, "Signature for this request is not valid.")

    def _check_timestamp(self, params: dict) -> None:
        try:
            ts = int(mandatory(params, "timestamp"))
            window = int(params.get("recvWindow") or 5000)
        except ValueError:
            raise ApiError(-1100, "Illegal characters found in parameter 'timestamp'.") from None
        if window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        server = self.now_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ---------------------------------------------------------------- REST handlers
    async def h_ping(self, params: dict) -> dict:
        return {}

    async def h_time(self, params: dict) -> dict:
        return {"serverTime": self.now_ms()}

    async def h_exchange_info(self, params: dict) -> dict:
        return {"timezone": "UTC", "serverTime": self.now_ms(),
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 2400},
                               {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 1200}],
                "exchangeFilters": [],
                "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in self._wallet],
                "symbols": [self._symbol_info(s) for s in self.symbols.values()]}

    @staticmethod
    def _symbol_info(s: SymbolSpec) -> dict:
        lot = {"minQty": fmt(s.min_qty), "maxQty": "1000000", "stepSize": fmt(s.step)}
        return {"symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL", "status": s.status,
                "baseAsset": s.base_asset, "quoteAsset": "USDT", "marginAsset": "USDT",
                "pricePrecision": decimals(s.tick), "quantityPrecision": decimals(s.step),
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "filters": [{"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick), "maxPrice": "1000000",
                             "tickSize": fmt(s.tick)},
                            {"filterType": "LOT_SIZE", **lot},
                            {"filterType": "MARKET_LOT_SIZE", **lot},
                            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                            {"filterType": "MIN_NOTIONAL", "notional": fmt(s.min_notional)},
                            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
                             "multiplierDown": "0.9500", "multiplierDecimal": "4"}],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                               "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"]}

    async def h_depth(self, params: dict) -> dict:
        symbol = self._spec(mandatory(params, "symbol")).symbol
        frame = self._depth_payload(symbol, int(params.get("limit") or 20))
        return {"lastUpdateId": frame["u"], "E": frame["E"], "T": frame["T"],
                "bids": frame["b"], "asks": frame["a"]}

    async def h_new_order(self, params: dict) -> dict:
        # The response always shows the state after matching, whatever newOrderRespType says.
        return (await self._place(params)).to_dict()

    async def h_batch_orders(self, params: dict) -> list:
        try:
            batch = json.loads(mandatory(params, "batchOrders"))
        except ValueError:
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(batch, list) or not 1 <= len(batch) <= 5:
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        results = []
        for item in batch:
            try:
                results.append((await self._place({k: str(v) for k, v in item.items()})).to_dict())
            except ApiError as err:
                results.append(err.body())
        return results

    async def h_cancel_order(self, params: dict) -> dict:
        order = self._find_order(params, ApiError(-2011, "Unknown order sent."))
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        await self._finish(order, "CANCELED")
        return order.to_dict()

    async def h_batch_cancel(self, params: dict) -> list:
        symbol = mandatory(params, "symbol")
        ids = json.loads(params.get("orderIdList") or "[]")
        cids = json.loads(params.get("origClientOrderIdList") or "[]")
        results = []
        for key, value in [("orderId", str(i)) for i in ids] + [("origClientOrderId", c) for c in cids]:
            try:
                results.append(await self.h_cancel_order({"symbol": symbol, key: value}))
            except ApiError as err:
                results.append(err.body())
        return results

    async def h_query_order(self, params: dict) -> dict:
        return self._find_order(params, ApiError(-2013, "Order does not exist.")).to_dict()

    async def h_cancel_all(self, params: dict) -> dict:
        await self._cancel_all(self._spec(mandatory(params, "symbol")).symbol)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def h_open_orders(self, params: dict) -> list:
        symbol = self._spec(params["symbol"]).symbol if params.get("symbol") else None
        return self.open_orders(symbol)

    async def h_countdown(self, params: dict) -> dict:
        symbol = self._spec(mandatory(params, "symbol")).symbol
        countdown = int(mandatory(params, "countdownTime"))
        if (old := self._countdowns.pop(symbol, None)) is not None:
            old.cancel()
        if countdown > 0:
            self._countdowns[symbol] = asyncio.get_running_loop().call_later(
                countdown / 1000, self._countdown_fired, symbol)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def _countdown_fired(self, symbol: str) -> None:
        self._countdowns.pop(symbol, None)
        self._spawn(self._cancel_all(symbol))

    async def h_position_risk(self, params: dict) -> list:
        if params.get("symbol"):
            return [self._position_dict(self._spec(params["symbol"]).symbol)]
        return [self._position_dict(s) for s in self.symbols]

    async def h_balance(self, params: dict) -> list:
        upnl = sum((self._unrealized(s) for s in self.symbols), ZERO)
        return [{"accountAlias": "SimAccount", "asset": a, "balance": fmt(w), "crossWalletBalance": fmt(w),
                 "crossUnPnl": fmt(round(upnl if a == "USDT" else ZERO, 8)),
                 "availableBalance": fmt(round(self._asset_available(a), 8)),
                 "maxWithdrawAmount": fmt(round(self._asset_available(a), 8)),
                 "marginAvailable": True, "updateTime": self.now_ms()} for a, w in self._wallet.items()]

    async def h_account(self, params: dict) -> dict:
        upnl = sum((self._unrealized(s) for s in self.symbols), ZERO)
        wallet = sum(self._wallet.values(), ZERO)
        pos_margin, order_margin = self._position_margin(), self._order_margin()
        avail = round(max(ZERO, self._available()), 8)
        assets = [{"asset": a, "walletBalance": fmt(w),
                   "unrealizedProfit": fmt(round(upnl if a == "USDT" else ZERO, 8)),
                   "marginBalance": fmt(round(w + (upnl if a == "USDT" else ZERO), 8)),
                   "maintMargin": "0", "initialMargin": "0", "positionInitialMargin": "0",
                   "openOrderInitialMargin": "0", "crossWalletBalance": fmt(w), "crossUnPnl": "0",
                   "availableBalance": fmt(round(self._asset_available(a), 8)),
                   "maxWithdrawAmount": fmt(round(self._asset_available(a), 8)),
                   "marginAvailable": True, "updateTime": self.now_ms()} for a, w in self._wallet.items()]
        positions = [{"symbol": s, "initialMargin": "0", "maintMargin": "0",
                      "unrealizedProfit": d["unRealizedProfit"], "positionInitialMargin": "0",
                      "openOrderInitialMargin": "0", "leverage": d["leverage"], "isolated": False,
                      "entryPrice": d["entryPrice"], "maxNotional": d["maxNotionalValue"],
                      "positionSide": "BOTH", "positionAmt": d["positionAmt"], "notional": d["notional"],
                      "updateTime": d["updateTime"]}
                     for s in self.symbols for d in [self._position_dict(s)]]
        return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
                "totalInitialMargin": fmt(round(pos_margin + order_margin, 8)), "totalMaintMargin": "0",
                "totalWalletBalance": fmt(wallet), "totalUnrealizedProfit": fmt(round(upnl, 8)),
                "totalMarginBalance": fmt(round(wallet + upnl, 8)),
                "totalPositionInitialMargin": fmt(round(pos_margin, 8)),
                "totalOpenOrderInitialMargin": fmt(round(order_margin, 8)),
                "totalCrossWalletBalance": fmt(wallet), "totalCrossUnPnl": fmt(round(upnl, 8)),
                "availableBalance": fmt(avail), "maxWithdrawAmount": fmt(avail),
                "assets": assets, "positions": positions}

    async def h_leverage(self, params: dict) -> dict:
        symbol = self._spec(mandatory(params, "symbol")).symbol
        try:
            leverage = int(mandatory(params, "leverage"))
        except ValueError:
            leverage = 0
        if not 1 <= leverage <= 125:
            raise ApiError(-4028, "Leverage is not valid")
        self._positions[symbol].leverage = leverage
        now = self.now_ms()
        await self._push_user({"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now,
                               "ac": {"s": symbol, "l": leverage}})
        return {"leverage": leverage, "maxNotionalValue": fmt(MAX_NOTIONAL), "symbol": symbol}

    async def h_listen_key_new(self, params: dict) -> dict:
        if self._listen_key is None:
            self._listen_key = secrets.token_hex(32)
        return {"listenKey": self._listen_key}

    async def h_listen_key_keepalive(self, params: dict) -> dict:
        key = params.get("listenKey")
        if self._listen_key is None or key not in (None, "", self._listen_key):
            raise ApiError(-1125, "This listenKey does not exist.")
        return {}

    async def h_listen_key_close(self, params: dict) -> dict:
        self._listen_key = None
        await self.drop_streams("user")
        return {}


# ------------------------------------------------------------------------------------- markets
def _spec_for(symbol: str) -> SymbolSpec:
    return default_symbols().get(symbol) or SymbolSpec(symbol)


class SyntheticMarket:
    """Deterministic random-walk market with a 5-level book and trade flow.

    Each step the mid moves by a normal relative return of std `volatility` (0.0004 per 0.1 s step is
    about 0.5 % over 15 s: much livelier than a real market, so a test run sees fills within seconds of
    simulated time). Each step prints `trades_per_step` (Poisson mean) small trades at the touch and, with
    probability `sweep_prob`, one large sweep (a wick) printing `sweep_min`..`sweep_max` away from mid.
    A bot re-centring its quotes follows the random walk, so the sweeps are what reach quotes placed
    0.6 % from mid: with the defaults (a sweep every ~3.3 s, 0.2 %..1.2 % deep, uniformly) such quotes
    are hit on both sides after a median of ~15 s of simulated time, within ~33 s for 90 % of seeds.
    """

    def __init__(self, symbol: str = "ETHUSDT", start_price: Any = D("2500"), seed: int = 1,
                 volatility: float = 0.0004, tick: Any = None, spread_ticks: int = 1, levels: int = 5,
                 interval: float = 0.1, trades_per_step: float = 1.0, speed: float = 1.0,
                 sweep_prob: float = 0.03, sweep_min: float = 0.002, sweep_max: float = 0.012,
                 level_notional: float = 20000.0, step: Any = None):
        spec = _spec_for(symbol)
        self.symbol, self.seed, self.volatility = symbol, seed, volatility
        self.tick = to_dec(tick) if tick is not None else spec.tick
        self.step = to_dec(step) if step is not None else spec.step
        self.spread_ticks, self.levels, self.interval = spread_ticks, levels, interval
        self.trades_per_step, self.speed = trades_per_step, speed
        self.sweep_prob, self.sweep_min, self.sweep_max = sweep_prob, sweep_min, sweep_max
        self.level_notional = level_notional
        self.mid = float(start_price)
        self._rng = np.random.default_rng(seed)

    def _price(self, x: float) -> Decimal:
        return (D(repr(float(x))) / self.tick).to_integral_value(ROUND_FLOOR) * self.tick

    def _qty(self, notional: float) -> Decimal:
        qty = (D(repr(float(notional) / self.mid)) / self.step).to_integral_value(ROUND_FLOOR) * self.step
        return max(qty, self.step)

    def step_once(self) -> tuple[list, list, list]:
        rng = self._rng
        self.mid *= math.exp(rng.normal(0.0, self.volatility))
        best_bid = self._price(self.mid - float(self.tick) * self.spread_ticks / 2)
        best_ask = best_bid + self.tick * self.spread_ticks
        sizes = rng.uniform(0.3, 1.7, size=2 * self.levels) * self.level_notional
        bids = [(best_bid - i * self.tick, self._qty(sizes[i])) for i in range(self.levels)]
        asks = [(best_ask + i * self.tick, self._qty(sizes[self.levels + i])) for i in range(self.levels)]
        trades = []
        for _ in range(rng.poisson(self.trades_per_step)):
            buy = rng.random() < 0.5
            trades.append(("BUY" if buy else "SELL", best_ask if buy else best_bid,
                           self._qty(rng.exponential(0.1) * self.level_notional)))
        if rng.random() < self.sweep_prob:
            buy = rng.random() < 0.5
            depth = rng.uniform(self.sweep_min, self.sweep_max)
            price = self._price(self.mid * (1 + depth if buy else 1 - depth))
            trades.append(("BUY" if buy else "SELL", price, self._qty(rng.uniform(1, 5) * self.level_notional)))
        return bids, asks, trades

    def steps(self, n: int) -> Iterator[tuple[list, list, list]]:
        for _ in range(n):
            yield self.step_once()

    async def run(self, sim: SimExchange, duration: float | None = None) -> None:
        """Drive sim at interval/speed real seconds per step; duration is in simulated seconds."""
        loop = asyncio.get_running_loop()
        n, start = 0, loop.time()
        while duration is None or n * self.interval < duration:
            bids, asks, trades = self.step_once()
            await sim.set_book(self.symbol, bids, asks)
            for side, price, qty in trades:
                await sim.trade(self.symbol, side, price, qty)
            n += 1
            if self.speed and math.isfinite(self.speed):
                await asyncio.sleep(max(0.0, start + n * self.interval / self.speed - loop.time()))
            else:
                await asyncio.sleep(0)


class ReplayMarket:
    """Replays recorded orderbook_<SYM>.csv (top 5 of 10 levels) and trades_<SYM>.csv, merged by time."""

    def __init__(self, data_dir: Any, symbol: str = "BNBUSDT", speed: float = 1.0, levels: int = 5):
        self.data_dir, self.symbol, self.speed, self.levels = Path(data_dir), symbol, speed, levels

    def events(self) -> list[tuple]:
        """[(t seconds, "book", bids, asks) | (t, "trade", side, price, qty)] sorted by time."""
        out = []
        with open(self.data_dir / f"orderbook_{self.symbol}.csv", newline="") as f:
            for row in csv.DictReader(f):
                out.append((float(row["unix_timestamp"]), "book", self._side(row, "bid"), self._side(row, "ask")))
        with open(self.data_dir / f"trades_{self.symbol}.csv", newline="") as f:
            for row in csv.DictReader(f):
                out.append((int(row["unix_timestamp_ms"]) / 1000, "trade", row["side"].upper(),
                            D(row["price"]), D(row["quantity"])))
        out.sort(key=lambda e: e[0])  # stable: a book and a trade at the same instant keep file order
        return out

    def _side(self, row: dict, side: str) -> list:
        return [(D(row[f"{side}_price_{i}"]), D(row[f"{side}_qty_{i}"]))
                for i in range(self.levels) if row.get(f"{side}_price_{i}")]

    async def run(self, sim: SimExchange) -> int:
        """Replay all events into sim; returns the number of events applied."""
        events = self.events()
        loop = asyncio.get_running_loop()
        start, t0 = loop.time(), events[0][0] if events else 0.0
        realtime = bool(self.speed) and math.isfinite(self.speed)
        for n, event in enumerate(events):
            if realtime:
                await asyncio.sleep(max(0.0, start + (event[0] - t0) / self.speed - loop.time()))
            elif n % 50 == 0:
                await asyncio.sleep(0)
            if event[1] == "book":
                await sim.set_book(self.symbol, event[2], event[3])
            else:
                await sim.trade(self.symbol, *event[2:])
        return len(events)


# ------------------------------------------------------------------------------------- CLI
async def _serve(args: argparse.Namespace) -> None:
    sim = SimExchange(api_key=args.api_key, api_secret=args.api_secret, gtx_reject=args.gtx_reject,
                      journal_limit=10_000)
    await sim.start(port=args.port)
    print(f"sim exchange: ASTER_REST_URL={sim.rest_url} ASTER_WS_URL={sim.ws_url}", flush=True)
    if args.replay:
        market = ReplayMarket(args.replay, symbol=args.symbol, speed=args.speed)
    else:
        market = SyntheticMarket(symbol=args.symbol, seed=args.seed, speed=args.speed,
                                 start_price=D(args.start_price))
    try:
        await market.run(sim)
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Aster futures exchange simulator")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--symbol", default="ETHUSDT")
    parser.add_argument("--start-price", default="2500")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--replay", help="recorded data directory (replaces the synthetic market)")
    parser.add_argument("--api-key", default="simkey")
    parser.add_argument("--api-secret", default="simsecret")
    parser.add_argument("--gtx-reject", action="store_true")
    try:
        asyncio.run(_serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
