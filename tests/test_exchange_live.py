"""The bot on today's Aster (issue 20, items 1-3), end to end against the simulator: the hosts of each stream,
`user` on V3 calls, the documented error codes (filters, a closed symbol, no permission), announcements,
the rate limits (pacing, 429 back-off, 418 ban), self-trade prevention, Market Maker Protection and the
commission rates. Each asserts on what the exchange received and on the bot's state."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import replace
from decimal import Decimal as D

import pytest
from conftest import (
    FAST,
    SYMBOL,
    BotRun,
    RecordedOps,
    assert_invariants,
    free_port,
    open_orders,
    order_posts,
    run_cli,
    set_mid,
    wait_open,
)

from aster_mm.core.config import MmpConfig
from aster_mm.core.state import FeeRates
from aster_mm.exchange import pacing
from aster_mm.simulator import RateLimits, Readings, SimExchange

ORDER_PATH = "/fapi/v1/order"  # a V1 path also matches its V3 twin
QUICK_BLOCKS = replace(FAST, block_retry=0.3)


@pytest.fixture
async def v3sim():
    async with SimExchange() as exchange:
        exchange.scheme = "v3"
        await set_mid(exchange, "2500")
        yield exchange


def v3_env(sim: SimExchange) -> dict:
    """The bot subprocess's environment for a V3 simulator: its URLs and agent, nothing inherited of ASTER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    return env | {"ASTER_REST_URL": sim.rest_url, "ASTER_WS_URL": sim.ws_url, "PYTHONUNBUFFERED": "1"}


def refusals(sim: SimExchange, code: int) -> list[dict]:
    return [r for r in sim.order_requests() if isinstance(r["response"], dict) and r["response"].get("code") == code]


# ============================================================================ item 1: hosts and `user`
async def test_v3_user_is_sent_by_default_and_left_out_with_v3_user_omit(v3sim, tmp_path):
    sim = v3sim
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        assert bot.client.signer.send_user
    signed = [r["params"] for r in sim.requests() if "signature" in r["params"]]
    assert signed and all(p["user"] == sim.v3_user and p["signer"] == sim.v3_signer for p in signed)
    first = len(sim.requests())
    log_file = str(tmp_path / "mm.log")
    proc = await run_cli("--symbol", SYMBOL, "--v3-user", "omit", "--log-file", log_file, env=v3_env(sim), cwd=tmp_path)
    try:
        await sim.wait_for(lambda: any(o["clientOrderId"].startswith("amm-") for o in open_orders(sim)), 20)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0 and open_orders(sim) == []
    signed = [r for r in sim.requests()[first:] if "signature" in r["params"]]
    assert signed and all(r["status"] == 200 for r in signed)  # accepted: the exchange takes both forms
    assert all("user" not in r["params"] and r["params"]["signer"] == sim.v3_signer for r in signed)


async def test_v3_only_options_with_v1_credentials_exit_2(v3sim, tmp_path):
    sim, env = v3sim, {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret, ASTER_REST_URL=sim.rest_url)
    for option in (["--stp", "EXPIRE_MAKER"], ["--v3-user", "omit"], ["--mmp-window", "1000", "--mmp-freeze", "5000",
                                                                      "--mmp-qty-limit", "1"]):  # fmt: skip
        proc = await run_cli("--symbol", SYMBOL, *option, env=env, cwd=tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 2 and b"need Pro API (V3) credentials" in err
    assert not sim.requests()


async def test_market_and_user_streams_each_take_their_own_host(sim, bot_env, tmp_path):
    """The testnet doc names one host for market streams and another for the user stream: each variable
    reaches its own stream (ASTER_WS_URL, pointing nowhere here, is the fallback of both)."""
    bot_env.update(
        ASTER_WS_URL=f"ws://127.0.0.1:{free_port()}",
        ASTER_MARKET_WS_URL=sim.ws_url,
        ASTER_USER_WS_URL=sim.ws_url,
    )
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=20)  # quoting: both streams are up
        assert sim.market_stream_connections == 1 and sim.user_stream_connections == 1
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0


# ============================================================================ item 1: the documented codes
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


async def test_announcements_are_logged_once_at_info(sim, caplog):
    caplog.set_level(logging.INFO, logger="stream")
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        for _ in range(2):
            await sim.announce("Scheduled maintenance", category="MAINTENANCE", announcement_id=7, link="https://x")
        await sim.announce("New listing", announcement_id=8)
        await sim.wait_for(lambda: bot.feeds.announced == {7, 8}, 5)
    said = [r for r in caplog.records if "announcement" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in said] == [
        ("INFO", "announcement (MAINTENANCE): Scheduled maintenance https://x"),
        ("INFO", "announcement (NEW_LISTING): New listing"),
    ]
    assert not [r for r in caplog.records if "unknown event" in r.getMessage()]


# ============================================================================ item 2: rate limits
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


# ============================================================================ item 3: the exchange's safety features
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


@pytest.mark.parametrize("foreign_first", [True, False])
def test_an_stp_expiry_is_told_apart_whichever_event_comes_first(foreign_first):
    """The user stream is "not guaranteed to be in order": the account's own order that met ours may be
    reported after our expiry. Counted as a crossing first, the expiry is taken back when it comes."""
    from conftest import FakeClock

    from aster_mm.core.config import Timings
    from aster_mm.core.decisions import Quote
    from aster_mm.core.events import OrderReport
    from aster_mm.core.kinds import Side
    from aster_mm.core.orders import Order, OrderState
    from aster_mm.core.state import StrategyState
    from aster_mm.live.execution import OrderDesk
    from aster_mm.ops.metrics import Metrics

    state, clock = StrategyState(), FakeClock()
    desk = OrderDesk(None, SYMBOL, state, Timings(), clock, metrics=Metrics(), on_rejected=lambda err: None)
    desk.failures = 1  # one post-only crossing just before: a second one would back off
    ours = Order("amm-x-1", Quote(Side.BUY, D("2499"), D("0.1"), False), OrderState.NEW)
    state.live = ours
    state.remember(ours)
    expired = OrderReport("amm-x-1", Side.BUY, "EXPIRED", 1, D(0), None, event_ms=10_000)
    hand = OrderReport("web_1", Side.SELL, "NEW", 2, D(0), None, price=D("2495"), event_ms=9_999)
    far = OrderReport("web_2", Side.SELL, "NEW", 3, D(0), None, price=D("2495"), event_ms=20_000)
    for report in [hand, expired] if foreign_first else [expired, far, hand]:
        desk.on_report(report)
    assert state.live is None and ours.state == OrderState.EXPIRED
    assert (desk.failures, desk.retry_at, desk.metrics.orders["stp_expired"]) == (1, 0.0, 1)
    # an order of the account that does not meet ours (a SELL above our BUY) explains nothing
    desk2 = OrderDesk(None, SYMBOL, state, Timings(), clock, metrics=Metrics(), on_rejected=lambda err: None)
    desk2.failures = 1
    state.live = ours2 = Order("amm-x-2", ours.quote, OrderState.NEW)
    state.remember(ours2)
    desk2.on_report(OrderReport("web_3", Side.SELL, "NEW", 4, D(0), None, price=D("2500"), event_ms=30_000))
    desk2.on_report(OrderReport("amm-x-2", Side.BUY, "EXPIRED", 5, D(0), None, event_ms=30_001))
    assert desk2.failures == 2 and desk2.retry_at > clock()


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


def test_the_exchange_options_parse_into_the_config(capsys):
    from aster_mm.settings.parser import build_parser, parse_config

    cfg = parse_config(["--symbol", "ETHUSDT"])
    assert (cfg.weight_budget, cfg.send_user, cfg.stp_mode, cfg.mmp) == (None, True, None, None)
    argv = ["--symbol", "ETHUSDT", "--weight-budget", "1200", "--v3-user", "omit", "--stp", "EXPIRE_BOTH"]
    argv += ["--mmp-window", "5000", "--mmp-freeze", "10000", "--mmp-qty-limit", "10", "--mmp-delta-limit", "3"]
    cfg = parse_config(argv)
    assert (cfg.weight_budget, cfg.send_user, cfg.stp_mode) == (1200, False, "EXPIRE_BOTH")
    assert cfg.mmp == MmpConfig(5000, 10000, qty_limit=10, delta_limit=3)
    for bad, needle in (
        (["--mmp-qty-limit", "10"], "needs --mmp-window and --mmp-freeze"),
        (["--mmp-window", "1000", "--mmp-freeze", "1000"], "needs a limit"),
        (["--mmp-window", "1.5"], "mmp-window must be a whole number"),
        (["--stp", "NONE"], "invalid choice"),
        (["--weight-budget", "10"], "weight-budget must be a whole number from 50"),
    ):
        with pytest.raises(SystemExit) as exit_:
            parse_config(["--symbol", "ETHUSDT", *bad], build_parser())
        assert exit_.value.code == 2 and needle in capsys.readouterr().err


def test_the_new_variables_are_in_env_example_and_the_exchange_page():
    from conftest import ROOT

    example, page = (ROOT / ".env.example").read_text(), (ROOT / "docs" / "exchange.md").read_text()
    for name in ("ASTER_MARKET_WS_URL", "ASTER_USER_WS_URL"):
        assert f"\n{name}=\n" in example and f"`{name}`" in page
