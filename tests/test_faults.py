"""Issue 4: every fault a live exchange throws, injected into the simulator; the invariants must hold.

Each test asserts on what the exchange received and on state: never two open orders (peak), no
position drift, nothing left open after shutdown, no fill forgotten.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import FAST, SYMBOL, BotRun, assert_invariants, open_orders, order_posts, run_cli, set_mid, wait_open

from aster_mm.simulator import SimExchange

ORDER = "/fapi/v1/order"


async def wait_none_open(sim: SimExchange, timeout: float = 5.0) -> None:
    await sim.wait_for(lambda: not open_orders(sim), timeout)


# ---- 1. market stream dropped / frozen -----------------------------------------------------------
async def test_market_stream_dropped_pulls_quote_until_data_returns(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.refuse_streams("market")
        await sim.drop_streams("market")
        await wait_none_open(sim)  # quote pulled while the market is unknown
        posts = len(order_posts(sim))
        sim.refuse_streams("market", False)
        await wait_open(sim, "BUY")  # fresh data again: quoting resumes
        assert len(order_posts(sim)) == posts + 1
        assert_invariants(sim, bot)


async def test_market_stream_frozen_pulls_quote_until_fresh(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("market")
        await wait_none_open(sim, timeout=FAST.stale_after + 3)
        sim.freeze_streams("market", False)
        await set_mid(sim, "2501")
        await wait_open(sim, "BUY")
        assert_invariants(sim, bot)


# ---- 2. user stream down, fill during the outage ------------------------------------------------
async def test_fill_while_user_stream_is_down_is_noticed(sim):
    """Only the reconciliation on reconnect can find this fill: its events are lost, and the cancel that
    pulls the quote learns nothing (-2011, then a query the lagging engine answers -2013: taken as gone)."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # the fill's events are lost on the wire
        await sim.fill_order(SYMBOL)
        sim.fail_next("GET", ORDER, status=400, body={"code": -2013, "msg": "Order does not exist."})
        sim.refuse_streams("user")
        await sim.drop_streams("user")
        await sim.wait_for(lambda: not bot.state.user_up and bot.state.live is None, 5)  # quote pulled
        assert bot.state.position.amount == 0  # nothing but a reconciliation can tell it now
        sim.freeze_streams("user", False)
        sim.refuse_streams("user", False)
        sell = await wait_open(sim, "SELL")
        assert Decimal(sell["origQty"]) == sim.position(SYMBOL) == Decimal("0.8")
        assert sell["reduceOnly"] is True
        assert_invariants(sim, bot)


async def test_position_changed_during_user_outage_is_adopted_on_reconnect(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.refuse_streams("user")
        await sim.drop_streams("user")
        await wait_none_open(sim)  # no quoting blind
        sim.set_position(SYMBOL, Decimal("0.3"), Decimal("2490"))  # e.g. a fill of an earlier order
        reads = len(sim.requests("GET", "/fapi/v2/positionRisk"))
        sim.refuse_streams("user", False)
        sell = await wait_open(sim, "SELL")
        assert len(sim.requests("GET", "/fapi/v2/positionRisk")) > reads  # reconciled from REST
        assert Decimal(sell["origQty"]) == Decimal("0.3")
        assert_invariants(sim, bot)


# ---- 3. listenKey expiry, failed keepalive, 24 h disconnect -------------------------------------
async def test_listen_key_expired_gets_new_key_and_misses_nothing(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        keys = len(sim.requests("POST", "/fapi/v1/listenKey"))
        await sim.expire_listen_key()
        await sim.wait_for(
            lambda: len(sim.requests("POST", "/fapi/v1/listenKey")) > keys and sim.user_stream_connections == 1, 5
        )
        await wait_open(sim, "BUY")  # pulled while blind, placed again after reconciling
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


async def test_failed_keepalive_reconnects_with_new_key(sim):
    async with BotRun(sim, timings=replace(FAST, keepalive_every=0.2)) as bot:
        await wait_open(sim, "BUY")
        keys = len(sim.requests("POST", "/fapi/v1/listenKey"))
        sim.fail_next(
            "PUT", "/fapi/v1/listenKey", status=400, body={"code": -1125, "msg": "This listenKey does not exist."}
        )
        await sim.wait_for(lambda: len(sim.requests("POST", "/fapi/v1/listenKey")) > keys, 5)
        await sim.wait_for(lambda: sim.user_stream_connections == 1 and bot.state.user_up, 5)
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


async def test_server_closes_user_stream_after_24h(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        keys = len(sim.requests("POST", "/fapi/v1/listenKey"))
        await sim.drop_streams("user")  # what the exchange does after 24 h
        await sim.wait_for(lambda: len(sim.requests("POST", "/fapi/v1/listenKey")) > keys, 5)
        await wait_open(sim, "BUY")  # pulled while blind, placed again after reconciling
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


# ---- 4. placement outcome unknown ---------------------------------------------------------------
async def test_placement_503_but_executed_is_adopted_not_duplicated(sim):
    sim.fail_next("POST", ORDER, status=503, execute=True)
    async with BotRun(sim) as bot:
        order = await wait_open(sim, "BUY")
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state.value == "NEW", 5)
        assert bot.state.live.client_id == order["clientOrderId"]
        assert len(order_posts(sim)) == 1
        assert sim.requests("GET", ORDER)  # resolved by querying the client order id
        assert (bot.metrics.orders["unknown"], bot.metrics.orders["sent"]) == (1, 0)
        assert_invariants(sim, bot)


async def test_placement_503_not_executed_waits_out_the_lag_then_places_a_new_id(sim):
    sim.fail_next("POST", ORDER, status=503, execute=False)
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        first, second = sim.requests("POST", ORDER)
        assert first["params"]["newClientOrderId"] != second["params"]["newClientOrderId"]  # never re-send an id
        # queried in between, and no second placement before a lagging matching engine's grace ran out
        assert any(first["t"] < q["t"] < second["t"] for q in sim.requests("GET", ORDER))
        assert second["t"] - first["t"] >= FAST.unknown_grace
        assert_invariants(sim, bot)


async def test_placement_timeout_is_unknown_and_resolved_by_query(sim):
    sim.fail_next("POST", ORDER, status=503, execute=True, delay=2.5)  # the client gives up after 2 s
    async with BotRun(sim) as bot:
        order = await wait_open(sim, "BUY")  # executed at once, the answer hangs
        await sim.wait_for(lambda: sim.requests("GET", ORDER), 8)  # timed out: resolved by a query
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state.value == "NEW", 5)
        assert bot.state.live.client_id == order["clientOrderId"]
        assert len(order_posts(sim)) == 1 and len(open_orders(sim)) == 1
        assert_invariants(sim, bot)


async def test_matching_engine_lag_minus_2013_then_found(sim):
    sim.fail_next("POST", ORDER, status=503, execute=True)
    sim.fail_next("GET", ORDER, count=2, status=400, body={"code": -2013, "msg": "Order does not exist."})
    async with BotRun(sim) as bot:
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state.value == "NEW", 5)
        assert len(order_posts(sim)) == 1
        assert len(sim.requests("GET", ORDER)) >= 3
        assert_invariants(sim, bot)


# ---- 5. cancel faults ------------------------------------------------------------------------------
async def test_cancel_5xx_and_network_errors_are_retried(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.fail_next("DELETE", ORDER, count=2, status=502)
        await sim.fill_order(SYMBOL, qty=Decimal("0.004"))  # part-filled: replaced, not modified (V3 too)
        await set_mid(sim, "2520")
        await sim.wait_for(lambda: len(order_posts(sim)) == 2, 5)
        assert len(sim.requests("DELETE", ORDER)) == 3
        await wait_open(sim, "BUY")
        assert_invariants(sim, bot)


async def test_cancel_of_just_filled_order_is_the_fill(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # the fill report is late
        await sim.fill_order(SYMBOL)
        await set_mid(sim, "2520")  # the bot wants to replace: cancel answers -2011
        sell = await wait_open(sim, "SELL")
        sim.freeze_streams("user", False)
        assert Decimal(sell["origQty"]) == Decimal("0.8")
        assert_invariants(sim, bot)


# ---- 6. fills racing cancels; partial fill then cancel -------------------------------------------
async def test_partial_fill_then_cancel_counts_the_partial(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")
        await sim.fill_order(SYMBOL, qty=Decimal("0.3"))  # 0.3 * 2485 > 15 USD: a fill that flips the mode
        await set_mid(sim, "2520")
        sim.freeze_streams("user", False)
        sell = await wait_open(sim, "SELL")
        assert Decimal(sell["origQty"]) == Decimal("0.3") == sim.position(SYMBOL)
        assert_invariants(sim, bot)


async def test_late_duplicate_and_reordered_fill_events_are_applied_once(sim):
    """The fill's stream events arrive only after the cancel answer and a REST re-read already
    counted it, then again, and in reverse order: the position must not move."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")
        mark = len(sim.journal)
        await sim.fill_order(SYMBOL, qty=Decimal("0.3"))
        lost = [e["payload"] for e in sim.journal[mark:] if e["kind"] == "event" and e["stream"] == "user"]
        assert [p["e"] for p in lost] == ["ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
        await set_mid(sim, "2520")  # replace: the cancel answer shows the partial
        sell = await wait_open(sim, "SELL")
        sim.freeze_streams("user", False)
        requests = len(sim.order_requests())
        for payload in [*lost, *reversed(lost), *lost]:  # late, reordered, duplicated
            await sim.send_raw("user", json.dumps(payload))
        await set_mid(sim, "2520.5")  # a market event to be processed after them
        await sim.wait_for(lambda: bot.state.book.mid == Decimal("2520.5"), 5)
        assert bot.state.position.amount == Decimal("0.3") == sim.position(SYMBOL)
        assert len(sim.order_requests()) == requests  # the SELL for 0.3 was right all along
        assert open_orders(sim)[0]["clientOrderId"] == sell["clientOrderId"]
        assert_invariants(sim, bot)


# ---- 7. rate limits ------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", [1.0, 0.4])
async def test_429_retry_after_is_honoured(sim, retry_after):
    """The loop waits out the back-off itself, however short: it does not keep trying an order the client
    would refuse locally (each a 'rejected' order and a failed step)."""
    sim.fail_next("POST", ORDER, status=429, retry_after=retry_after)
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY", timeout=5)
        first, second = sim.requests("POST", ORDER)[:2]
        assert second["t"] - first["t"] >= retry_after
        assert bot.metrics.orders["rejected"] == 1
        assert_invariants(sim, bot)


async def test_418_ban_stops_all_sending_and_dead_man_switch_pulls_quote(sim):
    async with BotRun(sim, cancel_countdown=0.6, timings=replace(FAST, heartbeat_every=0.1)) as bot:
        await wait_open(sim, "BUY")
        sim.fail_next("POST", "/fapi/v1/countdownCancelAll", status=418, retry_after=2)
        await sim.wait_for(lambda: any(r["status"] == 418 for r in sim.requests()), 5)
        banned_at = [r for r in sim.requests() if r["status"] == 418][0]["t"]
        await wait_none_open(sim, timeout=3)  # the exchange's countdown fired
        await wait_open(sim, "BUY", timeout=6)  # ban over: quoting again
        during = [r for r in sim.requests() if banned_at < r["t"] < banned_at + 1.9]
        assert during == [], "a request was sent during the ban"
        assert_invariants(sim, bot)


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


# ---- 8. clock drift ------------------------------------------------------------------------------
async def test_clock_drift_resyncs_and_continues(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        syncs = len(sim.requests("GET", "/fapi/v1/time"))
        sim.set_clock_offset(62.0)  # outside V1's recvWindow (5 s) and V3's nonce window (±60 s, PR #157)
        await set_mid(sim, "2520")  # requote to 2520 * 0.994
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2504.88"], 5)
        assert len(sim.requests("GET", "/fapi/v1/time")) > syncs
        refused = [r["response"]["code"] for r in sim.order_requests() if r["status"] == 400]
        assert refused == [-4225 if sim.scheme == "v3" else -1021]
        assert_invariants(sim, bot)


# ---- 9. malformed messages -----------------------------------------------------------------------
async def test_malformed_messages_are_skipped_and_streams_kept(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        for junk in ('{"e":"depthUpdate","b":[["x"', "not json", '{"e":"depthUpdate"}', "[1,2]", '{"e":"mystery"}'):
            await sim.send_raw("market", junk)
            await sim.send_raw("user", junk)
        await set_mid(sim, "2520")  # still requotes (to 2520 * 0.994)
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2504.88"], 5)
        assert sim.market_stream_connections == 1 and sim.user_stream_connections == 1
        assert_invariants(sim, bot)


# ---- 10. the whole exchange restarts ---------------------------------------------------------------
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


# ---- 11. SIGTERM with a placement in flight -----------------------------------------------------
async def test_sigterm_with_placement_in_flight_leaves_nothing_open(sim, bot_env, tmp_path):
    sim.fail_next("POST", ORDER, status=503, execute=True, delay=1.5)  # executed, the answer hangs
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=15)  # the order exists; the bot still awaits the reply
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0
    assert open_orders(sim) == []


# ---- 12. SIGKILL: the dead-man switch takes the quote down ---------------------------------------
async def test_sigkill_quote_does_not_outlive_the_bot(sim, bot_env, tmp_path):
    proc = await run_cli(
        "--symbol", SYMBOL, "--cancel-countdown", "5", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path
    )
    try:
        await wait_open(sim, "BUY", timeout=15)
        await sim.wait_for(lambda: sim.requests("POST", "/fapi/v1/countdownCancelAll"), 5)
    finally:
        proc.kill()
        await proc.wait()
    await wait_none_open(sim, timeout=8)  # the exchange cancelled it, nobody else did
    assert not sim.requests("DELETE", "/fapi/v1/allOpenOrders")[1:]
    # A restart reconciles: the old run's order is gone, a new one is placed by the new run.
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        assert_invariants(sim, bot)


# ---- 13. margin, reduce-only and min-notional rejections: no retry storm -------------------------
async def test_margin_insufficient_rereads_account_without_storm(sim):
    sim.fail_next("POST", ORDER, count=3, status=400, body={"code": -2019, "msg": "Margin is insufficient."})
    async with BotRun(sim) as bot:
        balance_reads = len(sim.requests("GET", "/fapi/v2/balance"))
        await wait_open(sim, "BUY", timeout=8)
        assert len(sim.requests("GET", "/fapi/v2/balance")) > balance_reads
        posts = sim.requests("POST", ORDER)
        assert len(posts) == 4
        gaps = [b["t"] - a["t"] for a, b in zip(posts, posts[1:])]
        assert gaps[1] > gaps[0] * 1.5  # backing off, not hammering
        await sim.wait_for(lambda: bot.metrics.orders["sent"] == 1, 5)  # the fourth one's answer is in
        assert bot.metrics.orders["rejected"] == 3
        assert_invariants(sim, bot)


async def test_min_notional_rejection_backs_off_without_storm(sim):
    sim.fail_next(
        "POST",
        ORDER,
        count=2,
        status=400,
        body={"code": -4164, "msg": "Order's notional must be no smaller than 5 (unless you choose reduce only)."},
    )
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY", timeout=8)
        first, second, third = sim.requests("POST", ORDER)
        assert second["t"] - first["t"] >= 0.45 and third["t"] - second["t"] >= 0.9  # 0.5 s, then 1 s
        assert_invariants(sim, bot)


async def test_reduce_only_rejected_rereads_position(sim):
    sim.set_position(SYMBOL, Decimal("0.5"), Decimal("2450"))
    sim.fail_next("POST", ORDER, status=400, body={"code": -2022, "msg": "ReduceOnly Order is rejected."})
    async with BotRun(sim) as bot:
        sell = await wait_open(sim, "SELL", timeout=8)
        assert Decimal(sell["origQty"]) == Decimal("0.5")
        assert len(sim.requests("GET", "/fapi/v2/positionRisk")) >= 2
        assert_invariants(sim, bot)


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


# ---- the sweep: strays cancelled, drift adopted --------------------------------------------------
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
