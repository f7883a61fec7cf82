"""The real bot against the simulator over real sockets: what the exchange received, and the invariants."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from decimal import Decimal

import pytest
from conftest import (
    DATA_DIR,
    SYMBOL,
    BotRun,
    RecordedOps,
    assert_invariants,
    open_orders,
    order_posts,
    run_cli,
    secrets_of,
    set_mid,
    wait_open,
)
from eth_account import Account

from aster_mm.simulator import ReplayMarket


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_cancels_everything_and_exits_zero(sim, bot_env, tmp_path, sig):
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=15)
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        elapsed = time.monotonic() - started
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert open_orders(sim) == []
    assert not sim.requests("DELETE", "/fapi/v1/listenKey")  # the account's key, shared: left to expire
    assert elapsed < 2.0
    secret_free = out + err + (tmp_path / "mm.log").read_bytes()
    for secret in secrets_of(sim):  # the V1 key and secret, the V3 agent's private key
        assert secret not in secret_free


@pytest.mark.parametrize(
    "args, env_drop, status, needle",
    [
        (["--symbol", "FOOUSDT"], None, 1, "FOOUSDT"),
        (["--symbol", SYMBOL], "secret", 2, "secret"),  # the scheme's secret: ASTER_API_SECRET or ASTER_SIGNER_KEY
        (["--symbol", SYMBOL, "--buy-spread=-0.01"], None, 2, "buy-spread"),
        (["--symbol", SYMBOL, "--leverage", "200"], None, 2, "leverage"),
    ],
)
async def test_bad_input_exits_with_clear_message(sim, bot_env, tmp_path, args, env_drop, status, needle):
    secret_var = "ASTER_SIGNER_KEY" if sim.scheme == "v3" else "ASTER_API_SECRET"
    if env_drop:
        bot_env.pop(secret_var)
        needle = secret_var
    proc = await run_cli(*args, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == status
    assert needle in err.decode()
    assert b"Traceback" not in err + out
    assert not any(secret in err + out for secret in secrets_of(sim))
    assert sim.order_requests() == []


async def test_non_trading_symbol_without_position_is_cancelled_then_exits_1(sim, bot_env, tmp_path):
    await sim.place_order_direct("OLDUSDT", "BUY", Decimal("90"), Decimal("1"), client_order_id="amm-old-1")
    proc = await run_cli("--symbol", "OLDUSDT", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and "OLDUSDT" in err.decode() and "SETTLING" in err.decode()
    assert b"Traceback" not in err + out
    assert sim.open_orders("OLDUSDT") == []  # cancelled before the bot decided
    assert not sim.requests("POST", "/fapi/v1/order")


async def test_rejected_credentials_are_fatal(sim, bot_env, tmp_path):
    if sim.scheme == "v3":  # a well-formed agent wallet the exchange never approved
        stranger = Account.create()
        wrong = stranger.key.hex()
        bot_env.update(ASTER_SIGNER=stranger.address, ASTER_SIGNER_KEY=wrong)
    else:
        wrong = bot_env["ASTER_API_SECRET"] = "wrong-secret-0123456789"
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert "credentials" in err.decode()
    assert wrong.encode() not in out + err + (tmp_path / "mm.log").read_bytes()
    assert not sim.requests("POST", "/fapi/v1/order")


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
