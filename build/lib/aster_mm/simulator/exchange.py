"""`SimExchange`: the simulator as tests, the benchmark and `--sim` use it. It wires the parts together
(engine, accounts, authentication, faults, streams, server) and adds the controls a test drives it
with: market events, inspection, setup, and fault injection.

Credentials: the exchange accepts V1 (`api_key`/`api_secret`) on /fapi/v1 paths and V3 on /fapi/v3 paths,
where `v3_user` has one registered agent wallet (`v3_signer`, whose key is `v3_signer_key`), generated
afresh for each simulator; `add_agent` registers more.


Time: `clock` (plus the clock offset) drives timestamps and recvWindow checks; real-time durations
(countdownCancelAll, restart downtime, fault delays, feed and order latency) use the event loop's clock.

Fill model and latency (see engine.py and server.py/streams.py): `fill_model` "queue" (default: queue
position behind the displayed size) or "optimistic" (first in the queue); `feed_latency_ms` delays market
frames after their event, `order_latency_ms` delays order requests before the engine acts on them. Both
are fixed, so a run is deterministic; 0 (the default) leaves everything immediate. `partial_fills=False`
fills a queued order whole once a print reaches it (hftbacktest's rule; for comparing the two engines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from eth_account import Account

from .accounts import Accounts
from .auth import Eip712Auth, HmacAuth, Schemes
from .engine import MAX_MODIFICATIONS, Engine
from .faults import Faults
from .journal import Clock, Journal
from .orders import Book, SymbolSpec, default_symbols
from .rest import RestApi
from .server import Server
from .streams import Streams
from .wire import D, to_dec


class SimExchange:
    def __init__(
        self,
        api_key: str = "simkey",
        api_secret: str = "simsecret",
        balances: dict[str, Decimal] | None = None,
        symbols: dict[str, SymbolSpec] | None = None,
        maker_fee: Decimal = D("0.0001"),
        taker_fee: Decimal = D("0.00035"),
        gtx_reject: bool = False,
        clock: Callable[[], float] = time.time,
        journal_limit: int | None = None,
        mark_price_every: float = 1.0,
        fill_model: str = "queue",
        feed_latency_ms: float = 0,
        order_latency_ms: float = 0,
        chain_id: int = 1666,
        max_modifications: int = MAX_MODIFICATIONS,
        partial_fills: bool = True,
    ):
        self.api_key, self.api_secret = api_key, api_secret
        agent = Account.create()
        self.v3_user, self.v3_signer, self.v3_signer_key = Account.create().address, agent.address, agent.key.hex()
        self.symbols = symbols if symbols is not None else default_symbols()
        self._clock = Clock(clock)
        self._journal = Journal(self._clock, journal_limit)
        self.journal = self._journal.entries
        books = {s: Book() for s in self.symbols}
        self._accounts = Accounts(self.symbols, books, balances, maker_fee, taker_fee)
        self._engine = Engine(
            self.symbols,
            books,
            self._accounts,
            self._clock,
            self._journal,
            gtx_reject,
            fill_model,
            max_modifications,
            partial_fills,
        )
        self._faults = Faults()
        self._streams = Streams(self._engine, self._faults, self._journal, mark_price_every)
        self._streams.feed_latency = feed_latency_ms / 1000
        self._engine.on_user, self._engine.on_market = self._streams.send_user, self._streams.send_market
        self._auth = HmacAuth(api_key, api_secret, self._clock.now_ms)
        self._v3 = Eip712Auth(chain_id, self._clock.now_ms)
        self._v3.register(self.v3_user, self.v3_signer)
        self._rest = RestApi(self._engine, self._accounts, self._streams)
        self._server = Server(
            self._engine,
            self._rest,
            self._streams,
            Schemes(self._auth, self._v3),
            self._faults,
            self._journal,
            self._clock,
        )
        self._server.order_latency = order_latency_ms / 1000
        self.peak_open_orders = self._engine.peak_open_orders
        # Observers, e.g. for latency measurements: see server.RequestObserver; market-frame observers
        # are called with no argument after each frame is written to a market stream.
        self.on_request = self._server.on_request
        self.on_market_frame = self._streams.on_market_frame

    # ---------------------------------------------------------------- lifecycle
    async def start(self, port: int = 0) -> SimExchange:
        await self._server.start(port)
        return self

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> SimExchange:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- time and waiting
    def now_ms(self) -> int:
        return self._clock.now_ms()

    def set_clock_offset(self, seconds: float) -> None:
        self._clock.offset = seconds

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return await self._journal.wait_for(predicate, timeout)

    # ---------------------------------------------------------------- inspection
    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return self._journal.requests(method, path)

    def order_requests(self) -> list[dict]:
        return self._journal.order_requests()

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        return [o.to_dict() for o in self._engine.open(symbol)]

    def position(self, symbol: str) -> Decimal:
        return self._accounts.positions[symbol].amt

    def balances(self) -> dict[str, Decimal]:
        return dict(self._accounts.wallet)

    def summary(self, symbol: str) -> dict:
        return asdict(self._accounts.stats[symbol])

    @property
    def user_stream_connections(self) -> int:
        return self._streams.count("user")

    @property
    def market_stream_connections(self) -> int:
        return self._streams.count("market")

    def stream_connects(self, kind: str) -> int:
        """How many `kind` ("market" or "user") connections were accepted so far, reconnects included."""
        return self._streams.opened[kind]

    def book(self, symbol: str) -> tuple[list, list]:
        b = self._engine.books[symbol]
        return list(b.bids), list(b.asks)

    # ---------------------------------------------------------------- market events
    async def set_book(self, symbol: str, bids: list, asks: list) -> None:
        await self._engine.set_book(symbol, bids, asks)

    async def trade(self, symbol: str, aggressor_side: str, price: Any, qty: Any) -> None:
        await self._engine.trade(symbol, aggressor_side, price, qty)

    async def fill_order(self, symbol: str, client_order_id: str | None = None, qty: Any = None) -> dict:
        candidates = [o for o in self._engine.open(symbol) if client_order_id in (None, o.client_id)]
        if len(candidates) != 1:
            raise ValueError(f"fill_order: {len(candidates)} matching open orders on {symbol}")
        order = candidates[0]
        await self._engine.fill(order, order.remaining if qty is None else to_dec(qty), order.price, maker=True)
        return order.to_dict()

    async def pay_funding(self, symbol: str, rate: Any) -> Decimal:
        """A funding settlement at `rate` on the position's notional at the mark price (a long pays a
        positive rate); pushes ACCOUNT_UPDATE with reason FUNDING_FEE. Returns what the wallet got."""
        return await self._engine.pay_funding(symbol, to_dec(rate))

    def income(self) -> list[dict]:
        """Every income row the account has (the body of GET /fapi/v1/income without filters or limit)."""
        return list(self._accounts.history.income)

    # ---------------------------------------------------------------- test setup
    def set_position(self, symbol: str, amount: Any, entry_price: Any) -> None:
        pos = self._accounts.positions[symbol]
        pos.amt, pos.entry, pos.update_time = to_dec(amount), to_dec(entry_price), self.now_ms()
        self._journal.notify()

    async def place_order_direct(
        self,
        symbol: str,
        side: str,
        price: Any,
        qty: Any,
        client_order_id: str | None = None,
        reduce_only: bool = False,
    ) -> dict:
        order = await self._engine.create(
            self._engine.spec(symbol), side, to_dec(price), to_dec(qty), "GTC", reduce_only, client_order_id
        )
        return order.to_dict()

    async def _cancel_all(self, symbol: str) -> None:
        await self._engine.cancel_all(symbol)

    def add_agent(self, user: str, agent: str) -> None:
        """Approve another agent wallet for `user` (what the Pro API page does)."""
        self._v3.register(user, agent)

    def _check_signature(self, query: str, body: str) -> None:
        self._auth.check_signature(query, body)

    # ---------------------------------------------------------------- account states
    @property
    def accounts(self):
        """Account switches a test may set: multi_assets, dual_side (use set_modes to push the event),
        stamp_positions (False: positionRisk updateTime 0), reduce_only_only (-4087), leverage_locked."""
        return self._accounts

    async def set_modes(self, dual_side: bool | None = None, multi_assets: bool | None = None) -> None:
        """The user switches position or margin mode elsewhere (the exchange's own checks skipped)."""
        await self._rest.switch_modes(dual_side, multi_assets)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """The user changes the symbol's leverage elsewhere: ACCOUNT_CONFIG_UPDATE `ac` is pushed."""
        await self._rest.change_leverage(symbol, leverage)

    def set_symbol(self, symbol: str, **changes: Any) -> None:
        """Change a symbol's status or filters (status, tick, step, min_qty, min_notional, max_qty)."""
        spec = self._engine.spec(symbol)
        for name, value in changes.items():
            setattr(spec, name, value if name == "status" else to_dec(value))
        self._journal.notify()

    async def liquidate(self, symbol: str, price: Any, adl: bool = False) -> None:
        """The exchange closes the position itself: our open orders are cancelled, then its own order
        (client id `autoclose-…`, or `adl_autoclose` for auto-deleveraging) fills with execution type
        CALCULATED, as the user stream reports liquidations (V1 doc, ORDER_TRADE_UPDATE `x`)."""
        amount = self._accounts.positions[symbol].amt
        if amount == 0:
            return
        await self._engine.cancel_all(symbol)
        side = "SELL" if amount > 0 else "BUY"
        order = await self._engine.create(
            self._engine.spec(symbol),
            side,
            to_dec(price),
            abs(amount),
            "IOC",
            True,
            "adl_autoclose" if adl else f"autoclose-{self.now_ms()}",
        )
        await self._engine.fill(order, abs(amount), to_dec(price), maker=False, exec_type="CALCULATED")

    async def margin_call(self, symbol: str) -> None:
        pos, now = self._accounts.positions[symbol], self.now_ms()
        await self._engine.push_user(
            {
                "e": "MARGIN_CALL",
                "E": now,
                "cw": "0",
                "p": [
                    {
                        "s": symbol,
                        "ps": "BOTH",
                        "pa": str(pos.amt),
                        "mt": "CROSSED",
                        "iw": "0",
                        "mp": str(self._accounts.mark(symbol)),
                        "up": str(self._accounts.unrealized(symbol)),
                        "mm": "0",
                    }
                ],
            }
        )

    # ---------------------------------------------------------------- fault injection
    def fail_next(
        self,
        method: str,
        path: str,
        count: int = 1,
        status: int = 503,
        body: dict | None = None,
        retry_after: float | None = None,
        execute: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `count` (method, path) requests with `status`; see faults.Fault."""
        self._faults.fail_next(method, path, count, status, body, retry_after, execute, delay)

    def clear_faults(self) -> None:
        self._faults.clear()

    async def drop_streams(self, kind: str = "all") -> None:
        await self._streams.drop(kind)

    def refuse_streams(self, kind: str = "all", refuse: bool = True) -> None:
        self._faults.refuse(kind, refuse)

    def freeze_streams(self, kind: str = "all", frozen: bool = True) -> None:
        self._faults.freeze(kind, frozen)

    async def expire_listen_key(self) -> None:
        if (key := self._streams.listen_key) is None:
            return
        await self._engine.push_user({"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": key})
        self._streams.listen_key = None
        await self._streams.drop("user")

    async def restart(self, down_seconds: float = 2.0) -> None:
        """Exchange restart: returns at once; REST answers 503 and websockets are refused meanwhile."""
        self._faults.go_down(down_seconds)
        await self._streams.drop("all")
        self._journal.notify()

    async def send_raw(self, kind: str, text: str) -> None:
        """Send a raw text frame (e.g. malformed JSON) on every stream of that kind."""
        await self._streams.send_raw(kind, text)
