"""The pure decision functions (aster_mm.core.decisions), the position tracker and the CLI."""

from __future__ import annotations

import os
from decimal import Decimal as D

import pytest

import market_maker as mm
from aster_mm.core.config import Config
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
from aster_mm.core.orders import Order, OrderState, apply_report, next_state
from aster_mm.core.position import PositionTracker
from aster_mm.exchange.client import SymbolRules
from aster_mm.live.credentials import read_credentials
from aster_mm.settings.parser import build_parser, parse_config

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


# ============================================================================ order state machine
S = OrderState


@pytest.mark.parametrize(
    "current, status, expected",
    [
        (S.PENDING_NEW, "NEW", S.NEW),
        (S.PENDING_NEW, "PARTIALLY_FILLED", S.PARTIALLY_FILLED),
        (S.PENDING_NEW, "FILLED", S.FILLED),
        (S.UNKNOWN, "NEW", S.NEW),
        (S.NEW, "PARTIALLY_FILLED", S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, "NEW", S.PARTIALLY_FILLED),  # a late NEW never moves back
        (S.NEW, "EXPIRED", S.EXPIRED),
        (S.NEW, "REJECTED", S.REJECTED),
        (S.PENDING_CANCEL, "NEW", S.PENDING_CANCEL),  # waits for the cancel's answer
        (S.PENDING_CANCEL, "PARTIALLY_FILLED", S.PENDING_CANCEL),
        (S.PENDING_CANCEL, "CANCELED", S.CANCELED),
        (S.PENDING_CANCEL, "FILLED", S.FILLED),
        (S.FILLED, "NEW", S.FILLED),  # terminal is final
        (S.FILLED, "CANCELED", S.FILLED),
        (S.CANCELED, "PARTIALLY_FILLED", S.CANCELED),
        (S.EXPIRED, "NEW", S.EXPIRED),
        (S.NEW, "NEW_INSURANCE", S.NEW),  # unknown statuses change nothing
    ],
)
def test_next_state(current, status, expected):
    assert next_state(current, status) is expected


def order(state=S.NEW, qty="0.05") -> Order:
    return Order("amm-t-1", Quote(Side.BUY, D("2000"), D(qty), False), state=state)


def test_apply_report_keeps_the_largest_cumulative_fill():
    o = order(S.PENDING_NEW)
    apply_report(o, "NEW", D("0"))
    assert (o.state, o.filled) == (S.NEW, D("0"))
    apply_report(o, "PARTIALLY_FILLED", D("0.02"))
    apply_report(o, "PARTIALLY_FILLED", D("0.01"))  # an older report
    assert (o.state, o.filled, o.remaining) == (S.PARTIALLY_FILLED, D("0.02"), D("0.03"))
    apply_report(o, "FILLED", D("0.05"))
    assert (o.state, o.filled, o.live) == (S.FILLED, D("0.05"), False)
    apply_report(o, "NEW", D("0"))  # late NEW after FILLED
    assert (o.state, o.filled) == (S.FILLED, D("0.05"))


def test_fill_reported_after_cancel_still_counts():
    o = order(S.CANCELED)
    apply_report(o, "FILLED", D("0.05"))
    assert o.state is S.CANCELED and o.filled == D("0.05")


# ============================================================================ position tracker
def test_fills_after_the_snapshot_count_once_per_trade_id():
    p = PositionTracker()
    assert p.apply_snapshot(D("0.1"), 1000, 1001)
    assert p.apply_fill(1, 1100, D("0.02")) is True
    assert p.apply_fill(1, 1100, D("0.02")) is False  # duplicate delivery
    assert p.apply_fill(2, 1200, D("-0.05")) is True
    assert p.amount == D("0.07")


def test_late_fill_older_than_the_snapshot_is_not_double_counted():
    p = PositionTracker()
    p.apply_snapshot(D("0.02"), 1000, 1001)  # already includes trade 1
    for _ in range(2):  # and again, repeated
        p.apply_fill(1, 990, D("0.02"))
        assert p.amount == D("0.02")


def test_fill_at_the_snapshot_time_is_inside_it_either_way():
    p = PositionTracker()
    p.apply_fill(1, 1000, D("0.02"))
    p.apply_snapshot(D("0.02"), 1000, 1001)
    assert p.amount == D("0.02")
    q = PositionTracker()
    q.apply_snapshot(D("0.02"), 1000, 1001)
    q.apply_fill(1, 1000, D("0.02"))
    assert q.amount == D("0.02")


def test_out_of_order_snapshots_are_ignored():
    p = PositionTracker()
    assert p.apply_snapshot(D("0.03"), 2000, 2001) is True
    assert p.apply_snapshot(D("0.01"), 1000, 1001) is False
    assert p.apply_snapshot(D("0.09"), 2000, 1999) is False  # same transaction time, older event
    assert p.amount == D("0.03")


def test_unstamped_snapshot_never_erases_a_recent_stream_fill():
    # positionRisk with updateTime 0, read 200 ms after a fill the stream reported but REST lags.
    p = PositionTracker()
    p.apply_snapshot(D("0"), 1000, 1001)
    p.apply_fill(1, 1100, D("0.8"))
    assert p.apply_unstamped(D("0"), read_ms=1300) is False
    assert p.amount == D("0.8")
    assert p.apply_unstamped(D("0.8"), read_ms=1400) is True  # agrees: fine
    p.apply_fill(2, 1500, D("-0.8"))  # and the stream keeps counting
    assert p.amount == D("0")


def test_unstamped_snapshot_is_adopted_once_the_fills_are_old_or_absent():
    p = PositionTracker()
    p.apply_snapshot(D("0"), 1000, 1001)
    assert p.apply_unstamped(D("0.3"), read_ms=1200) is True  # no stream fill to lose: drift adopted
    assert p.amount == D("0.3")
    p.apply_fill(1, 1300, D("0.1"))
    assert p.apply_unstamped(D("0.5"), read_ms=1300 + 10_001) is True  # older than the lag: REST has it
    assert p.amount == D("0.5")
    assert p.apply_snapshot(D("0.4"), 1250, 1251) is True  # a stamped snapshot still wins
    assert p.amount == D("0.4")


def test_snapshot_keeps_fills_newer_than_it():
    p = PositionTracker()
    p.apply_fill(1, 1000, D("0.01"))
    p.apply_fill(2, 2000, D("0.01"))
    p.apply_snapshot(D("0.01"), 1000, 1001)  # knows trade 1, not trade 2
    assert p.amount == D("0.02")


# Two trades of +0.01 at T=1000 and T=2000; each ACCOUNT_UPDATE carries the position after its trade.
EVENTS = {
    "f1": ("fill", 1, 1000, D("0.01")),
    "a1": ("snap", D("0.01"), 1000, 1001),
    "f2": ("fill", 2, 2000, D("0.01")),
    "a2": ("snap", D("0.02"), 2000, 2001),
}


@pytest.mark.parametrize(
    "order_",
    [
        "f1 a1 f2 a2",
        "a1 f1 a2 f2",
        "f1 f2 a1 a2",
        "a2 a1 f2 f1",
        "f2 a1 f1 a2",
        "a1 f2 f1",
        "f1 f2",
        "a2 f1 f2 a1",
        "f1 a1 f1 f2 a2 f2",
    ],
)
def test_reordered_events_give_the_exchange_position(order_):
    p = PositionTracker()
    for name in order_.split():
        kind, *args = EVENTS[name]
        (p.apply_fill if kind == "fill" else p.apply_snapshot)(*args)
    assert p.amount == D("0.02")


# ============================================================================ CLI
def test_defaults_match_the_original_script():
    cfg = parse_config(["--symbol", "ethusdt"])
    assert cfg == Config(symbol="ETHUSDT")
    assert (
        cfg.buy_spread,
        cfg.sell_spread,
        cfg.balance_fraction,
        cfg.leverage,
        cfg.position_threshold_usd,
        cfg.reprice_threshold,
        cfg.log_file,
    ) == (D("0.006"), D("0.006"), D("0.2"), 1, D("15"), D("0.001"), "market_maker.log")
    assert all(
        isinstance(v, D)
        for v in (
            cfg.buy_spread,
            cfg.sell_spread,
            cfg.balance_fraction,
            cfg.position_threshold_usd,
            cfg.reprice_threshold,
        )
    )


def test_flags_are_parsed():
    cfg = parse_config(
        [
            "--symbol",
            "BTCUSDT",
            "--buy-spread",
            "0.01",
            "--sell-spread",
            "0.02",
            "--balance-fraction",
            "0.5",
            "--leverage",
            "125",
            "--position-threshold-usd",
            "7.5",
            "--reprice-threshold",
            "0.002",
            "--log-file",
            "x.log",
            "--log-level",
            "debug",
        ]
    )
    assert cfg == Config(
        "BTCUSDT", D("0.01"), D("0.02"), D("0.5"), 125, D("7.5"), D("0.002"), log_file="x.log", log_level="DEBUG"
    )


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--buy-spread", "-0.1"),
        ("--buy-spread", "0"),
        ("--sell-spread", "1"),
        ("--sell-spread", "1.5"),
        ("--buy-spread", "abc"),
        ("--buy-spread", "nan"),
        ("--sell-spread", "inf"),
        ("--balance-fraction", "0"),
        ("--balance-fraction", "1"),
        ("--balance-fraction", "half"),
        ("--leverage", "0"),
        ("--leverage", "126"),
        ("--leverage", "2.5"),
        ("--leverage", "x"),
        ("--position-threshold-usd", "0"),
        ("--position-threshold-usd", "-5"),
        ("--position-threshold-usd", "ten"),
        ("--position-threshold-usd", "nan"),
        ("--reprice-threshold", "1"),
        ("--reprice-threshold", "abc"),
        ("--symbol", "ETH-USDT"),
    ],
)
def test_bad_values_exit_2_naming_the_value(capsys, flag, value):
    argv = ["--symbol", "ETHUSDT", f"{flag}={value}"] if flag != "--symbol" else [f"--symbol={value}"]
    with pytest.raises(SystemExit) as info:
        parse_config(argv, build_parser())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and value in err


def test_missing_symbol_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        parse_config([])
    assert info.value.code == 2 and "--symbol" in capsys.readouterr().err


@pytest.mark.parametrize(
    "missing, present", [("ASTER_API_SECRET", "ASTER_API_KEY"), ("ASTER_API_KEY", "ASTER_API_SECRET")]
)
def test_main_without_credentials_exits_2_naming_the_variable(monkeypatch, tmp_path, capsys, missing, present):
    for name in ("ASTER_API_KEY", "ASTER_API_SECRET", "ASTER_REST_URL", "ASTER_WS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    secret = "Zx9-very-secret-value-0042"
    monkeypatch.setenv(present, secret)
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", "ETHUSDT"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert missing in err
    assert secret not in out + err
    assert not (tmp_path / "market_maker.log").exists()


def test_main_with_a_bad_rest_url_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASTER_API_KEY", "k" * 20)
    monkeypatch.setenv("ASTER_API_SECRET", "s" * 20)
    monkeypatch.setenv("ASTER_REST_URL", "ftp://nowhere")
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", "ETHUSDT"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "ASTER_REST_URL" in err and "ftp://nowhere" in err and "s" * 20 not in out + err


def test_dotenv_fills_in_what_the_environment_lacks_and_the_environment_wins(monkeypatch, tmp_path):
    for name in ("ASTER_API_KEY", "ASTER_API_SECRET", "ASTER_REST_URL", "ASTER_WS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "ASTER_API_KEY=from-dotenv-key\nASTER_API_SECRET=from-dotenv-secret\nASTER_WS_URL=ws://127.0.0.1:9\n"
    )
    monkeypatch.setenv("ASTER_API_KEY", "from-environment-key")
    try:
        signer, rest, ws, user_ws = read_credentials()
    finally:  # load_dotenv wrote into os.environ: undo it
        for name in ("ASTER_API_SECRET", "ASTER_WS_URL"):
            os.environ.pop(name, None)
    assert signer.hint == "V1 key from…-key"
    assert signer.sign_stream({}, 0).headers == {"X-MBX-APIKEY": "from-environment-key"}
    assert (rest, ws, user_ws) == ("https://fapi.asterdex.com", "ws://127.0.0.1:9", "ws://127.0.0.1:9")


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
