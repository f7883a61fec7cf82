"""Issue 10: the account states and exchange behaviour a real user meets, each driven through the
simulator against the real bot; each test fails on the code before the fix."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from decimal import Decimal as D

import pytest
from conftest import FAST, SYMBOL, BotRun, assert_invariants, open_orders, order_posts, run_cli, set_mid, wait_open

from aster_mm.core.errors import FatalError
from aster_mm.simulator import SimExchange

LEVERAGE = "/fapi/v1/leverage"


def posts_after(sim: SimExchange, count: int) -> list[dict]:
    return order_posts(sim)[count:]


async def wait_seen(bot, predicate, timeout: float = 5.0) -> None:
    """Wait on the bot's own state (the simulator does not see it)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def quote_loop_idle(sim: SimExchange, bot) -> None:
    """Make sure the bot has run its quoting loop on fresh data since now: move the book a little (below
    the reprice threshold) and wait until its loop has woken and gone back to sleep."""
    bid, ask = sim.book(SYMBOL)
    mid = (bid[0][0] + ask[0][0]) / 2
    seen = bot.state.book
    await set_mid(sim, mid + D("0.01"))
    await wait_seen(bot, lambda: bot.state.book is not seen and not bot._wake.is_set())


# ---- 1. hedge mode --------------------------------------------------------------------------------
async def test_hedge_mode_at_start_exits_1_after_cancelling(sim, bot_env, tmp_path):
    await sim.set_modes(dual_side=True)
    await sim.place_order_direct(SYMBOL, "BUY", D("2400"), D("0.1"), client_order_id="amm-old-1")
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert "hedge mode" in err.decode() and "One-way" in err.decode()
    assert b"Traceback" not in out + err
    assert open_orders(sim) == [] and not order_posts(sim)


async def test_hedge_mode_switched_while_running_cancels_and_stops(sim):
    run = BotRun(sim)
    async with run as bot:
        await wait_open(sim, "BUY")
        posts = len(order_posts(sim))
        await sim.set_modes(dual_side=True)  # ACCOUNT_CONFIG_UPDATE ai.d = true
        with pytest.raises(FatalError, match="hedge mode"):
            await asyncio.wait_for(run.task, 5)
        assert open_orders(sim) == []
        assert len(order_posts(sim)) == posts  # nothing new was sent after the switch
        assert_invariants(sim, bot)
        run.task = None


async def test_hedge_mode_found_by_a_rejected_order_stops_the_retries(sim):
    """No event: the account was switched between reads; the next placement is refused (-4061)."""
    run = BotRun(sim)
    async with run:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        sim.accounts.dual_side = True  # switched elsewhere, no event pushed
        await set_mid(sim, "2530")  # the SELL is replaced: its placement is refused
        with pytest.raises(FatalError, match="hedge mode"):
            await asyncio.wait_for(run.task, 5)
        run.task = None
        refused = [r for r in sim.requests("POST", "/fapi/v1/order") if r["status"] == 400]
        assert len(refused) == 1  # one refusal, then the mode was read: no retry loop
        assert open_orders(sim) == []


# ---- 2. margin mode and the wallet --------------------------------------------------------------
@pytest.mark.parametrize("multi_assets, qty", [(False, "0.08"), (True, "0.728")])
async def test_size_comes_from_what_the_exchange_says_is_available(multi_assets, qty):
    # USDT 1000 + USDF 9000: single-asset mode can use the USDT only (1000 * 0.2 / 2500 = 0.08);
    # multi-assets mode counts USDF at the simulator's 0.9 haircut ((1000 + 8100) * 0.2 / 2500 = 0.728).
    async with SimExchange(balances={"USDT": D(1000), "USDF": D(9000)}) as sim:
        await set_mid(sim, "2500")
        sim.accounts.multi_assets = multi_assets
        async with BotRun(sim) as bot:
            buy = await wait_open(sim, "BUY")
            assert D(buy["origQty"]) == D(qty)
            assert bot.state.multi_assets is multi_assets


async def test_a_margin_mode_switched_while_running_resizes_the_next_order_after_one_read():
    """ACCOUNT_CONFIG_UPDATE (ai.j): the modes are read again once, then the balance of the new mode, and the
    next opening order is sized from it (0.08 ETH on USDT alone; with USDF counted 0.722 at 2520)."""
    async with SimExchange(balances={"USDT": D(1000), "USDF": D(9000)}) as sim:
        await set_mid(sim, "2500")
        async with BotRun(sim) as bot:
            assert D((await wait_open(sim, "BUY"))["origQty"]) == D("0.08")
            reads = len(sim.requests("GET", "/fapi/v1/multiAssetsMargin"))
            await sim.set_modes(multi_assets=True)
            await sim.wait_for(lambda: bot.state.multi_assets and not bot.state.modes_stale, 5)
            await set_mid(sim, "2520")  # a requote opens with the new size
            await sim.wait_for(lambda: [o["origQty"] for o in open_orders(sim)] == ["0.722"], 5)
            assert len(sim.requests("GET", "/fapi/v1/multiAssetsMargin")) == reads + 1
            assert_invariants(sim, bot)


async def test_margin_insufficient_shrinks_the_next_size(sim):
    sim.fail_next("POST", "/fapi/v1/order", status=400, body={"code": -2019, "msg": "Margin is insufficient."})
    async with BotRun(sim) as bot:
        buy = await wait_open(sim, "BUY")
        first, second = order_posts(sim)[:2]
        assert (first["quantity"], second["quantity"]) == ("0.8", "0.4")
        assert D(buy["origQty"]) == D("0.4")
        assert_invariants(sim, bot)


# ---- 3. leverage and margin type ------------------------------------------------------------------
async def test_leverage_that_cannot_be_set_blocks_opening_until_it_can(sim):
    sim.accounts.leverage_locked = True
    timings = replace(FAST, settings_retry=0.3)
    async with BotRun(sim, timings=timings, leverage=5) as bot:
        await sim.wait_for(lambda: len(sim.requests("POST", LEVERAGE)) >= 2, 5)  # tried at start and again
        assert not order_posts(sim)
        sim.accounts.leverage_locked = False
        buy = await wait_open(sim, "BUY")
        assert sim.requests("POST", LEVERAGE)[-1]["params"]["leverage"] == "5"
        assert sim.requests("POST", LEVERAGE)[-1]["t"] < sim.requests("POST", "/fapi/v1/order")[0]["t"]
        assert D(buy["origQty"]) == D("0.8")
        assert bot.state.leverage == 5


async def test_leverage_changed_elsewhere_is_restored_before_the_next_opening_order(sim):
    async with BotRun(sim, leverage=3) as bot:
        await wait_open(sim, "BUY")
        await sim.set_leverage(SYMBOL, 10)  # the user changed it in the web UI
        await wait_seen(bot, lambda: bot.state.leverage in (3, 10))
        await set_mid(sim, "2520")  # a requote: the new BUY must wait for leverage 3
        await sim.wait_for(lambda: len(order_posts(sim)) == 2, 5)
        lev_posts = [r for r in sim.requests("POST", LEVERAGE) if r["params"]["leverage"] == "3"]
        assert len(lev_posts) == 2 and lev_posts[-1]["t"] <= sim.requests("POST", "/fapi/v1/order")[-1]["t"]
        assert sim.accounts.positions[SYMBOL].leverage == 3


async def test_margin_type_is_applied_when_flat(sim):
    async with BotRun(sim, margin_type="ISOLATED"):
        await wait_open(sim, "BUY")
        [change] = sim.requests("POST", "/fapi/v1/marginType")
        assert change["params"]["marginType"] == "ISOLATED"
        assert sim.accounts.positions[SYMBOL].margin_type == "isolated"


# ---- 4. quantity limits ---------------------------------------------------------------------------
async def test_max_qty_caps_the_opening_order(sim):
    sim.set_symbol(SYMBOL, max_qty="0.3")
    async with BotRun(sim):
        buy = await wait_open(sim, "BUY")
        assert D(buy["origQty"]) == D("0.3")


async def test_a_close_above_max_qty_is_done_in_successive_reduce_only_orders(sim):
    sim.set_symbol(SYMBOL, max_qty="0.3")
    sim.set_position(SYMBOL, D("0.5"), D("2450"))
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "SELL")
        assert D(first["origQty"]) == D("0.3") and first["reduceOnly"] is True
        await sim.fill_order(SYMBOL)
        await sim.wait_for(lambda: any(o["origQty"] == "0.200" for o in open_orders(sim)), 5)
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "BUY")
        assert sim.position(SYMBOL) == 0
        assert_invariants(sim, bot)


# ---- 5. symbol status and rules while running ------------------------------------------------------
async def test_symbol_leaving_trading_makes_the_bot_close_only(sim):
    sim.set_position(SYMBOL, D("0.5"), D("2450"))
    async with BotRun(sim, timings=replace(FAST, rules_every=0.2)) as bot:
        await wait_open(sim, "SELL")
        sim.set_symbol(SYMBOL, status="SETTLING")
        await wait_seen(bot, lambda: "symbol" in bot.state.close_only)
        await sim.fill_order(SYMBOL)  # the close still works ...
        await sim.wait_for(lambda: bot.state.position.amount == 0, 5)
        await quote_loop_idle(sim, bot)
        assert [p["side"] for p in order_posts(sim)] == ["SELL"]  # ... and nothing opens
        sim.set_symbol(SYMBOL, status="TRADING")  # back: opening resumes
        await wait_open(sim, "BUY")


async def test_non_trading_symbol_at_start_is_adopted_and_closed(sim):
    sim.set_symbol(SYMBOL, status="PRE_SETTLE")
    sim.set_position(SYMBOL, D("0.5"), D("2450"))
    async with BotRun(sim) as bot:
        sell = await wait_open(sim, "SELL")
        assert sell["reduceOnly"] is True and bot.state.close_only


async def test_reduce_only_permission_stops_opening(sim):
    sim.accounts.reduce_only_only = True  # -4087 on every opening order
    async with BotRun(sim) as bot:
        await wait_seen(bot, lambda: "symbol" in bot.state.close_only)
        await quote_loop_idle(sim, bot)
        assert len(order_posts(sim)) == 1


async def test_filter_rejection_rereads_the_rules(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        reads = len(sim.requests("GET", "/fapi/v1/exchangeInfo"))
        sim.set_symbol(SYMBOL, tick="0.1")  # the exchange changed the tick
        await set_mid(sim, "2520.05")  # the replacement at the old tick is refused (-4014)
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v1/exchangeInfo")) > reads, 5)
        buy = await wait_open(sim, "BUY")
        assert D(buy["price"]) % D("0.1") == 0
        assert bot.rules.tick == D("0.1")


# ---- 6. liquidation and ADL -----------------------------------------------------------------------
@pytest.mark.parametrize("adl", [False, True])
async def test_liquidation_is_counted_once_and_the_bot_stays_close_only(sim, adl):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        await sim.liquidate(SYMBOL, D("2300"), adl=adl)
        await wait_seen(bot, lambda: "liquidation" in bot.state.close_only)
        assert bot.state.position.amount == sim.position(SYMBOL) == 0
        await quote_loop_idle(sim, bot)
        assert [p["side"] for p in order_posts(sim)] == ["BUY", "SELL"]
        assert open_orders(sim) == []
        assert_invariants(sim, bot)


async def test_resume_after_liquidation_reopens_once_flat(sim):
    async with BotRun(sim, resume_after_liquidation=True):
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        await sim.liquidate(SYMBOL, D("2300"))
        await sim.wait_for(lambda: len(order_posts(sim)) == 3, 5)
        assert order_posts(sim)[-1]["side"] == "BUY"


async def test_margin_call_makes_the_bot_close_only(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await sim.margin_call(SYMBOL)
        await sim.wait_for(lambda: not open_orders(sim), 5)  # the opening order is pulled
        assert "liquidation" in bot.state.close_only
        await quote_loop_idle(sim, bot)
        assert len(order_posts(sim)) == 1


# ---- 7. quiet symbols -----------------------------------------------------------------------------
async def test_a_quiet_healthy_book_keeps_its_quote_and_its_connection(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        requests = len(sim.order_requests())
        # Three stale timeouts without a single book change: only the mark price ticks.
        await asyncio.sleep(3 * FAST.stale_after)  # the quiet period itself is what is tested
        assert len(sim.order_requests()) == requests
        assert sim.stream_connects("market") == 1, "the market connection was dropped and made again"
        assert sim.market_stream_connections == 1 and bot.state.market_up
        assert len(open_orders(sim)) == 1


# ---- 8. HTTP 403 ----------------------------------------------------------------------------------
async def test_403_at_start_is_retried_not_taken_for_bad_credentials(sim):
    sim.fail_next("GET", "/fapi/v1/exchangeInfo", count=2, status=403, retry_after=0.1)
    async with BotRun(sim):
        await wait_open(sim, "BUY", timeout=10)
        assert len(sim.requests("GET", "/fapi/v1/exchangeInfo")) >= 3


async def test_403_on_the_dead_man_switch_does_not_disable_it(sim):
    sim.fail_next("POST", "/fapi/v1/countdownCancelAll", status=403, retry_after=0.05)
    async with BotRun(sim, timings=replace(FAST, heartbeat_every=0.1)):
        await wait_open(sim, "BUY")
        await sim.wait_for(lambda: len(sim.requests("POST", "/fapi/v1/countdownCancelAll")) >= 3, 5)


# ---- 10. post-only expiries with ACK answers ------------------------------------------------------
async def test_post_only_expiries_back_off_although_the_placement_answer_says_new(sim):
    # A crossed book: every post-only BUY would take, so the exchange expires it. The placement is
    # answered NEW (newOrderRespType=ACK); only the stream says EXPIRED.
    await sim.set_book(SYMBOL, bids=[(D("2510"), D(5))], asks=[(D("2470"), D(5))])  # BUY at 2475.06
    async with BotRun(sim):
        await sim.wait_for(lambda: len(order_posts(sim)) >= 3, 5)
        started = sim.requests("POST", "/fapi/v1/order")[0]["t"]
        assert all(r["response"]["status"] == "NEW" for r in sim.requests("POST", "/fapi/v1/order"))
        await sim.wait_for(lambda: sim.requests("POST", "/fapi/v1/order")[-1]["t"] - started > 1.5, 5)
        # 0.25 s doubling: at most ~5 attempts in 1.5 s (without the back-off: hundreds).
        assert len(order_posts(sim)) <= 6


# ---- 12. start-up against a struggling exchange ---------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_rest_host_is_retried_then_fatal_naming_it(bot_env, tmp_path):
    port = closed_port()
    bot_env["ASTER_REST_URL"] = f"http://127.0.0.1:{port}"
    proc = await run_cli(
        "--symbol", SYMBOL, "--start-timeout", "1", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and f"127.0.0.1:{port}" in err.decode()
    assert b"Traceback" not in out + err
    assert (tmp_path / "mm.log").read_text().count("retrying in") >= 1


async def test_unreachable_websocket_host_is_fatal_after_the_start_timeout(sim, bot_env, tmp_path):
    bot_env["ASTER_WS_URL"] = f"ws://127.0.0.1:{closed_port()}"
    proc = await run_cli(
        "--symbol", SYMBOL, "--start-timeout", "1", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and "WebSocket host" in err.decode()
    assert b"Traceback" not in out + err
    assert open_orders(sim) == []


async def test_exchange_down_at_boot_is_waited_out(sim):
    await sim.restart(down_seconds=1.0)  # REST answers 503 for a second
    async with BotRun(sim):
        await wait_open(sim, "BUY", timeout=10)


# ---- 11. position snapshots without updateTime -----------------------------------------------------
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


async def test_dead_man_switch_missing_endpoint_stops_renewing(sim):
    """404: the exchange has no countdownCancelAll; the bot trades on without it and stops asking."""
    sim.fail_next("POST", "/fapi/v1/countdownCancelAll", status=404, body={"code": -1000, "msg": "Unknown endpoint"})
    async with BotRun(sim, timings=replace(FAST, heartbeat_every=0.05)) as bot:
        await wait_open(sim, "BUY")
        await wait_seen(bot, lambda: not bot.dead_man.available)
        renewals = len(sim.requests("POST", "/fapi/v1/countdownCancelAll"))
        await set_mid(sim, "2520")  # trading goes on ...
        await sim.wait_for(lambda: len(sim.order_requests()) >= 2, 5)
        checked = bot.beat_at
        await wait_seen(bot, lambda: bot.beat_at > checked + 0.3)  # ... for several renewal periods
        assert len(sim.requests("POST", "/fapi/v1/countdownCancelAll")) == renewals
