"""The backtest loop: the live bot's decisions (`Strategy.decide`, `next_action`) on hftbacktest's clock.

It decides through the bot's own `Strategy` (fixed or adaptive spreads or the signal model, position
limit, stop-loss, loss limits), over a `StrategyState` kept in step with what the bot would see, with
hftbacktest's time as both its clock and its wall clock. Its models are fed what the bot's market stream
would feed them (feed.py). A halt ends the trading (the live bot exits); the position left is still marked
to the mid until the data ends.

It keeps the bot's order discipline: at most one order, open from the moment it is sent until the
exchange says it finished; a requote is a cancel, and the new order goes out only once the cancel is
confirmed. It steps (brings the bot's state up to date, records the equity) whenever one of the inputs of
a decision changed: the touch of the book, the order's local record (every order response changes it, and
with it position, balance and fees), the staleness of the data at a gap (wakes.py), or what the strategy
says it reads beyond them (`Strategy.signal_key`: the signal model's guard while flat, its every book and
the clock while in position); and it decides at a step unless the last step decided on the same inputs
and did nothing (the signal model while flat with its guard closed reads nothing of the touch). A wake
where none changed would give the decision functions the same inputs as the last one, so the runner does
not wake there at all (wakes.py says how), or, in the reference loop (`run(every_event=True)`), wakes and
only moves the clock. Position, wallet and the top of book are what the bot would see locally (after the
feed and order latencies), converted to Decimal (when they changed) before they reach the decision code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from aster_mm.backtest import engine, wakes
from aster_mm.backtest.bot import (
    OPENS_NOTHING,
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
    SpreadModel,
    Strategy,
    StrategyState,
    SymbolRules,
    TimeInForce,
    in_position,
    next_action,
)
from aster_mm.backtest.convert import MarketData
from aster_mm.backtest.feed import MarketFeed
from aster_mm.backtest.result import Fill, RunResult

IDLE_WAKE_NS = 1_000_000_000
DEFAULT_GAP_S = 30.0  # the live bot's Timings.stale_after: no market frame this long and it pulls its quote
_VALID_TICK = 1 << 62  # hftbacktest marks an empty side with i64::MIN / i64::MAX
_FINISHED = (engine.FILLED, engine.CANCELED, engine.EXPIRED, engine.REJECTED)
NS = 1_000_000_000
DAY_NS = 86_400 * NS
_NO_QUOTE = (math.nan, math.nan)


@dataclass
class _Live:
    order_id: int
    quote: Quote
    filled: Decimal = Decimal(0)
    _resting: Resting | None = None  # as the decision sees it, for `filled`
    raw: bytes | None = None  # its local record as last tracked, and unpacked
    record: engine.OrderRecord | None = None

    prices: tuple[float, float] = field(init=False)  # its price as (BUY, SELL), NaN on the other side

    def __post_init__(self) -> None:
        price = float(self.quote.price)
        self.prices = (price, math.nan) if self.quote.side == Side.BUY else (math.nan, price)

    def resting(self) -> Resting:
        if self._resting is None or self._resting.remaining != self.quote.qty - self.filled:
            self._resting = Resting(self.quote, self.quote.qty - self.filled)
        return self._resting


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
    """The bot's configuration quoting these fixed spreads, every other flag at its default."""
    return Config(
        symbol="BACKTEST",
        spread_model=SpreadModel.FIXED,
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
        self.cfg = cfg
        self.reads: Reads = self.strategy.reads
        self.signal_key: Callable[[], Hashable] = self.strategy.signal_key
        self.gaps = wakes.Gaps.of(market, gap_s)
        self.stale = False
        self.live: _Live | None = None
        self.next_id = 1
        self.result = RunResult(gaps=self.gaps.summary())
        self._trace: list[tuple] = []
        self._book_top: tuple[int, int] | None = None  # the top state.book holds, and its mid
        self._mid, self._mid_f = Decimal(0), 0.0
        self._equity: float | None = None  # the last equity converted to `net`
        self._pos_f: float | None = None  # hftbacktest's position last converted, and what the bot holds
        self._position = Decimal(0)
        self._held_at: tuple | None = None  # (position, mid) of the last in_position answer
        self._held = False
        self._touch = -1  # the touch in force at this wake (MarketFeed.advance)
        self._decided: tuple | None = None  # what the last step's decision read (None: that step did not decide)
        self._figures_due = False  # the model's status figures are older than the last step
        self._changed = False  # this step moved the position, the order or the strategy's state

    def _decimal_qty(self, qty: float) -> Decimal:
        return Decimal(round(qty / float(self.rules.step))) * self.rules.step

    def _track_order(self, bt: engine.Backtest, live: _Live, raw: bytes | None) -> engine.OrderRecord | None:
        """Record new fills of the live order (`raw`: its local record now); forget it once the exchange has
        finished it. Returns the order's local record while it is still open."""
        if raw is not None and raw == live.raw:
            return live.record  # no response since: nothing filled, nothing finished
        order = None if raw is None else engine.OrderRecord.of(raw)
        live.raw, live.record = raw, order
        if order is None:
            self.live, self._changed = None, True
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
            self.live, self._changed = None, True
            bt.forget_finished()
            return None
        return order

    def _decide(self, bt: engine.Backtest, now: int) -> None:
        """The live bot's decision (`next_action`), carried out on hftbacktest: it has no Modify Order, so a
        requote is a cancel; its account needs no balance re-read and no leverage setting."""
        st, live = self.state, self.live
        was_paused = bool(st.paused)
        want, why, halt = self.strategy.decide(self.rules, order_open=live is not None)
        self.result.paused += bool(st.paused) and not was_paused
        resting = None if live is None else live.resting()
        book = st.book
        assert book is not None  # _sync() set it
        threshold = self.strategy.reprice_threshold(self.rules)
        action = next_action(Situation(want, why, resting, book.bid, book.ask, threshold, halt=halt))
        match action:
            case Halt(reason):
                self.result.halted, self.result.halted_ns = reason, now
            case Cancel():
                assert live is not None  # only a resting order is cancelled
                if bt.cancel(live.order_id) != 0:
                    raise RuntimeError(f"hftbacktest refused to cancel order {live.order_id}")
                self.result.cancels_sent += 1
            case Place(quote):
                self._submit(bt, quote)
            case _:
                return
        self._decided = None  # it acted: the same inputs later (an order come and gone) call for a decision

    def _submit(self, bt: engine.Backtest, want: Quote) -> None:
        order_id, self.next_id = self.next_id, self.next_id + 1
        if bt.submit(order_id, want.side == Side.BUY, float(want.price), float(want.qty), want.time_in_force) != 0:
            raise RuntimeError(f"hftbacktest refused order {order_id}")
        self.live = _Live(order_id, want)
        self.result.orders_sent += 1
        self.result.stops += want.time_in_force == TimeInForce.IOC

    def _sync(self, now: int, bid: int, ask: int, pos_f: float, equity: float) -> None:
        """The state the bot would hold now: book, position, wallet, session and UTC-day net PnL (each
        converted to Decimal when it changed)."""
        tick, st = self.rules.tick, self.state
        if self._book_top != (bid, ask):
            self._book_top = (bid, ask)
            st.book = Book(Decimal(bid) * tick, Decimal(ask) * tick, now / NS)
            self._mid = Decimal(bid + ask) * tick / 2
            self._mid_f = float(self._mid)
        if equity != self._equity:
            self._equity, self.net = equity, Decimal(repr(round(equity, 6)))
            st.available = self.wallet0 + self.net
        if self.day != now // DAY_NS:
            self.day, self.day_base = now // DAY_NS, self.net
        if pos_f != self._pos_f:  # hftbacktest's own figure
            self._pos_f, self._position, self._changed = pos_f, self._decimal_qty(pos_f), True
        st.position.amount = self._position
        if (self._position, self._mid) != self._held_at:
            self._held_at = (self._position, self._mid)
            self._held = in_position(self._position, self._mid, self.params.position_threshold_usd)

    def step(self, bt: engine.Backtest, now: int, raw: bytes | None = None, key: Hashable = None) -> None:
        """Bring the bot's state up to date and record the equity; decide if due. `raw`, `key`: the live order's
        local record and the strategy's signal key as this wake found them."""
        order = self._track_order(bt, self.live, raw) if self.live is not None else None
        bid, ask = self.feed.top
        if not (-_VALID_TICK < bid < ask < _VALID_TICK):
            return
        pos_f, balance, fee = bt.position_balance_fee()
        mid_f = self._mid_f if (bid, ask) == self._book_top else float(Decimal(bid + ask) * self.rules.tick / 2)
        equity = balance + pos_f * mid_f - fee
        self._sync(now, bid, ask, pos_f, equity)
        self._trace.append((now, mid_f, pos_f, equity, self._held, *self._resting()))
        if order is not None and order.req != engine.NONE:
            self._decided = None  # its placement or cancel is still in flight
        elif self.stale:
            self._decided = None
            self._pull(bt)
        elif not self.result.halted:
            self._decide_if_new(bt, now, raw if self.live is not None else None, key)

    def _decide_if_new(self, bt: engine.Backtest, now: int, raw: bytes | None, key: Hashable) -> None:
        """Decide, unless the last step decided on the same inputs and did nothing: the touch (when the decision
        reads it), the order, and what the strategy's key says it reads; the decision would be that one again
        (only the model's status figures move: they are brought up to date at the end)."""
        if self._changed:  # the position moved: the key may have
            key = self.signal_key()
        inputs = (None if key in OPENS_NOTHING else self._touch, raw, key)
        if inputs == self._decided:
            self._figures_due = True
            return
        self._decided, self._figures_due, self._changed = inputs, False, True
        self._decide(bt, now)

    def _resting(self) -> tuple[float, float]:
        """Our order's price as (BUY, SELL), NaN on the side without one: what the plot draws."""
        return _NO_QUOTE if self.live is None else self.live.prices

    def _pull(self, bt: engine.Backtest) -> None:
        """The market data went stale (a gap): cancel the live order, as the live bot does, and wait."""
        if self.live is not None:
            if bt.cancel(self.live.order_id) != 0:
                raise RuntimeError(f"hftbacktest refused to cancel order {self.live.order_id}")
            self.result.cancels_sent += 1
            self.result.gap_cancels += 1
            self._changed = True

    def _inputs(self, bt: engine.Backtest) -> tuple:
        """What the decision reads, to its resolution: the touch, the order's record, the staleness of the data,
        and the strategy's signal and clock (`Strategy.signal_key`)."""
        live = self.live
        return (self._touch, live and bt.order_bytes(live.order_id), self.stale, self.signal_key())

    def run(self, every_event: bool = False) -> RunResult:
        """Replay the whole market. `every_event`: wake at every feed event and order response (the
        reference loop); by default only where the strategy's inputs can change (wakes.py), same result."""
        table = wakes.book_table(self.market, self.cfg.tick, self.cfg.lot, self.reads)
        models = self.strategy.spreads is not None or self.signal is not None
        trades = wakes.market_trades(self.market) if models else None
        self.feed = MarketFeed(table, trades, float(self.rules.tick), self.strategy.spreads, self.signal)
        schedule = wakes.schedule(self.market, table, self.reads, self.gaps, every_event)
        bt = engine.Backtest(self.market.chunks, self.market.price_range, self.cfg)
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
        self.clock_ns = now = bt.timestamp  # the strategy's clock, which its signal key may read
        self._touch = self.feed.advance(now)
        self.feed.feed(now, self.state.book)
        self.stale = self.gaps.stale(now)
        live = self.live
        raw = None if live is None else bt.order_bytes(live.order_id)
        inputs = (self._touch, raw, self.stale, self.signal_key())
        if inputs == last_inputs:
            return last_inputs
        self.result.steps += 1
        self._changed = False  # whether the step moved what the inputs read: the position, the order, the strategy
        self.step(bt, now, raw, inputs[3])
        return self._inputs(bt) if self._changed else inputs

    def _next(self, bt: engine.Backtest, schedule: wakes.Schedule, every_event: bool) -> int:
        now = self.clock_ns
        wait = schedule.after(now, clock=self.strategy.wake_within() is not None) - now
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
        if self._figures_due:  # the last steps did not decide (their decision would have been the one before)
            self.strategy.refresh_estimates()
        r.estimates, r.model = self.strategy.estimates, self.strategy.describe()
        r.ts = np.array([t[0] for t in self._trace], dtype=np.int64)
        trace = np.array([t[1:] for t in self._trace], dtype=np.float64).reshape(-1, 6)
        r.mid, r.position, r.equity, r.held = trace[:, 0], trace[:, 1], trace[:, 2], trace[:, 3] > 0
        r.resting = trace[:, 4:]
        return r
