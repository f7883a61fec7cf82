"""Issue 14: blind spots that seeded bugs (and mutmut's surviving mutants) found in the suite.

Each test names the bug it catches; each was seen to fail with that bug applied.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from aioresponses import aioresponses
from conftest import FAST, SYMBOL, BotRun, open_orders, order_posts, set_mid, wait_open

from api_client import AsterClient
from aster_mm.position import PositionTracker

COUNTDOWN = "/fapi/v1/countdownCancelAll"
NOW = 1_700_000_000.0


# ============================================================================ the client's clock
async def test_sync_time_takes_the_server_time_as_of_half_the_round_trip():
    """Bug: the offset measured from the send time (or the answer time) alone, off by half the round trip."""
    now = [NOW]
    with aioresponses() as mock:
        def takes_400_ms(url, **kwargs):
            now[0] += 0.4
        mock.get("https://fapi.test/fapi/v1/time", payload={"serverTime": int(NOW * 1000) + 200},
                 callback=takes_400_ms)
        client = AsterClient("key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: now[0])
        try:
            assert await client.sync_time() == 0       # stamped 200 ms after sending: our clock is right
        finally:
            await client.close()


# ============================================================================ the position tracker
def test_a_fill_older_than_the_snapshot_is_in_it_whatever_the_event_time():
    """Bug: a fill compared with the snapshot's event time instead of its transaction time (counted twice
    when the snapshot carries no event time, as REST reads stamped by the exchange alone do)."""
    tracker = PositionTracker()
    tracker.apply_snapshot(D("0.8"), at_ms=5_000)                 # includes the fill below
    assert tracker.apply_fill(trade_id=1, at_ms=4_000, signed_qty=D("0.8"))
    assert tracker.amount == D("0.8")
    assert tracker.apply_fill(trade_id=2, at_ms=6_000, signed_qty=D("-0.3"))
    assert tracker.amount == D("0.5")


def test_the_tracker_remembers_the_last_10000_trade_ids_and_no_more():
    """Bugs: the memory of seen trade ids never shrinks (a slow leak on a busy symbol), or forgets too soon
    (a late duplicate of a recent fill would be counted twice)."""
    tracker = PositionTracker()
    for trade_id in range(1, 10_002):
        tracker.apply_fill(trade_id, at_ms=trade_id, signed_qty=D("0.001"))
    assert not tracker.apply_fill(2, at_ms=2, signed_qty=D("0.001"))          # still remembered: not recounted
    assert not tracker.apply_fill(10_001, at_ms=10_001, signed_qty=D("0.001"))
    assert tracker.amount == D("10.001")
    assert tracker.apply_fill(1, at_ms=1, signed_qty=D("0"))                   # the oldest is forgotten


# ============================================================================ the dead-man switch
async def test_a_short_countdown_is_renewed_well_before_it_runs_out(sim):
    """Bug: the heartbeat renews every heartbeat_every (600 s here) whatever the countdown: a 0.6 s
    countdown then cancels the quote at the exchange and the bot quotes into a wall of cancels."""
    async with BotRun(sim, cancel_countdown=0.6):
        buy = await wait_open(sim, "BUY")
        await sim.wait_for(lambda: len(sim.requests("POST", COUNTDOWN)) >= 6, 3)   # at most every 0.15 s
        renewals = sim.requests("POST", COUNTDOWN)
        assert all(r["params"]["countdownTime"] == "600" for r in renewals)
        assert max(b["t"] - a["t"] for a, b in zip(renewals, renewals[1:])) < 0.6
        assert [o["clientOrderId"] for o in open_orders(sim)] == [buy["clientOrderId"]]   # never expired


async def test_a_clean_stop_disarms_the_dead_man_switch_after_the_last_cancel(sim):
    """Bug: shutdown leaves the countdown armed: harmless for this run's orders, but the exchange then
    cancels whatever another session or a restarted bot places on the symbol when it runs out."""
    async with BotRun(sim, cancel_countdown=5):
        await wait_open(sim, "BUY")
    assert open_orders(sim) == []
    disarms = [r for r in sim.requests("POST", COUNTDOWN) if r["params"]["countdownTime"] == "0"]
    assert len(disarms) == 1
    assert disarms[0]["t"] > sim.requests("GET", "/fapi/v1/openOrders")[-1]["t"]   # only once none were left


# ============================================================================ the sweep and reconciliation
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
        sim.freeze_streams("user")                      # its events are lost: only a reconciliation sees it
        await sim.place_order_direct(SYMBOL, "BUY", D("2000"), D("0.01"), client_order_id="amm-oldrun-3")
        sim.freeze_streams("user", False)
        sim.fail_next("GET", "/fapi/v2/balance", count=3, status=503)   # every retry of the next read
        await sim.drop_streams("user")
        await sim.wait_for(lambda: all(o["clientOrderId"] != "amm-oldrun-3" for o in open_orders(sim)), 5)
        await wait_open(sim, "BUY")
        assert bot.state.position.amount == sim.position(SYMBOL)


# ============================================================================ stale market data
async def test_a_market_connection_that_opens_but_stays_silent_is_not_quoted_on(sim):
    """Bug: not_ready() without its staleness check (or timing the book instead of the connection). A
    reconnect that opens but never delivers a frame sets market_up again over the old book: without the
    check the bot quotes on prices from before the outage."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        connects = sim.stream_connects("market")
        sim.freeze_streams("market")                    # no frame at all, not even the mark price
        await sim.wait_for(lambda: not open_orders(sim), FAST.stale_after + 3)
        posts = len(order_posts(sim))
        # A silent connection comes and goes (it lives stale_after): the bot is up on it, but not ready.
        await sim.wait_for(lambda: sim.stream_connects("market") >= connects + 2, 3 * FAST.stale_after + 3)
        assert len(order_posts(sim)) == posts and open_orders(sim) == []
        assert bot.state.book is not None               # the old book was there all along
        sim.freeze_streams("market", False)
        await set_mid(sim, "2501")
        await wait_open(sim, "BUY")
