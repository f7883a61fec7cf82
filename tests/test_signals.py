"""The signal of --spread-model signal (aster_mm.core.signals): book features, momentum, trade flow, sigma,
the prediction and its warm-up; and the market stream's part (our own order out of the book)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from aster_mm.core.signals import (
    Reading,
    SignalConfig,
    SignalState,
    SignalWeights,
    TradeFlow,
    imbalance,
    microprice_bp,
    without_order,
)
from aster_mm.core.spreads import realized_sigma

BIDS = [(99.0, 3.0), (98.0, 1.0), (97.0, 4.0)]
ASKS = [(101.0, 1.0), (102.0, 1.0), (103.0, 2.0)]
NONE = SignalWeights(imb1=0, imb5=0, imb10=0, micro=0, ret5=0, ret30=0, flow=0)


def test_imbalance_over_the_top_n_levels_uses_what_there_is():
    assert imbalance(BIDS, ASKS, 1) == pytest.approx((3 - 1) / 4)
    assert imbalance(BIDS, ASKS, 2) == pytest.approx((4 - 2) / 6)
    assert imbalance(BIDS, ASKS, 10) == imbalance(BIDS, ASKS, 3) == pytest.approx((8 - 4) / 12)
    assert imbalance([(99.0, 0.0)], [(101.0, 0.0)], 5) == 0.0


def test_microprice_leans_towards_the_thin_side():
    # (99 * 1 + 101 * 3) / 4 = 100.5: half a point above the mid of 100, 50 bp
    assert microprice_bp(BIDS, ASKS) == pytest.approx(50.0)
    assert microprice_bp([(99.0, 1.0)], [(101.0, 1.0)]) == 0.0


def test_our_own_order_is_taken_out_of_the_book():
    assert without_order(BIDS, 98.0, 0.4) == [(99.0, 3.0), (98.0, pytest.approx(0.6)), (97.0, 4.0)]
    assert without_order(BIDS, 99.0, 3.0) == [(98.0, 1.0), (97.0, 4.0)]  # ours alone: the level goes
    assert without_order(BIDS, 99.5, 1.0) == BIDS  # not shown (yet): nothing to take out


def test_trade_flow_counts_the_aggressor_sides_in_the_window():
    flow = TradeFlow(window=10.0)
    assert flow.value(0.0) == 0.0
    flow.add(1.0, 3.0, buyer_aggressor=True)
    flow.add(5.0, 1.0, buyer_aggressor=False)
    assert flow.value(6.0) == pytest.approx((3 - 1) / 4)
    assert flow.value(11.5) == pytest.approx(-1.0)  # the buy at 1.0 has left the window
    assert flow.value(15.0) == 0.0


def feed(state: SignalState, mids, t0: float = 0.0, dt: float = 1.0, bids_qty=1.0, asks_qty=1.0) -> None:
    for i, mid in enumerate(mids):
        state.on_depth(t0 + i * dt, [(mid - 0.5, bids_qty)], [(mid + 0.5, asks_qty)])


def test_no_prediction_until_warm():
    state = SignalState(
        SignalConfig(SignalWeights(imb1=1.0, imb5=0.148, imb10=0.123, ret5=0.0, ret30=0.0), warmup=10.0)
    )
    feed(state, [100.0, 101.0] * 5, bids_qty=3.0)  # t = 0 .. 9
    assert state.reading is not None and not state.reading.warm and state.reading.pred == 0.0
    assert state.warmup_left(9.0) == pytest.approx(1.0)
    feed(state, [100.0], t0=10.0, bids_qty=3.0)
    assert state.reading.warm and state.reading.pred == pytest.approx(1.0 * 0.5 + 0.148 * 0.5 + 0.123 * 0.5)


def test_sigma_is_the_realized_volatility_per_sqrt_minute_in_bp():
    rng = np.random.default_rng(1)
    mids = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, 400)))
    state = SignalState(SignalConfig(NONE, sigma_window=300, warmup=60))
    feed(state, mids)
    ts = np.arange(400, dtype=float)
    expected = realized_sigma(ts[99:], mids[99:], 99.0, 399.0, 1.0) * 1e4 * math.sqrt(60)
    assert state.reading.sigma_bp == pytest.approx(expected)
    assert 6.5 < state.reading.sigma_bp < 9  # 1 bp per sqrt(s): about 7.7 bp per sqrt(60 s)


def test_the_prediction_blends_imbalance_momentum_and_flow_as_weighted():
    weights = SignalWeights(imb1=0.5, imb5=0.0, imb10=0.0, micro=0.0, ret5=1.0, ret30=2.0, flow=3.0)
    state = SignalState(SignalConfig(weights, warmup=0.0))
    mids = [100.0 + 0.01 * (i % 2) for i in range(60)] + [100.02]  # t = 0..60: the mid moves at the end
    state.on_trade(59.5, 2.0, buyer_aggressor=True)
    feed(state, mids, bids_qty=3.0)
    r = state.reading
    assert r.sigma_bp is not None
    r5 = (100.02 - 100.01) / 100.02 * 1e4  # 5 s ago (t = 55): 100.01
    r30 = (100.02 - 100.0) / 100.02 * 1e4  # 30 s ago (t = 30): 100.00
    assert r.pred == pytest.approx(0.5 * 0.5 + (r5 + 2 * r30) / r.sigma_bp + 3.0 * 1.0)


def test_a_reading_changes_only_when_the_touch_or_the_rounded_prediction_does():
    state = SignalState(SignalConfig(SignalWeights(imb1=1.0, imb5=0, imb10=0, ret5=0, ret30=0), warmup=0.0))
    feed(state, [100.5, 100.0, 100.5, 100.0])
    assert state.on_depth(4.0, [(100.0, 1.0)], [(101.0, 1.0)]) is True  # a new touch
    assert state.on_depth(4.1, [(100.0, 1.0)], [(101.0, 1.0)]) is False
    assert state.on_depth(4.2, [(100.0, 1.001)], [(101.0, 1.0)]) is False  # pred moved 0.0005 sigma
    assert state.on_depth(4.3, [(100.0, 1.2)], [(101.0, 1.0)]) is True  # pred moved 0.09 sigma
    assert state.on_depth(4.4, [(101.0, 1.0)], [(100.0, 1.0)]) is False  # crossed: not a book to read
    assert state.books == 9


def test_fair_value_moves_the_mid_by_the_weighted_prediction():
    reading = Reading(0.0, 99.0, 101.0, pred=0.5, sigma_bp=4.0)
    assert reading.fair(4.0) == pytest.approx(100 * (1 + 4 * 0.5 * 4.0 * 1e-4))
    assert Reading(0.0, 99.0, 101.0, pred=0.0, sigma_bp=None).fair(4.0) == 100.0


def test_the_market_stream_feeds_the_signal_the_book_without_our_order():
    from decimal import Decimal as D

    from aster_mm.core.config import Config
    from aster_mm.core.decisions import Quote
    from aster_mm.core.kinds import Side
    from aster_mm.core.orders import Order, OrderState
    from aster_mm.live.bot import MarketMaker

    bot = MarketMaker(Config(symbol="ETHUSDT", spread_model="signal"), client=None, ws_url="ws://x", now=lambda: 5.0)
    bot.state.live = Order("c1", Quote(Side.BUY, D("2500.00"), D("0.8"), False), OrderState.NEW)
    frame = {"e": "depthUpdate", "b": [["2500.00", "0.800"], ["2499.99", "4.000"]], "a": [["2500.02", "1.000"]]}
    bot.on_market_message(json.dumps({"stream": "ethusdt@depth10@100ms", "data": frame}))
    reading = bot.strategy.signal.reading
    assert (reading.bid, reading.ask) == (2499.99, 2500.02)  # the market's touch: our bid was alone
    assert bot.state.book.bid == D("2500.00")  # the exchange's top, ours included, for the crossing checks
    assert bot._wake.is_set()
