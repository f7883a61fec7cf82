"""The backtest loop: the live bot's decisions (`Strategy.decide`, `next_action`) on hftbacktest's clock.

It decides through the bot's own `Strategy` (fixed or adaptive spreads or the signal model, position
limit, stop-loss, loss limits), over a `StrategyState` kept in step with what the bot would see, with
hftbacktest's time as both its clock and its wall clock. The adaptive model is fed every changed top of
the book and every market trade, the signal model every changed book of the levels it reads (hftbacktest's
book holds no order of ours, so nothing is taken out of it) and every trade, as aster_mm/live/feeds.py
feeds them. A halt ends the trading (the live bot exits); the position left is still marked to the mid
until the data ends.

It keeps the bot's order discipline: at most one order, open from the moment it is sent until the
exchange says it finished; a requote is a cancel, and the new order goes out only once the cancel is
confirmed; decisions run whenever the bot's inputs change: what the strategy reads of the book
(`Strategy.reads`: the top for the spread models, as the live bot wakes on nothing else,
aster_mm/live/feeds.py `on_market_message`), its signal and clock (`Strategy.signal_key`), the order's
local record (every order response changes it, and with it position, balance and fees), or the
staleness of the data at a gap (wakes.py). A wake where none changed would give the decision
functions the same inputs as the last one, so the runner does not wake there at all (wakes.py says
how), or, in the reference loop (`run(every_event=True)`), wakes and only moves the clock.
Position, wallet and the top of book are what the bot would see locally (after the feed and order
latencies), converted to Decimal before they reach the decision functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np
from hftbacktest.types import BUY_EVENT

from aster_mm.backtest import engine, wakes
from aster_mm.backtest.bot import (
    Book,
    Cancel,
    Config,
    FeeRates,
    Halt,
    Place,
    Quote,
    QuoteParams,
    Reads,
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
DEFAULT_GAP_S = 30.0  # the live bot's Timings.stale_after: no market frame this long and it pulls its quote
_VALID_TICK = 1 << 62  # hftbacktest marks an empty side with i64::MIN / i64::MAX
_FINISHED = (engine.FILLED, engine.CANCELED, engine.EXPIRED, engine.REJECTED)
NS = 1_000_000_000
DAY_NS = 86_400 * NS


def _empty() -> np.ndarray:
    return np.zeros(0)


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
    ts: np.ndarray = field(default_factory=_empty)  # local ns of each decision step with a book
    mid: np.ndarray = field(default_factory=_empty)
    position: np.ndarray = field(default_factory=_empty)
    equity: np.ndarray = field(default_factory=_empty)  # USD relative to the start: balance + position * mid - fees
    held: np.ndarray = field(default_factory=_empty)  # the bot's own in_position() at each step
    resting: np.ndarray = field(default_factory=_empty)  # (BUY price, SELL price) of our order at each step; NaN: none
    fees: float = 0.0
    volume: float = 0.0  # base
    value: float = 0.0  # USD
    steps: int = 0  # wakes at which the inputs had changed
    wakes: int = 0  # times hftbacktest handed control back
    stops: int = 0  # stop-loss orders sent (reduce-only IOC)
    paused: int = 0  # times a loss limit paused the bot
    halted: str = ""  # why a loss limit halted the bot ("" if it never did)
    halted_ns: int | None = None  # when trading ended for it
    estimates: dict = field(default_factory=dict)  # the adaptive or signal model's last estimates
    model: str = ""  # the model's part of the status line at the end
    gaps: dict = field(default_factory=dict)  # wakes.Gaps.summary() of the data
    gap_cancels: int = 0  # orders pulled because the data went stale


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
        gap_s: float = DEFAULT_GAP_S,
    ):
        """`config`: the bot's own flags (spread model, limits); by default, `params` and nothing else.
        `gap_s`: a book silence longer than this is a gap (wakes.py)."""
        self.market, self.rules, self.params = market, rules, params
        self.reprice_threshold, self.wallet0 = reprice_threshold, wallet
        self.config = config or default_config(params, reprice_threshold)
        self.state = StrategyState()
        self.clock_ns = 0
        self.net, self.day_base, self.day = Decimal(0), Decimal(0), -1
        self.strategy = Strategy(
            self.config,
            self.state,
            params,
            now=lambda: self.clock_ns / NS,
            pnl=lambda: (self.net, self.net - self.day_base),
            wall=lambda: self.clock_ns / NS,
        )
        self.state.fees = FeeRates(Decimal(repr(cfg.maker_fee)), Decimal(repr(cfg.taker_fee)))
        self.signal = self.strategy.signal
        trades = self.strategy.spreads is not None or self.signal is not None
        self.cfg = replace(cfg, trades=True) if trades else cfg
        self.reads: Reads = self.strategy.reads
        self.signal_key: Callable[[], Hashable] = self.strategy.signal_key
        self.gaps = wakes.Gaps.of(market, gap_s)
        self.stale = False
        self.live: _Live | None = None
        self.next_id = 1
        self.result = RunResult(gaps=self.gaps.summary())
        self._trace: list[tuple] = []
        self._top: tuple[int, int] | None = None  # the top the adaptive model last saw
        self._book_top: tuple[int, int] | None = None  # the top state.book holds
        self._levels: tuple | None = None  # the book the signal last read
        self._seen: tuple = ()  # what the strategy reads of the book at this wake

    def _decimal_qty(self, qty: float) -> Decimal:
        return Decimal(round(qty / float(self.rules.step))) * self.rules.step

    def _track_order(self, bt: engine.Backtest, live: _Live) -> engine.OrderRecord | None:
        """Record new fills of the live order; forget it once the exchange has finished it. Returns the
        order's local record while it is still open."""
        order = bt.order(live.order_id)
        if order is None:
            self.live = None
            return None
        filled = self._decimal_qty(order.qty - order.leaves_qty)
        if filled > live.filled:
            price = live.quote.price if order.maker else Decimal(order.exec_price_tick) * self.rules.tick
            self.result.fills.append(
                Fill(order.exch_timestamp, live.quote.side, float(price), float(filled - live.filled), order.maker)
            )
            st, signed = self.state, (filled - live.filled) * (1 if live.quote.side == Side.BUY else -1)
            st.entry_price = entry_after(st.position.amount, st.entry_price, signed, price)
            st.position.amount += signed
            live.filled = filled
        if order.status in _FINISHED and order.req == engine.NONE:
            if order.status == engine.EXPIRED and live.filled == 0 and live.quote.time_in_force == TimeInForce.GTX:
                self.result.expired += 1
            self.live = None
            bt.forget_finished()
            return None
        return order

    def _observe(self, bt: engine.Backtest) -> None:
        """Feed the adaptive model what the bot's market stream would: trades, and the top when it changes;
        the signal model trades and the book it reads when it changes."""
        if self.signal is not None:
            self._observe_signal(bt)
        spreads, book = self.strategy.spreads, self.state.book
        if spreads is None:
            return
        trades = bt.take_trades()
        if len(trades) and book is not None:
            mid = float(book.mid)
            for t, px in zip((trades["local_ts"] / NS).tolist(), trades["px"].tolist()):
                spreads.on_trade(t, px, mid)
        top = bt.top_ticks()
        if top != self._top and -_VALID_TICK < top[0] < top[1] < _VALID_TICK:
            self._top = top
            spreads.on_mid(bt.timestamp / NS, (top[0] + top[1]) * float(self.rules.tick) / 2)

    def _observe_signal(self, bt: engine.Backtest) -> None:
        signal, trades = self.signal, bt.take_trades()
        assert signal is not None
        for t, qty, ev in zip((trades["local_ts"] / NS).tolist(), trades["qty"].tolist(), trades["ev"].tolist()):
            signal.on_trade(t, qty, bool(ev & BUY_EVENT))
        levels = self._seen  # the signal reads sizes: Strategy.reads asks for them
        if levels == self._levels:
            return
        self._levels, n, tick = levels, self.reads.levels, float(self.rules.tick)
        sides = []
        for start in (0, 2 * n):  # ticks then sizes, bids then asks
            ticks, sizes = levels[start : start + n], levels[start + n : start + 2 * n]
            sides.append([(t * tick, q) for t, q in zip(ticks, sizes) if abs(t) < _VALID_TICK])
        signal.on_depth(bt.timestamp / NS, sides[0], sides[1])

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
        self.clock_ns = now = bt.timestamp
        if self._book_top != (bid, ask):
            self._book_top = (bid, ask)
            st.book = Book(Decimal(bid) * tick, Decimal(ask) * tick, now / NS)
        self.net = Decimal(repr(round(equity, 6)))
        if self.day != now // DAY_NS:
            self.day, self.day_base = now // DAY_NS, self.net
        st.available = self.wallet0 + self.net

    def step(self, bt: engine.Backtest) -> None:
        order = self._track_order(bt, self.live) if self.live is not None else None
        bid, ask = bt.top_ticks()
        if not (-_VALID_TICK < bid < ask < _VALID_TICK):
            return
        pos_f, balance, fee = bt.position_balance_fee()
        mid = Decimal(bid + ask) * self.rules.tick / 2
        mid_f = float(mid)
        equity = balance + pos_f * mid_f - fee
        self._sync(bt, bid, ask, equity)
        self.state.position.amount = position = self._decimal_qty(pos_f)  # hftbacktest's own figure
        held = in_position(position, mid, self.params.position_threshold_usd)
        self._trace.append((bt.timestamp, mid_f, pos_f, equity, held, *self._resting()))
        if order is not None and order.req != engine.NONE:
            return  # its placement or cancel is still in flight
        if self.stale:
            self._pull(bt)
        elif not self.result.halted:
            self._decide(bt)

    def _resting(self) -> tuple[float, float]:
        """Our order's price as (BUY, SELL), NaN on the side without one: what the plot draws."""
        quote = self.live.quote if self.live is not None else None
        price = float(quote.price) if quote is not None else math.nan
        return (price, math.nan) if quote is not None and quote.side == Side.BUY else (math.nan, price)

    def _pull(self, bt: engine.Backtest) -> None:
        """The market data went stale (a gap): cancel the live order, as the live bot does, and wait."""
        if self.live is not None:
            if bt.cancel(self.live.order_id) != 0:
                raise RuntimeError(f"hftbacktest refused to cancel order {self.live.order_id}")
            self.result.cancels_sent += 1
            self.result.gap_cancels += 1

    def _inputs(self, bt: engine.Backtest) -> tuple:
        live = self.live
        return (
            self._seen,
            live and bt.order_bytes(live.order_id),
            self.stale,
            self.signal_key(),
        )

    def run(self, every_event: bool = False) -> RunResult:
        """Replay the whole market. `every_event`: wake at every feed event and order response (the
        reference loop); by default only where the strategy's inputs can change (wakes.py), same result."""
        bt = engine.Backtest(self.market.chunks, self.market.price_range, self.cfg)
        schedule = wakes.schedule(self.market, self.cfg, self.reads, self.gaps, every_event)
        last_inputs = None
        try:
            code = bt.advance(IDLE_WAKE_NS)  # up to the first feed event
            while code != engine.END_OF_DATA:
                self.result.wakes += 1
                last_inputs = self._wake(bt, last_inputs)
                code = self._next(bt, schedule, every_event)
            state = bt.state()
        finally:
            bt.close()
        return self._finish(state)

    def _wake(self, bt: engine.Backtest, last_inputs: tuple | None) -> tuple | None:
        """Observe, and step if the inputs changed; returns the inputs the next wake compares with."""
        self._seen = bt.levels(self.reads.levels, self.reads.quantities)  # the book does not move within a wake
        self._observe(bt)
        self.clock_ns = bt.timestamp  # the strategy's clock, which its signal key may read
        self.stale = self.gaps.stale(bt.timestamp)
        if self._inputs(bt) == last_inputs:
            return last_inputs
        self.result.steps += 1
        self.step(bt)
        return self._inputs(bt)

    def _next(self, bt: engine.Backtest, schedule: wakes.Schedule, every_event: bool) -> int:
        now = bt.timestamp
        wait = schedule.after(now) - now
        if every_event:
            return bt.advance(min(IDLE_WAKE_NS, wait))
        if self.live is not None:
            return bt.wait_response(self.live.order_id, wait)
        return bt.elapse(wait)

    def _finish(self, state) -> RunResult:
        end = self.market.local_end_ns
        if self._trace and end > self._trace[-1][0]:  # nothing changed since: the last step holds to the end
            self._trace.append((end, *self._trace[-1][1:]))
        r = self.result
        r.fees, r.volume, r.value = float(state["fee"]), float(state["trading_volume"]), float(state["trading_value"])
        r.estimates, r.model = self.strategy.estimates, self.strategy.describe()
        r.ts = np.array([t[0] for t in self._trace], dtype=np.int64)
        trace = np.array([t[1:] for t in self._trace], dtype=np.float64).reshape(-1, 6)
        r.mid, r.position, r.equity, r.held = trace[:, 0], trace[:, 1], trace[:, 2], trace[:, 3] > 0
        r.resting = trace[:, 4:]
        return r
