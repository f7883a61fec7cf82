"""Issue 12 loss limits against the real bot: each drives the market against the bot and shows the
limit firing; the invariants hold throughout."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from conftest import SYMBOL, BotRun, assert_invariants, open_orders, order_posts, set_mid, wait_open

from aster_mm.decisions import BUY, SELL
from aster_mm.limits import LossLimits, breached, position_room, stop_quote, stop_triggered
from aster_mm.rules import SymbolRules

RULES = SymbolRules(SYMBOL, "TRADING", D("0.01"), D("0.001"), D("0.001"), D("5"))


# ---- pure decisions ------------------------------------------------------------------------------
def test_position_room_counts_the_position_already_held():
    assert position_room(D("0"), D("2500"), None) is None
    assert position_room(D("0.1"), D("2500"), D("1000")) == D("0.3")
    assert position_room(D("-0.5"), D("2500"), D("1000")) == D("0")


@pytest.mark.parametrize("position, mark, fires", [
    (D("1"), D("2475"), True), (D("1"), D("2475.01"), False),       # long: 1 % below entry 2500
    (D("-1"), D("2525"), True), (D("-1"), D("2524.99"), False),     # short: 1 % above
    (D("0"), D("1000"), False),
])
def test_stop_fires_only_against_the_position(position, mark, fires):
    assert stop_triggered(position, D("2500"), mark, D("0.01")) is fires
    assert stop_triggered(position, D("2500"), mark, None) is False


def test_stop_order_crosses_by_at_most_the_slippage():
    long = stop_quote(D("0.8"), D("2450"), D("2450.02"), D("0.002"), RULES)
    assert (long.side, long.qty, long.reduce_only, long.time_in_force) == (SELL, D("0.8"), True, "IOC")
    assert long.price == D("2445.10")                               # 2450 * 0.998, rounded towards the bid
    short = stop_quote(D("-0.8"), D("2549.98"), D("2550"), D("0.002"), RULES)
    assert (short.side, short.price) == (BUY, D("2555.10"))


def test_loss_limits_breach_at_the_threshold():
    limits = LossLimits(max_loss_usd=D("50"), max_daily_loss_usd=D("80"))
    assert breached(limits, D("-49.99"), D("-79")) == ""
    assert "max-loss-usd" in breached(limits, D("-50"), D("0"))
    assert "max-daily-loss-usd" in breached(limits, D("0"), D("-80"))


# ---- against the simulator -----------------------------------------------------------------------
async def test_max_position_caps_the_opening_size_including_a_partial_fill(sim):
    async with BotRun(sim, max_position_usd=D("1000")) as bot:
        buy = await wait_open(sim, "BUY")
        assert D(buy["origQty"]) == D("0.4")                         # 1000 / 2500, not 0.8
        await sim.fill_order(SYMBOL, qty=D("0.004"))                # 10 USD: still flat (threshold 15)
        await sim.wait_for(lambda: bot.state.position.amount == D("0.004"), 5)
        await set_mid(sim, "2520")                                  # requote with the position counted
        await sim.wait_for(lambda: len(order_posts(sim)) == 2 or
                           any(r["method"] == "PUT" for r in sim.order_requests()), 5)
        await sim.wait_for(lambda: open_orders(sim) and D(open_orders(sim)[0]["price"]) > D("2486"), 5)
        [order] = open_orders(sim)
        assert D(order["origQty"]) - D(order["executedQty"]) + bot.state.position.amount <= D("1000") / D("2500")
        assert_invariants(sim, bot)


async def test_stop_loss_closes_with_reduce_only_ioc_orders_until_flat(sim):
    async with BotRun(sim, stop_loss=D("0.01"), stop_slippage=D("0.002")) as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)                                # long 0.8 @ 2485
        await wait_open(sim, "SELL")
        await set_mid(sim, "2455")                                  # 1.2 % under the entry
        await sim.wait_for(lambda: sim.position(SYMBOL) == 0, 5)
        stop = order_posts(sim)[-1]
        assert (stop["side"], stop["timeInForce"], stop["reduceOnly"]) == ("SELL", "IOC", "true")
        assert D(stop["price"]) >= D("2454.99") * D("0.998") - D("0.01")
        assert sim.summary(SYMBOL)["realized_pnl"] < 0              # the loss was taken
        await wait_open(sim, "BUY")                                 # flat: quoting resumes
        assert_invariants(sim, bot)
