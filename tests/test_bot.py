"""MarketMaker (aster_mm/live/bot.py), the real bot against the simulator over real sockets: full cycles, requotes,
a restart, a replay of recorded data, no quoting on a silent market connection or below the minimum notional,
the exchange restarting, and the shutdown under faults. Asserted on what the exchange received, and the
invariants."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from helpers import (
    DATA_DIR,
    FAST,
    ORDER,
    SYMBOL,
    BotRun,
    RecordedOps,
    assert_invariants,
    open_orders,
    order_posts,
    set_mid,
    wait_open,
)

from aster_mm.core.orders import OrderState
from aster_mm.simulator import ReplayMarket, SimExchange


# =========================================================================== full cycles, requotes, a restart, a replay
async def test_full_cycle_buy_sell_buy(sim):
    ops = RecordedOps()
    async with BotRun(sim, ops=ops) as bot:
        buy = await wait_open(sim, "BUY")
        # mid 2500: BUY at 2500 * 0.994 = 2485, size 10000 USDT * 0.2 / 2500 = 0.8
        assert (Decimal(buy["price"]), Decimal(buy["origQty"])) == (Decimal("2485"), Decimal("0.8"))
        [sent] = order_posts(sim)
        assert sent["timeInForce"] == "GTX" and sent["type"] == "LIMIT" and "reduceOnly" not in sent
        assert re.fullmatch(r"amm-[a-z0-9]{6}-1", sent["newClientOrderId"])  # amm-<run id>-<n>
        assert sent["price"] == "2485" and sent["quantity"] == "0.8"

        await sim.fill_order(SYMBOL)
        sell = await wait_open(sim, "SELL")
        assert (Decimal(sell["price"]), Decimal(sell["origQty"])) == (Decimal("2515"), Decimal("0.8"))
        assert order_posts(sim)[-1]["reduceOnly"] == "true"
        assert bot.state.position.amount == Decimal("0.8")

        await sim.fill_order(SYMBOL)
        await wait_open(sim, "BUY")
        assert sim.position(SYMBOL) == 0
        assert_invariants(sim, bot)
        # what Prometheus is shown: three placements, two filled (as maker), nothing else
        await sim.wait_for(lambda: bot.metrics.orders["sent"] == 3, 5)  # the third one's answer is in
        assert {k: v for k, v in bot.metrics.orders.items() if v} == {"sent": 3, "FILLED": 2}
        assert bot.metrics.fills == {
            ("BUY", "maker"): 1,
            ("BUY", "taker"): 0,
            ("SELL", "maker"): 1,
            ("SELL", "taker"): 0,
        }
        [placements] = [
            h
            for endpoint, h in bot.metrics.rest.items()
            if endpoint.startswith("POST /fapi/v") and endpoint.endswith("/order")
        ]  # REST latency, by endpoint
        assert sum(placements.counts) == 3 and 0 < placements.sum < 3
        assert sum(bot.metrics.requote.counts) == 3 and 0 < bot.metrics.requote.sum < 3  # wake -> order sent
    assert open_orders(sim) == []
    [last_words] = ops.lines
    assert last_words.startswith("left open: nothing; mode=BUY")
    # a clean stop: one cancel-all, one look that nothing is open, then the dead-man switch disarmed; then the
    # final income reconciliation (its four income types; the trade list only for fills the ledger lacks)
    last_order = sim.requests("POST", "/fapi/v1/order")[-1]["t"]
    stopped_at = next(r["t"] for r in sim.requests("DELETE", "/fapi/v1/allOpenOrders") if r["t"] > last_order)
    assert [(r["method"], r.get("endpoint", r["path"])) for r in sim.requests() if r["t"] >= stopped_at] == [
        ("DELETE", "/fapi/v1/allOpenOrders"),
        ("GET", "/fapi/v1/openOrders"),
        ("POST", "/fapi/v1/countdownCancelAll"),
        *[("GET", "/fapi/v1/income")] * 4,
    ]


async def test_no_request_below_reprice_threshold_and_one_requote_above(sim):
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        before = len(sim.order_requests())
        for mid in ("2500.5", "2499.5", "2501", "2499", "2500.2", "2498.8"):  # target moves < 0.1 %
            await set_mid(sim, mid)
            # one at a time: the bot has seen this mid and its loop has run on it (a cancel would show
            # in the live order at once: PENDING_CANCEL before the request is even sent)
            await sim.wait_for(lambda: bot.state.book.mid == Decimal(mid) and not bot._wake.is_set(), 5)
            assert bot.state.live.client_id == first["clientOrderId"] and bot.state.live.state.value == "NEW"
            assert len(sim.order_requests()) == before
        await set_mid(sim, "2510")  # +0.4 %: requote
        # 2510 * 0.994 rounded down
        await sim.wait_for(lambda: [Decimal(o["price"]) for o in open_orders(sim)] == [Decimal("2494.94")], 5)
        requote = [(r["method"], r["path"]) for r in sim.order_requests()[before:]]
        [second] = open_orders(sim)
        if sim.scheme == "v3":  # amended in place: one request
            assert requote == [("PUT", "/fapi/v3/order")]
            sent = sim.requests("PUT", "/fapi/v3/order")[0]["params"]
            assert (sent["origClientOrderId"], sent["price"], sent["quantity"]) == (
                first["clientOrderId"],
                "2494.94",
                "0.8",
            )
            assert second["clientOrderId"] == first["clientOrderId"] and second["origQty"] == "0.800"
        else:
            assert requote == [("DELETE", "/fapi/v1/order"), ("POST", "/fapi/v1/order")]
            assert second["clientOrderId"] != first["clientOrderId"]
        assert bot.state.live.quote.price == Decimal("2494.94")
        assert_invariants(sim, bot)


async def test_partial_fill_below_threshold_then_replace_then_full_fill(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL, qty=Decimal("0.004"))  # 0.004 * 2485 = 9.94 USD < 15: still BUY mode
        await sim.wait_for(lambda: bot.state.position.amount == Decimal("0.004"), 5)
        await set_mid(sim, "2520")  # moves the target 0.8 %: replace the BUY
        await sim.wait_for(lambda: len(order_posts(sim)) == 2, 5)
        buy = await wait_open(sim, "BUY")
        # Sized from the available balance, which the 9.94 USD position's margin (leverage 1) and its
        # fee have reduced: (10000 - 9.94 - 0.000994) * 0.2 / 2520 = 0.79286, step 0.001.
        assert Decimal(buy["origQty"]) == Decimal("0.792")
        await sim.fill_order(SYMBOL)
        sell = await wait_open(sim, "SELL")
        assert Decimal(sell["origQty"]) == sim.position(SYMBOL) == Decimal("0.796")
        assert sell["reduceOnly"] is True
        assert_invariants(sim, bot)


async def test_restart_adopts_position_and_cancels_stale_order(sim):
    sim.set_position(SYMBOL, Decimal("0.5"), Decimal("2450"))
    await sim.place_order_direct(SYMBOL, "BUY", Decimal("2400"), Decimal("0.1"), client_order_id="amm-old-1")
    async with BotRun(sim) as bot:
        sell = await wait_open(sim, "SELL")
        assert Decimal(sell["origQty"]) == Decimal("0.5") and sell["reduceOnly"] is True
        assert [o["clientOrderId"] for o in open_orders(sim)] == [sell["clientOrderId"]]
        assert bot.state.position.amount == Decimal("0.5")


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"recorded data not found at {DATA_DIR}")
async def test_replay_recorded_bnbusdt(sim):
    """Real BNBUSDT books and trades, replayed 100x: the bot trades through them, invariants hold."""
    # Tight spreads so the ~10 minutes of recorded prices reach our quotes on both sides.
    async with BotRun(
        sim,
        symbol="BNBUSDT",
        buy_spread=Decimal("0.0001"),
        sell_spread=Decimal("0.0001"),
        reprice_threshold=Decimal("0.0005"),
    ) as bot:
        await ReplayMarket(DATA_DIR, symbol="BNBUSDT", speed=100).run(sim)
        summary = sim.summary("BNBUSDT")
        assert summary["fills"] > 0 and summary["buy_volume"] > 0 and summary["sell_volume"] > 0
        assert sim.peak_open_orders["BNBUSDT"] <= 1
        assert bot.state.position.amount == sim.position("BNBUSDT")
    assert sim.open_orders("BNBUSDT") == []


async def test_short_side_mirrors_the_full_cycle(sim):
    """--side short: SELL to open above mid, BUY reduce-only to close below it, the mirror of the BUY cycle."""
    async with BotRun(sim, side="short") as bot:
        sell = await wait_open(sim, "SELL")
        # mid 2500: SELL at 2500 * 1.006 = 2515, size 10000 * 0.2 / 2500 = 0.8
        assert (Decimal(sell["price"]), Decimal(sell["origQty"])) == (Decimal("2515"), Decimal("0.8"))
        assert "reduceOnly" not in order_posts(sim)[-1] and order_posts(sim)[-1]["timeInForce"] == "GTX"
        await sim.fill_order(SYMBOL)
        buy = await wait_open(sim, "BUY")
        assert (Decimal(buy["price"]), Decimal(buy["origQty"])) == (Decimal("2485"), Decimal("0.8"))
        assert order_posts(sim)[-1]["reduceOnly"] == "true"
        assert bot.state.position.amount == sim.position(SYMBOL) == Decimal("-0.8")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert sim.position(SYMBOL) == 0
        assert_invariants(sim, bot)
    assert open_orders(sim) == []


# ====================================================================== a market connection that opens but stays silent
async def test_a_market_connection_that_opens_but_stays_silent_is_not_quoted_on(sim):
    """Bug: not_ready() without its staleness check (or timing the book instead of the connection). A
    reconnect that opens but never delivers a frame sets market_up again over the old book: without the
    check the bot quotes on prices from before the outage."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        connects = sim.stream_connects("market")
        sim.freeze_streams("market")  # no frame at all, not even the mark price
        await sim.wait_for(lambda: not open_orders(sim), FAST.stale_after + 3)
        posts = len(order_posts(sim))
        # A silent connection comes and goes (it lives stale_after): the bot is up on it, but not ready.
        await sim.wait_for(lambda: sim.stream_connects("market") >= connects + 2, 3 * FAST.stale_after + 3)
        assert len(order_posts(sim)) == posts and open_orders(sim) == []
        assert bot.state.book is not None  # the old book was there all along
        sim.freeze_streams("market", False)
        await set_mid(sim, "2501")
        await wait_open(sim, "BUY")


# ============================================================================ the whole exchange restarts
async def test_exchange_restart(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await sim.restart(down_seconds=1.0)
        await sim.wait_for(lambda: sim.user_stream_connections == 1 and sim.market_stream_connections == 1, 8)
        await set_mid(sim, "2501")
        await wait_open(sim, "BUY", timeout=8)
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


# ========================================================================== a wallet too small for the minimum notional
async def test_min_notional_wallet_too_small_sends_nothing():
    # 20 USDT * 0.2 / 2500 = 0.0016 -> 0.001 ETH, at least the minimum quantity; but 0.001 * 2485 = 2.49 USD
    # is below the 5 USD minimum notional: no order may go out, whatever the price.
    async with SimExchange(balances={"USDT": Decimal("20"), "USDF": Decimal("0")}) as sim:
        await set_mid(sim, "2500")
        async with BotRun(sim) as bot:
            # the bot's own account of its last decision (the exchange sees nothing): it has decided
            await sim.wait_for(lambda: "notional" in bot._skip_reason or order_posts(sim), 5)
            for mid in ("2520", "2480"):
                decided = bot._skip_reason
                await set_mid(sim, mid)
                await sim.wait_for(lambda: bot._skip_reason != decided or order_posts(sim), 5)
            assert order_posts(sim) == []
            assert "notional 2.4" in bot._skip_reason  # 0.001 * 2465.12, at mid 2480


# ============================================================================ the shutdown under faults
async def test_stop_during_429_backoff_still_cancels_everything(sim):
    run = BotRun(sim)
    async with run:
        await wait_open(sim, "BUY")
        # the requote's first request is rate limited: the cancel (V1) or the modification (V3)
        sim.fail_next("PUT" if sim.scheme == "v3" else "DELETE", ORDER, status=429, retry_after=1)
        await set_mid(sim, "2520")
        await sim.wait_for(lambda: any(r["status"] == 429 for r in sim.requests()), 5)
    limited_at = [r for r in sim.requests() if r["status"] == 429][0]["t"]
    cancel_all = sim.requests("DELETE", "/fapi/v1/allOpenOrders")[-1]
    assert cancel_all["t"] - limited_at >= 0.9  # waited out the back-off, then cancelled
    assert open_orders(sim) == []


async def test_429_on_the_shutdown_cancel_all_is_waited_out_not_given_up(sim):
    """_cancel_everything() waits out a back-off only *before* its cancel-all; a 429 answer to the cancel-all
    itself propagates, shutdown gives up at once (well within its budget) and the quote stays open."""
    run = BotRun(sim)
    async with run:
        await wait_open(sim, "BUY")
        sim.fail_next("DELETE", "/fapi/v1/allOpenOrders", status=429, retry_after=0.5)
    assert open_orders(sim) == []


async def test_stop_while_a_placement_is_unknown_leaves_nothing_open(sim):
    """Shutdown treats a placement whose outcome is UNKNOWN (the bot itself allows it unknown_grace to appear) as
    if it did not exist: one cancel-all, one empty open-orders read, then it disarms the dead-man switch
    (countdown 0). The order that lands a moment later stays open for good."""
    sim.fail_next("POST", ORDER, status=503, execute=False)
    run = BotRun(sim, timings=replace(FAST, unknown_grace=5.0, heartbeat_every=0.2), cancel_countdown=1.0)
    async with run as bot:
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state == OrderState.UNKNOWN, 5)
        cid, quote = bot.state.live.client_id, bot.state.live.quote
        cancel_alls = len(sim.requests("DELETE", "/fapi/v1/allOpenOrders"))

        async def lagging_engine_lands_it() -> None:
            await sim.wait_for(lambda: len(sim.requests("DELETE", "/fapi/v1/allOpenOrders")) > cancel_alls, 10)
            mark = sim.requests("DELETE", "/fapi/v1/allOpenOrders")[-1]["t"]
            await sim.wait_for(
                lambda: any(
                    r["t"] >= mark and r["status"] is not None for r in sim.requests("GET", "/fapi/v1/openOrders")
                ),
                10,
            )
            await sim.place_order_direct(SYMBOL, quote.side, quote.price, quote.qty, client_order_id=cid)

        lander = asyncio.create_task(lagging_engine_lands_it())
    await asyncio.wait_for(lander, 5)
    assert len(order_posts(sim)) == 1
    await sim.wait_for(lambda: not open_orders(sim), 3)


async def test_stop_asks_for_a_doubtful_placement_by_id_and_cancels_it_when_it_lands(sim):
    """Shutdown with a placement of unknown outcome: an empty book proves nothing while it may still land, so the
    bot asks for it by symbol and client id, and keeps asking until it is found. Here it lands just after the
    first "not found"; it is checked at once, so the exchange's countdown has no time to take it down."""
    sim.fail_next("POST", ORDER, status=503, execute=False)
    run = BotRun(sim, timings=replace(FAST, unknown_grace=5.0, requery_every=0.3))
    async with run as bot:
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state == OrderState.UNKNOWN, 5)
        cid, quote = bot.state.live.client_id, bot.state.live.quote
        cancel_alls = len(sim.requests("DELETE", "/fapi/v1/allOpenOrders"))

        def answered_after(mark: float, method: str, path: str, match=lambda params: True) -> list[dict]:
            return [
                r
                for r in sim.requests(method, path)
                if r["t"] >= mark and r["status"] is not None and match(r["params"])
            ]

        async def lands_after_the_not_found_and_an_empty_book() -> None:
            await sim.wait_for(lambda: len(sim.requests("DELETE", "/fapi/v1/allOpenOrders")) > cancel_alls, 10)
            mark = sim.requests("DELETE", "/fapi/v1/allOpenOrders")[-1]["t"]
            await sim.wait_for(
                lambda: answered_after(
                    mark, "GET", ORDER, lambda p: p.get("symbol") == SYMBOL and p.get("origClientOrderId") == cid
                ),
                10,
            )
            not_found = answered_after(mark, "GET", ORDER)[0]["t"]
            # then a cancel-all and an empty open-orders list: taking "not found" as "never" stops here
            await sim.wait_for(lambda: answered_after(not_found, "GET", "/fapi/v1/openOrders"), 10)
            await sim.place_order_direct(SYMBOL, quote.side, quote.price, quote.qty, client_order_id=cid)

        lander = asyncio.create_task(lands_after_the_not_found_and_an_empty_book())
    await asyncio.wait_for(lander, 5)
    assert open_orders(sim) == []


async def test_stop_is_not_held_up_by_open_orders_of_other_symbols(sim):
    """Another symbol's open order (a manual one, another bot's) is not ours to cancel and must not make the
    shutdown wait for it: the bot confirms its own symbol empty and disarms its dead-man switch."""
    other = await sim.place_order_direct("BNBUSDT", "BUY", "500", "0.1")
    async with BotRun(sim, cancel_countdown=30):
        await wait_open(sim, "BUY")
    countdowns = [r["params"]["countdownTime"] for r in sim.requests("POST", "/fapi/v1/countdownCancelAll")]
    assert countdowns[-1] == "0", "shutdown did not confirm its symbol empty"
    assert open_orders(sim) == []
    assert [o["clientOrderId"] for o in sim.open_orders("BNBUSDT")] == [other["clientOrderId"]]


async def test_shutdown_keeps_the_dead_man_switch_armed_when_orders_remain_open(sim):
    """Shutdown must not disarm the dead-man switch (countdown 0) when its cancel-alls ran out of time with
    orders still listed: that is the one backstop left to take them down."""
    # a countdown that outlasts the shutdown budget, so the order is still open when the bot exits
    ops = RecordedOps()
    run = BotRun(sim, timings=replace(FAST, heartbeat_every=0.2, shutdown_timeout=1.0), cancel_countdown=2.5, ops=ops)
    async with run:
        await wait_open(sim, "BUY")
        # Every cancel-all is acknowledged but does not take the order down, until the shutdown budget is spent.
        sim.fail_next(
            "DELETE",
            "/fapi/v1/allOpenOrders",
            count=10_000,
            status=200,
            body={"code": 200, "msg": "The operation of cancel all open order is done."},
        )
    assert open_orders(sim), "setup: the order should still be open right after shutdown"
    assert ops.lines[0].startswith(
        "left open: orders not confirmed cancelled; the exchange's dead-man switch cancels them within 2 s; "
    )
    assert not [
        r for r in sim.requests("POST", "/fapi/v1/countdownCancelAll") if r["params"]["countdownTime"] == "0"
    ], "the dead-man switch was disarmed"
    await sim.wait_for(lambda: not open_orders(sim), 4)  # the exchange's countdown must still fire
