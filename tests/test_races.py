"""Races and shutdown edge cases found in review: a sweep racing a placement, a late fill after a REST
re-read, a reconnect during a reconcile, and shutdown under 429, unknown placements and failing cancels."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from decimal import Decimal as D

import pytest
from conftest import FAST, SYMBOL, T0, BotRun, FakeClock, RecordedOps, open_orders, order_posts, order_update, wait_open

from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.orders import Order, OrderState
from aster_mm.core.state import Book
from aster_mm.exchange.client import SymbolRules
from aster_mm.exchange.pacing import RateGate
from aster_mm.live.bot import MarketMaker
from aster_mm.live.execution import CancelOutcome

ORDER = "/fapi/v1/order"


# ============================================================================ unit-level helpers
class FakeClient:
    """A scripted exchange: records every call, keeps a list of open orders, counts the peak."""

    time_offset_ms = 0
    used_weight_1m = None
    key_hint = "fake…00"
    can_modify = False  # a V1 client

    def __init__(self, open_orders=(), position="0", update_time=0):
        self.limits = RateGate()  # never limited here
        self.open = [dict(o) for o in open_orders]
        self.calls: list[tuple] = []
        self.peak_open = len(self.open)
        self.position_amt, self.update_time = position, update_time

    def blocked_for(self) -> float:
        return 0.0

    def banned_for(self) -> float:
        return 0.0

    def order_wait(self, counts_order: bool = True) -> float:
        return 0.0

    async def position_rows(self, symbol):
        self.calls.append(("position",))
        return [
            {"symbol": symbol, "positionAmt": self.position_amt, "updateTime": self.update_time, "positionSide": "BOTH"}
        ]

    async def wallet_balances(self):
        self.calls.append(("balance",))
        return {"USDT": D(10000), "USDF": D(0)}

    async def open_orders(self, symbol):
        self.calls.append(("open_orders",))
        return [dict(o) for o in self.open]

    async def query_order(self, symbol, *, client_order_id=None):
        self.calls.append(("query", client_order_id))
        return next((dict(o) for o in self.open if o["clientOrderId"] == client_order_id), None)

    async def cancel_order(self, symbol, *, client_order_id=None):
        self.calls.append(("cancel", client_order_id))
        found = next((o for o in self.open if o["clientOrderId"] == client_order_id), None)
        if found is None:
            return None
        self.open.remove(found)
        return {**found, "status": "CANCELED"}

    async def place_limit(
        self, symbol, side, quantity, price, client_order_id, *, reduce_only=False, time_in_force="GTX"
    ):
        self.calls.append(("place", client_order_id))
        order = {
            "clientOrderId": client_order_id,
            "orderId": 1000 + len(self.calls),
            "status": "NEW",
            "executedQty": "0",
            "side": side,
            "origQty": str(quantity),
            "price": str(price),
        }
        self.open.append(order)
        self.peak_open = max(self.peak_open, len(self.open))
        return dict(order)


def make_bot(client, clock) -> MarketMaker:
    bot = MarketMaker(Config(symbol=SYMBOL), client, ws_url="ws://x", now=clock)
    bot.rules = SymbolRules(SYMBOL, "TRADING", D("0.01"), D("0.001"), D("0.001"), D(5))
    st = bot.state
    st.user_up = st.market_up = True
    st.need_reconcile = False
    st.balances = {"USDT": D(10000), "USDF": D(0)}
    st.available = D(10000)
    st.book = Book(D("2499.99"), D("2500.01"), clock(), ("2499.99", "2500.01"))
    return bot


# ============================================================================ 1. sweep, then place
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


# ============================================================================ 2. traded double count
async def test_late_stream_fill_after_a_rest_reread_does_not_hide_the_next_rest_only_fill():
    """Reconciler.refresh_position() credits order.traded with the REST-known fills; when that fill's stream
    event then arrives, OrderDesk.on_report must not add it to order.traded again. The bug: crediting every
    new trade id (`order.traded += trade.qty` without the `report.cum_filled > order.traded` guard): a later
    REST report of a fill the stream has not shown (filled > traded) then no longer marks the position dirty,
    and the bot keeps a stale position and a SELL that no longer equals the exchange position. (With the
    guard, `+=` and the `min(...)` in the code agree: a trade the REST read included has cum <= traded.)"""
    client, clock = FakeClient(position="0.5", update_time=T0 + 10), FakeClock()
    bot = make_bot(client, clock)
    bot.state.position.apply_snapshot(D("0.8"), T0)
    cid = "amm-run1-1"
    order = Order(cid, Quote(Side.SELL, D(2515), D("0.8"), True), state=OrderState.NEW)
    bot.state.live = order
    bot.state.remember(order)
    # A REST report (e.g. the reconcile query) shows a partial fill of 0.3 the stream has not delivered yet.
    bot.desk.apply_rest(order, {"status": "PARTIALLY_FILLED", "executedQty": "0.3", "orderId": 1})
    assert bot.state.position_dirty
    await bot.sync.refresh_position()  # exchange: 0.8 - 0.3 = 0.5
    assert bot.state.position.amount == D("0.5")
    # The late stream event of that same fill: must change nothing.
    bot.on_user_message(
        json.dumps(
            order_update(
                "TRADE",
                "PARTIALLY_FILLED",
                c=cid,
                S=Side.SELL,
                q="0.8",
                p="2515",
                l="0.3",
                z="0.3",
                L="2515",
                t=1,
                E=T0 + 11,
                T=T0 + 10,
                R=True,
            )
        )
    )
    assert bot.state.position.amount == D("0.5")
    # Another 0.2 fills; REST (a cancel answer or query) reports cum 0.5 before the stream does.
    bot.desk.apply_rest(order, {"status": "PARTIALLY_FILLED", "executedQty": "0.5", "orderId": 1})
    assert bot.state.position_dirty, "a REST-only fill did not trigger a position re-read"


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


# ============================================================================ 3. reconnect during reconcile
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


# ============================================================================ 4. shutdown faults
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


# ============================================================================ unfamiliar final statuses
@pytest.mark.parametrize(
    "status, final", [("EXPIRED_IN_MATCH", OrderState.EXPIRED), ("SOMETHING_NEW", OrderState.CANCELED)]
)
async def test_order_gone_with_an_unfamiliar_status_does_not_stay_live(status, final):
    """Cancel answers -2011 (not open) and the query shows a status we do not know: the order is over,
    not open forever (which would cancel, query and never quote again)."""
    clock = FakeClock()
    gone = {"clientOrderId": "amm-x-1", "orderId": 7, "status": status, "executedQty": "0"}
    client = FakeClient()
    client.query_order = lambda *a, **k: asyncio.sleep(0, result=dict(gone))
    bot = make_bot(client, clock)
    order = Order("amm-x-1", Quote("BUY", D("2485"), D("0.8"), False), state=OrderState.NEW)
    bot.state.live = order
    bot.state.remember(order)
    assert await bot.desk.cancel(order) is CancelOutcome.FINISHED
    assert order.state == final and bot.state.live is None
