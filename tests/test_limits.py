"""Loss limits (aster_mm/core/limits.py): the pure decisions, then against the real bot: each drives the market
against the bot and shows the limit firing; the invariants hold throughout."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal as D

import pytest
from helpers import (
    SYMBOL,
    BotRun,
    RecordedOps,
    assert_invariants,
    open_orders,
    order_posts,
    run_cli,
    set_mid,
    wait_open,
)

from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side, SpreadModel
from aster_mm.core.limits import LossChange, LossGate, LossLimits, breached, position_room, stop_quote, stop_triggered
from aster_mm.core.rules import SymbolRules
from aster_mm.live.bot import LossLimitHalt

RULES = SymbolRules(SYMBOL, "TRADING", D("0.01"), D("0.001"), D("0.001"), D("5"))


# ---- pure decisions ------------------------------------------------------------------------------
def test_position_room_counts_the_position_already_held():
    assert position_room(D("0"), D("2500"), None) is None
    assert position_room(D("0.1"), D("2500"), D("1000")) == D("0.3")
    assert position_room(D("-0.5"), D("2500"), D("1000")) == D("0")


@pytest.mark.parametrize(
    "position, mark, fires",
    [
        (D("1"), D("2475"), True),
        (D("1"), D("2475.01"), False),  # long: 1 % below entry 2500
        (D("-1"), D("2525"), True),
        (D("-1"), D("2524.99"), False),  # short: 1 % above
        (D("0"), D("1000"), False),
    ],
)
def test_stop_fires_only_against_the_position(position, mark, fires):
    assert stop_triggered(position, D("2500"), mark, D("0.01")) is fires
    assert stop_triggered(position, D("2500"), mark, None) is False


def test_stop_order_crosses_by_at_most_the_slippage():
    long = stop_quote(D("0.8"), D("2450"), D("2450.02"), D("0.002"), RULES)
    assert (long.side, long.qty, long.reduce_only, long.time_in_force) == (Side.SELL, D("0.8"), True, "IOC")
    assert long.price == D("2445.10")  # 2450 * 0.998, rounded towards the bid
    short = stop_quote(D("-0.8"), D("2549.98"), D("2550"), D("0.002"), RULES)
    assert (short.side, short.price) == (Side.BUY, D("2555.10"))


def test_loss_limits_breach_at_the_threshold():
    limits = LossLimits(max_loss_usd=D("50"), max_daily_loss_usd=D("80"))
    assert breached(limits, D("-49.99"), D("-79")) == ""
    assert "max-loss-usd" in breached(limits, D("-50"), D("0"))
    assert "max-daily-loss-usd" in breached(limits, D("0"), D("-80"))


def test_loss_gate_measures_the_next_session_loss_from_the_resume():
    gate = LossGate(LossLimits(max_loss_usd=D("50"), cooldown_s=60))
    assert gate.update(0, D("-50"), D("0"), 1e6) == LossChange.BREACH
    assert gate.update(59, D("-70"), D("0"), 1e6) == ""  # paused
    assert gate.update(60, D("-70"), D("0"), 1e6) == LossChange.RESUME
    assert gate.update(61, D("-119"), D("0"), 1e6) == ""  # 49 more: fine
    assert gate.update(62, D("-120"), D("0"), 1e6) == LossChange.BREACH  # 50 more since the resume
    halt = LossGate(LossLimits(max_loss_usd=D("50"), cooldown_s=0))
    assert halt.update(0, D("-60"), D("0"), 1e6) == LossChange.BREACH and halt.halts
    assert halt.update(1e9, D("0"), D("0"), 1e6) == ""  # never resumes
    short = LossGate(LossLimits(max_loss_usd=D("50"), cooldown_s=0.5))
    assert (
        short.update(0, D("-60"), D("0"), 1e6) == LossChange.BREACH
        and short.update(0.5, D("-60"), D("0"), 1e6) == LossChange.RESUME
    )


def test_the_halt_cooldown_is_given_in_minutes():
    from aster_mm.live.bot import MarketMaker

    bot = MarketMaker(Config(symbol=SYMBOL, max_loss_usd=D("5"), halt_cooldown=2.5), client=None, ws_url="ws://x")
    assert bot.strategy.gate.limits == LossLimits(max_loss_usd=D("5"), cooldown_s=150.0)


def bot_holding(position: str, **config):
    """A bot (no exchange) with `position` ETH at entry 2500 and the market at 2400 / 2400.02."""
    from aster_mm.core.position import PositionTracker
    from aster_mm.core.state import Book
    from aster_mm.live.bot import MarketMaker

    config.setdefault("spread_model", SpreadModel.FIXED)
    bot = MarketMaker(Config(symbol=SYMBOL, **config), client=None, ws_url="ws://x")
    st = bot.state
    st.book, st.position = Book(D("2400"), D("2400.02"), 0.0), PositionTracker(D(position))
    st.entry_price, st.mark_price, st.available = D("2500"), D("2400.01"), D("10000")
    return bot


MIN_QTY_RULES = SymbolRules(SYMBOL, "TRADING", tick=D("0.01"), step=D("0.001"), min_qty=D("0.001"), min_notional=D("0"))


def test_a_position_of_exactly_the_minimum_quantity_is_stopped_and_flattened():
    bot = bot_holding("0.001", stop_loss=D("0.01"), flatten_on_halt=True)
    assert bot.strategy.wanted(MIN_QTY_RULES) == (Quote(Side.SELL, D("2395.20"), D("0.001"), True, "IOC"), "stop")
    bot.state.paused = "max-loss-usd"
    assert bot.strategy.flattening(D("0.001"))


def test_the_halt_flattens_a_short_position_with_a_buy_above_the_ask():
    bot = bot_holding("-0.5", flatten_on_halt=True, stop_slippage=D("0.002"))
    bot.state.halted = "max-loss-usd"
    want, why = bot.strategy.wanted(MIN_QTY_RULES)
    assert why == "flatten" and (want.side, want.qty, want.reduce_only, want.time_in_force) == (
        Side.BUY,
        D("0.5"),
        True,
        "IOC",
    )
    assert want.price == D("2404.82")  # 2400.02 * 1.002, never past it


def test_the_signal_model_stops_at_its_own_stop_loss_unless_told_otherwise():
    assert bot_holding("0.8", spread_model=SpreadModel.SIGNAL).strategy.wanted(MIN_QTY_RULES)[1] == "stop"
    for config in ({"spread_model": SpreadModel.FIXED}, {"spread_model": SpreadModel.SIGNAL, "stop_loss": D(0)}):
        assert bot_holding("0.8", **config).strategy.wanted(MIN_QTY_RULES)[1] != "stop"


def test_a_stop_loss_once_started_goes_on_until_flat_even_if_the_price_recovers():
    bot = bot_holding("0.8", stop_loss=D("0.01"))
    assert bot.strategy.wanted(MIN_QTY_RULES)[1] == "stop"
    bot.state.position = type(bot.state.position)(D("0.3"))  # part of it closed
    bot.state.mark_price = bot.state.book.bid = D("2499")  # and the price came back
    bot.state.book.ask = D("2499.02")
    assert bot.strategy.wanted(MIN_QTY_RULES)[1] == "stop"
    bot.state.position = type(bot.state.position)(D("0"))
    assert bot.strategy.wanted(MIN_QTY_RULES)[1] == "open"  # flat: the stop is over


def test_the_adaptive_model_is_given_the_position_in_lots_of_one_opening_order():
    class Recorder:
        def __init__(self):
            self.inventory = []

        def spreads(self, now, inventory, tick_bp=None):
            self.inventory.append(inventory)
            return type("Spreads", (), {"estimates": {}, "buy_spread": D("0.001"), "sell_spread": D("0.002")})()

    bot = bot_holding("0.4")
    bot.strategy.spreads = model = Recorder()
    params = bot.strategy.quote_params(D("10000"))  # a lot: 10000 * 0.2 / 2400.01 = 0.8333 ETH
    assert (params.buy_spread, params.sell_spread) == (D("0.001"), D("0.002"))
    bot.strategy.quote_params(D("0.5"))  # a tiny wallet: a lot of 0.0000417 ETH
    bot.strategy.quote_params(D("0"))  # no wallet: no lots to count in
    assert model.inventory[0] == pytest.approx(0.4 / (10000 * 0.2 / 2400.01))
    assert model.inventory[1] == pytest.approx(0.4 / (0.5 * 0.2 / 2400.01)) and model.inventory[2] == 0.0


def test_no_quoting_on_a_book_left_by_a_market_stream_that_is_down():
    """The book of a dropped market connection is not used while the stream reconnects, however fresh."""
    bot = bot_holding("0")
    bot.state.user_up, bot.state.market_up, bot.state.market_seen_at = True, True, bot.now()
    assert bot.not_ready() == ""
    bot.state.market_up = False
    assert bot.not_ready() == "no market data"


# ---- against the simulator -----------------------------------------------------------------------
async def test_max_position_caps_the_opening_size_including_a_partial_fill(sim):
    async with BotRun(sim, max_position_usd=D("1000")) as bot:
        buy = await wait_open(sim, "BUY")
        assert D(buy["origQty"]) == D("0.4")  # 1000 / 2500, not 0.8
        await sim.fill_order(SYMBOL, qty=D("0.004"))  # 10 USD: still flat (threshold 15)
        await sim.wait_for(lambda: bot.state.position.amount == D("0.004"), 5)
        await set_mid(sim, "2520")  # requote with the position counted
        await sim.wait_for(
            lambda: len(order_posts(sim)) == 2 or any(r["method"] == "PUT" for r in sim.order_requests()), 5
        )
        await sim.wait_for(lambda: open_orders(sim) and D(open_orders(sim)[0]["price"]) > D("2486"), 5)
        [order] = open_orders(sim)
        assert D(order["origQty"]) - D(order["executedQty"]) + bot.state.position.amount <= D("1000") / D("2500")
        assert_invariants(sim, bot)


@pytest.mark.parametrize(
    "side, opening, closing, mid_against", [("long", "BUY", "SELL", "2455"), ("short", "SELL", "BUY", "2545")]
)
async def test_stop_loss_closes_with_reduce_only_ioc_orders_until_flat(sim, side, opening, closing, mid_against):
    """Long 0.8 @ 2485 or short 0.8 @ 2515, then the market moves 1.2 % against it: reduce-only IOC orders,
    crossing the book by at most the slippage, until flat; then quoting resumes."""
    async with BotRun(sim, side=side, stop_loss=D("0.01"), stop_slippage=D("0.002")) as bot:
        await wait_open(sim, opening)
        await sim.fill_order(SYMBOL)
        await wait_open(sim, closing)
        await set_mid(sim, mid_against)
        await sim.wait_for(lambda: sim.position(SYMBOL) == 0, 5)
        stop = order_posts(sim)[-1]
        assert (stop["side"], stop["timeInForce"], stop["reduceOnly"]) == (closing, "IOC", "true")
        touch = D(mid_against) + (D("0.01") if closing == "BUY" else D("-0.01"))  # the best price it crosses to
        assert abs(D(stop["price"]) - touch) <= touch * D("0.002") + D("0.01")
        assert sim.summary(SYMBOL)["realized_pnl"] < 0  # the loss was taken
        await wait_open(sim, opening)  # flat: quoting resumes
        assert_invariants(sim, bot)


async def long_then_price_drop(sim, bot, to: str = "2470") -> None:
    """Long 0.8 @ 2485, then the market falls: about 12 USD unrealized loss at 2470."""
    await wait_open(sim, "BUY")
    await sim.fill_order(SYMBOL)
    await wait_open(sim, "SELL")
    await set_mid(sim, to)


async def wait_state(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_max_loss_pauses_then_resumes_after_the_cooldown(sim):
    ops = RecordedOps()
    async with BotRun(sim, max_loss_usd=D("5"), halt_cooldown=0.02, ops=ops) as bot:  # 1.2 s pause
        await long_then_price_drop(sim, bot)
        await wait_state(lambda: bot.state.paused)
        paused_at = time.monotonic()
        await sim.wait_for(lambda: not open_orders(sim), 5)  # the SELL is pulled
        assert "max-loss-usd" in bot.state.paused and "PAUSED" in bot.describe()
        posts = len(order_posts(sim))
        await wait_state(lambda: not bot.state.paused, 5)
        assert time.monotonic() - paused_at >= 1.0
        await wait_open(sim, "SELL")  # quoting again
        assert len(order_posts(sim)) == posts + 1
        checked = bot.strategy._next_check  # two more checks later, the
        await wait_state(lambda: bot.strategy._next_check > checked + 0.9)  # same loss pauses no more:
        assert not bot.state.paused  # measured from the resume
        assert_invariants(sim, bot)
    told = [a for a in ops.told if "loss" in a]  # one alert each way
    assert len(told) == 2 and told[1] == "loss-limit pause over: resuming", told
    assert re.fullmatch(r"loss limit: session net PnL -\d+\.\d\d USD reached --max-loss-usd 5; PAUSED for 1 s", told[0])


async def test_daily_loss_pauses_until_the_utc_day_ends(sim):
    async with BotRun(sim, max_daily_loss_usd=D("5"), halt_cooldown=0.01) as bot:
        await long_then_price_drop(sim, bot)
        await wait_state(lambda: bot.state.paused)
        await sim.wait_for(lambda: not open_orders(sim), 5)
        left = bot.strategy.gate.until - bot.now()
        assert left >= 86_400 - time.time() % 86_400 - 5  # not just the 0.6 s cooldown
        assert "max-daily-loss-usd" in bot.state.paused


async def test_halt_flattens_and_stops_with_status_3(sim):
    run = BotRun(sim, max_loss_usd=D("5"), halt_cooldown=0, flatten_on_halt=True)
    async with run as bot:
        await long_then_price_drop(sim, bot)
        with pytest.raises(LossLimitHalt) as halt:
            await asyncio.wait_for(run.task, 10)
        run.task = None
        assert halt.value.exit_status == 3 and "max-loss-usd" in str(halt.value)
        assert sim.position(SYMBOL) == 0 and open_orders(sim) == []
        flatten = order_posts(sim)[-1]
        assert (flatten["side"], flatten["timeInForce"], flatten["reduceOnly"]) == ("SELL", "IOC", "true")
        assert_invariants(sim, bot)


async def test_halt_exits_3_from_the_command_line(sim, bot_env, tmp_path):
    proc = await run_cli(
        "--symbol",
        SYMBOL,
        "--max-loss-usd",
        "5",
        "--halt-cooldown",
        "0",
        "--log-file",
        str(tmp_path / "mm.log"),
        env=bot_env,
        cwd=tmp_path,
    )
    try:
        await wait_open(sim, "BUY", timeout=15)
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        await set_mid(sim, "2470")
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 3, err.decode()
    assert "halted by a loss limit" in err.decode() and b"Traceback" not in out + err
    assert open_orders(sim) == [] and sim.position(SYMBOL) == D("0.8")  # not flattened: not asked


LIMIT_RULES = SymbolRules(SYMBOL, "TRADING", D("0.01"), D("0.001"), D("0.001"), D("5"))


# ---- pure decisions: the stop order and when it fires --------------------------------------------
def test_a_short_is_stopped_with_a_reduce_only_ioc_buy_for_all_of_it():
    short = stop_quote(D("-0.8"), D("2549.98"), D("2550"), D("0.002"), LIMIT_RULES)
    assert short == Quote(Side.BUY, D("2555.10"), D("0.8"), True, "IOC")


@pytest.mark.parametrize(
    "position, entry, mark, fires",
    [
        (D("0"), D("2500"), D("3000"), False),  # flat: nothing to stop, whichever way the price went
        (D("-1"), D("0"), D("2500"), False),  # no entry price known: no stop
        (D("1"), D("0.5"), D("0.49"), True),  # a cheap coin 2 % down: the stop fires
    ],
)
def test_the_stop_needs_a_position_and_a_known_entry(position, entry, mark, fires):
    assert stop_triggered(position, entry, mark, D("0.01")) is fires
