"""The signal model's quote (aster_mm.core.quoting), its wiring into Strategy, and its options."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from helpers import RESEARCH_POLICY, RESEARCH_WEIGHTS

from aster_mm.core.config import Config
from aster_mm.core.decisions import Quote, QuoteParams
from aster_mm.core.kinds import Side, SpreadModel
from aster_mm.core.quoting import (
    Holding,
    QuotePolicy,
    SignalQuoter,
    closing_price,
    describe,
    floor_bp,
    guard_passes,
    opening_price,
)
from aster_mm.core.rules import SymbolRules
from aster_mm.core.signals import Reading, SignalConfig
from aster_mm.core.state import Book, FeeRates, StrategyState
from aster_mm.core.strategy import Strategy
from aster_mm.settings.parser import parse_config

RULES = SymbolRules("BTCUSDT", "TRADING", tick=D("0.1"), step=D("0.001"), min_qty=D("0.001"), min_notional=D("5"))
POLICY = RESEARCH_POLICY  # the tests' prices are worked out for these settings, not for whatever the defaults are
MAKER = D("0.0001")
FIXED = Config(symbol="X", spread_model=SpreadModel.FIXED)


def reading(pred: float, sigma: float | None = 5.0, bid: float = 100000.0, ask: float = 100001.0) -> Reading:
    return Reading(0.0, bid, ask, pred, sigma)


def test_the_guard_opens_only_for_a_warm_prediction_towards_the_position():
    assert guard_passes(reading(0.4), Side.BUY, POLICY) and not guard_passes(reading(0.39), Side.BUY, POLICY)
    assert guard_passes(reading(-0.4), Side.SELL, POLICY) and not guard_passes(reading(0.4), Side.SELL, POLICY)
    assert not guard_passes(reading(2.0, sigma=None), Side.BUY, POLICY)  # warming up


@pytest.mark.parametrize(
    "side, bid, ask, improve, depth, price",
    [
        (Side.BUY, "100", "101", 1, 0, "100.1"),  # ten ticks wide: one tick better
        (Side.BUY, "100", "100.1", 1, 0, "100"),  # one tick: join the bid
        (Side.BUY, "100", "100.2", 3, 0, "100.1"),  # never to the ask
        (Side.BUY, "100", "101", 0, 2, "99.8"),  # join, then two ticks back
        (Side.SELL, "100", "101", 1, 0, "100.9"),
        (Side.SELL, "100", "100.1", 1, 0, "100.1"),
        (Side.SELL, "100", "101", 1, 3, "101.2"),
    ],
)
def test_the_opening_price_improves_the_touch_when_the_spread_allows_and_joins_it_otherwise(
    side, bid, ask, improve, depth, price
):
    policy = replace(RESEARCH_POLICY, improve_ticks=improve, open_depth_ticks=depth)
    assert opening_price(side, D(bid), D(ask), RULES, policy) == D(price)


def test_the_floor_pays_the_fees_then_decays_to_its_limit():
    policy = replace(RESEARCH_POLICY, target_bp=1.0, decay_after=15.0, decay_bp_per_min=10.0, floor_bp=-20.0)
    assert floor_bp(0.0, MAKER, policy) == pytest.approx(3.0) == floor_bp(15.0, MAKER, policy)
    assert floor_bp(75.0, MAKER, policy) == pytest.approx(-7.0)  # one minute of decay
    assert floor_bp(3600.0, MAKER, policy) == pytest.approx(-20.0)
    assert floor_bp(0.0, D("-0.000015"), policy) == pytest.approx(0.7)  # MM1: the maker is paid
    low = replace(RESEARCH_POLICY, target_bp=-30.0, floor_bp=-20.0)  # starting below the limit: never raised to it
    assert floor_bp(3600.0, MAKER, low) == pytest.approx(-28.0)


def close(position: str, entry: str, held: float, r: Reading | None, touch=("100000", "100001"), lots=1.0, policy=None):
    policy = policy or POLICY
    return closing_price(D(position), D(entry), held, r, (D(touch[0]), D(touch[1])), lots, MAKER, RULES, policy)


def test_a_long_close_is_the_highest_of_floor_fair_value_and_the_touch():
    # fair = 100000.5 * (1 + 4 * 0.5 * 5e-4) = 100100.5; + 2 sigma (10 bp): 100200.7 (rounded up)
    assert close("0.02", "100000", 0.0, reading(0.5)).price == D("100200.7")
    # a falling signal: fair + 2 sigma = 99800.5 * 1.001 = 99900.3, below the floor (entry + 2 fees - 2 bp)
    low = close("0.02", "100000", 0.0, reading(-1.0), touch=("99990", "99991"))
    assert low.price == low.floor == D("100000")
    # held long enough, the floor (down to -20 bp) is below the touch: bid + 1 tick
    assert close("0.02", "100000", 3600.0, reading(-1.0), touch=("99990", "99990.1")).price == D("99990.1")
    assert close("0.02", "0", 0.0, reading(-1.0)).floor is None  # no entry price known: no floor
    assert close("0.02", "100000", 0.0, None, touch=("99990", "99991")).price == D("100000")  # no signal: floor


def test_a_short_close_is_the_lowest_of_them():
    assert close("-0.02", "100000", 0.0, reading(-0.5)).price == D("99800.5")
    high = close("-0.02", "100000", 0.0, reading(1.0), touch=("100009", "100010"))
    assert high.price == high.floor == D("100000")
    assert close("-0.02", "100000", 3600.0, reading(1.0), touch=("100010", "100010.1")).price == D("100010")


def test_the_inventory_skew_brings_the_fair_part_towards_the_touch():
    skewed = replace(RESEARCH_POLICY, skew_bp_per_lot=2.0)
    plain = close("0.02", "90000", 0.0, reading(0.5)).price
    assert (
        close("0.02", "90000", 0.0, reading(0.5), lots=2.0, policy=skewed).price
        == (D(repr(100000.5 * (1 + 4 * 0.5 * 5e-4) * (1 + (10 - 4) * 1e-4))) / RULES.tick).to_integral_value(
            "ROUND_CEILING"
        )
        * RULES.tick
    )
    assert close("0.02", "90000", 0.0, reading(0.5), lots=2.0, policy=skewed).price < plain


def quoter_with(pred: float | None) -> SignalQuoter:
    """A quoter whose signal reads `pred` (None: still warming up)."""
    quoter = SignalQuoter(SignalConfig(RESEARCH_WEIGHTS), RESEARCH_POLICY, Side.BUY)
    quoter.signal.reading = reading(pred or 0.0, sigma=None if pred is None else 5.0)
    return quoter


HOLD_FLAT = Holding(D(0), D(0), 0.0, MAKER)
BUY = Quote(Side.BUY, D("99000"), D("0.02"), False)
SELL_CLOSE = Quote(Side.SELL, D("101000"), D("0.02"), True)
TOP = (D("100000"), D("100001"))


def test_the_quoter_opens_at_the_touch_only_past_the_guard_and_says_why_not():
    assert quoter_with(0.5).price(BUY, "open", 0.0, HOLD_FLAT, TOP, RULES) == (
        Quote(Side.BUY, D("100000.1"), D("0.02"), False),
        "open",
    )
    want, why = quoter_with(0.1).price(BUY, "open", 0.0, HOLD_FLAT, TOP, RULES)
    assert want is None and why == "guard: predicted move +0.10 sigma, opening needs 0.4"
    want, why = quoter_with(None).price(BUY, "open", 0.0, HOLD_FLAT, TOP, RULES)
    assert want is None and why.startswith("signal warming up (60 s")
    assert quoter_with(0.5).estimates == {"warm": False}  # nothing decided yet


def test_the_quoter_measures_the_holding_time_from_the_first_close():
    quoter = quoter_with(-1.0)
    quoter.signal.reading = reading(-1.0, bid=99800.0, ask=99801.0)  # fair + 2 sigma: 99700.5, the touch 99800.1
    held = Holding(D("0.02"), D("100000"), 1.0, MAKER)
    policy = quoter.policy
    first, _ = quoter.price(SELL_CLOSE, "close", 100.0, held, TOP, RULES)
    assert first.price == D("100000") and quoter.held_since == 100.0  # the floor
    later, _ = quoter.price(SELL_CLOSE, "close", 100.0 + policy.decay_after + 60.0, held, TOP, RULES)
    assert later.price == D("99900")  # the floor, 10 bp lower after a minute of decay
    assert quoter.estimates["floor"] == pytest.approx(99900)
    assert "guard=closed floor=99900" in describe(quoter.estimates)
    quoter.price(BUY, "open", 200.0, HOLD_FLAT, TOP, RULES)  # flat again
    assert quoter.held_since is None


def strategy(**config) -> Strategy:
    config = {"quote_policy": RESEARCH_POLICY, "signal": SignalConfig(RESEARCH_WEIGHTS), "stop_loss": D(0), **config}
    cfg = Config(symbol="BTCUSDT", spread_model=SpreadModel.SIGNAL, **config)
    state = StrategyState(book=Book(D("100000"), D("100001"), 0.0), available=D("10000"))
    return Strategy(cfg, state, QuoteParams.from_config(cfg), lambda: 50.0, lambda: (D(0), D(0)), lambda: 0.0)


def test_the_strategy_prices_with_the_signal_and_the_account_s_maker_fee():
    s = strategy()
    s.quoter.signal.reading = reading(-0.5)  # fair + 2 sigma: 100000.4
    s.state.position.apply_snapshot(D("0.02"), 1)
    s.state.entry_price = D("100000")
    s.state.fees = FeeRates(maker=D("0.0002"), taker=D("0.0005"))
    want, why = s.wanted(RULES)
    assert (want.side, want.price, want.reduce_only, why) == (Side.SELL, D("100020"), True, "close")  # 4 - 2 bp
    assert s.wake_within() == 1.0 and "floor=100020" in s.describe()


def test_the_signal_model_requotes_past_its_own_threshold_in_ticks_and_bp():
    s = strategy(quote_policy=replace(RESEARCH_POLICY, requote_ticks=20, requote_bp=0.0))
    assert s.reprice_threshold(RULES) == D(20) * D("0.1") / D("100000.5")
    s = strategy(quote_policy=replace(RESEARCH_POLICY, requote_ticks=0, requote_bp=0.5))
    assert s.reprice_threshold(RULES) == D("0.00005")
    fixed = Strategy(FIXED, StrategyState(), QuoteParams.from_config(FIXED), float, lambda: (0, 0), float)
    assert fixed.reprice_threshold(RULES) == D("0.001") and fixed.wake_within() is None and fixed.describe() == ""


def test_the_options_default_to_the_optimisers_choice_and_name_a_bad_value(capsys):
    cfg = parse_config(["--symbol", "BTCUSDT"])
    assert cfg.spread_model == SpreadModel.SIGNAL and cfg.quote_policy == QuotePolicy() and cfg.signal == SignalConfig()
    # the walk-forward optimiser's last fold (docs/trading.md), written as its preset wrote them
    weights, policy = cfg.signal.weights, cfg.quote_policy
    assert (weights.imb1, weights.imb5, weights.imb10, weights.ret5, weights.ret30) == (
        0.1134,
        0.1049,
        0.1194,
        0.2215,
        0.02723,
    )
    assert (policy.guard_sigma, policy.fair_weight, policy.close_offset_sigma, policy.improve_ticks) == (
        0.405,
        3.95,
        0.796,
        1,
    )
    assert (policy.decay_after, policy.decay_bp_per_min, policy.floor_bp, policy.target_bp) == (201, 2.02, -13.9, 0.123)
    assert (policy.requote_bp, cfg.stop_loss_in_force) == (0.303, D("0.00116"))
    cfg = parse_config(["--symbol", "X1", "--weight-ret5", "0.25", "--decay-floor-bp", "-5", "--improve-ticks", "0"])
    assert (cfg.signal.weights.ret5, cfg.quote_policy.floor_bp, cfg.quote_policy.improve_ticks) == (0.25, -5.0, 0)
    bad_values = (("--guard-sigma", "inf"), ("--improve-ticks", "1.5"), ("--sigma-window", "5"), ("--weight-imb1", "x"))
    for flag, bad in bad_values:
        with pytest.raises(SystemExit) as exit_:
            parse_config(["--symbol", "X1", flag, bad])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and f"{flag.removeprefix('--')} must be" in err and repr(bad) in err


def test_what_the_signal_model_reads_and_its_key_with_the_clock_in_position():
    s = strategy()
    assert (s.reads.levels, s.reads.quantities, s.reads.trades, s.reads.every_s) == (10, True, False, 1.0)
    assert s.signal_key() == "warming-up"  # no book read yet: no opening order, whatever the book
    s.quoter.signal.reading = reading(0.1)
    assert s.signal_key() == "guard-closed"  # flat, the guard closed: no opening order, whatever the book
    s.quoter.signal.reading = reading(0.5)
    assert s.signal_key() == (100000.0, 100001.0)  # the guard open: the opening order joins the touch
    s.quoter.signal.books = 7
    s.state.position.apply_snapshot(D("0.02"), 1)
    assert s.signal_key() == (7, 50)  # in position: every book (the fair value) and the second (the floor decays)
    watched = strategy(max_loss_usd=D("5"))  # a loss limit reads the PnL, which moves with every book
    watched.quoter.signal.reading = reading(0.1)
    assert watched.signal_key() == (0, None)
    plain = Strategy(FIXED, StrategyState(), QuoteParams.from_config(FIXED), float, lambda: (0, 0), float)
    assert (plain.reads.levels, plain.reads.quantities, plain.signal_key()) == (1, False, None)
