"""The chores beside the quoting loop (aster_mm/live/chores.py), the exchange's dead-man switch above all: renewed
well before a short countdown runs out, disarmed by a clean stop after the last cancel, kept through a 403 and
given up on a 404, and taking the quote down when the bot is killed."""

from __future__ import annotations

from dataclasses import replace

from helpers import (
    FAST,
    SYMBOL,
    BotRun,
    assert_invariants,
    open_orders,
    run_cli,
    set_mid,
    wait_none_open,
    wait_open,
    wait_seen,
)

COUNTDOWN = "/fapi/v1/countdownCancelAll"


# ---- the dead-man switch: renewed, disarmed, kept through a 403, dropped on a 404 --------------------------
async def test_a_short_countdown_is_renewed_well_before_it_runs_out(sim):
    """Bug: the heartbeat renews every heartbeat_every (600 s here) whatever the countdown: a 0.6 s
    countdown then cancels the quote at the exchange and the bot quotes into a wall of cancels."""
    async with BotRun(sim, cancel_countdown=0.6):
        buy = await wait_open(sim, "BUY")
        await sim.wait_for(lambda: len(sim.requests("POST", COUNTDOWN)) >= 6, 3)  # at most every 0.15 s
        renewals = sim.requests("POST", COUNTDOWN)
        assert all(r["params"]["countdownTime"] == "600" for r in renewals)
        assert max(b["t"] - a["t"] for a, b in zip(renewals, renewals[1:])) < 0.6
        assert [o["clientOrderId"] for o in open_orders(sim)] == [buy["clientOrderId"]]  # never expired


async def test_a_clean_stop_disarms_the_dead_man_switch_after_the_last_cancel(sim):
    """Bug: shutdown leaves the countdown armed: harmless for this run's orders, but the exchange then
    cancels whatever another session or a restarted bot places on the symbol when it runs out."""
    async with BotRun(sim, cancel_countdown=5):
        await wait_open(sim, "BUY")
    assert open_orders(sim) == []
    disarms = [r for r in sim.requests("POST", COUNTDOWN) if r["params"]["countdownTime"] == "0"]
    assert len(disarms) == 1 and disarms[0]["params"]["symbol"] == SYMBOL and disarms[0]["status"] == 200
    assert disarms[0]["t"] > sim.requests("GET", "/fapi/v1/openOrders")[-1]["t"]  # only once none were left


async def test_403_on_the_dead_man_switch_does_not_disable_it(sim):
    sim.fail_next("POST", "/fapi/v1/countdownCancelAll", status=403, retry_after=0.05)
    async with BotRun(sim, timings=replace(FAST, heartbeat_every=0.1)):
        await wait_open(sim, "BUY")
        await sim.wait_for(lambda: len(sim.requests("POST", "/fapi/v1/countdownCancelAll")) >= 3, 5)


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


# ---- SIGKILL: the dead-man switch takes the quote down -----------------------------------------------------
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
