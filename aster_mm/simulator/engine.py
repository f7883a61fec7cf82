"""The matching engine: order book per symbol, placing and validating orders, crossing, fills, cancels
and countdownCancelAll. It knows nothing of HTTP or sockets: it journals its events and hands them to
`on_user` / `on_market`, which the stream layer sets.

How resting orders fill from market data (the queue and optimistic models) is in market_events.py; Modify
Order in modify.py; self-trade prevention in selftrade.py; Market Maker Protection's state in mmp.py.

Both fill models: an incoming order that crosses (the displayed book, or one of our own resting orders):
GTX expires (or is refused if `Readings.gtx_reject`, docs/simulator.md A9); GTC and HIDDEN fill fully as
taker at the best displayed price, IOC/FOK against the best level only (A13); a reduce-only order is capped
to the position at fill time and expires once the position is flat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from . import account_views as views
from .accounts import Accounts
from .journal import Clock, Journal
from .market_events import MarketEvents
from .mmp import Mmp
from .options import DEFAULT_READINGS, STP_MODES, Readings
from .orders import Book, Order, SymbolSpec, parse_order
from .public import Print, Tape
from .selftrade import prevent_self_trade
from .wire import ZERO, ApiError, fmt_unit, invalid, mandatory

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
        readings: Readings = DEFAULT_READINGS,
        fill_model: str = "queue",
        max_modifications: int = MAX_MODIFICATIONS,
        partial_fills: bool = True,
    ):
        if fill_model not in FILL_MODELS:
            raise ValueError(f"fill_model must be one of {', '.join(FILL_MODELS)}, not {fill_model!r}")
        self.symbols, self.books, self.accounts = symbols, books, accounts
        self.clock, self.journal, self.readings = clock, journal, readings
        self.fill_model, self.partial_fills = fill_model, partial_fills
        self.max_modifications = max_modifications
        self.mmp, self.tape = Mmp(), Tape()
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
        """A markPriceUpdate frame: mark = index = settle price = the mid (A45), `r` the funding rate."""
        now, spec = self.clock.now_ms(), self.spec(symbol)
        mark = fmt_unit(self.accounts.mark(symbol), spec.tick)
        rate = self.tape.rates.get(symbol, ZERO)
        return {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": mark,
            "i": mark,
            "P": mark,
            "r": str(rate),
            "T": next_funding(now),
        }

    async def pay_funding(self, symbol: str, rate: Decimal) -> Decimal:
        """A funding settlement: the rate goes into the history, the payment into the account and its
        ACCOUNT_UPDATE (none when nothing was paid)."""
        self.spec(symbol)
        now = self.clock.now_ms()
        self.tape.settle_funding(symbol, rate, now)
        amount = self.accounts.pay_funding(symbol, rate, now)
        if amount:
            await self.push_user(views.balance_update(self.accounts, "FUNDING_FEE", symbol, amount, now))
        return amount

    async def push_user(self, payload: dict) -> None:
        self.journal.log({"kind": "event", "stream": "user", "payload": payload})
        await self.on_user(payload)

    async def public_print(self, symbol: str, aggressor: str, price: Decimal, qty: Decimal) -> int:
        """A trade on the exchange: on the tape and the aggTrade stream. Returns its id."""
        spec, now, tid = self.spec(symbol), self.clock.now_ms(), self._next_trade_id(symbol)
        self.books[symbol].last_price = price
        self.tape.add(symbol, Print(tid, price, qty, now, aggressor == "SELL"))
        payload = {
            "e": "aggTrade",
            "E": now,
            "s": symbol,
            "a": tid,
            "p": fmt_unit(price, spec.tick),
            "q": fmt_unit(qty, spec.step),
            "f": tid,
            "l": tid,
            "T": now,
            "m": aggressor == "SELL",  # "Is the buyer the market maker?"
        }
        self.journal.log({"kind": "event", "stream": "market", "payload": payload})
        await self.on_market(symbol, "aggTrade", payload)
        return tid

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
        stp_mode: str | None = None,
    ) -> Order:
        now, oid = self.clock.now_ms(), self._next_order_id
        order = Order(oid, spec, side, price, qty, tif, reduce_only, client_id or f"sim_{oid}", now, update_time=now)
        order.stp_mode = stp_mode
        self._next_order_id += 1
        self.requeue(order)
        self.orders[order.order_id] = order
        self._by_client_id[(spec.symbol, order.client_id)] = order
        self.accounts.stats[spec.symbol].orders_sent += 1
        self._track_open(order)
        await self.push_order_update(order, "NEW")
        return order

    def _track_open(self, order: Order) -> None:
        if order.is_open:
            self._live[order.order_id] = order
        else:
            self._live.pop(order.order_id, None)
        count = len(self.open(order.symbol))
        self.peak_open_orders[order.symbol] = max(self.peak_open_orders.get(order.symbol, 0), count)
        self.journal.notify()

    def refuse_if_frozen(self, symbol: str) -> None:
        """MMP: "Duration (in ms) during which MMP orders are prohibited" (A26, A28)."""
        if self.mmp.frozen(symbol, self.clock.now_ms()):
            raise ApiError(*self.readings.mmp_error)

    def _validate(self, params: dict) -> tuple:
        spec = self.spec(mandatory(params, "symbol"))
        side, price, qty, tif, reduce_only, client_id = parse_order(params, spec, self.accounts.mark(spec.symbol))
        stp_mode = params.get("stpMode") or None
        if stp_mode is not None and stp_mode not in STP_MODES:
            raise invalid("stpMode")
        self.refuse_if_frozen(spec.symbol)
        existing = self._by_client_id.get((spec.symbol, client_id)) if client_id else None
        if existing is not None and existing.is_open:  # "A unique id among open orders" (A10)
            raise ApiError(-4015, "Client order id is not valid.")
        if len(self.open(spec.symbol)) >= spec.max_num_orders:
            raise ApiError(-2025, "Reach max open order limit.")
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
        return spec, side, price, qty, tif, reduce_only, client_id, stp_mode

    async def place(self, params: dict, ack: bool = False) -> Order:
        """Accept a new order and match it. With `ack` (newOrderRespType=ACK) the answer goes out
        first: matching happens a moment later, so the final state (an expired post-only order, a
        fill) reaches the client only on the user stream (A8)."""
        try:
            spec, side, price, qty, tif, reduce_only, client_id, stp_mode = self._validate(params)
            if tif == "GTX" and self.readings.gtx_reject and self.crosses(spec.symbol, side, price):
                raise ApiError(*self.readings.post_only_error)
        except ApiError:
            if params.get("symbol") in self.accounts.stats:
                self.accounts.stats[params["symbol"]].rejected += 1
            raise
        order = await self.create(spec, side, price, qty, tif, reduce_only, client_id, stp_mode)
        if ack:
            self.spawn(self._match_soon(order))
        else:
            await self.match(order)
        return order

    def crosses_book(self, symbol: str, side: str, price: Decimal) -> bool:
        bid, ask = self.books[symbol].best()
        return (ask is not None and price >= ask) if side == "BUY" else (bid is not None and price <= bid)

    def own_crossed(self, symbol: str, side: str, price: Decimal) -> list[Order]:
        """Our own resting orders on the other side that an order at `price` would reach."""
        other = "SELL" if side == "BUY" else "BUY"
        return [
            o
            for o in self.open(symbol)
            if o.side == other and (o.price <= price if side == "BUY" else o.price >= price)
        ]

    def crosses(self, symbol: str, side: str, price: Decimal) -> bool:
        return self.crosses_book(symbol, side, price) or bool(self.own_crossed(symbol, side, price))

    async def _match_soon(self, order: Order) -> None:
        await asyncio.sleep(0.001)
        await self.match(order)

    async def match(self, order: Order) -> None:
        """An incoming order: GTX expires if it would take; otherwise self-trade prevention first (our own
        better-priced orders would be met before the book), then GTC/HIDDEN take, IOC/FOK the best level."""
        if not order.is_open:
            return
        tif, side, symbol = order.tif, order.side, order.symbol
        if tif == "GTX":
            if self.crosses(symbol, side, order.price):
                await self.finish(order, "EXPIRED")
            return
        if await prevent_self_trade(self, order):
            return
        if self.crosses_book(symbol, side, order.price):
            book = self.books[symbol]
            best_price, best_qty = (book.asks if side == "BUY" else book.bids)[0]
            fill = order.remaining if tif in ("GTC", "HIDDEN") else min(order.remaining, best_qty)
            if tif != "FOK" or fill == order.remaining:
                filled = await self.fill(order, fill, best_price, maker=False)
                if filled:
                    await self.public_print(symbol, side, best_price, filled)
        if order.is_open and tif in ("IOC", "FOK"):
            await self.finish(order, "EXPIRED")

    async def party_trade(self, symbol: str, aggressor: str, qty: Decimal, price: Decimal) -> Decimal:
        """Another account's order taking our resting orders that `price` reaches, best price first and then
        by time; what our orders do not take is dropped (it never rests). Returns the quantity filled."""
        reached = self.own_crossed(symbol, aggressor, price)
        reached.sort(key=lambda o: (o.price if aggressor == "BUY" else -o.price, o.priority))
        left = qty
        for order in reached:
            if left <= 0:
                break
            filled = await self.fill(order, min(order.remaining, left), order.price, maker=True)
            if filled:
                await self.public_print(symbol, aggressor, order.price, filled)
            left -= filled
        return qty - left

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
        fill = {
            "last_qty": qty,
            "last_price": price,
            "fee": fee,
            "trade_id": trade_id,
            "maker": maker,
            "realized": realized,
        }
        await self.push_order_update(order, exec_type, t=now, **fill)
        await self.push_user(views.account_update(self.accounts, order.symbol, self.clock.now_ms(), now))
        if order.reduce_only and order.is_open and pos.amt == 0:
            await self.finish(order, "EXPIRED")
        signed = qty if order.side == "BUY" else -qty
        if self.mmp.record(order.symbol, now, signed, price) and self.readings.mmp_freeze == "cancel":
            await self.cancel_all(order.symbol)  # A28: the freeze cancels the symbol's open orders
        return qty

    async def finish(self, order: Order, status: str) -> None:
        order.status, order.update_time = status, self.clock.now_ms()
        stats = self.accounts.stats[order.symbol]
        if status == "CANCELED":
            stats.cancelled += 1
        else:
            stats.expired += 1
        self._track_open(order)
        await self.push_order_update(order, status)

    async def cancel_all(self, symbol: str) -> None:
        for order in self.open(symbol):
            await self.finish(order, "CANCELED")

    def find_order(self, params: dict, missing: ApiError) -> Order:
        spec = self.spec(mandatory(params, "symbol"))
        if params.get("orderId"):  # "If both are sent, orderId takes precedence."
            order = self.orders.get(int(params["orderId"])) if params["orderId"].isdigit() else None
        elif params.get("origClientOrderId"):
            order = self._by_client_id.get((spec.symbol, params["origClientOrderId"]))
        else:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order.symbol != spec.symbol:
            raise missing
        return order

    async def push_order_update(self, order: Order, exec_type: str, t: int | None = None, **fill: Any) -> None:
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
        self.spawn(self.cancel_all(symbol))

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def next_funding(now: int) -> int:
    """The next 8-hour funding time (00:00, 08:00, 16:00 UTC)."""
    return now - now % 28_800_000 + 28_800_000
