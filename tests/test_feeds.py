"""The two streams in (aster_mm/live/feeds.py): the handlers fed exchange-shaped payloads without a network; then the
real bot against the simulator when a stream drops, freezes, expires or sends garbage, on a quiet book, and with
announcements."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from dataclasses import replace
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
    FakeClock,
    assert_invariants,
    open_orders,
    order_posts,
    order_update,
    set_mid,
    wait_none_open,
    wait_open,
)

from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.orders import Order, OrderState
from aster_mm.exchange.client import AsterClient, SymbolRules
from aster_mm.live.bot import MarketMaker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bot(clock) -> MarketMaker:
    client = AsterClient("dummy-key-000000", "dummy-secret-000000", "http://127.0.0.1:9")  # never used
    b = MarketMaker(Config(symbol="ETHUSDT"), client, ws_url="ws://x", now=clock)
    b.rules = SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.001"), D("5"))
    return b


def track(
    bot: MarketMaker,
    side=Side.BUY,
    qty="0.010",
    price="2490.00",
    reduce_only=False,
    state=OrderState.PENDING_NEW,
    cid=CID,
) -> Order:
    order = Order(cid, Quote(side, D(price), D(qty), reduce_only), state=state)
    bot.state.live = order
    bot.state.remember(order)
    return order


# ============================================================================ payloads
def depth(bid="2500.10", ask="2500.30", E=T0, wrap=False, symbol="ETHUSDT") -> str:
    data = {
        "e": "depthUpdate",
        "E": E,
        "T": E - 2,
        "s": symbol,
        "U": 100,
        "u": 105,
        "pu": 99,
        "b": [[bid, "1.500"], ["2500.00", "2.000"], ["2499.90", "3.1"]],
        "a": [[ask, "0.700"], ["2500.40", "1.000"], ["2500.50", "4.2"]],
    }
    return json.dumps({"stream": "ethusdt@depth5@100ms", "data": data} if wrap else data)


def account_update(
    balances=(("USDT", "100.5"), ("USDF", "20")), positions=(("ETHUSDT", "0.010"),), E=T0, T=None, reason="ORDER"
) -> dict:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": E,
        "T": E - 1 if T is None else T,
        "a": {
            "m": reason,
            "B": [{"a": a, "wb": wb, "cw": wb, "bc": "0"} for a, wb in balances],
            "P": [
                {"s": s, "pa": pa, "ep": "2490.00", "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}
                for s, pa in positions
            ],
        },
    }


def feed(bot: MarketMaker, *msgs: dict | str) -> None:
    for msg in msgs:
        bot.on_user_message(msg if isinstance(msg, str) else json.dumps(msg))


def snapshot(bot: MarketMaker):
    st = bot.state
    live = st.live
    return (
        st.position.amount,
        dict(st.balances),
        set(st.strays),
        bot.feeds.reconnect_user,
        live and (live.client_id, live.state, live.filled),
        {cid: (o.state, o.filled) for cid, o in st.orders.items()},
        st.book and (st.book.bid, st.book.ask, st.book.seen_at),
    )


# ============================================================================ market stream
@pytest.mark.parametrize("wrap", [False, True])
def test_depth_update_sets_the_book(bot, clock, wrap):
    bot.on_market_message(depth(E=T0 + 5, wrap=wrap))
    book = bot.state.book
    assert (book.bid, book.ask, book.mid) == (D("2500.10"), D("2500.30"), D("2500.20"))
    assert isinstance(book.bid, D) and book.seen_at == clock.t


def test_bytes_frames_are_accepted(bot):
    bot.on_market_message(depth().encode())
    assert bot.state.book.mid == D("2500.20")


def test_unchanged_top_refreshes_seen_at_only(bot, clock):
    bot.on_market_message(depth())
    book = bot.state.book
    clock.t += 3.5
    bot.on_market_message(depth(E=T0 + 100))
    assert bot.state.book is book
    assert (book.bid, book.ask) == (D("2500.10"), D("2500.30"))
    assert book.seen_at == clock.t


def test_changed_top_replaces_the_book(bot, clock):
    bot.on_market_message(depth())
    clock.t += 1
    bot.on_market_message(depth(bid="2500.20", ask="2500.40"))
    assert (bot.state.book.bid, bot.state.book.ask, bot.state.book.seen_at) == (D("2500.20"), D("2500.40"), 101.0)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"e":"depthUpdate","b":[["2500.1","1"]],"a":[["2500',
        "{}",
        "[]",
        "null",
        json.dumps({"e": "depthUpdate", "b": [], "a": [["2500.3", "1"]]}),
        json.dumps({"e": "depthUpdate", "b": [["abc", "1"]], "a": [["2500.3", "1"]]}),
        json.dumps({"stream": "x", "data": None}),
        json.dumps({"e": "depthUpdate", "b": [["0", "1"]], "a": [["2500.3", "1"]]}),
        json.dumps({"e": "depthUpdate", "b": [["2500.1", "1"]], "a": [["-1", "1"]]}),
        json.dumps({"e": "depthUpdate", "b": [["NaN", "1"]], "a": [["2500.3", "1"]]}),
    ],
)
def test_malformed_market_frames_are_ignored(bot, clock, raw):
    bot.on_market_message(depth())
    before = snapshot(bot)
    clock.t += 1
    bot.on_market_message(raw)
    assert snapshot(bot) == before


# ============================================================================ order updates
def test_new_moves_the_order_forward_without_touching_the_position(bot):
    order = track(bot)
    feed(bot, order_update("NEW", "NEW"))
    assert (order.state, order.filled) == (OrderState.NEW, D("0"))
    assert bot.state.live is order and bot.state.position.amount == 0


def test_partial_then_full_fill(bot):
    order = track(bot, state=OrderState.NEW)
    feed(bot, order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1, E=T0 + 10))
    assert bot.state.position.amount == D("0.004")
    assert (order.state, order.filled, bot.state.live) == (OrderState.PARTIALLY_FILLED, D("0.004"), order)
    feed(bot, order_update("TRADE", "FILLED", l="0.006", z="0.010", L="2490.00", t=2, E=T0 + 20))
    assert bot.state.position.amount == D("0.010")
    assert (order.state, order.filled) == (OrderState.FILLED, D("0.010"))
    assert bot.state.live is None


def test_fills_seen_on_the_stream_need_no_position_reread(bot):
    track(bot, state=OrderState.NEW)
    feed(
        bot,
        order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1),
        order_update("TRADE", "FILLED", l="0.006", z="0.010", L="2490.00", t=2),
    )
    assert bot.state.position_dirty is False


def test_report_of_fills_the_stream_never_showed_forces_a_position_reread(bot):
    order = track(bot, state=OrderState.NEW)
    feed(bot, order_update("CANCELED", "CANCELED", z="0.004"))  # its TRADE event was lost
    assert order.filled == D("0.004") and bot.state.position_dirty is True


def test_sell_fill_reduces_the_position(bot):
    bot.state.position.apply_snapshot(D("0.010"), T0 - 1000)
    order = track(bot, side=Side.SELL, price="2515.00", reduce_only=True, state=OrderState.NEW)
    feed(bot, order_update("TRADE", "FILLED", S=Side.SELL, p="2515.00", l="0.010", z="0.010", L="2515.00", t=9, R=True))
    assert bot.state.position.amount == 0 and bot.state.live is None and order.state == OrderState.FILLED


def test_trade_with_an_unfamiliar_status_still_moves_the_position(bot):
    """E.g. an auto-deleverage trade: the fill counts; the status leaves our order as it was."""
    bot.state.position.apply_snapshot(D("0.010"), T0 - 1000)
    order = track(bot, state=OrderState.NEW)
    feed(bot, order_update("TRADE", "NEW_ADL", c="adl_autoclose", S=Side.SELL, l="0.004", z="0.004", L="2400", t=11))
    assert bot.state.position.amount == D("0.006") and order.state == OrderState.NEW


@pytest.mark.parametrize("x, X", [("CANCELED", "CANCELED"), ("EXPIRED", "EXPIRED")])
def test_cancel_or_expiry_without_fill_is_not_a_fill(bot, x, X):
    order = track(bot, state=OrderState.NEW)
    feed(bot, order_update(x, X))
    assert bot.state.position.amount == 0 and order.filled == 0
    assert order.state == OrderState[X] and bot.state.live is None


def test_partial_fill_then_cancel_keeps_the_partial(bot):
    order = track(bot, state=OrderState.NEW)
    feed(
        bot,
        order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1, E=T0 + 10),
        order_update("CANCELED", "CANCELED", z="0.004", L="0", E=T0 + 20),
    )
    assert bot.state.position.amount == D("0.004")
    assert (order.state, order.filled, bot.state.live) == (OrderState.CANCELED, D("0.004"), None)


def test_duplicate_trade_is_applied_once(bot):
    order = track(bot, state=OrderState.NEW)
    msg = order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1)
    feed(bot, msg, msg)
    assert bot.state.position.amount == D("0.004") and order.filled == D("0.004")


def test_reordered_order_updates(bot):
    order = track(bot, state=OrderState.NEW)
    feed(
        bot,
        order_update("TRADE", "FILLED", l="0.006", z="0.010", L="2490.00", t=2, E=T0 + 20),
        order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1, E=T0 + 10),
        order_update("NEW", "NEW", E=T0),
    )
    assert bot.state.position.amount == D("0.010")
    assert (order.state, order.filled, bot.state.live) == (OrderState.FILLED, D("0.010"), None)


def test_fill_arriving_after_cancel_acknowledgement_counts(bot):
    order = track(bot, state=OrderState.CANCELED)
    bot.state.live = None
    feed(bot, order_update("TRADE", "FILLED", l="0.010", z="0.010", L="2490.00", t=3))
    assert bot.state.position.amount == D("0.010") and order.filled == D("0.010")


@pytest.mark.parametrize("fill_first", [True, False])
def test_account_and_trade_updates_in_either_order(bot, fill_first):
    track(bot, state=OrderState.NEW)
    fill = order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1, E=T0 + 10, T=T0 + 9)
    acct = account_update(positions=(("ETHUSDT", "0.004"),), E=T0 + 10, T=T0 + 9)
    feed(bot, *((fill, acct) if fill_first else (acct, fill)))
    assert bot.state.position.amount == D("0.004")


def test_update_for_another_symbol_is_ignored(bot):
    order = track(bot, state=OrderState.NEW)
    before = snapshot(bot)
    feed(
        bot,
        order_update("TRADE", "FILLED", s="BTCUSDT", l="0.010", z="0.010", L="60000", t=5),
        account_update(balances=(), positions=(("BTCUSDT", "1.5"),)),
    )
    assert snapshot(bot) == before and order.state == OrderState.NEW


@pytest.mark.parametrize("X", ["NEW", "PARTIALLY_FILLED"])
def test_untracked_open_order_of_ours_is_a_stray(bot, X):
    track(bot, state=OrderState.NEW)
    feed(bot, order_update("NEW", X, c="amm-oldrun-7", i=1), order_update("NEW", X, c="web_manual_order", i=2))
    assert bot.state.strays == {"amm-oldrun-7"}


def test_untracked_finished_order_is_not_a_stray(bot):
    feed(bot, order_update("CANCELED", "CANCELED", c="amm-oldrun-7"))
    assert bot.state.strays == set()


def test_order_assumed_gone_but_reported_open_is_a_stray(bot):
    order = track(bot, state=OrderState.REJECTED)
    order.assumed_gone = True  # e.g. UNKNOWN placement that answered -2013 past the grace
    bot.state.live = None
    feed(bot, order_update("NEW", "NEW"))
    assert bot.state.strays == {CID}


def test_late_open_report_of_a_confirmed_finished_order_is_not_a_stray(bot):
    order = track(bot, state=OrderState.CANCELED)
    bot.state.live = None
    feed(bot, order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490", t=9))
    assert bot.state.strays == set() and order.state == OrderState.CANCELED
    assert order.filled == D("0.004")


# ============================================================================ account updates
def test_account_update_sets_wallet_and_position(bot):
    feed(
        bot,
        account_update(
            balances=(("USDT", "100.5"), ("USDF", "20"), ("BNB", "3")),
            positions=(("ETHUSDT", "0.010"), ("BTCUSDT", "2")),
        ),
    )
    assert bot.state.balances == {"USDT": D("100.5"), "USDF": D("20")}
    assert bot.state.wallet == D("120.5")
    assert bot.state.position.amount == D("0.010")


def test_balance_only_update_keeps_the_position(bot):
    feed(bot, account_update(positions=(("ETHUSDT", "0.010"),), E=T0))
    feed(bot, account_update(balances=(("USDT", "99.9"),), positions=(), E=T0 + 10, reason="FUNDING_FEE"))
    assert bot.state.position.amount == D("0.010")
    assert bot.state.wallet == D("119.9")


def test_older_account_update_is_ignored(bot):
    feed(
        bot,
        account_update(positions=(("ETHUSDT", "0.020"),), E=T0 + 10),
        account_update(positions=(("ETHUSDT", "0.010"),), E=T0),
    )
    assert bot.state.position.amount == D("0.020")


def test_listen_key_expired_asks_for_a_reconnect(bot):
    assert bot.feeds.reconnect_user is False
    feed(bot, {"e": "listenKeyExpired", "E": T0, "listenKey": "abc"})
    assert bot.feeds.reconnect_user is True


# ============================================================================ malformed user frames
TRADE = order_update("TRADE", "PARTIALLY_FILLED", l="0.004", z="0.004", L="2490.00", t=1)


def without(msg: dict, *path: str) -> dict:
    msg = copy.deepcopy(msg)
    target = msg
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return msg


MALFORMED = {
    "not-json": "not json",
    "truncated": json.dumps(TRADE)[:120],
    "empty": "",
    "list": "[]",
    "null": "null",
    "number": "42",
    "no-event-type": '{"E": 1}',
    "unknown-event": {"e": "SOMETHING_NEW", "E": T0, "o": TRADE["o"]},
    "order-update-without-o": {"e": "ORDER_TRADE_UPDATE", "E": T0},
    "order-update-o-null": {"e": "ORDER_TRADE_UPDATE", "E": T0, "o": None},
    "account-update-without-a": {"e": "ACCOUNT_UPDATE", "E": T0},
    **{f"trade-without-{f}": without(TRADE, "o", f) for f in ("s", "c", "S", "x", "X", "i", "l", "z", "L", "T", "t")},
    **{f"trade-bad-{f}": {**TRADE, "o": {**TRADE["o"], f: "abc"}} for f in ("l", "z", "i", "t")},
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_user_frames_are_ignored(bot, raw):
    track(bot, state=OrderState.NEW)
    feed(bot, account_update(E=T0 - 10))
    before = snapshot(bot)
    feed(bot, raw)
    assert snapshot(bot) == before


@pytest.mark.parametrize("field", ["a", "wb", "pa", "s"])
def test_account_update_missing_fields_is_ignored(bot, field):
    feed(bot, account_update(E=T0 - 10))
    before = snapshot(bot)
    msg = account_update(balances=(("USDT", "50"), ("USDF", "5")), positions=(("ETHUSDT", "0.5"),), E=T0)
    where = "B" if field in ("a", "wb") else "P"
    del msg["a"][where][0][field]
    feed(bot, msg)
    assert snapshot(bot) == before


# ==================================================================== the real bot: the market stream dropped or frozen
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


# ======================================================================= the user stream down, a fill during the outage
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


# ================================================================== listenKey expiry, failed keepalive, 24 h disconnect
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


# ============================================================================ late, duplicate and reordered fills
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


# ============================================================================ malformed messages
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


# ============================================================================ a quiet book
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


# ============================================================================ announcements
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
