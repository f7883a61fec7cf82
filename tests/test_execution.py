"""The order desk (aster_mm/live/execution.py): every order request the bot sends and what each answer means.
Unit tests against a scripted exchange (FakeClient, make_bot) first, then the real bot against the simulator:
placements of unknown outcome, cancel faults, partial fills, rejections and their back-off, post-only
expiries, and the requote by Modify Order (V3) with its fall-backs."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from decimal import Decimal as D

import pytest
from helpers import (
    CID,
    FAST,
    ORDER,
    SYMBOL,
    T0,
    BotRun,
    FakeClient,
    FakeClock,
    RecordingClient,
    assert_invariants,
    make_bot,
    open_orders,
    order_posts,
    order_update,
    set_mid,
    wait_open,
)

from aster_mm.core.config import Timings
from aster_mm.core.decisions import MAX_MODIFICATIONS, Quote
from aster_mm.core.kinds import Side
from aster_mm.core.orders import Order, OrderState
from aster_mm.exchange.client import ExchangeError, RateLimitError, UnknownOutcomeError
from aster_mm.live.execution import CancelOutcome, ModifyOutcome
from aster_mm.simulator import SimExchange


# ---- the desk, unit by unit, against a scripted exchange ---------------------------------------------------
def resting(bot, cid: str = CID, state: OrderState = OrderState.NEW) -> Order:
    order = Order(cid, Quote(Side.BUY, D("2485"), D("0.8"), False), state=state)
    bot.state.live = order
    bot.state.remember(order)
    return order


def late_report(bot, cid: str, status: str = "NEW") -> None:
    bot.on_user_message(json.dumps(order_update(status, status, c=cid, q="0.8", p="2485")))


async def test_margin_rejections_reread_the_account_and_halve_the_size_down_to_a_sixteenth():
    """Bugs: -2019 no longer asks for a reconciliation (the balance behind it is never re-read), or the
    size floor is not 1/16."""
    bot = make_bot(RecordingClient(), FakeClock())
    margin = ExchangeError(400, -2019, "Margin is insufficient.")
    bot.desk._on_rejected(margin)
    assert bot.state.need_reconcile and bot.state.size_scale == D("0.5")
    for _ in range(5):
        bot.desk._on_rejected(margin)
    assert bot.state.size_scale == D(1) / 16


def test_hold_off_pushes_the_next_placement_back():
    clock = FakeClock()
    bot = make_bot(RecordingClient(), clock)
    bot.desk.hold_off(5.0)
    assert bot.desk.retry_at == clock() + 5.0


async def test_an_order_gone_at_cancel_is_queried_by_its_own_symbol_and_client_id():
    """Bug: the query after -2011 names no symbol or no client order id (the exchange refuses it)."""
    client = RecordingClient()
    bot = make_bot(client, FakeClock())
    order = resting(bot)
    assert await bot.desk.cancel(order) is CancelOutcome.FINISHED  # not open at the exchange: -2011
    assert client.queried == [(SYMBOL, CID)]


async def test_an_order_gone_with_an_unfamiliar_status_keeps_the_fill_the_query_shows():
    """Bug: an unfamiliar final status taken as 'unknown to the exchange', dropping its executed quantity."""
    client = RecordingClient()
    client.open = []
    bot = make_bot(client, FakeClock())
    order = resting(bot)
    client.query_order = lambda *a, **k: asyncio.sleep(
        0, result={"clientOrderId": CID, "orderId": 1, "status": "SOMETHING_NEW", "executedQty": "0.3"}
    )
    assert await bot.desk.cancel(order) is CancelOutcome.FINISHED
    assert order.filled == D("0.3") and not order.assumed_gone
    assert bot.state.position_dirty  # a fill the position does not show yet


async def test_a_cancel_that_fails_leaves_the_order_as_it_was():
    """Bug: a failed cancel leaves the order PENDING_CANCEL, where stream reports no longer move it."""
    bot = make_bot(RecordingClient(fail_cancel=ExchangeError(0, None, "network error")), FakeClock())
    order = resting(bot)
    with pytest.raises(ExchangeError):
        await bot.desk.cancel(order)
    assert order.state == OrderState.NEW
    late_report(bot, CID, "PARTIALLY_FILLED")
    assert order.state == OrderState.PARTIALLY_FILLED


async def test_an_order_unknown_at_cancel_and_query_that_shows_up_later_is_cancelled_as_a_stray():
    """Bug: the order the exchange denied knowing (-2011, then -2013) is not marked assumed gone, so when
    it turns out open after all (a lagging engine), nobody cancels it: two orders open."""
    client = RecordingClient()
    bot = make_bot(client, FakeClock())
    order = resting(bot)
    client.open = []  # the exchange knows nothing of it
    assert await bot.desk.cancel(order) is CancelOutcome.FINISHED
    assert order.assumed_gone and bot.state.live is None
    late_report(bot, CID)  # it was there after all
    assert bot.state.strays == {CID}


async def test_a_placement_never_seen_that_lands_late_is_cancelled_as_a_stray():
    """Bug: resolve_unknown takes a placement the exchange never saw as finished, but not as assumed gone:
    when it lands late, nobody cancels it."""
    clock = FakeClock()
    bot = make_bot(RecordingClient(), clock)
    order = resting(bot, state=OrderState.UNKNOWN)
    order.since = clock()
    assert await bot.desk.resolve_unknown(order) is False  # within the grace: not yet, and no busy loop
    clock.t += Timings().unknown_grace + 1
    assert await bot.desk.resolve_unknown(order) is True
    assert order.state == OrderState.REJECTED and order.assumed_gone and bot.state.live is None
    late_report(bot, CID)
    assert bot.state.strays == {CID}


async def test_a_placement_found_by_its_query_is_resolved_at_once():
    clock = FakeClock()
    client = RecordingClient(open_orders=[{"clientOrderId": CID, "orderId": 1, "status": "NEW", "executedQty": "0"}])
    bot = make_bot(client, clock)
    order = resting(bot, state=OrderState.UNKNOWN)
    order.since = clock()
    assert await bot.desk.resolve_unknown(order) is True  # step() runs again at once
    assert order.state == OrderState.NEW and bot.state.live is order


async def test_a_cancelled_stray_is_forgotten_and_the_position_reread():
    """Bugs: the stray stays in the set (cancelled on every step for ever, nothing else done), or the
    position it may have changed is not re-read."""
    client = RecordingClient(
        open_orders=[{"clientOrderId": "amm-old-1", "orderId": 2, "status": "NEW", "executedQty": "0"}]
    )
    bot = make_bot(client, FakeClock())
    bot.state.strays.add("amm-old-1")
    assert await bot.step() is True
    assert ("cancel", "amm-old-1") in client.calls
    assert bot.state.strays == set() and bot.state.position_dirty


# ---- modify in place (V3) ----------------------------------------------------------------------------------
class ModifyingClient(RecordingClient):
    def __init__(self, *args, modify_answer=None, modify_error: Exception | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.modify_answer, self.modify_error = modify_answer, modify_error

    async def modify_order(self, symbol, client_order_id, quantity, price):
        self.calls.append(("modify", client_order_id, quantity, price))
        if self.modify_error is not None:
            raise self.modify_error
        return dict(self.modify_answer)


async def test_a_modification_counts_once_and_takes_the_exchanges_word_on_price_and_quantity():
    answer = {
        "clientOrderId": CID,
        "orderId": 1,
        "status": "NEW",
        "executedQty": "0",
        "price": "2494.94",
        "origQty": "0.5",
    }
    bot = make_bot(ModifyingClient(modify_answer=answer), FakeClock())
    order = resting(bot)
    assert await bot.desk.modify(order, D("2494.94")) is ModifyOutcome.MOVED  # done: nothing to replace
    assert await bot.desk.modify(order, D("2494.94")) is ModifyOutcome.MOVED
    assert order.modifications == 2
    assert (order.quote.price, order.quote.qty) == (D("2494.94"), D("0.5"))
    assert bot.state.live is order and order.state == OrderState.NEW


@pytest.mark.parametrize(
    "error, outcome, unknown",
    [
        (ExchangeError(400, -5022, "would cross"), ModifyOutcome.REFUSED, False),  # replace it instead
        (UnknownOutcomeError(503, None, "unknown"), ModifyOutcome.UNKNOWN, True),  # query before anything else
        (RateLimitError(429, None, "slow down", retry_after=7.0), ModifyOutcome.RATE_LIMITED, False),
    ],
)
async def test_a_modification_that_fails(error, outcome, unknown):
    clock = FakeClock()
    bot = make_bot(ModifyingClient(modify_error=error), clock)
    order = resting(bot)
    assert await bot.desk.modify(order, D("2494.94")) is outcome
    assert order.no_modify is (outcome is ModifyOutcome.REFUSED) and order.amend_unknown is unknown
    assert order.quote.price == D("2485") and bot.state.live is order
    if isinstance(error, RateLimitError):
        assert bot.desk.retry_at == clock() + 7.0


async def test_a_modification_of_unknown_outcome_whose_order_is_gone_ends_it():
    client = ModifyingClient()
    client.open = []  # the query answers -2013
    bot = make_bot(client, FakeClock())
    order = resting(bot)
    order.amend_unknown = True
    assert await bot.desk.resolve_amend(order) is True
    assert order.assumed_gone and order.state == OrderState.CANCELED and bot.state.live is None
    assert not order.amend_unknown


# ---- back-off after rejections and post-only expiries ------------------------------------------------------
def test_backoff_doubles_from_a_quarter_second_up_to_30_s():
    bot = make_bot(RecordingClient(), FakeClock())
    waits = []
    for failures in range(10):
        bot.desk.failures = failures
        waits.append(bot.desk.backoff())
    assert waits == [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def settled(bot, state: OrderState, filled: str = "0") -> None:
    order = resting(bot)
    order.state, order.filled = state, D(filled)
    bot.desk.settle(order)


def test_post_only_expiries_back_off_from_the_second_and_a_fill_or_a_cancel_ends_the_streak():
    """Bugs: backing off from the first expiry or only from the third; a fill (full, or under 1 unit) or
    an order that rested until cancelled not ending the streak."""
    clock = FakeClock()
    bot = make_bot(RecordingClient(), clock)
    settled(bot, OrderState.EXPIRED)
    assert bot.desk.failures == 1 and bot.desk.retry_at <= clock()  # one expiry: no pause
    settled(bot, OrderState.EXPIRED)
    assert bot.desk.retry_at == clock() + 1.0  # the second: 0.25 * 2 ** 2
    for ends_it in ((OrderState.FILLED, "0.8"), (OrderState.CANCELED, "0"), (OrderState.EXPIRED, "0.3")):
        bot.desk.failures, bot.desk.retry_at = 5, 0.0
        settled(bot, *ends_it)
        assert bot.desk.failures == 0, ends_it
        settled(bot, OrderState.EXPIRED)
        assert bot.desk.retry_at <= clock(), ends_it  # a new streak starts at one


@pytest.mark.parametrize("code, dirty", [(-2022, True), (-4164, False)])
def test_a_reduce_only_rejection_rereads_the_position(code, dirty):
    bot = make_bot(RecordingClient(), FakeClock())
    bot.desk._on_rejected(ExchangeError(400, code, "rejected"))
    assert bot.state.position_dirty is dirty


# ---- a fill the stream reports after a REST read of it -----------------------------------------------------
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


# ---- unfamiliar final statuses -----------------------------------------------------------------------------
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


# ---- self-trade prevention: an expiry is no post-only crossing ---------------------------------------------
@pytest.mark.parametrize("foreign_first", [True, False])
def test_an_stp_expiry_is_told_apart_whichever_event_comes_first(foreign_first):
    """The user stream is "not guaranteed to be in order": the account's own order that met ours may be
    reported after our expiry. Counted as a crossing first, the expiry is taken back when it comes."""
    from helpers import FakeClock

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


# ---- the real bot against the simulator: placements of unknown outcome -------------------------------------
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


# ---- cancel faults -----------------------------------------------------------------------------------------
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


# ---- fills racing cancels; a partial fill then a cancel ----------------------------------------------------
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


# ---- margin, reduce-only and min-notional rejections: no retry storm ---------------------------------------
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


# ---- post-only expiries behind ACK answers -----------------------------------------------------------------
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


# ---- requotes by Modify Order (V3), and their fall-backs ---------------------------------------------------
async def test_refused_modification_falls_back_to_cancel_then_place(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        sim.fail_next("PUT", "/fapi/v3/order", status=400, body={"code": -5022, "msg": "would cross"})
        before = len(sim.order_requests())
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert [r["method"] for r in sim.order_requests()[before:]] == ["PUT", "DELETE", "POST"]
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


async def test_a_modification_is_counted_as_modified_not_as_a_new_order(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert (bot.metrics.orders["sent"], bot.metrics.orders["modified"]) == (1, 1)


async def test_no_modify_requotes_by_cancel_then_place_on_v3(v3sim):
    sim = v3sim
    async with BotRun(sim, modify=False) as bot:
        first = await wait_open(sim, "BUY")
        before = len(sim.order_requests())
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert [r["method"] for r in sim.order_requests()[before:]] == ["DELETE", "POST"]
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


async def test_modification_of_unknown_outcome_is_resolved_by_query_not_resent(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        sim.fail_next("PUT", "/fapi/v3/order", status=503, execute=True)  # executed, answered 503
        queries = len(sim.requests("GET", "/fapi/v3/order"))
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v3/order")) > queries, 5)
        await sim.wait_for(lambda: bot.state.live is not None and not bot.state.live.amend_unknown, 5)
        assert len(sim.requests("PUT", "/fapi/v3/order")) == 1 and order_posts(sim) == [order_posts(sim)[0]]
        assert bot.state.live.client_id == first["clientOrderId"]
        assert bot.state.live.quote.price == Decimal("2494.94")  # learnt from the query
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


async def test_order_near_the_modification_limit_is_replaced(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        bot.state.live.modifications = MAX_MODIFICATIONS - 1
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert not sim.requests("PUT", "/fapi/v3/order")
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


# ---- a requote by Modify Order is logged at DEBUG ----------------------------------------------------------
async def test_a_requote_by_modify_order_is_logged_at_debug(caplog):
    """At INFO a requote every second or so buried the fills and the status lines (42 of 68 lines)."""
    caplog.set_level(logging.DEBUG, logger="mm")
    async with SimExchange() as sim:
        sim.scheme = "v3"
        await set_mid(sim, "2500")
        async with BotRun(sim):
            await wait_open(sim, "BUY")
            await set_mid(sim, "2510")
            await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
            assert sim.requests("PUT", "/fapi/v3/order")  # moved by Modify Order
    modified = [r for r in caplog.records if r.getMessage().startswith("modified amm-")]
    assert modified and {r.levelno for r in modified} == {logging.DEBUG}
