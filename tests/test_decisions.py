"""The pure quoting decisions (aster_mm.core.decisions): the mode, the order wanted, and whether the resting one
will do (reuse, modify in place or replace)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aster_mm.core.decisions import (
    Quote,
    QuoteParams,
    crosses_book,
    desired_quote,
    in_position,
    needs_replace,
    quote_price,
    requote_action,
)
from aster_mm.core.kinds import Side
from aster_mm.exchange.client import SymbolRules

RULES = SymbolRules("ETHUSDT", "TRADING", tick=D("0.01"), step=D("0.001"), min_qty=D("0.001"), min_notional=D("5"))
LONG = QuoteParams(
    buy_spread=D("0.006"), sell_spread=D("0.006"), balance_fraction=D("0.2"), position_threshold_usd=D("15")
)
SHORT = QuoteParams(D("0.006"), D("0.006"), D("0.2"), D("15"), open_side=Side.SELL)
MID = D("2500")


# ============================================================================ mode
@pytest.mark.parametrize(
    "position, expected",
    [
        (D("0"), False),
        (D("0.005"), False),  # 12.5 USD: below
        (D("0.006"), False),
        (D("-0.006"), False),  # 15 USD exactly: still flat
        (D("0.0061"), True),
        (D("-0.0061"), True),  # 15.25 USD: above, either sign
    ],
)
def test_in_position_threshold(position, expected):
    assert in_position(position, MID, D("15")) is expected


@pytest.mark.parametrize(
    "mid, buy, sell",
    [
        (D("2500"), D("2485.00"), D("2515.00")),  # exact: 2500 * 0.994 / 1.006
        (D("2500.05"), D("2485.04"), D("2515.06")),  # 2485.0497 down, 2515.0503 up
        (D("1234.567"), D("1227.15"), D("1241.98")),  # 1227.1595..., 1241.9744...
    ],
)
def test_quote_price_rounds_away_from_mid(mid, buy, sell):
    assert quote_price(Side.BUY, mid, LONG, RULES) == buy
    assert quote_price(Side.SELL, mid, LONG, RULES) == sell
    assert quote_price(Side.BUY, mid, LONG, RULES) < mid < quote_price(Side.SELL, mid, LONG, RULES)


# ============================================================================ desired quote
def test_flat_buys_a_fraction_of_the_wallet_rounded_down():
    quote, why = desired_quote(D("0"), MID, D("1000"), LONG, RULES)
    # 1000 * 0.2 / 2500 = 0.08 exactly
    assert quote == Quote(Side.BUY, D("2485.00"), D("0.080"), reduce_only=False) and why == "open"
    quote, _ = desired_quote(D("0"), MID, D("1001.99"), LONG, RULES)
    assert quote.qty == D("0.080")  # 0.0801592 -> step 0.001, down


def test_small_position_below_threshold_still_buys():
    quote, _ = desired_quote(D("0.005"), MID, D("1000"), LONG, RULES)
    assert quote.side == Side.BUY and not quote.reduce_only


def test_long_sells_exactly_the_position_reduce_only():
    quote, why = desired_quote(D("0.037"), MID, D("1000"), LONG, RULES)
    assert quote == Quote(Side.SELL, D("2515.00"), D("0.037"), reduce_only=True) and why == "close"


@pytest.mark.parametrize("params", [LONG, SHORT])
def test_short_buys_back_exactly_the_position_reduce_only(params):
    quote, _ = desired_quote(D("-0.037"), MID, D("1000"), params, RULES)
    assert quote == Quote(Side.BUY, D("2485.00"), D("0.037"), reduce_only=True)


def test_short_biased_opens_with_a_sell():
    quote, why = desired_quote(D("0"), MID, D("1000"), SHORT, RULES)
    assert quote == Quote(Side.SELL, D("2515.00"), D("0.080"), reduce_only=False) and why == "open"


@pytest.mark.parametrize(
    "wallet, rules",
    [
        (D("0"), RULES),
        (D("0.01"), RULES),  # qty rounds to 0
        (D("100"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.01"), D("5"))),  # 0.008 < 0.01
        (D("100"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.001"), D("20"))),  # 19.88 < 20
    ],
)
def test_no_quote_when_below_exchange_minimums(wallet, rules):
    quote, why = desired_quote(D("0"), MID, wallet, LONG, rules)
    assert quote is None and why


def test_at_min_notional_quotes():
    rules = SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.001"), D("19.88"))
    quote, _ = desired_quote(D("0"), MID, D("100"), LONG, rules)  # 0.008 * 2485 = 19.88
    assert quote is not None and quote.qty * quote.price == D("19.88")


def test_close_below_min_qty_is_skipped():
    rules = SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.01"), D("5"))
    quote, why = desired_quote(D("0.007"), D("3000"), D("1000"), LONG, rules)  # 21 USD, qty < 0.01
    assert quote is None and why


def test_a_position_of_exactly_the_minimum_quantity_is_closed():
    rules = SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.01"), D("5"))
    quote, _ = desired_quote(D("0.01"), D("3000"), D("1000"), LONG, rules)  # 30 USD, qty == 0.01
    assert quote == Quote(Side.SELL, D("3018.00"), D("0.01"), reduce_only=True)


@pytest.mark.parametrize(
    "room, rules, quoted",
    [
        (D("0.010"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.01"), D("5")), D("0.010")),
        (D("0.009"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.01"), D("5")), None),  # < min qty
        (D("0.002"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.001"), D("4.97")), D("0.002")),
        (D("0.002"), SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0.001"), D("4.98")), None),  # 4.97 USD
    ],
)
def test_the_position_limit_room_must_still_make_a_valid_order(room, rules, quoted):
    """At the exchange's minimums exactly (0.01; 0.002 * 2485 = 4.97 USD) an order is sent; below, none."""
    quote, why = desired_quote(D("0"), MID, D("10000"), LONG, rules, room=room)
    assert (quote.qty if quote else None) == quoted, why
    assert why == "open" if quoted else why.startswith("position limit: room for")  # says which limit


def test_nothing_to_send_is_never_an_order_even_without_exchange_minimums():
    rules = SymbolRules("ETHUSDT", "TRADING", D("0.01"), D("0.001"), D("0"), D("0"))
    assert desired_quote(D("0"), MID, D("0"), LONG, rules)[0] is None


# ============================================================================ reuse or replace
OPEN = Quote(Side.BUY, D("2000.00"), D("0.05"), reduce_only=False)
CLOSE = Quote(Side.SELL, D("2000.00"), D("0.05"), reduce_only=True)


@pytest.mark.parametrize(
    "resting, remaining, want, replace",
    [
        (OPEN, D("0.05"), OPEN, False),
        (OPEN, D("0.05"), Quote(Side.BUY, D("2001.99"), D("0.05"), False), False),  # below threshold
        (OPEN, D("0.05"), Quote(Side.BUY, D("2002.00"), D("0.05"), False), False),  # exactly at threshold
        (OPEN, D("0.05"), Quote(Side.BUY, D("1998.00"), D("0.05"), False), False),
        (OPEN, D("0.05"), Quote(Side.BUY, D("2002.01"), D("0.05"), False), True),  # above
        (OPEN, D("0.05"), Quote(Side.BUY, D("1997.99"), D("0.05"), False), True),
        (OPEN, D("0.02"), Quote(Side.BUY, D("2000.00"), D("0.06"), False), False),  # open size drift: reused
        (OPEN, D("0.05"), Quote(Side.SELL, D("2000.00"), D("0.05"), False), True),  # side change
        (OPEN, D("0.05"), Quote(Side.BUY, D("2000.00"), D("0.05"), True), True),  # reduce-only change
        (CLOSE, D("0.05"), CLOSE, False),
        (CLOSE, D("0.03"), CLOSE, True),  # partly filled close no longer equals the position
        (CLOSE, D("0.05"), Quote(Side.SELL, D("2000.00"), D("0.07"), True), True),  # position grew
        (CLOSE, D("0.05"), Quote(Side.SELL, D("2002.00"), D("0.05"), True), False),
    ],
)
def test_needs_replace(resting, remaining, want, replace):
    assert needs_replace(resting, remaining, want, D("0.001")) is replace


# ---- requote: reuse, modify in place (V3) or replace ------------------------------------------
def _requote(resting, want, remaining=None, **kw):
    args = dict(can_modify=True, modifications=0, crosses=False) | kw
    return requote_action(resting, resting.qty if remaining is None else remaining, want, D("0.001"), **args)


OPEN_BUY = Quote("BUY", D("2485"), D("0.8"), False)
CLOSE_SELL = Quote("SELL", D("2515"), D("0.8"), True)


@pytest.mark.parametrize(
    "resting, want, kw, remaining, action",
    [
        (OPEN_BUY, OPEN_BUY, {}, None, "reuse"),
        (OPEN_BUY, Quote("BUY", D("2486"), D("0.8"), False), {}, None, "reuse"),  # within 0.1 %
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.79"), False), {}, None, "modify"),  # new price (and size)
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), False), {"can_modify": False}, None, "replace"),  # V1
        (OPEN_BUY, Quote("SELL", D("2515"), D("0.8"), True), {}, None, "replace"),  # side and kind
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), True), {}, None, "replace"),  # kind
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), False), {}, D("0.5"), "replace"),  # part-filled
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), False), {"modifications": 9999}, None, "replace"),
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), False), {"modifications": 9998}, None, "modify"),
        (OPEN_BUY, Quote("BUY", D("2495"), D("0.8"), False), {"crosses": True}, None, "replace"),
        (CLOSE_SELL, Quote("SELL", D("2525"), D("0.8"), True), {}, None, "modify"),
        (CLOSE_SELL, Quote("SELL", D("2525"), D("0.9"), True), {}, None, "replace"),  # wrong size
        (CLOSE_SELL, Quote("SELL", D("2515"), D("0.9"), True), {}, None, "replace"),
    ],
)
def test_requote_action(resting, want, kw, remaining, action):
    assert _requote(resting, want, remaining, **kw) == action


def test_crosses_book():
    bid, ask = D("2499.99"), D("2500.01")
    assert crosses_book(Quote("BUY", ask, D(1), False), bid, ask)
    assert not crosses_book(Quote("BUY", bid, D(1), False), bid, ask)
    assert crosses_book(Quote("SELL", bid, D(1), True), bid, ask)
    assert not crosses_book(Quote("SELL", ask, D(1), True), bid, ask)
