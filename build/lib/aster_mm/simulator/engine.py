"""The matching engine: order book per symbol, placing and validating orders, crossing, fills, cancels
and countdownCancelAll. It knows nothing of HTTP or sockets: it journals its events and hands them to
`on_user` / `on_market`, which the stream layer sets.

How resting orders fill from market data (the queue and optimistic models) is in market_events.py.

Both models: an incoming order that crosses the book: GTX expires (or is refused with -5022 if
gtx_reject), GTC fills fully as taker at the best opposite price, IOC/FOK fill against the best level
only; a reduce-only order is capped to the position at fill time and expires once the position is flat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from .accounts import Accounts
from .journal import Clock, Journal
from .market_events import MarketEvents
from .orders import Book, Order, SymbolSpec, check_filters, parse_order
from .wire import ZERO, ApiError, dec_param, fmt_unit, mandatory

MAX_MODIFICATIONS = 10000  # V3 doc, Modify Order: "Maximum 10000 modifications per order."


FILL_MODELS = ("queue", "optimistic")


async def _discard(*_: Any) -> None:
    pass


class Engine(MarketEvents):
    def __init__(
        self,
        symbols: dict[str, SymbolSpec],
        books: dict[str, Book],
        accounts: Accounts,
        clock: Clock,
        journal: Journal,
        gtx_reject: bool = False,
        fill_model: str = "queue",
        max_modifications: int = MAX_MODIFICATIONS,
        partial_fills: bool = True,
    ):
        if fill_model not in FILL_MODELS:
            raise ValueError(f"fill_model must be one of {', '.join(FILL_MODELS)}, not {fill_model!r}")
        self.symbols, self.books, self.accounts = symbols, books, accounts
        self.clock, self.journal, self.gtx_reject = clock, journal, gtx_reject
        self.fill_model, self.partial_fills = fill_model, partial_fills
        self.max_modifications = max_modifications
        self.on_user: Callable[[dict], Awaitable[None]] = _discard
        self.on_market: Callable[[str, str, dict | None], Awaitable[None]] = _discard  # (symbol, type, frame)
        self.peak_open_orders: dict[str, int] = {}
        self.orders: dict[int, Order] = {}  # every order ever accepted (finished ones stay queryable)
        self._live: dict[int, Order] = {}  # open orders only, in placement order
        self._by_client_id: dict[tuple[str, str], Order] = {}
        self._next_order_id = 100000001
        self._next_priority = 0
        self._trade_ids = {s: 0 for s in symbols}
        self._countdowns: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()

    def stop(self) -> None:
        for handle in self._countdowns.values():
            handle.cancel()
        self._countdowns.clear()
        for task in list(self._tasks):
            task.cancel()

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise ApiError(-1121, "Invalid symbol.")
        return spec

    def open(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._live.values() if symbol is None or o.symbol == symbol]

    def depth_frame(self, symbol: str, levels: int) -> dict:
        return self.books[symbol].frame(self.symbols[symbol], levels, self.clock.now_ms())

    def mark_price_frame(self, symbol: str) -> dict:
        """A markPriceUpdate frame (funding is not modelled: rate 0)."""
        now, spec = self.clock.now_ms(), self.spec(symbol)
        mark = fmt_unit(self.accounts.mark(symbol), spec.tick)
        return {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": mark,
            "i": mark,
            "P": mark,
            "r": "0",
            "T": now - now % 28_800_000 + 28_800_000,
        }

    async def pay_funding(self, symbol: str, rate: Decimal) -> Decimal:
        """A funding settlement: book it and push its ACCOUNT_UPDATE (none when nothing was paid)."""
        self.spec(symbol)
        now = self.clock.now_ms()
        amount = self.accounts.pay_funding(symbol, rate, now)
        if amount:
            await self.push_user(self.accounts.funding_update(symbol, amount, now))
        return amount

    async def push_user(self, payload: dict) -> None:
        self.journal.log({"kind": "event", "stream": "user", "payload": payload})
        await self.on_user(payload)

    # ---------------------------------------------------------------- market events
    # ---------------------------------------------------------------- orders
    async def create(
        self,
        spec: SymbolSpec,
        side: str,
        price: Decimal,
        qty: Decimal,
        tif: str,
        reduce_only: bool,
        client_id: str | None,
    ) -> Order:
        now = self.clock.now_ms()
        order = Order(
            self._next_order_id,
            spec,
            side,
            price,
            qty,
            tif,
            reduce_only,
            client_id or f"sim_{self._next_order_id}",
            now,
            update_time=now,
        )
        self._next_order_id += 1
        self.requeue(order)
        self.orders[order.order_id] = order
        self._by_client_id[(spec.symbol, order.client_id)] = order
        self.accounts.stats[spec.symbol].orders_sent += 1
        self._track_open(order)
        await self._push_order_update(order, "NEW")
        return order

    def _track_open(self, order: Order) -> None:
        if order.is_open:
            self._live[order.order_id] = order
        else:
            self._live.pop(order.order_id, None)
        count = len(self.open(order.symbol))
        self.peak_open_orders[order.symbol] = max(self.peak_open_orders.get(order.symbol, 0), count)
        self.journal.notify()

    def _validate(self, params: dict) -> tuple:
        spec = self.spec(mandatory(params, "symbol"))
        side, price, qty, tif, reduce_only, client_id = parse_order(params, spec)
        existing = self._by_client_id.get((spec.symbol, client_id)) if client_id else None
        if existing is not None and existing.is_open:
            raise ApiError(-4116, "ClientOrderId is duplicated.")
        if self.accounts.dual_side:
            if "reduceOnly" in params:
                raise ApiError(-1106, "Parameter 'reduceOnly' sent when not required.")
            if params.get("positionSide", "BOTH") == "BOTH":
                raise ApiError(-4061, "Order's position side does not match user's setting.")
        if self.accounts.reduce_only_only and not reduce_only:
            raise ApiError(-4087, "User can only place reduce only order")
        pos = self.accounts.positions[spec.symbol]
        if reduce_only and (pos.amt == 0 or (pos.amt > 0) == (side == "BUY")):
            raise ApiError(-2022, "ReduceOnly Order is rejected.")
        if not reduce_only:
            reducing = abs(pos.amt) if pos.amt and (pos.amt > 0) != (side == "BUY") else ZERO
            opening = max(ZERO, qty - reducing)
            if opening * price / pos.leverage > self.accounts.available(self.open()):
                raise ApiError(-2019, "Margin is insufficient.")
        return spec, side, price, qty, tif, reduce_only, client_id

    async def place(self, params: dict, ack: bool = False) -> Order:
        """Accept a new order and match it. With `ack` (newOrderRespType=ACK) the answer goes out
        first: matching happens a moment later, so the final state (an expired post-only order, a
        fill) reaches the client only on the user stream, as on the exchange."""
        try:
            spec, side, price, qty, tif, reduce_only, client_id = self._validate(params)
        except ApiError:
            if params.get("symbol") in self.accounts.stats:
                self.accounts.stats[params["symbol"]].rejected += 1
            raise
        if tif == "GTX" and self.gtx_reject and self._crosses(spec.symbol, side, price):
            self.accounts.stats[spec.symbol].rejected += 1
            raise ApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order "
                "will be rejected. The order will not be recorded in the order history",
            )
        order = await self.create(spec, side, price, qty, tif, reduce_only, client_id)
        if ack:
            self._spawn(self._match_soon(order))
        else:
            await self._match(order)
        return order

    def _crosses(self, symbol: str, side: str, price: Decimal) -> bool:
        bid, ask = self.books[symbol].best()
        return (ask is not None and price >= ask) if side == "BUY" else (bid is not None and price <= bid)

    async def _match_soon(self, order: Order) -> None:
        await asyncio.sleep(0.001)
        await self._match(order)

    async def _match(self, order: Order) -> None:
        """A new order against the book: GTC takes, IOC/FOK take the best level, GTX expires if it would take."""
        if not order.is_open:
            return
        tif, side = order.tif, order.side
        crosses = self._crosses(order.symbol, side, order.price)
        if crosses and tif != "GTX":
            book = self.books[order.symbol]
            best_price, best_qty = (book.asks if side == "BUY" else book.bids)[0]
            fill = order.remaining if tif == "GTC" else min(order.remaining, best_qty)
            if tif != "FOK" or fill == order.remaining:
                await self.fill(order, fill, best_price, maker=False)
        if order.is_open and (tif in ("IOC", "FOK") or (tif == "GTX" and crosses)):
            await self.finish(order, "EXPIRED")

    async def modify(self, params: dict) -> Order:
        """V3 Modify Order (PUT /fapi/v3/order, "Modify Order (TRADE)" in aster-finance-futures-api-v3.md):
        "Either orderId or origClientOrderId must be sent ... Both quantity and price must be sent. If the
        new quantity or price does not meet PRICE_FILTER / PERCENT_FILTER / LOT_SIZE restrictions, the
        modification will be rejected and the original order will remain. Only LIMIT order type is
        supported. Maximum 10000 modifications per order."
        The docs are silent on the rest; as Binance futures: `quantity` is the new total (origQty); a
        change loses time priority; same price and quantity is -5027; over the limit -5026; a post-only
        order that would cross is refused with -5022 and stays as it was (every refusal leaves it)."""
        order = self.find_order(params, ApiError(-2013, "Order does not exist."))
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        qty, price = dec_param(params, "quantity"), dec_param(params, "price")
        check_filters(order.spec, price, qty, order.reduce_only)
        if qty <= order.executed:
            raise ApiError(-4003, "Quantity less than or equal to zero.")  # nothing would be left to rest
        if (price, qty) == (order.price, order.qty):
            raise ApiError(-5027, "No need to modify the order.")
        if order.modifications >= self.max_modifications:
            raise ApiError(-5026, "Exceeded the maximum allowable order modification limit.")
        crosses = self._crosses(order.symbol, order.side, price)
        if crosses and order.tif == "GTX":
            raise ApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order "
                "will be rejected. The order will not be recorded in the order history",
            )
        order.price, order.qty, order.modifications = price, qty, order.modifications + 1
        order.update_time = self.clock.now_ms()
        self.requeue(order)  # back of the queue, as a new order would be
        self._track_open(order)
        await self._push_order_update(order, "AMENDMENT")
        if crosses:
            best_price = (self.books[order.symbol].asks if order.side == "BUY" else self.books[order.symbol].bids)[0][0]
            await self.fill(order, order.remaining, best_price, maker=False)
        return order

    async def fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool, exec_type: str = "TRADE") -> Decimal:
        """Fill up to qty of order at price; returns the quantity actually filled. `exec_type` is
        CALCULATED for a liquidation's fill."""
        if not order.is_open:  # e.g. cancelled while an earlier event was being pushed
            return ZERO
        qty = min(qty, order.remaining)
        pos = self.accounts.positions[order.symbol]
        if order.reduce_only:
            qty = min(qty, max(ZERO, -pos.amt if order.side == "BUY" else pos.amt))
            if qty <= 0:
                await self.finish(order, "EXPIRED")
                return ZERO
        now, trade_id = self.clock.now_ms(), self._next_trade_id(order.symbol)
        realized, fee = self.accounts.settle_fill(
            order.symbol, order.side, qty, price, maker, now, trade_id, order.order_id
        )
        order.executed += qty
        order.cum_quote += price * qty
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_time = now
        self.books[order.symbol].last_price = price
        self._track_open(order)
        await self._push_order_update(
            order,
            exec_type,
            last_qty=qty,
            last_price=price,
            fee=fee,
            trade_id=trade_id,
            maker=maker,
            realized=realized,
            t=now,
        )
        await self.push_user(self.accounts.account_update(order.symbol, self.clock.now_ms(), now))
        if order.reduce_only and order.is_open and pos.amt == 0:
            await self.finish(order, "EXPIRED")
        return qty

    async def finish(self, order: Order, status: str) -> None:
        order.status, order.update_time = status, self.clock.now_ms()
        stats = self.accounts.stats[order.symbol]
        if status == "CANCELED":
            stats.cancelled += 1
        else:
            stats.expired += 1
        self._track_open(order)
        await self._push_order_update(order, status)

    async def cancel_all(self, symbol: str) -> None:
        for order in self.open(symbol):
            await self.finish(order, "CANCELED")

    def find_order(self, params: dict, missing: ApiError) -> Order:
        spec = self.spec(mandatory(params, "symbol"))
        if params.get("orderId"):
            order = self.orders.get(int(params["orderId"])) if params["orderId"].isdigit() else None
        elif params.get("origClientOrderId"):
            order = self._by_client_id.get((spec.symbol, params["origClientOrderId"]))
        else:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order.symbol != spec.symbol:
            raise missing
        return order

    async def _push_order_update(self, order: Order, exec_type: str, t: int | None = None, **fill) -> None:
        now = self.clock.now_ms()
        t = now if t is None else t
        await self.push_user({"e": "ORDER_TRADE_UPDATE", "E": now, "T": t, "o": order.to_event(exec_type, t, **fill)})

    # ---------------------------------------------------------------- countdownCancelAll
    def countdown(self, symbol: str, millis: int) -> None:
        """Cancel all of symbol's open orders in `millis` ms (event-loop time) unless called again; 0 stops."""
        if (old := self._countdowns.pop(symbol, None)) is not None:
            old.cancel()
        if millis > 0:
            self._countdowns[symbol] = asyncio.get_running_loop().call_later(
                millis / 1000, self._countdown_fired, symbol
            )

    def _countdown_fired(self, symbol: str) -> None:
        self._countdowns.pop(symbol, None)
        self._spawn(self.cancel_all(symbol))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
