"""The adaptive spread model: estimators on synthetic data with known parameters, GLFT, AdaptiveSpreads."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pytest

from aster_mm.core.spreads import (
    AdaptiveConfig,
    AdaptiveSpreads,
    IntensityEstimator,
    VolatilityEstimator,
    describe,
    fit_intensity,
    glft_depths,
    quantile_of_sorted,
)

MID = 2000.0


def brownian_mids(rng, sigma: float, duration: float, mean_gap: float):
    """Mids at Poisson-irregular times, log-mid a Brownian motion of `sigma` per sqrt(second)."""
    ts = np.cumsum(rng.exponential(mean_gap, size=int(3 * duration / mean_gap)))
    ts = ts[ts < duration]
    dt = np.diff(ts, prepend=0.0)
    return ts, MID * np.exp(np.cumsum(rng.normal(0.0, sigma * np.sqrt(dt))))


def poisson_trades(rng, a: float, k: float, duration: float):
    """Trades on both sides, each side at rate `a`, distances from mid exponential of rate `k`:
    the rate of trades at distance >= delta on one side is then a*exp(-k*delta)."""
    n = rng.poisson(2 * a * duration)
    ts = np.sort(rng.uniform(0.0, duration, n))
    signs = rng.choice([-1.0, 1.0], n)
    return ts, MID * (1.0 + signs * rng.exponential(1.0 / k, n))


def feed(model: AdaptiveSpreads, rng, sigma=2e-4, a=1.0, k=4000.0, duration=300.0, start=0.0):
    mts, mids = brownian_mids(rng, sigma, duration, mean_gap=0.5)
    tts, prices = poisson_trades(rng, a, k, duration)
    model.on_mid(start, MID)
    for t, m in zip(mts, mids):
        model.on_mid(start + t, m)
    for t, p in zip(tts, prices):
        model.on_trade(start + t, p, MID)
    return start + duration


def config(**kw) -> AdaptiveConfig:
    base = dict(risk_aversion=0.1, min_spread=D("0.0002"), fixed_buy_spread=D("0.006"), fixed_sell_spread=D("0.005"))
    return AdaptiveConfig(**(base | kw))


# ================================================================================ estimators
@pytest.mark.parametrize("seed,sigma,mean_gap", [(1, 3e-4, 0.5), (2, 1e-4, 0.1), (3, 5e-4, 3.0)])
def test_volatility_is_recovered_within_20_percent_from_irregular_samples(seed, sigma, mean_gap):
    rng = np.random.default_rng(seed)
    ts, mids = brownian_mids(rng, sigma, 900.0, mean_gap)
    est = VolatilityEstimator(window=300.0)
    for t, m in zip(ts, mids):
        est.add(t, m)
    assert est.fit(900.0) == pytest.approx(sigma, rel=0.2)


def test_volatility_uses_only_the_window():
    rng = np.random.default_rng(4)
    calm_ts, calm = brownian_mids(rng, 1e-5, 600.0, 0.5)
    wild_ts, wild = brownian_mids(rng, 4e-4, 300.0, 0.5)
    est = VolatilityEstimator(window=300.0)
    for t, m in zip(calm_ts, calm):
        est.add(t, m)
    for t, m in zip(wild_ts, wild * calm[-1] / MID):
        est.add(600.0 + t, m)
    assert est.fit(900.0) == pytest.approx(4e-4, rel=0.2)
    assert est.fit(600.0) == pytest.approx(1e-5, rel=0.2)


def test_a_book_that_stops_pushing_has_stopped_moving():
    est = VolatilityEstimator(window=300.0)
    est.add(0.0, MID)
    est.add(1.0, MID * 1.001)
    assert est.fit(11.0) == pytest.approx(math.log(1.001) / math.sqrt(11.0))
    assert VolatilityEstimator().fit(5.0) is None
    # the last mid before the window is the mid at its start: a jump inside the window counts
    est = VolatilityEstimator(window=300.0)
    est.add(0.0, MID)
    est.add(500.0, MID * 1.001)
    assert est.fit(600.0) == pytest.approx(math.log(1.001) / math.sqrt(300.0))


def test_full_ring_buffers_keep_the_newest_samples_in_order():
    rng = np.random.default_rng(15)
    ts, mids = brownian_mids(rng, 3e-4, 900.0, 0.5)
    vol = VolatilityEstimator(window=300.0, capacity=256)  # holds about the last 128 s
    for t, m in zip(ts, mids):
        vol.add(t, m)
    assert vol.fit(900.0) == pytest.approx(3e-4, rel=0.2)
    tts, prices = poisson_trades(rng, 2.0, 4000.0, 600.0)
    est = IntensityEstimator(window=600.0, capacity=500)  # about the last 125 s of trades
    est.start(0.0)
    for t, p in zip(tts, prices):
        est.add(t, p, MID)
    distances, duration = est.window_distances(600.0)
    assert len(distances) == 500 and duration < 200.0
    assert est.fit(600.0)[0] == pytest.approx(2.0, rel=0.2)


@pytest.mark.parametrize("seed,a,k", [(5, 1.0, 4000.0), (6, 3.0, 1500.0), (7, 0.5, 10000.0)])
def test_intensity_a_and_k_are_recovered_within_20_percent(seed, a, k):
    rng = np.random.default_rng(seed)
    ts, prices = poisson_trades(rng, a, k, 600.0)
    est = IntensityEstimator(window=600.0)
    est.start(0.0)
    for t, p in zip(ts, prices):
        est.add(t, p, MID)
    fitted_a, fitted_k, r2 = est.fit(600.0)
    assert fitted_a == pytest.approx(a, rel=0.2)
    assert fitted_k == pytest.approx(k, rel=0.2)
    assert r2 > 0.9  # exponential by construction: the log-linear fit is good


def test_intensity_counts_quiet_time_and_forgets_old_trades():
    rng = np.random.default_rng(8)
    ts, prices = poisson_trades(rng, 2.0, 4000.0, 300.0)
    est = IntensityEstimator(window=600.0)
    est.start(0.0)
    for t, p in zip(ts, prices):
        est.add(300.0 + t, p, MID)  # 300 s without trades, then 300 s at rate 2 per side
    assert est.fit(600.0)[0] == pytest.approx(1.0, rel=0.2)
    assert est.fit(1100.0)[0] == pytest.approx(2.0 / 6, rel=0.2)  # 100 s of trades in 600
    assert est.fit(1300.0) is None  # all forgotten


# ====================================================================================== GLFT
def test_glft_matches_a_hand_computation():
    # sigma=2, A=1, k=0.5, gamma=0.1, lot=1:  x = gamma/k = 0.2
    # c1 = ln(1.2)/0.1 = 1.8232155679
    # c2 = sqrt(0.1/(2*1*1*0.5) * 1.2**6) = sqrt(0.1 * 2.985984) = 0.5464415797
    # skew = sigma*c2 = 1.0928831594; half = c1 + skew/2 = 2.3696571476
    # inventory 2: bid = half + 2*skew = 4.5554234663, ask = half - 2*skew = 0.1838908289
    d = glft_depths(sigma=2.0, a=1.0, k=0.5, gamma=0.1, inventory=2.0)
    assert d.skew == pytest.approx(1.0928831594, rel=1e-9)
    assert d.half_spread == pytest.approx(2.3696571476, rel=1e-9)
    assert d.bid == pytest.approx(4.5554234663, rel=1e-9)
    assert d.ask == pytest.approx(0.1838908289, rel=1e-9)


def test_glft_monotonicity():
    base = dict(sigma=2.0, a=1.0, k=0.5, gamma=0.1, inventory=0.0)
    flat = glft_depths(**base)
    assert flat.bid == flat.ask == flat.half_spread
    assert glft_depths(**base | {"sigma": 4.0}).half_spread > flat.half_spread  # wilder: wider
    assert glft_depths(**base | {"k": 0.25}).half_spread > flat.half_spread  # trades further out
    assert glft_depths(**base | {"a": 4.0}).half_spread < flat.half_spread  # busier: tighter
    assert glft_depths(**base | {"gamma": 1.0}).skew > flat.skew  # more averse: more skew
    closes = [glft_depths(**base | {"inventory": q}).ask for q in (0.5, 1.0, 2.0, 4.0)]
    assert closes == sorted(closes, reverse=True)  # longer: closes nearer
    # more risk aversion pulls the close of a long towards mid faster
    assert (
        glft_depths(**base | {"gamma": 1.0, "inventory": 2.0}).ask
        < glft_depths(**base | {"gamma": 0.1, "inventory": 2.0}).ask
    )
    with pytest.raises(ValueError):
        glft_depths(**base | {"gamma": 0.0})


def test_glft_short_inventory_mirrors_long():
    for q in (0.5, 1.0, 3.0):
        long, short = glft_depths(2.0, 1.0, 0.5, 0.3, q), glft_depths(2.0, 1.0, 0.5, 0.3, -q)
        assert long.ask == pytest.approx(short.bid) and long.bid == pytest.approx(short.ask)


# ========================================================================= AdaptiveSpreads
def test_fixed_spreads_until_warm():
    model = AdaptiveSpreads(config(warmup_seconds=60.0, min_trades=50))
    rng = np.random.default_rng(9)
    end = feed(model, rng, duration=30.0)  # too short
    s = model.spreads(end)
    assert (s.buy_spread, s.sell_spread) == (D("0.006"), D("0.005"))
    assert s.estimates == {"warm": False} and "warming" in describe(s.estimates)

    model = AdaptiveSpreads(config(warmup_seconds=60.0, min_trades=50))
    end = feed(model, rng, a=0.02, duration=300.0)  # long enough, but about 12 trades
    assert model.spreads(end).buy_spread == D("0.006")

    model = AdaptiveSpreads(config(warmup_seconds=60.0, min_trades=50))
    end = feed(model, rng, duration=300.0)
    s = model.spreads(end)
    assert s.estimates["warm"] and s.buy_spread != D("0.006")
    assert "sigma=" in describe(s.estimates)


def test_spreads_follow_the_glft_depths_of_the_estimates():
    model = AdaptiveSpreads(config(risk_aversion=0.2, min_spread=D("0.00001")))
    end = feed(model, np.random.default_rng(10), sigma=3e-4, a=1.0, k=2000.0, duration=600.0)
    s = model.spreads(end, inventory=1.0)
    e = s.estimates
    d = glft_depths(e["sigma_bp"], e["A"], e["k_bp"], 0.2, 1.0)
    assert float(s.buy_spread) == pytest.approx(d.bid * 1e-4, rel=1e-3)
    assert float(s.sell_spread) == pytest.approx(d.ask * 1e-4, rel=1e-3)
    assert e["sigma_bp"] == pytest.approx(3.0, rel=0.2)
    assert e["k_bp"] == pytest.approx(0.2, rel=0.2)
    assert s.sell_spread < s.buy_spread  # long: the close is the nearer side


def test_more_volatility_widens_the_quotes():
    calm, wild = AdaptiveSpreads(config()), AdaptiveSpreads(config())
    end = feed(calm, np.random.default_rng(11), sigma=1e-4, k=1000.0, duration=300.0)
    feed(wild, np.random.default_rng(11), sigma=6e-4, k=1000.0, duration=300.0)
    assert wild.spreads(end).buy_spread > calm.spreads(end).buy_spread


def test_never_tighter_than_min_spread_nor_wider_than_max():
    model = AdaptiveSpreads(config(min_spread=D("0.0003"), risk_aversion=1.0))
    end = feed(model, np.random.default_rng(12), k=20000.0, duration=300.0)  # trades hug the mid
    flat = model.spreads(end)
    assert flat.buy_spread == flat.sell_spread == D("0.0003")
    long = model.spreads(end, inventory=50.0)  # GLFT's ask would cross the mid
    assert long.sell_spread == D("0.0003")
    wide = AdaptiveSpreads(config(max_spread=D("0.001"), risk_aversion=5.0))
    feed(wide, np.random.default_rng(12), sigma=5e-3, k=100.0, duration=300.0)
    assert wide.spreads(end, inventory=5.0).buy_spread == D("0.001")
    cold = AdaptiveSpreads(config(min_spread=D("0.01")))  # the floor holds for the fallback too
    assert cold.spreads(0.0).sell_spread == D("0.01")


def test_short_side_mirrors_long():
    model = AdaptiveSpreads(config(min_spread=D("0.00001")))
    end = feed(model, np.random.default_rng(13), sigma=3e-4, k=2000.0, duration=300.0)
    for q in (0.5, 1.0, 2.0):
        long, short = model.spreads(end, q), model.spreads(end, -q)
        assert (long.buy_spread, long.sell_spread) == (short.sell_spread, short.buy_spread)


def test_refits_only_when_due():
    model = AdaptiveSpreads(config(refit_every=5.0))
    rng = np.random.default_rng(14)
    end = feed(model, rng, sigma=2e-4, duration=300.0)
    before = model.spreads(end).estimates
    feed(model, rng, sigma=2e-3, duration=60.0, start=end)  # a violent minute
    assert model.spreads(end + 4.9).estimates == before  # not due yet
    assert model.spreads(end + 60.0).estimates["sigma_bp"] > 2 * before["sigma_bp"]


def test_the_fit_reports_its_quality_and_the_distances_in_ticks():
    model = AdaptiveSpreads(config(min_spread=D("0.00001")))
    end = feed(model, np.random.default_rng(16), sigma=3e-4, k=2000.0, duration=300.0)
    e = model.spreads(end, tick_bp=0.05).estimates  # a tick of 0.05 bp
    assert 0.9 < e["r2"] <= 1.0 and "quiet" not in e
    assert e["half_spread_ticks"] == pytest.approx(e["half_spread_bp"] / 0.05, abs=0.1)
    assert "r2=" in describe(e) and "ticks)" in describe(e)
    # a book that is not exponential at all: the fit says so
    bumpy = np.concatenate([np.full(300, 1e-5), np.full(300, 5e-4)])
    _, _, r2 = fit_intensity(bumpy, 600.0)
    assert r2 < 0.8
    # trades bunched within a hair of one distance far from mid: the line through them meets zero distance
    # beyond any float, so there is no fit (the live quote loop once died of math.exp's OverflowError here)
    assert fit_intensity(np.linspace(1e-3, 1e-3 + 1e-7, 400), 60.0) is None


def test_a_quiet_window_decays_the_last_fit_towards_the_fixed_spreads():
    model = AdaptiveSpreads(config(min_spread=D("0.00001"), half_life=60.0, intensity_window=300.0))
    end = feed(model, np.random.default_rng(17), sigma=3e-4, k=2000.0, duration=300.0)
    fitted = model.spreads(end)
    fixed = D("0.006")
    assert fitted.buy_spread < fixed and "quiet" not in fitted.estimates
    model.on_mid(end + 400.0, MID)  # no trades for 400 s: nothing left in the 300 s window to fit
    quiet = model.spreads(end + 400.0)
    assert quiet.estimates["quiet"] and quiet.estimates["fit_age_s"] == 400
    weight = 0.5 ** (400 / 60)
    assert float(quiet.buy_spread) == pytest.approx(
        weight * float(fitted.buy_spread) + (1 - weight) * float(fixed), rel=1e-4
    )
    assert fitted.buy_spread < quiet.buy_spread < fixed  # between the two: no jump back
    assert "quiet: last fit 400 s ago, decaying towards the fixed spreads" in describe(quiet.estimates)
    later = model.spreads(end + 460.0)
    assert later.estimates["fit_age_s"] == 460 and quiet.buy_spread < later.buy_spread < fixed
    feed(model, np.random.default_rng(18), sigma=3e-4, k=2000.0, duration=300.0, start=end + 400.0)
    assert "quiet" not in model.spreads(end + 700.0).estimates  # trades again: a fresh fit


def test_the_quantile_of_sorted_data_is_numpys_to_the_last_bit():
    """The intensity fit takes the 95th percentile of data it has just sorted; it must be np.quantile's own
    figure, bit for bit, or a refit would move a spread by a quantum now and then."""
    rng = np.random.default_rng(21)
    for n in [1, 2, 3, 10, 19, 20, 21, 101, 1150, 4999]:
        for _ in range(50):
            data = np.sort(rng.exponential(2e-4, n) * rng.choice([1, 1e-3, 1e3]))
            for q in (0.95, 0.5, 0.05, 0.999, 0.0, 1.0):
                assert quantile_of_sorted(data, q) == float(np.quantile(data, q)), (n, q)
