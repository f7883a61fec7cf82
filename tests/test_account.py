"""The account states a real user has (aster_mm/live/account.py): hedge mode, margin mode and the wallet, leverage
and margin type, quantity limits, a symbol that stops trading, liquidation; the refusals that say the rules or
the account changed, driven through the simulator against the real bot; then the guard's reads and settings,
unit by unit against a scripted exchange."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal as D

import pytest
from helpers import (
    FAST,
    ORDER_PATH,
    SYMBOL,
    BotRun,
    FakeClock,
    RecordingClient,
    assert_invariants,
    make_bot,
    open_orders,
    order_posts,
    refusals,
    run_cli,
    set_mid,
    wait_open,
    wait_seen,
)

from aster_mm.core.config import Config, Timings
from aster_mm.core.errors import FatalError
from aster_mm.exchange.client import ExchangeError
from aster_mm.simulator import SimExchange

LEVERAGE = "/fapi/v1/leverage"


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


# ---- 7. the documented refusals: rules changed, liquidation mode, too many open orders ------------
async def test_a_filter_rejection_rereads_the_rules_at_once_and_the_next_order_goes_without_waiting(sim):
    """-4023 (LOT_SIZE stepSize) was unmapped: the bot backed off and sent the same doomed order until the
    15-minute refresh. Now the rules are read again at once, and the order they give goes out at once."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")  # 0.8 at step 0.001
        sim.set_symbol(SYMBOL, step="0.5", min_qty="0.5")  # the exchange changed its rules: 0.8 is refused
        reads = len(sim.requests("GET", "/fapi/v1/exchangeInfo"))
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["origQty"] for o in open_orders(sim)] == ["0.5"], 5)
        [refused] = refusals(sim, -4023)
        [reread] = [r for r in sim.requests("GET", "/fapi/v1/exchangeInfo")[reads:] if r["t"] > refused["t"]]
        placed = sim.requests("POST", ORDER_PATH)[-1]
        assert refused["t"] < reread["t"] < placed["t"] and placed["response"]["origQty"] == "0.5"
        assert placed["t"] - refused["t"] < 0.4  # not after the back-off (0.5 s after one rejection)
        assert bot.rules.step == D("0.5") and bot.desk.failures == 0
        assert_invariants(sim, bot)


async def test_a_minimum_quantity_rejection_stops_the_doomed_orders(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")  # 0.8
        sim.set_symbol(SYMBOL, min_qty="1")  # -4004 "Quantity less than min quantity."
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: bot.rules.min_qty == 1 and "minimum" in bot._skip_reason, 5)
        assert len(refusals(sim, -4004)) <= 1  # one refused, or none if the modify was refused first
        before = len(sim.order_requests())
        for mid in ("2520", "2530"):
            decided = bot._skip_reason
            await set_mid(sim, mid)
            await sim.wait_for(lambda: bot._skip_reason != decided or len(sim.order_requests()) > before, 5)
        assert len(sim.order_requests()) == before and open_orders(sim) == []


@pytest.mark.parametrize("code", [-2023, -2025])
async def test_liquidation_mode_and_too_many_open_orders_are_understood(sim, code):
    msg = {-2023: "User in liquidation mode now.", -2025: "Reach max open order limit."}[code]
    sim.fail_next("POST", ORDER_PATH, status=400, body={"code": code, "msg": msg})
    async with BotRun(sim) as bot:
        if code == -2023:  # close-only, as after a liquidation fill
            await sim.wait_for(lambda: "liquidation" in bot.state.close_only, 5)
            assert "CLOSE-ONLY" in bot.describe() and len(order_posts(sim)) == 1
        else:  # orders it does not know are open: it looks for them, then quotes
            [refused] = await sim.wait_for(lambda: refusals(sim, code), 5)
            await wait_open(sim, "BUY")
            assert [r for r in sim.requests("GET", "/fapi/v1/openOrders") if r["t"] > refused["t"]]
        assert_invariants(sim, bot)


# ---- 8. the guard, unit by unit, against a scripted exchange --------------------------------------
def test_a_leverage_change_of_another_symbol_is_not_ours():
    bot = make_bot(RecordingClient(), FakeClock())
    bot.state.leverage = 1
    bot.guard.on_leverage_event("BTCUSDT", 20)
    assert bot.state.leverage == 1
    bot.guard.on_leverage_event(SYMBOL, 3)
    assert bot.state.leverage == 3


class SettingsClient(RecordingClient):
    def __init__(self, *args, fail: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail = fail

    async def set_margin_type(self, symbol, margin_type):
        self.calls.append(("margin_type", symbol, margin_type))

    async def set_leverage(self, symbol, leverage):
        self.calls.append(("leverage", symbol, leverage))
        if self.fail:
            raise ExchangeError(400, -4028, "Leverage is not valid")
        return {"leverage": leverage}


@pytest.mark.parametrize("fail", [False, True])
async def test_settings_applied_or_refused_are_remembered(fail):
    """Bugs: a refused leverage is forgotten when the leverage in force is unknown (opening orders go out),
    or retried at once on every step; a margin type set is not recorded."""
    clock = FakeClock()
    client = SettingsClient(fail=fail)
    bot = make_bot(client, clock)
    bot.guard.cfg = Config(symbol=SYMBOL, leverage=3, margin_type="ISOLATED")
    bot.state.leverage, bot.state.margin_type = None, "CROSSED"
    await bot.guard.apply_settings()
    assert bot.state.margin_type == "ISOLATED"
    if fail:
        assert bot.state.leverage is None and "cannot set leverage 3" in bot.guard.settings_wrong()
        assert bot.guard.next_settings_try == clock() + Timings().settings_retry
    else:
        assert bot.state.leverage == 3 and bot.guard.settings_wrong() == ""


class ModesClient(RecordingClient):
    def __init__(self, *args, modes_error: ExchangeError | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.modes_error = modes_error
        self.balance_modes: list[bool] = []

    async def hedge_mode(self):
        if self.modes_error is not None:
            raise self.modes_error
        return False

    async def multi_assets_mode(self):
        return True

    async def available_balance(self, multi_assets):
        self.balance_modes.append(multi_assets)
        return D(1234)


@pytest.mark.parametrize("status, raises", [(404, False), (503, True), (403, True)])
async def test_only_a_missing_modes_endpoint_is_taken_as_one_way_single_asset(status, raises):
    """Bug: the 404 test inverted (every failure to read the modes swallowed, a 404 fatal)."""
    bot = make_bot(ModesClient(modes_error=ExchangeError(status, None, "x")), FakeClock())
    if raises:
        with pytest.raises(ExchangeError):
            await bot.guard.read_modes()
    else:
        await bot.guard.read_modes()
        assert not bot.state.hedge_mode and not bot.state.multi_assets


async def test_the_balance_is_read_in_the_accounts_margin_mode():
    client = ModesClient()
    bot = make_bot(client, FakeClock())
    await bot.guard.read_modes()
    await bot.guard.refresh_available()
    assert client.balance_modes == [True] and bot.state.available == D(1234) and not bot.state.wallet_dirty
