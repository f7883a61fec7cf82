"""`SimExchange`: the simulator as tests, the benchmark and `--sim` use it. It wires the parts together
(engine, account, authentication, rate limits, faults, streams, server); controls.py adds the controls a
test drives it with (market events, other parties, setup, fault injection), and this file the inspection.

Credentials: the exchange accepts V1 (`api_key`/`api_secret`) on /fapi/v1 paths and V3 on /fapi/v3 paths,
where `v3_user` (a main wallet, key `v3_user_key`) has one registered agent wallet (`v3_signer`, key
`v3_signer_key`), generated afresh for each simulator; `add_agent` registers more. There is one account:
every credential trades it (docs/simulator.md, A47).

Time: `clock` (plus the clock offset) drives timestamps, nonce and recvWindow checks, and the rate-limit
minutes; real-time durations (countdownCancelAll, restart downtime, fault delays, feed and order latency,
WebSocket limits) use the event loop's clock.

Fill model and latency (see engine.py and server.py/streams.py): `fill_model` "queue" (default: queue
position behind the displayed size) or "optimistic" (first in the queue); `feed_latency_ms` delays market
frames after their event, `order_latency_ms` delays order requests before the engine acts on them. Both
are fixed, so a run is deterministic; 0 (the default) leaves everything immediate. `partial_fills=False`
fills a queued order whole once a print reaches it (hftbacktest's rule; for comparing the two engines).

What the docs leave open is `readings` (options.Readings); `rate_limits` are the documented ones unless a
test passes others (None: counted, never enforced); `ws_limits` the documented WebSocket limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from decimal import Decimal
from typing import Any

from eth_account import Account

from .accounts import Accounts
from .api_market import rate_limits as published_limits
from .auth import Eip712Auth, HmacAuth, Schemes
from .controls import SimControls
from .engine import MAX_MODIFICATIONS, Engine
from .faults import Faults
from .journal import Clock, Journal, JsonLines
from .options import DEFAULT_READINGS, DOCUMENTED_LIMITS, DOCUMENTED_WS_LIMITS, RateLimits, Readings, WsLimits
from .orders import Book, SymbolSpec, default_symbols
from .ratelimit import RateLimiter
from .rest import RestApi
from .server import Server
from .streams import Streams
from .wire import ApiError, D
from .ws import WebSockets


class SimExchange(SimControls):
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
        readings: Readings = DEFAULT_READINGS,
        rate_limits: RateLimits | None = DOCUMENTED_LIMITS,
        ws_limits: WsLimits = DOCUMENTED_WS_LIMITS,
        journal_file: str | None = None,
    ):
        readings = replace(readings, gtx_reject=True) if gtx_reject else readings
        self.api_key, self.api_secret, self.readings = api_key, api_secret, readings
        main, agent = Account.create(), Account.create()
        self.v3_user, self.v3_user_key = main.address, main.key.hex()
        self.v3_signer, self.v3_signer_key = agent.address, agent.key.hex()
        self.symbols = symbols if symbols is not None else default_symbols()
        self._clock = Clock(clock)
        self._sink = JsonLines(journal_file) if journal_file else None
        self._journal = Journal(self._clock, journal_limit, self._sink)
        self.journal = self._journal.entries
        books = {s: Book() for s in self.symbols}
        self._accounts = Accounts(self.symbols, books, balances, maker_fee, taker_fee, readings)
        self._engine = Engine(
            self.symbols,
            books,
            self._accounts,
            self._clock,
            self._journal,
            readings,
            fill_model,
            max_modifications,
            partial_fills,
        )
        self._faults = Faults()
        self._streams = Streams(self._engine, self._faults, self._journal, mark_price_every)
        self._streams.feed_latency = feed_latency_ms / 1000
        self._engine.on_user, self._engine.on_market = self._streams.send_user, self._streams.send_market
        self._auth = HmacAuth(api_key, api_secret, self._clock.now_ms)
        self._v3 = Eip712Auth(chain_id, self._clock.now_ms, readings)
        self._v3.register(self.v3_user, self.v3_signer)
        self._rest = RestApi(self._engine, self._accounts, self._streams)
        self._server = self._serve(ws_limits, RateLimiter(rate_limits, self._clock), order_latency_ms)
        self.peak_open_orders = self._engine.peak_open_orders
        # Observers, e.g. for latency measurements: see server.RequestObserver; market-frame observers
        # are called with no argument after each frame is written to a market stream.
        self.on_request = self._server.on_request
        self.on_market_frame = self._streams.on_market_frame

    def _serve(self, ws_limits: WsLimits, limiter: RateLimiter, order_latency_ms: float) -> Server:
        if limiter.limits is not None:  # exchangeInfo publishes the limits enforced
            self._rest.market.rate_limits = published_limits(
                limiter.limits.weight_per_minute, limiter.limits.orders_per_minute
            )
        websockets = WebSockets(self._streams, self._faults, self.symbols, ws_limits)
        auth = Schemes(self._auth, self._v3)
        server = Server(
            self._engine, self._rest, self._streams, websockets, auth, self._faults, self._journal, self._clock, limiter
        )
        server.order_latency = order_latency_ms / 1000
        return server

    # ---------------------------------------------------------------- lifecycle
    async def start(self, port: int = 0) -> SimExchange:
        await self._server.start(port)
        return self

    async def stop(self) -> None:
        await self._server.stop()
        if self._sink is not None:
            self._sink.close()

    async def __aenter__(self) -> SimExchange:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
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

    def order(self, symbol: str, client_order_id: str) -> dict:
        """Any order the exchange accepted, open or finished, by its client order id."""
        missing = ApiError(-2013, "Order does not exist.")
        return self._engine.find_order({"symbol": symbol, "origClientOrderId": client_order_id}, missing).to_dict()

    def position(self, symbol: str) -> Decimal:
        return self._accounts.positions[symbol].amt

    def balances(self) -> dict[str, Decimal]:
        return dict(self._accounts.wallet)

    def summary(self, symbol: str) -> dict:
        return asdict(self._accounts.stats[symbol])

    def income(self) -> list[dict]:
        """Every income row the account has (the body of GET /fapi/v3/income without filters or limit)."""
        return list(self._accounts.history.income)

    def builders(self) -> list[dict]:
        """The builders the account approved (POST /fapi/v3/approveBuilder): recorded, no fee effect (A49)."""
        return list(self._accounts.builders.values())

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

    def _check_signature(self, query: str, body: str) -> None:
        self._auth.check_signature(query, body)
