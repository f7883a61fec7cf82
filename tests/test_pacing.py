"""The exchange's rate limits (aster_mm/exchange/pacing.py) kept by the real bot against the simulator: a 429 stops
every request until it passes, a 418 ban is waited out to the time it gives, and order requests are paced
under the request-weight budget and the ORDERS limit before either is reached."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal as D

import pytest
from helpers import (
    FAST,
    ORDER,
    ORDER_PATH,
    BotRun,
    assert_invariants,
    open_orders,
    order_posts,
    set_mid,
    wait_none_open,
    wait_open,
)

from aster_mm.exchange import pacing
from aster_mm.simulator import RateLimits, SimExchange


# ---- a 429 (with or without Retry-After) and a 418 ban -----------------------------------------------------
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


# ---- the documented limiter: a 429 until the minute turns, a 418 until its end -----------------------------
def clock_at(second: float):
    """A clock `second` seconds into a minute now: the simulator's minutes (and so the bot's, synced to it)."""
    shift = (second - time.time() % 60) % 60
    return lambda: time.time() + shift


async def test_a_429_stops_every_request_until_the_minute_turns_and_earns_no_ban(monkeypatch):
    """The documented limiter (REQUEST_WEIGHT, here 200 a minute; three 429s in a minute ban the IP): the
    start-up and the first income reconciliation pass it. Nothing is sent until the back-off ends (invariant
    7), however the market moves, so no second 429 and no ban; then quoting resumes."""
    monkeypatch.setattr(pacing, "BACKOFF_FIRST_S", 1.0)  # the test's back-off: until the minute turns
    async with SimExchange(rate_limits=RateLimits(weight_per_minute=200), clock=clock_at(55)) as sim:
        sim.scheme = "v3"
        await set_mid(sim, "2500")
        async with BotRun(sim) as bot:
            await sim.wait_for(lambda: any(r["status"] == 429 for r in sim.requests()), 10)
            limited = next(r for r in sim.requests() if r["status"] == 429)
            await sim.wait_for(lambda: bot.client.blocked_for() > 0, 5)
            assert "rate-limited=" in bot.describe() and bot.protection.snapshot()["backoff_s"] > 0
            for mid in ("2510", "2520", "2530"):  # the market moves: the bot would requote
                await set_mid(sim, mid)
            await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2514.82"], 15)
            after = [r for r in sim.requests() if r["t"] > limited["t"]]
            assert int(after[0]["t"] // 60) > int(limited["t"] // 60)  # nothing until the minute turned
            assert [r["status"] for r in sim.requests()].count(429) == 1 and not any(
                r["status"] == 418 for r in sim.requests()
            )
            assert bot.client.limits.counts == {429: 1, 418: 0}
            assert_invariants(sim, bot)


async def test_a_418_ban_is_waited_out_to_the_time_it_gives_with_a_status_and_a_metric(sim):
    async with BotRun(sim, modify=False) as bot:
        await wait_open(sim, "BUY")
        until = sim.now_ms() + 2000
        msg = (
            f"Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
        )
        sim.fail_next("POST", ORDER_PATH, status=418, body={"code": -1003, "msg": msg})
        await set_mid(sim, "2510")  # cancel, then the placement: banned
        await sim.wait_for(lambda: bot.client.banned_for() > 0, 5)
        banned = next(r for r in sim.requests() if r["status"] == 418)
        assert "IP-BANNED=until" in bot.describe() and bot.protection.snapshot()["banned_s"] > 1
        assert bot.client.limits.counts[418] == 1
        await set_mid(sim, "2520")
        await wait_open(sim, "BUY", timeout=10)
        assert [o["price"] for o in open_orders(sim)] == ["2504.88"]
        after = [r for r in sim.requests() if r["t"] > banned["t"]]
        assert after[0]["t"] * 1000 >= until  # nothing sent before the ban's end
        assert bot.client.banned_for() == 0 and "IP-BANNED" not in bot.describe()
        assert_invariants(sim, bot)


# ---- pacing: order requests slowed down before a limit is reached ------------------------------------------
async def move_until_paced(sim: SimExchange, bot) -> None:
    """A market that moves on every frame, each move a requote, until the bot paces its order requests."""
    for i in range(1, 3000):
        mid = D("2500") + 10 * (i % 2)
        await set_mid(sim, mid)
        want = str((mid * D("0.994")).quantize(D("0.01"), rounding="ROUND_DOWN"))
        await sim.wait_for(lambda: bot.desk._pacing or [o["price"] for o in open_orders(sim)] == [want], 5)
        if bot.desk._pacing:
            return
    raise AssertionError("never paced")


async def assert_held_back(sim: SimExchange, bot) -> None:
    """While pacing, a moving market sends nothing; no 429 or 418 ever came."""
    assert bot.desk.retry_at > bot.now()
    paced_at = len(sim.order_requests())
    for mid in ("2510", "2500", "2510"):
        await set_mid(sim, mid)
    await sim.wait_for(lambda: bot.state.book is not None and bot.state.book.mid == D("2510"), 5)
    assert len(sim.order_requests()) == paced_at  # a cancel may go out; no placement or modification did
    assert not any(r["status"] in (429, 418) for r in sim.requests())


async def test_the_weight_budget_paces_requotes_below_the_exchanges_limit():
    """--weight-budget 1000 (other programs share the IP) against the documented 2400: order requests slow
    down as the minute's use nears the budget, not the exchange's limit."""
    async with SimExchange(clock=clock_at(2)) as sim:
        sim.scheme = "v3"
        await set_mid(sim, "2500")
        async with BotRun(sim, weight_budget=1000) as bot:
            await wait_open(sim, "BUY")
            await move_until_paced(sim, bot)
            await assert_held_back(sim, bot)
            assert bot.client.limits.weight_limit == 2400 and bot.client.used_weight_1m <= 900


async def test_the_order_count_paces_placements_under_the_orders_limit_exchange_info_gives():
    """ORDERS per minute as exchangeInfo publishes it (here 40; documented 1200), counted from
    X-MBX-ORDER-COUNT-1M and the bot's own placements: placements slow down before the limit, no -1015."""
    async with SimExchange(rate_limits=RateLimits(orders_per_minute=40), clock=clock_at(2)) as sim:
        sim.scheme = "v1"  # cancel-then-place: every requote is a new order
        await set_mid(sim, "2500")
        async with BotRun(sim) as bot:
            await wait_open(sim, "BUY")
            await move_until_paced(sim, bot)
            await assert_held_back(sim, bot)
            assert bot.client.limits.order_limit == 40 and len(order_posts(sim)) <= 38
