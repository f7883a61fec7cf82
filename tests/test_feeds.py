"""MarketMaker's stream handlers fed with exchange-shaped payloads; no network."""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D

import pytest
from conftest import CID, T0, FakeClock, order_update

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
