"""Reconciliation (aster_mm/live/reconcile.py): the sweep cancels a stray of ours before anything new is placed,
leaves orders that are not ours alone and adopts the exchange's position; a reconciliation that a reconnect
or a failure cut short runs again; a REST position read never erases a newer stream fill."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from decimal import Decimal as D

from helpers import (
    FAST,
    SYMBOL,
    BotRun,
    FakeClient,
    FakeClock,
    assert_invariants,
    make_bot,
    open_orders,
    order_update,
    wait_open,
)


# ---- the sweep and a REST position read, against a scripted exchange ---------------------------------------
async def test_sweep_finding_a_stray_cancels_it_before_placing_a_new_order():
    """step() runs the periodic sweep, which only *records* strays, then carries on in the same step and
    places a new order while the stray is still open: two of our orders are open at once."""
    stray = {
        "clientOrderId": "amm-oldrun-7",
        "orderId": 7,
        "status": "NEW",
        "executedQty": "0",
        "side": "BUY",
        "origQty": "0.01",
        "price": "2000",
    }
    client, clock = FakeClient(open_orders=[stray]), FakeClock()
    bot = make_bot(client, clock)
    bot.sync.next_sweep = 0.0  # a sweep is due
    for _ in range(5):
        if not await bot.step():
            break
    assert ("cancel", "amm-oldrun-7") in client.calls
    assert client.peak_open <= 1, f"a new order was placed beside the stray: {client.calls}"


async def test_unstamped_rest_read_lagging_the_stream_does_not_erase_its_fill():
    """positionRisk with updateTime 0 was stamped with our send time, so a read that lagged a fill the
    stream had just reported erased it: the bot went back to BUY mode while long."""
    client, clock = FakeClient(position="0", update_time=0), FakeClock()
    bot = make_bot(client, clock)
    now_ms = int(time.time() * 1000)  # the read is stamped by the wall clock
    bot.state.position.apply_snapshot(D("0"), now_ms - 1000)
    bot.on_user_message(
        json.dumps(
            order_update("TRADE", "FILLED", l="0.8", z="0.8", q="0.8", L="2485", t=7, E=now_ms - 90, T=now_ms - 100)
        )
    )
    assert bot.state.position.amount == D("0.8")
    await bot.sync.refresh_position()  # REST still says 0
    assert bot.state.position.amount == D("0.8")
    assert bot.sync.next_sweep <= clock() + 1.0  # and it is read again shortly


# ---- the real bot against the simulator: a reconnect during a reconciliation -------------------------------
async def test_user_stream_reconnect_during_reconcile_triggers_another_reconcile(sim):
    """reconcile() ends with `need_reconcile = False`, wiping the flag that a user-stream reconnect set while the
    reconcile was still awaiting REST answers; what happened during that second outage (here: the position
    changed) is never read back, and the bot keeps quoting on a stale position."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.fail_next("GET", "/fapi/v1/openOrders", status=200, body=[], execute=True, delay=1.5)
        reads = len(sim.requests("GET", "/fapi/v1/openOrders"))
        await sim.drop_streams("user")  # reconnect -> reconcile, whose last read hangs
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v1/openOrders")) > reads, 5)
        hanging = sim.requests("GET", "/fapi/v1/openOrders")[reads]
        # A second outage while that reconcile is stuck; the position changes meanwhile (a fill whose events
        # were lost with the connection).
        sim.refuse_streams("user")
        await sim.drop_streams("user")
        await sim.wait_for(lambda: not bot.state.user_up, 5)
        sim.set_position(SYMBOL, D("0.3"), D(2490))
        sim.refuse_streams("user", False)
        await sim.wait_for(lambda: bot.state.user_up, 5)
        assert hanging["status"] is None  # the reconnect happened during the reconcile
        await sim.wait_for(lambda: hanging["status"] is not None, 5)
        await sim.wait_for(lambda: bot.state.position.amount == sim.position(SYMBOL), 3)


# ---- the sweep, and a reconciliation that fails half way ---------------------------------------------------
async def test_the_sweep_leaves_orders_that_are_not_ours_alone(sim):
    """Bug: the sweep cancels every open order but the live one, the user's own orders on the symbol too."""
    async with BotRun(sim, timings=replace(FAST, sweep_every=0.2)) as bot:
        await wait_open(sim, "BUY")
        await sim.place_order_direct(SYMBOL, "BUY", D("2000"), D("0.01"), client_order_id="web_8f3a")
        await sim.place_order_direct(SYMBOL, "SELL", D("3000"), D("0.01"), client_order_id="ammo-1")
        reads = len(sim.requests("GET", "/fapi/v1/openOrders"))
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v1/openOrders")) >= reads + 3, 5)  # 3 sweeps
        assert {o["clientOrderId"] for o in open_orders(sim)} >= {"web_8f3a", "ammo-1"}
        assert not bot.state.strays
        cancelled = {r["params"].get("origClientOrderId") for r in sim.requests("DELETE", "/fapi/v1/order")}
        assert not cancelled & {"web_8f3a", "ammo-1"}


async def test_a_reconciliation_that_fails_half_way_is_run_again_before_quoting(sim):
    """Bug: a failed step no longer asks for a reconciliation (quote_loop): the one the user-stream reconnect
    asked for dies at its wallet read, and a stray of ours it would have found stays open beside the quote."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # its events are lost: only a reconciliation sees it
        await sim.place_order_direct(SYMBOL, "BUY", D("2000"), D("0.01"), client_order_id="amm-oldrun-3")
        sim.freeze_streams("user", False)
        sim.fail_next("GET", "/fapi/v2/balance", count=3, status=503)  # every retry of the next read
        await sim.drop_streams("user")
        await sim.wait_for(lambda: all(o["clientOrderId"] != "amm-oldrun-3" for o in open_orders(sim)), 5)
        await wait_open(sim, "BUY")
        assert bot.state.position.amount == sim.position(SYMBOL)


# ---- the sweep: strays cancelled, drift adopted ------------------------------------------------------------
async def test_sweep_cancels_stray_and_adopts_position(sim):
    async with BotRun(sim, timings=replace(FAST, sweep_every=0.3)) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")
        await sim.place_order_direct(SYMBOL, "BUY", Decimal("2000"), Decimal("0.01"), client_order_id="amm-ghost-1")
        sim.set_position(SYMBOL, Decimal("0.004"), Decimal("2500"))
        await sim.wait_for(lambda: len(open_orders(sim)) == 1 and bot.state.position.amount == Decimal("0.004"), 5)
        assert open_orders(sim)[0]["clientOrderId"] != "amm-ghost-1"
        sim.freeze_streams("user", False)
        # (the peak is 2 here by construction: the test itself put the stray beside our order)
        assert bot.state.position.amount == sim.position(SYMBOL)


# ---- position snapshots without updateTime -----------------------------------------------------------------
async def test_unstamped_position_reads_keep_a_full_cycle_exact(sim):
    sim.accounts.stamp_positions = False  # positionRisk updateTime 0, as in the docs' example
    async with BotRun(sim, timings=replace(FAST, sweep_every=0.2)) as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        sell = await wait_open(sim, "SELL")
        assert D(sell["origQty"]) == D("0.8")
        reads = len(sim.requests("GET", "/fapi/v2/positionRisk"))
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v2/positionRisk")) > reads + 2, 5)
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "BUY")
        assert_invariants(sim, bot)
