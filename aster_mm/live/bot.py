"""aster-mm: a one-symbol market maker for Aster perpetual futures.

BUY mode (flat): one post-only limit BUY below mid. SELL mode (long): one post-only reduce-only SELL
above mid for the whole position. The resting order is reused while the target price barely moves and
replaced when it moves more than --reprice-threshold. See README.md for the whole contract.

This file is `MarketMaker`, the wiring: streams in (live.feeds), housekeeping (live.housekeeping), one
decision per step (core.actions), orders out (live.execution), life cycle. The command line is live.main.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal

import aster_mm.python_version  # noqa: F401  (first: on Python < 3.11 it exits 2 with a clear message)
from aster_mm.accounting.books import Books
from aster_mm.core.actions import (
    Action,
    ApplySettings,
    Cancel,
    Halt,
    Modify,
    Place,
    ReadBalance,
    Resting,
    Reuse,
    Situation,
    Skip,
    Wait,
    next_action,
)
from aster_mm.core.config import Config, Timings
from aster_mm.core.decisions import QuoteParams
from aster_mm.core.errors import FatalError, LossLimitHalt  # noqa: F401  (LossLimitHalt: main's exit status 3)
from aster_mm.core.orders import Order, OrderState
from aster_mm.core.state import StrategyState
from aster_mm.core.status import status_line
from aster_mm.core.strategy import Strategy
from aster_mm.exchange.client import AsterClient, ExchangeError, SymbolRules
from aster_mm.live.account import HEDGE_MODE_HELP, AccountGuard
from aster_mm.live.chores import DeadManSwitch, keep_listen_key_alive, report_status
from aster_mm.live.execution import CancelOutcome, ModifyOutcome, OrderDesk
from aster_mm.live.feeds import Feeds
from aster_mm.live.housekeeping import Housekeeping
from aster_mm.live.protection import Protection
from aster_mm.live.reconcile import Reconciler
from aster_mm.live.startup import first_leaf, log_started, rate_limit_text, retry_until
from aster_mm.ops.unattended import Ops

log = logging.getLogger("mm")


class ShutdownRequested(Exception):
    pass


class MarketMaker:
    def __init__(
        self,
        config: Config,
        client: AsterClient,
        ws_url: str,
        *,
        timings: Timings = Timings(),
        now: Callable[[], float] = time.monotonic,
        ops: Ops | None = None,
        user_ws_url: str | None = None,
    ):
        """`ws_url`: the market streams' host; `user_ws_url` the user stream's (default: the same)."""
        self.cfg, self.client, self.ws_url = config, client, ws_url.rstrip("/")
        self.t, self.now = timings, now
        self.symbol = symbol = config.symbol
        self.params = QuoteParams.from_config(config)
        self.state = state = StrategyState()
        self.ops = ops or Ops()
        self.metrics = self.ops.metrics
        self.guard = AccountGuard(client, config, state, timings, now)
        self.desk = OrderDesk(client, symbol, state, timings, now, metrics=self.metrics, on_rejected=self._on_rejected)
        self.protection = Protection(client, config, state, self.metrics, now, self.desk.hold_off, timings.block_retry)
        self.desk.on_accepted, self.desk.stp_mode = self.protection.on_accepted, config.stp_mode
        self.sync = Reconciler(client, symbol, state, self.desk, timings, now)
        self.dead_man = DeadManSwitch(client, symbol, config.cancel_countdown, timings)
        self.books = Books(client, config, state, timings, run=self.desk.run)
        self.strategy = Strategy(config, state, self.params, now, self._pnl, wall=time.time)
        self._wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.feeds = Feeds(
            client=client,
            ws_url=ws_url,
            user_ws_url=user_ws_url,
            symbol=symbol,
            state=state,
            desk=self.desk,
            guard=self.guard,
            books=self.books,
            timings=timings,
            now=now,
            wake=self.wake,
            start_timeout=config.start_timeout,
            spreads=self.strategy.spreads,
            metrics=self.metrics,
            signal=self.strategy.signal,
        )
        self.on_market_message, self.on_user_message = self.feeds.on_market_message, self.feeds.on_user_message
        self.housekeeping = Housekeeping(
            state=state,
            client=client,
            desk=self.desk,
            sync=self.sync,
            guard=self.guard,
            protection=self.protection,
            not_ready=self.not_ready,
            describe=self.describe,
        )
        self._skip_reason = ""
        self.beat_at = self.woke_at = now()  # the quoting loop's heartbeat (the watchdog reads it)
        self.ops.attach(self)

    def wake(self) -> None:
        self._wake.set()

    def _on_rejected(self, err: ExchangeError) -> None:
        self.guard.on_rejection(err)
        self.protection.on_refusal(err)

    def describe(self) -> str:
        line = status_line(self.state, self.params, self.client.used_weight_1m, self.rules, self.books.text(self.rules))
        line = " ".join(filter(None, (line, rate_limit_text(self.client), self.protection.text())))
        model = self.strategy.describe()
        return f"{line} {model}" if model else line

    def limits_snapshot(self) -> dict:
        return self.protection.snapshot()

    @property
    def used_weight_1m(self) -> int | None:
        """The exchange's request weight used this minute, as its last answer said."""
        return self.client.used_weight_1m

    def stream_attempted_at(self, stream: str) -> float:
        """When the `stream` ("market" or "user") last tried to connect."""
        return self.feeds.attempted_at[stream]

    @property
    def estimates(self) -> dict:
        """The adaptive or signal model's latest estimates (empty when the spreads are fixed)."""
        return self.strategy.estimates

    def _pnl(self) -> tuple[Decimal, Decimal]:
        """The session's and the UTC day's net PnL, the open position's unrealized PnL included in both."""
        figures = self.books.figures()
        return figures.net, self.books.today_net() + figures.unrealized

    @property
    def rules(self) -> SymbolRules | None:
        return self.guard.rules

    @rules.setter
    def rules(self, rules: SymbolRules) -> None:
        """Rules as just read (tests set them without a start)."""
        self.guard.rules = rules
        self.guard.next_rules = self.now() + self.t.rules_every

    # ----- start-up -----
    async def start(self) -> None:
        """Clock, rules, then the bot owns the symbol: cancel everything, adopt the position; then decide
        whether it can trade at all. An unreachable exchange is retried for --start-timeout."""
        self.books.open()
        await retry_until(
            self._take_over, self.cfg.start_timeout, self.t.start_retry_max, unresolved_grace=self.t.unresolved_grace
        )
        self.books.start_session()
        st, rules = self.state, self.guard.known_rules
        if st.hedge_mode:
            raise FatalError(HEDGE_MODE_HELP)
        if not rules.trading and st.position.amount == 0:
            raise FatalError(
                f"symbol {self.symbol} is not trading (status {rules.status}) and holds no position to close"
            )
        if st.position.amount == 0:
            await self.guard.apply_settings()
        log_started(
            self.symbol,
            self.desk.run_id,
            rules,
            st,
            self.cfg.venue or f"on {self.client.rest_url} as {self.client.key_hint}",
            f"{self.cfg.spread_model} {self.cfg.side}",
        )

    async def _take_over(self) -> None:
        await self.client.sync_time()
        await self.guard.refresh_rules()
        await self.client.cancel_all(self.symbol)
        await self.guard.read_modes()
        await self.sync.refresh_position()
        self.state.balances = await self.client.wallet_balances()
        await self.guard.refresh_available()
        await self.protection.configure()

    # ----- the quoting loop: the only place that sends order requests -----
    async def quote_loop(self) -> None:
        while True:
            try:
                while await self.step():
                    pass
            except (ExchangeError, OSError) as err:
                log.warning("step failed: %s", err)
                self.state.need_reconcile = True  # re-read the exchange's truth before quoting again
                self.desk.hold_off(self.desk.backoff())
            await self._sleep_until_woken(self._next_wake())
            self.woke_at = self.now()

    def _next_wake(self) -> float:
        live = self.state.live
        timeout = self.t.idle_wake
        if live is not None and live.state == OrderState.UNKNOWN:
            timeout = min(timeout, self.t.requery_every)
        if self.desk.retry_at > self.now():
            timeout = min(timeout, self.desk.retry_at - self.now())
        strategy_wake = self.strategy.wake_within()
        if strategy_wake is not None:
            timeout = min(timeout, strategy_wake)
        return max(timeout, 0.0)

    async def _sleep_until_woken(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    def not_ready(self) -> str:
        st = self.state
        if not st.user_up:
            return "user stream down"
        if not st.market_up or st.book is None:
            return "no market data"
        if self.now() - st.market_seen_at > self.t.stale_after:
            return "market data stale"
        return ""

    async def step(self) -> bool:
        """One decision. True when it did something and should be run again at once."""
        self.beat_at = self.now()
        chore = self.housekeeping.due()
        if chore is not None:
            return await chore()
        return await self._act(next_action(self._situation()))

    # ----- the decision (aster_mm.core.actions) and its execution -----
    def _situation(self) -> Situation:
        st, guard, book = self.state, self.guard, self.state.book
        assert book is not None  # not_ready() saw one
        want, why, halt = self.strategy.decide(guard.known_rules, order_open=st.live is not None)
        return Situation(
            want,
            why,
            Resting.of(st.live),
            book.bid,
            book.ask,
            self.strategy.reprice_threshold(guard.known_rules),
            halt=halt,
            can_modify=self.cfg.modify and self.client.can_modify,
            settings_wrong=guard.settings_wrong(),
            settings_due=st.position.amount == 0 and self.now() >= guard.next_settings_try,
            balance_stale=st.wallet_dirty,
            backing_off=self.now() < self.desk.retry_at,
        )

    async def _act(self, action: Action) -> bool:
        """Carry out the decision; True when the step should run again at once."""
        match action:
            case Halt(reason):
                raise LossLimitHalt(reason)  # cancelled (and flattened if asked): stop, exit 3
            case Modify(price):
                outcome = await self.desk.modify(self._resting(), price)
                self.metrics.observe_requote(self.now() - self.woke_at)
                return outcome is ModifyOutcome.REFUSED  # replace it at once
            case Cancel():
                return await self.desk.cancel(self._resting()) is CancelOutcome.FINISHED
            case ReadBalance():
                await self.guard.refresh_available()
                return True
            case ApplySettings():
                await self.guard.apply_settings()
                return True
            case Skip(reason) as skip:
                if not skip.repeats(self._skip_reason):
                    log.info("not quoting: %s", reason)
                self._skip_reason = reason
                return False
            case Place(quote):
                self._skip_reason = ""
                await self.desk.place(quote)
                self.metrics.observe_requote(self.now() - self.woke_at)
                return False
            case Wait():
                self._skip_reason = ""
                return False
            case Reuse():
                return False  # nothing to send

    def _resting(self) -> Order:
        """The live order, where the step has just seen one."""
        live = self.state.live
        assert live is not None
        return live

    # ----- life cycle -----
    async def run(self) -> None:
        self.client.on_latency = self.metrics.observe_rest
        self.client.limits.weight_budget = self.cfg.weight_budget
        await self.start()
        feeds = self.feeds
        jobs = {
            "market_stream": feeds.market_stream,
            "user_stream": feeds.user_stream,
            "quote_loop": self.quote_loop,
            "heartbeat": self.dead_man.run,
            "wait_for_stop": self._wait_for_stop,
            "first_contact": self._first_contact,
            "income": self.books.income.run,
            "keepalive": lambda: keep_listen_key_alive(self.client, self.t.keepalive_every, feeds.renew_user_stream),
            "status": lambda: report_status(self.t.status_every, self.describe, self.ops.status),
        }
        fatal: FatalError | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                for name, job in jobs.items():
                    tg.create_task(self._guard(name, job), name=name)
        except BaseExceptionGroup as group:  # not except*: this file must parse on 3.10 to say it is too old
            fatals, rest = group.split(FatalError)
            rest = rest.split(ShutdownRequested)[1] if rest is not None else None
            if rest is not None:
                raise rest from None
            fatal = first_leaf(fatals) if fatals is not None else None
        finally:
            await self.shutdown()
        if fatal is not None:
            raise fatal

    async def _first_contact(self) -> None:
        await self.feeds.first_contact()
        self.ops.ready(self.describe())

    async def _wait_for_stop(self) -> None:
        await self.stop.wait()
        raise ShutdownRequested

    async def _guard(self, name: str, job: Callable) -> None:
        """No task dies silently: a crash is logged, then brings the whole bot down cleanly."""
        try:
            await job()
        except (asyncio.CancelledError, ShutdownRequested, FatalError):
            raise
        except Exception:
            log.exception("task %s crashed", name)
            raise

    async def shutdown(self) -> None:
        """Cancel every open order of the symbol; only then stop the dead-man switch. The listenKey is
        the account's, shared by every client of it: it is left to expire, never deleted."""
        log.info("shutting down: cancelling all open orders of %s", self.symbol)
        left = []
        try:
            async with asyncio.timeout(self.t.shutdown_timeout):
                await self.desk.cancel_everything()
                self.state.live = None  # the exchange has just shown nothing open
                await self.dead_man.disarm()
        except (TimeoutError, ExchangeError, OSError) as err:
            backstop = (
                f"; the exchange's dead-man switch cancels them within {self.cfg.cancel_countdown:.0f} s"
                if self.dead_man.available
                else ""
            )
            log.error(
                "shutdown could not confirm that all orders are cancelled (%s)%s", err or type(err).__name__, backstop
            )
            left.append("orders not confirmed cancelled" + backstop)
        if self.state.position.amount:
            left.append(
                f"position {self.state.position.amount} {self.symbol} (stopping the bot never closes a position)"
            )
        line = f"left open: {'; '.join(left) or 'nothing'}; {self.describe()}"
        await self.books.income.final(self.t.shutdown_timeout)  # bounded; the next run covers what it misses
        log.info("stopped: %s", line)
        simulated = f" (--{self.cfg.mode}: simulated)" if self.cfg.mode else ""
        log.info("session summary%s: %s", simulated, self.books.text(self.rules))
        self.books.close()
        self.ops.stopped(line)
