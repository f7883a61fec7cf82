"""What the bot wants resting now, every decision combined: the quote (fixed or adaptive spreads, or
the signal model, within the position limit), a running stop-loss, and the loss limits that pause or halt
the bot.

The decisions themselves are pure (`decisions`, `limits`, `spreads`, `quoting`); this holds the little
state between them (a stop in progress, the adaptive estimates, the signal, the pause) and reads the
bot's state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from decimal import Decimal

from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote, QuoteParams, desired_quote
from aster_mm.core.kinds import SpreadModel
from aster_mm.core.limits import LossChange, LossGate, LossLimits, position_room, stop_quote, stop_triggered
from aster_mm.core.memo import Last
from aster_mm.core.position import unrealized_pnl
from aster_mm.core.quoting import (
    BP,
    Holding,
    QuotePolicy,
    SignalQuoter,
    floor_after,
    floor_falls,
    floor_start_bp,
    guard_passes,
)
from aster_mm.core.quoting import describe as describe_signal
from aster_mm.core.rules import SymbolRules
from aster_mm.core.signals import SignalState
from aster_mm.core.spreads import AdaptiveConfig, AdaptiveSpreads, Estimates
from aster_mm.core.spreads import describe as describe_spreads
from aster_mm.core.state import LIQUIDATION, Book, StrategyState

log = logging.getLogger("mm")
DAY_S = 86_400


@dataclass(frozen=True)
class Reads:
    """What a decision reads of the market beyond the bot's own order: a backtest wakes the strategy only
    when this can have changed (the live bot wakes on the market stream's frames the same way)."""

    levels: int = 1  # the best N price levels of each side ...
    quantities: bool = False  # ... and their quantities (else the prices only)
    trades: bool = False  # every market trade
    every_s: float | None = None  # the clock, at this resolution (a rule that changes with time alone)


TOP_OF_BOOK = Reads()  # the spread models: best bid and best ask
WARMING_UP, GUARD_CLOSED = "warming-up", "guard-closed"  # the signal model's key while flat and opening nothing
OPENS_NOTHING = (WARMING_UP, GUARD_CLOSED)  # the keys under which a decision reads nothing of the book


def adaptive_spreads(config: Config) -> AdaptiveSpreads | None:
    if config.spread_model != SpreadModel.ADAPTIVE:
        return None
    return AdaptiveSpreads(
        AdaptiveConfig(
            config.risk_aversion,
            config.min_spread,
            config.buy_spread,
            config.sell_spread,
            half_life=config.adaptive_half_life,
        )
    )


def _with_spreads(params: QuoteParams, buy_spread: Decimal, sell_spread: Decimal) -> QuoteParams:
    return replace(params, buy_spread=buy_spread, sell_spread=sell_spread)


def _requote_threshold(policy: QuotePolicy, tick: Decimal, price: Decimal) -> Decimal:
    return max(policy.requote_ticks * tick / price, Decimal(repr(policy.requote_bp)) * BP)


class Strategy:
    def __init__(
        self,
        cfg: Config,
        state: StrategyState,
        params: QuoteParams,
        now: Callable[[], float],
        pnl: Callable[[], tuple[Decimal, Decimal]],
        wall: Callable[[], float],
    ):
        """`pnl()` answers (session net, today's net), unrealized included; `now()` is the bot's clock in
        seconds and `wall()` the epoch time that places the UTC day (time.time live, its own in a backtest)."""
        self.cfg, self.state, self.params, self.now, self.pnl, self.wall = cfg, state, params, now, pnl, wall
        self.spreads = adaptive_spreads(cfg)
        self.quoter = (
            SignalQuoter(cfg.signal, cfg.quote_policy, params.open_side)
            if cfg.spread_model == SpreadModel.SIGNAL
            else None
        )
        self.estimates: Estimates = {}
        self.tick: Decimal | None = None  # the symbol's, as last decided with
        self.stopping = False  # a stop-loss is closing the position: until flat
        self.gate = LossGate(LossLimits(cfg.max_loss_usd, cfg.max_daily_loss_usd, cfg.halt_cooldown * 60))
        self._next_check = 0.0
        self._limits = cfg.max_loss_usd is not None or cfg.max_daily_loss_usd is not None  # checked on the clock
        # the pure parts of a decision, answered again while their inputs stay the same (core/memo.py)
        self._desired, self._stop_triggered = Last(desired_quote), Last(stop_triggered)
        self._lots = Last(self._position_in_lots)
        self._mid_of: Book | None = None  # the book whose mid `_mid_value` is
        self._mid_value = Decimal(0)
        self._threshold, self._floor_start = Last(_requote_threshold), Last(floor_start_bp)
        self._inventory, self._with_spreads = Last(self._inventory_and_tick), Last(_with_spreads)

    def quote_params(self, wallet: Decimal) -> QuoteParams:
        """The configured parameters, with the adaptive model's spreads for the position held (in lots
        of one opening order) when it is on."""
        if self.spreads is None:
            return self.params
        position, mid = self.state.position.amount, self._mid(self._book())
        inventory, tick_bp = self._inventory(position, wallet, mid, self.tick)
        spreads = self.spreads.spreads(self.now(), inventory, tick_bp)
        self.estimates = spreads.estimates
        return self._with_spreads(self.params, spreads.buy_spread, spreads.sell_spread)

    def _inventory_and_tick(
        self, position: Decimal, wallet: Decimal, mid: Decimal, tick: Decimal | None
    ) -> tuple[float, float | None]:
        """The position in lots of one opening order, and the tick in bp of the mid (the estimates in ticks too)."""
        lot = float(wallet * self.params.balance_fraction / mid) if wallet > 0 else 0.0
        tick_bp = float(tick / mid) * 1e4 if tick else None
        return float(position) / lot if lot else 0.0, tick_bp

    @property
    def signal(self) -> SignalState | None:
        """The signal the market stream feeds (None unless --spread-model signal)."""
        return None if self.quoter is None else self.quoter.signal

    @property
    def reads(self) -> Reads:
        """The spread models read the touch; the signal model ten levels with their sizes, the trades when
        it weighs the trade flow, and the clock to the second (its floor decays with holding time)."""
        if self.quoter is None:
            return TOP_OF_BOOK
        return Reads(10, True, self.cfg.signal.weights.flow != 0, 1.0)

    def signal_key(self) -> Hashable:
        """What a decision reads beyond the touch of the book and the bot's own order, to the resolution it
        acts on (a backtest asks the strategy again only once this, the touch or the order changed). None for
        the spread models. The signal model, flat with nothing but its guard to open an order (no stop, no
        loss limit): whether the signal is warm and the guard open, and while it is, the signal's touch;
        otherwise every book the signal read, and in position the clock (`_clock_key`)."""
        quoter = self.quoter
        if quoter is None:
            return None
        signal, st = quoter.signal, self.state
        if st.position.amount != 0:
            return signal.books, self._clock_key(quoter)
        if self._limits or st.paused or st.halted or self.stopping or st.close_only:
            return signal.books, None
        reading = signal.reading
        if reading is None or not reading.warm:
            return WARMING_UP
        if not guard_passes(reading, quoter.opening, quoter.policy):
            return GUARD_CLOSED
        return reading.bid, reading.ask

    def refresh_estimates(self) -> None:
        """The model's status figures as a decision now would leave them, without deciding (the signal model's
        while it opens nothing: those of the signal; the spread models' move only when they decide)."""
        if self.quoter is not None:
            self.quoter.refresh(self.now())
            self.estimates = self.quoter.estimates

    def _clock_key(self, quoter: SignalQuoter) -> Hashable:
        """In position, what the decision reads of the clock: the second while the breakeven floor falls with the
        holding time (or a loss limit is checked on the clock), else the floor's distance, which then holds."""
        now = self.now()
        held = quoter.held(now)
        if held is None or self._limits:
            return int(now)
        start = self._floor_start(self.state.fees.maker, quoter.policy)
        return int(now) if floor_falls(start, held, quoter.policy) else floor_after(start, held, quoter.policy)

    def describe(self) -> str:
        """The model's part of the status line ("" for fixed spreads)."""
        if self.quoter is not None:
            return describe_signal(self.estimates)
        return "" if self.spreads is None else describe_spreads(self.estimates)

    def reprice_threshold(self, rules: SymbolRules) -> Decimal:
        """How far (relative to the resting order's price) the target may move before the order follows:
        --reprice-threshold; for the signal model, more than requote_ticks ticks and requote_bp bp."""
        if self.quoter is None:
            return self.cfg.reprice_threshold
        live = self.state.live
        price = live.quote.price if live is not None else self._mid(self._book())
        return self._threshold(self.quoter.policy, rules.tick, price)

    def wake_within(self) -> float | None:
        """The longest the quoting loop may sleep with nothing new: a second while the signal model holds a
        position (its floor decays with time), else no limit of the strategy's own."""
        return 1.0 if self.quoter is not None and self.state.position.amount != 0 else None

    def check_losses(self) -> None:
        """At most twice a second: a loss limit pauses or halts the bot, a pause ends by itself."""
        if not self._limits or self.now() < self._next_check:
            return
        self._next_check = self.now() + 0.5
        session, today = self.pnl()
        change = self.gate.update(self.now(), session, today, DAY_S - self.wall() % DAY_S)
        st = self.state
        if change == LossChange.BREACH:
            kind = "HALTED until restarted" if self.gate.halts else f"PAUSED for {self.gate.until - self.now():.0f} s"
            log.critical(
                "LOSS LIMIT: %s; %s%s",
                self.gate.reason,
                kind,
                "; closing the position" if self.cfg.flatten_on_halt else "",
            )
            st.on_alert(f"loss limit: {self.gate.reason}; {kind}")
            if self.gate.halts:
                st.halted = self.gate.reason
            else:
                st.paused = self.gate.reason
        elif change == LossChange.RESUME:
            log.warning("loss-limit pause over: resuming (session net %s)", session)
            st.on_alert("loss-limit pause over: resuming")
            st.paused = ""

    def flattening(self, min_qty: Decimal) -> bool:
        st = self.state
        return bool(st.paused or st.halted) and self.cfg.flatten_on_halt and abs(st.position.amount) >= min_qty

    def decide(self, rules: SymbolRules, order_open: bool) -> tuple[Quote | None, str, str]:
        """The loss check, then (the order wanted, why, why the bot halts for good now). It halts when a
        loss limit halted it, nothing of ours is open and nothing is left to flatten; then it wants
        nothing and `wanted` is not asked (it would end a liquidation's close-only on the way out)."""
        self.check_losses()
        st = self.state
        if st.halted and not order_open and not self.flattening(rules.min_qty):
            return None, st.halted, st.halted
        want, why = self.wanted(rules)
        return want, why, ""

    def wanted(self, rules: SymbolRules) -> tuple[Quote | None, str]:
        """The one order the bot wants now: paused or halted, nothing (or a flattening stop); while a
        stop-loss runs, the stop; otherwise the quote."""
        st, cfg = self.state, self.cfg
        position = st.position.amount
        if LIQUIDATION in st.close_only and cfg.resume_after_liquidation and position == 0:
            log.warning("flat after the liquidation: resuming (--resume-after-liquidation)")
            del st.close_only[LIQUIDATION]
        if self.flattening(rules.min_qty):
            book = self._book()
            return stop_quote(position, book.bid, book.ask, cfg.stop_slippage, rules), "flatten"
        if st.paused or st.halted:
            return None, f"{'halted' if st.halted else 'paused'}: {st.halted or st.paused}"
        book = self._book()
        mid = self._mid(book)
        mark = st.mark_price or mid
        if abs(position) >= rules.min_qty and (
            self.stopping or self._stop_triggered(position, st.entry_price, mark, cfg.stop_loss_in_force)
        ):
            if not self.stopping:
                log.warning(
                    "STOP LOSS: mark %s against entry %s: closing %s, loss %.2f USD",
                    mark,
                    st.entry_price,
                    position,
                    -unrealized_pnl(position, st.entry_price, mark, None),
                )
                self.stopping = True
            return stop_quote(position, book.bid, book.ask, cfg.stop_slippage, rules), "stop"
        self.stopping = False
        self.tick = rules.tick
        wallet = st.available * st.size_scale
        room = None if cfg.max_position_usd is None else position_room(position, mid, cfg.max_position_usd)
        close_only = st.close_only_reason if st.close_only else ""
        want, why = self._desired(position, mid, wallet, self.quote_params(wallet), rules, close_only, room)
        if self.quoter is None:
            return want, why
        holding = Holding(position, st.entry_price, self._lots(position, wallet, mid), st.fees.maker)
        want, why = self.quoter.price(want, why, self.now(), holding, (book.bid, book.ask), rules)
        self.estimates = self.quoter.estimates
        return want, why

    def _mid(self, book: Book) -> Decimal:
        if book is not self._mid_of:
            self._mid_of, self._mid_value = book, book.mid
        return self._mid_value

    def _position_in_lots(self, position: Decimal, wallet: Decimal, mid: Decimal) -> float:
        """The position in lots of one opening order (sized from the wallet at the mid)."""
        lot = wallet * self.params.balance_fraction / mid
        return float(abs(position) / lot) if lot > 0 else 0.0

    def _book(self) -> Book:
        """The top of the book: the bot decides only once it has one (its not-ready check)."""
        if self.state.book is None:
            raise RuntimeError("no top of the book to decide on")
        return self.state.book
