"""The exchange's own safety features (aster_mm/live/protection.py) in the real bot against the simulator:
commission rates read at start, self-trade prevention, Market Maker Protection and its freezes, and the
refusals (-4088, -4141, -4022) that stop opening orders with a bounded retry."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal as D

import pytest
from helpers import (
    FAST,
    ORDER_PATH,
    SYMBOL,
    BotRun,
    RecordedOps,
    assert_invariants,
    open_orders,
    order_posts,
    refusals,
    set_mid,
    wait_open,
)

from aster_mm.core.config import MmpConfig
from aster_mm.core.state import FeeRates
from aster_mm.simulator import Readings, SimExchange

# ---- orders refused outright: close-only, with a bounded retry ---------------------------------------------
QUICK_BLOCKS = replace(FAST, block_retry=0.3)


@pytest.mark.parametrize(
    "code, msg, cause",
    [
        (-4088, "User can not place order currently", "permission"),
        (-4141, "Symbol is closed", "market"),
        (-4022, "market status sent is not valid.", "market"),
    ],
)
async def test_orders_refused_outright_stop_opening_orders_with_a_bounded_retry(sim, code, msg, cause):
    ops = RecordedOps()
    sim.fail_next("POST", ORDER_PATH, count=3, status=400, body={"code": code, "msg": msg})
    async with BotRun(sim, timings=QUICK_BLOCKS, ops=ops) as bot:
        await sim.wait_for(lambda: cause in bot.state.close_only, 5)
        assert "CLOSE-ONLY" in bot.describe() and f"blocked={cause}" in bot.describe()
        await wait_open(sim, "BUY", timeout=10)  # the fourth attempt is accepted
        first, second, third, fourth = [r["t"] for r in sim.requests("POST", ORDER_PATH)]
        # 0.3 s, then 0.6 s, then 1.2 s: a bounded retry, not a storm (the desk's own back-off is shorter)
        assert second - first >= 0.3 and third - second >= 0.6 and fourth - third >= 1.2
        # the order is open on the exchange before the bot has read the answer that ends the block
        await sim.wait_for(lambda: not bot.protection.blocks, 5)
        assert not bot.state.close_only
        [told] = [t for t in ops.told if msg in t]  # once, not at every retry
        assert told.startswith("ORDERS REFUSED" if code == -4088 else "SYMBOL ETHUSDT NOT OPEN")
        assert_invariants(sim, bot)


# ---- commission rates, self-trade prevention, Market Maker Protection --------------------------------------
async def test_commission_rates_are_read_at_start_into_the_state(sim):
    sim.set_commission("-0.00002", "0.0003")
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        assert bot.state.fees == FeeRates(D("-0.00002"), D("0.0003"))
        [read] = sim.requests("GET", "/fapi/v1/commissionRate")
        assert read["params"]["symbol"] == SYMBOL and read["status"] == 200


@pytest.mark.parametrize("report", ["EXPIRED", "CANCELED"])
async def test_stp_is_set_and_sent_and_its_expiries_are_not_post_only_crossings(report):
    """The account trades by hand into the bot's quote: --stp EXPIRE_MAKER ends the bot's order. The docs
    do not say how (A23: EXPIRED, or CANCELED): neither counts as a post-only crossing, so the bot quotes
    again at once instead of backing off."""
    async with SimExchange(readings=Readings(stp_report=report)) as sim:
        sim.scheme = "v3"
        await sim.set_book(SYMBOL, bids=[("2490", "5")], asks=[("2510", "5")])
        async with BotRun(sim, stp_mode="EXPIRE_MAKER", buy_spread=D("0.0004")) as bot:
            for _ in range(3):
                order = await wait_open(sim, "BUY")  # 2499.00: better than the book's bid
                expired_at = time.monotonic()
                await sim.trade_by_hand(SYMBOL, "SELL", "2495", "0.1", tif="IOC")  # meets our BUY first
                await sim.wait_for(lambda: sim.order(SYMBOL, order["clientOrderId"])["status"] == report, 5)
                await sim.wait_for(lambda: any(o["clientOrderId"] != order["clientOrderId"]
                                               for o in open_orders(sim)), 5)  # fmt: skip
                assert time.monotonic() - expired_at < 0.5  # at once: no back-off (it would be 0.5 s, then 1 s)
            assert bot.desk.failures == 0 and bot.state.position.amount == 0
            assert bot.metrics.orders["stp_expired"] == (3 if report == "EXPIRED" else 0)
        [mode] = sim.requests("POST", "/fapi/v3/stpMode")
        assert mode["params"]["stpMode"] == "EXPIRE_MAKER" and mode["status"] == 200
        assert all(p["stpMode"] == "EXPIRE_MAKER" for p in order_posts(sim))


@pytest.mark.parametrize("freeze", ["cancel", "refuse"])
async def test_mmp_is_set_at_start_and_a_freeze_is_noticed_and_waited_out(freeze):
    """POST /fapi/v3/mmp at start; a fill reaching the value limit freezes the account's orders (V3 doc,
    "Update User MMP"). How a freeze reports itself is not documented: the exchange may cancel the open
    orders and refuse new ones with -4088, or refuse only (A28). Either way the bot notices it, shows it
    (close-only, status line, metric, alert), sends no order during the freeze and quotes again after it."""
    ops = RecordedOps()
    mmp = MmpConfig(window_ms=5000, frozen_ms=1500, value_limit=1000)
    async with SimExchange(readings=Readings(mmp_freeze=freeze)) as sim:
        sim.scheme = "v3"
        await set_mid(sim, "2500")
        async with BotRun(sim, mmp=mmp, ops=ops) as bot:
            await wait_open(sim, "BUY")  # 0.8 at 2485
            await sim.fill_order(SYMBOL, qty="0.5")  # 1242.50 of value: the limit is reached
            assert sim.mmp_frozen(SYMBOL)
            await sim.wait_for(lambda: bot.protection.frozen(), 5)
            [refused] = refusals(sim, -4088)
            assert "blocked=mmp" in bot.describe() and bot.protection.snapshot()["mmp_frozen"]
            assert open_orders(sim) == []  # the rest of the BUY: cancelled by the exchange, or by the bot
            sell = await wait_open(sim, "SELL", timeout=10)
            placed = sim.requests("POST", ORDER_PATH)[-1]
            assert placed["t"] - refused["t"] >= 1.5 and D(sell["origQty"]) == D("0.5")
            await sim.wait_for(lambda: not bot.protection.frozen(), 5)
            assert bot.metrics.mmp_freezes == 1 and any("MMP FREEZE" in t for t in ops.told)
            assert_invariants(sim, bot)
        [set_up] = sim.requests("POST", "/fapi/v3/mmp")
        assert set_up["params"] | {"signature": ""} == set_up["params"] | {
            "symbol": SYMBOL,
            "windowTimeInMilliseconds": "5000",
            "frozenTimeInMilliseconds": "1500",
            "valueLimit": "1000",
            "signature": "",
        }
        assert "qtyLimit" not in set_up["params"] and "deltaLimit" not in set_up["params"]
        assert not sim.requests("POST", "/fapi/v3/mmpReset")  # it ended by itself


async def test_a_freeze_that_does_not_end_by_itself_gets_one_mmp_reset(v3sim):
    sim, mmp = v3sim, MmpConfig(window_ms=5000, frozen_ms=300, qty_limit=5)
    refused = {"code": -4088, "msg": "User can not place order currently"}
    sim.fail_next("POST", ORDER_PATH, count=2, status=400, body=refused)
    async with BotRun(sim, mmp=mmp) as bot:
        await wait_open(sim, "BUY", timeout=10)
        first, second, third = sim.requests("POST", ORDER_PATH)
        [reset] = sim.requests("POST", "/fapi/v3/mmpReset")
        assert second["t"] - first["t"] >= 0.3  # the freeze's length, then one try
        assert second["t"] < reset["t"] < third["t"] and reset["params"]["symbol"] == SYMBOL
        await sim.wait_for(lambda: not bot.protection.blocks, 5)
        assert_invariants(sim, bot)
