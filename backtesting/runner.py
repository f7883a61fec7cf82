"""The backtest loop: the live bot's decisions (`desired_quote`, `needs_replace`) on hftbacktest's clock.

It keeps the bot's order discipline: at most one order, open from the moment it is sent until the
exchange says it finished; a requote is a cancel, and the new order goes out only once the cancel is
confirmed; decisions run whenever the bot's inputs change: the top of the book (the live bot wakes on
nothing else, aster_mm/feeds.py `on_market_message`) or the order's local record (every order response
changes it, and with it position, balance and fees). A wake where neither changed would give the
decision functions the same inputs as the last one, so it only moves the clock.
Position, wallet and the top of book are what the bot would see locally (after the feed and order
latencies), converted to Decimal before they reach the decision functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from backtesting import engine
from backtesting.bot import BUY, Quote, QuoteParams, SymbolRules, desired_quote, in_position, needs_replace
from backtesting.convert import MarketData

IDLE_WAKE_NS = 1_000_000_000
_VALID_TICK = 1 << 62            # hftbacktest marks an empty side with i64::MIN / i64::MAX
_FINISHED = (engine.FILLED, engine.CANCELED, engine.EXPIRED, engine.REJECTED)


@dataclass(frozen=True)
class Fill:
    ts_ns: int                   # exchange time of the fill
    side: str
    price: float
    qty: float
    maker: bool


@dataclass
class RunResult:
    fills: list[Fill] = field(default_factory=list)
    orders_sent: int = 0
    cancels_sent: int = 0
    expired: int = 0             # post-only orders that would have crossed
    ts: np.ndarray = None        # local ns of each decision step with a book
    mid: np.ndarray = None
    position: np.ndarray = None
    equity: np.ndarray = None    # USD relative to the start: balance + position * mid - fees
    held: np.ndarray = None      # the bot's own in_position() at each step
    fees: float = 0.0
    volume: float = 0.0          # base
    value: float = 0.0           # USD
    steps: int = 0               # wakes at which the inputs had changed


@dataclass
class _Live:
    order_id: int
    quote: Quote
    filled: Decimal = Decimal(0)


class Runner:
    def __init__(self, market: MarketData, rules: SymbolRules, params: QuoteParams, reprice_threshold: Decimal,
                 wallet: Decimal, cfg: engine.EngineConfig):
        self.market, self.rules, self.params = market, rules, params
        self.reprice_threshold, self.wallet0, self.cfg = reprice_threshold, wallet, cfg
        self.live: _Live | None = None
        self.next_id = 1
        self.result = RunResult()
        self._trace: list[tuple] = []

    def _decimal_qty(self, qty: float) -> Decimal:
        return Decimal(round(qty / float(self.rules.step))) * self.rules.step

    def _track_order(self, bt: engine.Backtest):
        """Record new fills of the live order; forget it once the exchange has finished it. Returns the
        order's local record while it is still open."""
        live = self.live
        order = bt.order(live.order_id)
        if order is None:
            self.live = None
            return None
        filled = self._decimal_qty(order["qty"] - order["leaves_qty"])
        if filled > live.filled:
            self.result.fills.append(Fill(int(order["exch_timestamp"]), live.quote.side, float(live.quote.price),
                                          float(filled - live.filled), bool(order["maker"])))
            live.filled = filled
        if order["status"] in _FINISHED and order["req"] == engine.NONE:
            if order["status"] == engine.EXPIRED and live.filled == 0:
                self.result.expired += 1
            self.live = None
            bt.forget_finished()
            return None
        return order

    def _decide(self, bt: engine.Backtest, mid: Decimal, position: Decimal, equity: float) -> None:
        live = self.live
        wallet = self.wallet0 + Decimal(repr(round(equity, 6)))
        want, _why = desired_quote(position, mid, wallet, self.params, self.rules)
        if live is not None:
            if want is None or needs_replace(live.quote, live.quote.qty - live.filled, want, self.reprice_threshold):
                if bt.cancel(live.order_id) != 0:
                    raise RuntimeError(f"hftbacktest refused to cancel order {live.order_id}")
                self.result.cancels_sent += 1
            return
        if want is None:
            return
        order_id, self.next_id = self.next_id, self.next_id + 1
        if bt.submit(order_id, want.side == BUY, float(want.price), float(want.qty)) != 0:
            raise RuntimeError(f"hftbacktest refused order {order_id}")
        self.live = _Live(order_id, want)
        self.result.orders_sent += 1

    def step(self, bt: engine.Backtest) -> None:
        order = self._track_order(bt) if self.live is not None else None
        bid, ask = bt.top_ticks()
        if not (-_VALID_TICK < bid < ask < _VALID_TICK):
            return
        mid = Decimal(bid + ask) * self.rules.tick / 2
        state = bt.state()
        mid_f, pos_f = float(mid), float(state["position"])
        equity = float(state["balance"]) + pos_f * mid_f - float(state["fee"])
        position = self._decimal_qty(pos_f)
        self._trace.append((bt.timestamp, mid_f, pos_f, equity,
                            in_position(position, mid, self.params.position_threshold_usd)))
        if order is not None and order["req"] != engine.NONE:
            return                                      # its placement or cancel is still in flight
        self._decide(bt, mid, position, equity)

    def _inputs(self, bt: engine.Backtest) -> tuple:
        return bt.top_ticks(), self.live and bt.order_bytes(self.live.order_id)

    def run(self) -> RunResult:
        bt = engine.Backtest(self.market.chunks, self.market.price_range, self.cfg)
        last_inputs, quiet_at, traced = None, None, False
        try:
            while bt.advance(IDLE_WAKE_NS) != engine.END_OF_DATA:
                if self._inputs(bt) == last_inputs:
                    quiet_at = bt.timestamp
                    continue
                self.result.steps += 1
                n_traced = len(self._trace)
                self.step(bt)
                traced = len(self._trace) > n_traced
                last_inputs, quiet_at = self._inputs(bt), None
            state = bt.state()
        finally:
            bt.close()
        if quiet_at is not None and traced:             # a step there would have traced the same again
            self._trace.append((quiet_at, *self._trace[-1][1:]))
        r = self.result
        r.fees, r.volume, r.value = float(state["fee"]), float(state["trading_volume"]), float(state["trading_value"])
        r.ts = np.array([t[0] for t in self._trace], dtype=np.int64)
        trace = np.array([t[1:] for t in self._trace], dtype=np.float64).reshape(-1, 4)
        r.mid, r.position, r.equity, r.held = trace[:, 0], trace[:, 1], trace[:, 2], trace[:, 3] > 0
        return r
