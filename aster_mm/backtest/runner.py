"""The backtest loop: the live bot's decisions (`Strategy.decide`, `next_action`) on hftbacktest's clock.

It decides through the bot's own `Strategy` (fixed or adaptive spreads or the signal model, position
limit, stop-loss, loss limits), over a `StrategyState` kept in step with what the bot would see, with
hftbacktest's time as both its clock and its wall clock. The adaptive model is fed every changed top of
the book and every market trade, the signal model every changed book of ten levels (hftbacktest's book
holds no order of ours, so nothing is taken out of it) and every trade, as aster_mm/live/feeds.py feeds
them. A halt ends the trading (the live bot exits); the position left is still marked to the mid until the
data ends.

It keeps the bot's order discipline: at most one order, open from the moment it is sent until the
exchange says it finished; a requote is a cancel, and the new order goes out only once the cancel is
confirmed; decisions run whenever the bot's inputs change: the top of the book (the live bot wakes on
nothing else, aster_mm/live/feeds.py `on_market_message`), the signal as the strategy reads it
(`Strategy.signal_key`), the clock to the second while the signal model holds a position
(`Strategy.reads`), or the order's local record (every order response changes it, and with it position,
balance and fees). A wake where none changed would give the decision functions the same inputs as the
last one, so it only moves the clock.
Position, wallet and the top of book are what the bot would see locally (after the feed and order
latencies), converted to Decimal before they reach the decision functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np
from hftbacktest.types import BUY_EVENT

from aster_mm.backtest import engine
from aster_mm.backtest.bot import (
    Book,
    Cancel,
    Config,
    FeeRates,
    Halt,
    Place,
    Quote,
    QuoteParams,
    Resting,
    Side,
    Situation,
    Strategy,
    StrategyState,
    SymbolRules,
    TimeInForce,
    in_position,
    next_action,
)
from aster_mm.backtest.convert import MarketData

IDLE_WAKE_NS = 1_000_000_000
_VALID_TICK = 1 << 62  # hftbacktest marks an empty side with i64::MIN / i64::MAX
_FINISHED = (engine.FILLED, engine.CANCELED, engine.EXPIRED, engine.REJECTED)
NS = 1_000_000_000
DAY_NS = 86_400 * NS


@dataclass(frozen=True)
class Fill:
    ts_ns: int  # exchange time of the fill
    side: str
    price: float
    qty: float
    maker: bool


@dataclass
class RunResult:
    fills: list[Fill] = field(default_factory=list)
    orders_sent: int = 0
    cancels_sent: int = 0
    expired: int = 0  # post-only orders that would have crossed
    ts: np.ndarray = None  # local ns of each decision step with a book
    mid: np.ndarray = None
    position: np.ndarray = None
    equity: np.ndarray = None  # USD relative to the start: balance + position * mid - fees
    held: np.ndarray = None  # the bot's own in_position() at each step
    fees: float = 0.0
    volume: float = 0.0  # base
    value: float = 0.0  # USD
    steps: int = 0  # wakes at which the inputs had changed
    stops: int = 0  # stop-loss orders sent (reduce-only IOC)
    paused: int = 0  # times a loss limit paused the bot
    halted: str = ""  # why a loss limit halted the bot ("" if it never did)
    halted_ns: int | None = None  # when trading ended for it
    estimates: dict = field(default_factory=dict)  # the adaptive or signal model's last estimates
    model: str = ""  # the model's part of the status line at the end


@dataclass
class _Live:
    order_id: int
    quote: Quote
    filled: Decimal = Decimal(0)


def entry_after(position: Decimal, entry: Decimal, signed_qty: Decimal, price: Decimal) -> Decimal:
    """The position's entry price after a fill, as the exchange keeps it: the average of the opening fills;
    unchanged by a reducing fill; the fill's price for what is left after a flip."""
    after = position + signed_qty
    if after == 0:
        return Decimal(0)
    if position == 0 or (position > 0) != (after > 0):
        return price
    if abs(after) < abs(position):
        return entry
    return (entry * abs(position) + price * abs(signed_qty)) / abs(after)


def default_config(params: QuoteParams, reprice_threshold: Decimal) -> Config:
    """The bot's configuration with these quote parameters and every other flag at its default."""
    return Config(
        symbol="BACKTEST",
        buy_spread=params.buy_spread,
        sell_spread=params.sell_spread,
        balance_fraction=params.balance_fraction,
        position_threshold_usd=params.position_threshold_usd,
        reprice_threshold=reprice_threshold,
    )


class Runner:
    def __init__(
        self,
        market: MarketData,
        rules: SymbolRules,
        params: QuoteParams,
        reprice_threshold: Decimal,
        wallet: Decimal,
        cfg: engine.EngineConfig,
        config: Config | None = None,
    ):
        """`config`: the bot's own flags (spread model, limits); by default, `params` and nothing else."""
        self.market, self.rules, self.params = market, rules, params
        self.reprice_threshold, self.wallet0 = reprice_threshold, wallet
        self.config = config or default_config(params, reprice_threshold)
        self.state = StrategyState()
        self.clock_ns = 0
        self.net, self.day_base, self.day = Decimal(0), Decimal(0), None
        self.strategy = Strategy(
            self.config,
            self.state,
            params,
            now=lambda: self.clock_ns / NS,
            pnl=lambda: (self.net, self.net - self.day_base),
            wall=lambda: self.clock_ns / NS,
        )
        self.state.fees = FeeRates(Decimal(repr(cfg.maker_fee)), Decimal(repr(cfg.taker_fee)))
        self.signal, self.reads = self.strategy.signal, self.strategy.reads
        trades = self.strategy.spreads is not None or self.signal is not None
        self.cfg = replace(cfg, trades=True) if trades else cfg
        self.live: _Live | None = None
        self.next_id = 1
        self.result = RunResult()
        self._trace: list[tuple] = []
        self._top: tuple[int, int] | None = None
        self._levels: tuple | None = None  # the book the signal last read

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
            maker = bool(order["maker"])
            price = live.quote.price if maker else Decimal(int(order["exec_price_tick"])) * self.rules.tick
            self.result.fills.append(
                Fill(int(order["exch_timestamp"]), live.quote.side, float(price), float(filled - live.filled), maker)
            )
            st, signed = self.state, (filled - live.filled) * (1 if live.quote.side == Side.BUY else -1)
            st.entry_price = entry_after(st.position.amount, st.entry_price, signed, price)
            st.position.amount += signed
            live.filled = filled
        if order["status"] in _FINISHED and order["req"] == engine.NONE:
            if order["status"] == engine.EXPIRED and live.filled == 0 and live.quote.time_in_force == TimeInForce.GTX:
                self.result.expired += 1
            self.live = None
            bt.forget_finished()
            return None
        return order

    def _observe(self, bt: engine.Backtest) -> None:
        """Feed the adaptive model what the bot's market stream would: trades, and the top when it changes;
        the signal model trades and the book of ten levels when it changes."""
        spreads, signal, book = self.strategy.spreads, self.signal, self.state.book
        for trade in bt.take_trades():
            if spreads is not None and book is not None:
                spreads.on_trade(trade["local_ts"] / NS, float(trade["px"]), float(book.mid))
            if signal is not None:
                signal.on_trade(trade["local_ts"] / NS, float(trade["qty"]), bool(trade["ev"] & BUY_EVENT))
        if signal is not None:
            self._read_book(bt)
        top = bt.top_ticks()
        if spreads is not None and top != self._top and -_VALID_TICK < top[0] < top[1] < _VALID_TICK:
            self._top = top
            spreads.on_mid(bt.timestamp / NS, (top[0] + top[1]) * float(self.rules.tick) / 2)

    def _read_book(self, bt: engine.Backtest) -> None:
        """The book as the signal reads it (its levels with their sizes), when it changed."""
        levels = bt.levels(self.reads.levels, True)
        if levels == self._levels:
            return
        self._levels, n, tick = levels, self.reads.levels, float(self.rules.tick)
        sides = []
        for start in (0, 2 * n):
            ticks, sizes = levels[start : start + n], levels[start + n : start + 2 * n]
            sides.append([(t * tick, q) for t, q in zip(ticks, sizes) if abs(t) < engine.NO_LEVEL])
        self.signal.on_depth(bt.timestamp / NS, sides[0], sides[1])

    def _decide(self, bt: engine.Backtest) -> None:
        """The live bot's decision (`next_action`), carried out on hftbacktest: it has no Modify Order, so a
        requote is a cancel; its account needs no balance re-read and no leverage setting."""
        st, live = self.state, self.live
        was_paused = bool(st.paused)
        want, why, halt = self.strategy.decide(self.rules, order_open=live is not None)
        self.result.paused += bool(st.paused) and not was_paused
        resting = None if live is None else Resting(live.quote, live.quote.qty - live.filled)
        book = st.book
        assert book is not None  # _sync() set it
        threshold = self.strategy.reprice_threshold(self.rules)
        action = next_action(Situation(want, why, resting, book.bid, book.ask, threshold, halt=halt))
        match action:
            case Halt(reason):
                self.result.halted, self.result.halted_ns = reason, bt.timestamp
            case Cancel():
                assert live is not None  # only a resting order is cancelled
                if bt.cancel(live.order_id) != 0:
                    raise RuntimeError(f"hftbacktest refused to cancel order {live.order_id}")
                self.result.cancels_sent += 1
            case Place(quote):
                self._submit(bt, quote)

    def _submit(self, bt: engine.Backtest, want: Quote) -> None:
        order_id, self.next_id = self.next_id, self.next_id + 1
        if bt.submit(order_id, want.side == Side.BUY, float(want.price), float(want.qty), want.time_in_force) != 0:
            raise RuntimeError(f"hftbacktest refused order {order_id}")
        self.live = _Live(order_id, want)
        self.result.orders_sent += 1
        self.result.stops += want.time_in_force == TimeInForce.IOC

    def _sync(self, bt: engine.Backtest, bid: int, ask: int, equity: float) -> None:
        """The state the bot would hold now: book, wallet, session and UTC-day net PnL."""
        tick, st = self.rules.tick, self.state
        self.clock_ns = bt.timestamp
        if st.book is None or st.book.raw != (bid, ask):
            st.book = Book(Decimal(bid) * tick, Decimal(ask) * tick, bt.timestamp / NS, (bid, ask))
        self.net = Decimal(repr(round(equity, 6)))
        if self.day != bt.timestamp // DAY_NS:
            self.day, self.day_base = bt.timestamp // DAY_NS, self.net
        st.available = self.wallet0 + self.net

    def step(self, bt: engine.Backtest) -> None:
        order = self._track_order(bt) if self.live is not None else None
        bid, ask = bt.top_ticks()
        if not (-_VALID_TICK < bid < ask < _VALID_TICK):
            return
        state = bt.state()
        mid = Decimal(bid + ask) * self.rules.tick / 2
        mid_f, pos_f = float(mid), float(state["position"])
        equity = float(state["balance"]) + pos_f * mid_f - float(state["fee"])
        self._sync(bt, bid, ask, equity)
        self.state.position.amount = position = self._decimal_qty(pos_f)  # hftbacktest's own figure
        self._trace.append(
            (bt.timestamp, mid_f, pos_f, equity, in_position(position, mid, self.params.position_threshold_usd))
        )
        if order is not None and order["req"] != engine.NONE:
            return  # its placement or cancel is still in flight
        if not self.result.halted:
            self._decide(bt)

    def _inputs(self, bt: engine.Backtest) -> tuple:
        every = self.reads.every_s
        clock = bt.timestamp // int(every * NS) if every and self.state.position.amount != 0 else None
        return bt.top_ticks(), self.live and bt.order_bytes(self.live.order_id), self.strategy.signal_key(), clock

    def run(self) -> RunResult:
        bt = engine.Backtest(self.market.chunks, self.market.price_range, self.cfg)
        last_inputs, quiet_at, traced = None, None, False
        try:
            while bt.advance(IDLE_WAKE_NS) != engine.END_OF_DATA:
                if self.strategy.spreads is not None or self.signal is not None:
                    self._observe(bt)
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
        if quiet_at is not None and traced:  # a step there would have traced the same again
            self._trace.append((quiet_at, *self._trace[-1][1:]))
        r = self.result
        r.fees, r.volume, r.value = float(state["fee"]), float(state["trading_volume"]), float(state["trading_value"])
        r.estimates, r.model = self.strategy.estimates, self.strategy.describe()
        r.ts = np.array([t[0] for t in self._trace], dtype=np.int64)
        trace = np.array([t[1:] for t in self._trace], dtype=np.float64).reshape(-1, 4)
        r.mid, r.position, r.equity, r.held = trace[:, 0], trace[:, 1], trace[:, 2], trace[:, 3] > 0
        return r
