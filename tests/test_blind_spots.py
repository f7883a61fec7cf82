"""Issue 14: blind spots that seeded bugs (and mutmut's surviving mutants) found in the suite.

Each test names the bug it catches; each was seen to fail with that bug applied.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from decimal import Decimal as D

import pytest
from aioresponses import aioresponses
from conftest import CID, FAST, SYMBOL, BotRun, FakeClock, open_orders, order_posts, order_update, set_mid, wait_open
from test_races import FakeClient, make_bot
from test_signing import DEMO_KEY, DEMO_SIGNER, DEMO_USER

from aster_mm.core.config import Config, Timings
from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.limits import stop_quote, stop_triggered
from aster_mm.core.orders import Order, OrderState
from aster_mm.core.position import PositionTracker, unrealized_pnl
from aster_mm.core.rules import SymbolRules
from aster_mm.exchange.client import (
    AsterClient,
    BannedError,
    ExchangeError,
    RateLimitError,
    RetryPolicy,
    UnknownOutcomeError,
    WafLimitError,
)
from aster_mm.exchange.signing import TESTNET_CHAIN_ID, Eip712Signer, HmacSigner
from aster_mm.live.execution import CancelOutcome, ModifyOutcome

COUNTDOWN = "/fapi/v1/countdownCancelAll"
LIMIT_RULES = SymbolRules(SYMBOL, "TRADING", D("0.01"), D("0.001"), D("0.001"), D("5"))
NOW = 1_700_000_000.0


# ============================================================================ the client's clock
async def test_sync_time_takes_the_server_time_as_of_half_the_round_trip():
    """Bug: the offset measured from the send time (or the answer time) alone, off by half the round trip."""
    now = [NOW]
    with aioresponses() as mock:

        def takes_400_ms(url, **kwargs):
            now[0] += 0.4

        mock.get("https://fapi.test/fapi/v1/time", payload={"serverTime": int(NOW * 1000) + 200}, callback=takes_400_ms)
        client = AsterClient("key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: now[0])
        try:
            assert await client.sync_time() == 0  # stamped 200 ms after sending: our clock is right
        finally:
            await client.close()


# ============================================================================ the position tracker
def test_a_fill_older_than_the_snapshot_is_in_it_whatever_the_event_time():
    """Bug: a fill compared with the snapshot's event time instead of its transaction time (counted twice
    when the snapshot carries no event time, as REST reads stamped by the exchange alone do)."""
    tracker = PositionTracker()
    tracker.apply_snapshot(D("0.8"), at_ms=5_000)  # includes the fill below
    assert tracker.apply_fill(trade_id=1, at_ms=4_000, signed_qty=D("0.8"))
    assert tracker.amount == D("0.8")
    assert tracker.apply_fill(trade_id=2, at_ms=6_000, signed_qty=D("-0.3"))
    assert tracker.amount == D("0.5")


def test_the_tracker_remembers_the_last_10000_trade_ids_and_no_more():
    """Bugs: the memory of seen trade ids never shrinks (a slow leak on a busy symbol), or forgets too soon
    (a late duplicate of a recent fill would be counted twice)."""
    tracker = PositionTracker()
    for trade_id in range(1, 10_002):
        tracker.apply_fill(trade_id, at_ms=trade_id, signed_qty=D("0.001"))
    assert not tracker.apply_fill(2, at_ms=2, signed_qty=D("0.001"))  # still remembered: not recounted
    assert not tracker.apply_fill(10_001, at_ms=10_001, signed_qty=D("0.001"))
    assert tracker.amount == D("10.001")
    assert tracker.apply_fill(1, at_ms=1, signed_qty=D("0"))  # the oldest is forgotten


# ============================================================================ the dead-man switch
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


# ============================================================================ the sweep and reconciliation
async def test_the_sweep_leaves_orders_that_are_not_ours_alone(sim):
    """Bug: the sweep cancels every open order but the live one, the user's own orders on the symbol too."""
    async with BotRun(sim, timings=replace(FAST, sweep_every=0.2)) as bot:
        await wait_open(sim, "BUY")
        await sim.place_order_direct(SYMBOL, "BUY", D("2000"), D("0.01"), client_order_id="web_8f3a")
        await sim.place_order_direct(SYMBOL, "SELL", D("3000"), D("0.01"), client_order_id="ammo-1")
        reads = len(sim.requests("GET", "/fapi/v1/openOrders"))
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v1/openOrders")) >= reads + 3, 5)  # 3 sweeps
        assert {o["clientOrderId"] for o in open_orders(sim)} >= {"web_8f3a", "ammo-1"}
        assert not bot.state.strays
        cancelled = {r["params"].get("origClientOrderId") for r in sim.requests("DELETE", "/fapi/v1/order")}
        assert not cancelled & {"web_8f3a", "ammo-1"}


async def test_a_reconciliation_that_fails_half_way_is_run_again_before_quoting(sim):
    """Bug: a failed step no longer asks for a reconciliation (quote_loop): the one the user-stream reconnect
    asked for dies at its wallet read, and a stray of ours it would have found stays open beside the quote."""
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # its events are lost: only a reconciliation sees it
        await sim.place_order_direct(SYMBOL, "BUY", D("2000"), D("0.01"), client_order_id="amm-oldrun-3")
        sim.freeze_streams("user", False)
        sim.fail_next("GET", "/fapi/v2/balance", count=3, status=503)  # every retry of the next read
        await sim.drop_streams("user")
        await sim.wait_for(lambda: all(o["clientOrderId"] != "amm-oldrun-3" for o in open_orders(sim)), 5)
        await wait_open(sim, "BUY")
        assert bot.state.position.amount == sim.position(SYMBOL)


# ============================================================================ stale market data
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


# ============================================================================ the order desk, unit by unit
class RecordingClient(FakeClient):
    """FakeClient that also records the symbol of every query and can fail a cancel."""

    def __init__(self, *args, fail_cancel: Exception | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_cancel = fail_cancel
        self.queried: list[tuple[str, str | None]] = []

    async def query_order(self, symbol, *, client_order_id=None):
        self.queried.append((symbol, client_order_id))
        return await super().query_order(symbol, client_order_id=client_order_id)

    async def cancel_order(self, symbol, *, client_order_id=None):
        if self.fail_cancel is not None:
            raise self.fail_cancel
        return await super().cancel_order(symbol, client_order_id=client_order_id)


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


def test_a_leverage_change_of_another_symbol_is_not_ours():
    bot = make_bot(RecordingClient(), FakeClock())
    bot.state.leverage = 1
    bot.guard.on_leverage_event("BTCUSDT", 20)
    assert bot.state.leverage == 1
    bot.guard.on_leverage_event(SYMBOL, 3)
    assert bot.state.leverage == 3


# ============================================================================ signing
@pytest.mark.parametrize("recv_window, ok", [(0, False), (1, True), (60_000, True), (60_001, False)])
def test_recv_window_bounds_are_the_exchanges_1_to_60000_ms(recv_window, ok):
    if ok:
        assert HmacSigner("key-0123456789", "secret", recv_window).recv_window == recv_window
    else:
        with pytest.raises(ValueError):
            HmacSigner("key-0123456789", "secret", recv_window)


def test_a_v1_call_without_parameters_starts_with_recv_window():
    """Bug: a leading '&' (an empty first parameter) when there are no business parameters."""
    signed = HmacSigner("key-0123456789", "secret", 5000).sign({}, 1_700_000_000_000)
    assert signed.params.startswith("recvWindow=5000&timestamp=1700000000000&signature=")


def test_a_v3_signer_knows_its_chain():
    signer = Eip712Signer(DEMO_USER, DEMO_SIGNER, DEMO_KEY, TESTNET_CHAIN_ID)
    assert signer.chain_id == TESTNET_CHAIN_ID and "714" in repr(signer)


# ============================================================================ loss limits
def test_a_short_is_stopped_with_a_reduce_only_ioc_buy_for_all_of_it():
    short = stop_quote(D("-0.8"), D("2549.98"), D("2550"), D("0.002"), LIMIT_RULES)
    assert short == Quote(Side.BUY, D("2555.10"), D("0.8"), True, "IOC")


@pytest.mark.parametrize(
    "position, entry, mark, fires",
    [
        (D("0"), D("2500"), D("3000"), False),  # flat: nothing to stop, whichever way the price went
        (D("-1"), D("0"), D("2500"), False),  # no entry price known: no stop
        (D("1"), D("0.5"), D("0.49"), True),  # a cheap coin 2 % down: the stop fires
    ],
)
def test_the_stop_needs_a_position_and_a_known_entry(position, entry, mark, fires):
    assert stop_triggered(position, entry, mark, D("0.01")) is fires


def test_the_loss_a_stop_reports_is_the_unrealized_loss():
    assert unrealized_pnl(D("0.8"), D("2500"), D("2475"), None) == D("-20")
    assert unrealized_pnl(D("-0.8"), D("2500"), D("2525"), None) == D("-20")


# ============================================================================ modify in place (V3)
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


# ============================================================================ the client's answers
async def test_margin_type_already_set_is_success_and_any_other_refusal_is_not():
    """Bug: the -4046 test inverted: every refusal to set the margin type is swallowed (the bot then
    trades believing it is ISOLATED) and 'already so' raises."""
    client = AsterClient("key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: NOW)
    url = re.compile(r"^https://fapi\.test/fapi/v1/marginType")
    try:
        with aioresponses() as mock:
            mock.post(url, status=400, payload={"code": -4046, "msg": "No need to change margin type."})
            await client.set_margin_type(SYMBOL, "ISOLATED")
            mock.post(
                url,
                status=400,
                payload={"code": -4048, "msg": "Margin type cannot be changed if there exists position."},
            )
            with pytest.raises(ExchangeError) as refused:
                await client.set_margin_type(SYMBOL, "ISOLATED")
            assert refused.value.code == -4048
    finally:
        await client.close()


@pytest.mark.parametrize(
    "status, body, headers, kind, retry_after, blocked",
    [
        (403, {"code": -1, "msg": "waf"}, {"Retry-After": "5"}, WafLimitError, 5.0, 5.0),
        (403, {"code": -1, "msg": "waf"}, {}, WafLimitError, 5.0, 5.0),  # the default back-off
        (418, {"code": -1003, "msg": "banned"}, {"Retry-After": "120"}, BannedError, 120.0, 120.0),
        (429, {"code": -1003, "msg": "too many"}, {"Retry-After": "2"}, RateLimitError, 2.0, 2.0),
        (503, {"code": -1001, "msg": "busy"}, {}, UnknownOutcomeError, None, 0.0),
        (400, {"code": -1102}, {}, ExchangeError, None, 0.0),  # no msg: an empty one
    ],
)
async def test_every_error_carries_what_the_exchange_said(status, body, headers, kind, retry_after, blocked):
    """Bugs: an error that drops the exchange's code, message or path, a 403 that does not block sending."""
    client = AsterClient(
        "key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: NOW, retry=RetryPolicy(attempts=1)
    )
    try:
        with aioresponses() as mock:
            mock.get(
                re.compile(r"^https://fapi\.test/fapi/v1/openOrders"), status=status, payload=body, headers=headers
            )
            with pytest.raises(ExchangeError) as caught:
                await client.open_orders(SYMBOL)
    finally:
        await client.close()
    err = caught.value
    assert type(err) is kind
    assert (err.status, err.code, err.msg, err.path) == (
        status,
        body["code"],
        body.get("msg", ""),
        "/fapi/v1/openOrders",
    )
    assert getattr(err, "retry_after", None) == retry_after
    assert client.blocked_for() == blocked


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
