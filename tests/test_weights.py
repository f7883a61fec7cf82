"""The signal's weights fitted per fold (aster_mm/optimize/weights.py): on a market made so that the book's
imbalances move the mid by known amounts over the next 10 s, least squares on the features the bot's own signal
code computes gives those amounts back."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")

from aster_mm.backtest import cli  # noqa: E402
from aster_mm.backtest.features import NAMES, samples  # noqa: E402
from aster_mm.optimize import weights  # noqa: E402

T0 = 1_767_657_600
HOURS = 4
TRUE = {"imb1": 0.30, "imb5": 0.20, "imb10": -0.15}  # the 10 s move in sigma, per unit of each imbalance
SIGMA_BP = 5.0  # the mid's volatility per sqrt(60 s)
FLAGS = ["--symbol", "TESTUSD", "--tick", "0.001", "--step", "0.001", "--weight-ret5", "0", "--weight-ret30", "0"]


def imbalances(bids: np.ndarray, asks: np.ndarray) -> np.ndarray:
    """(imb1, imb5, imb10) of each row of level quantities."""
    return np.stack(
        [(bids[:, :n].sum(1) - asks[:, :n].sum(1)) / (bids[:, :n].sum(1) + asks[:, :n].sum(1)) for n in (1, 5, 10)], 1
    )


def a_market(folder, seed: int = 4):
    """A book every second, ten levels a side with random sizes; each second's imbalances move the mid by
    SIGMA_BP * sum(TRUE * imbalance) bp, spread evenly over the next 10 s, on top of noise that brings the mid's
    total volatility to SIGMA_BP per sqrt(60 s)."""
    rng = np.random.default_rng(seed)
    n = HOURS * 3600
    bids, asks = rng.lognormal(0, 0.8, (n, 10)), rng.lognormal(0, 0.8, (n, 10))
    push = SIGMA_BP * imbalances(bids, asks) @ np.array(list(TRUE.values()))  # bp over the next 10 s
    drift = np.convolve(push / 10, np.ones(10))[:n]  # bp per second: the last 10 s of pushes
    noise_var = SIGMA_BP**2 / 60 - np.var(drift)  # the drift's own share of the volatility
    steps = drift + rng.normal(0, np.sqrt(noise_var), n)
    mid = 1000 * np.exp(np.cumsum(steps) * 1e-4)
    bid0 = np.floor(mid / 0.001) * 0.001
    folder.mkdir(parents=True)
    header = ["unix_timestamp", "lastUpdateId"]
    header += [f"{side}_{what}_{i}" for side in ("bid", "ask") for i in range(10) for what in ("price", "qty")]
    rows = [",".join(header)]
    for k in range(n):
        bid = [f"{bid0[k] - 0.001 * i:.3f},{bids[k, i]:.3f}" for i in range(10)]
        ask = [f"{bid0[k] + 0.001 * (i + 1):.3f},{asks[k, i]:.3f}" for i in range(10)]
        rows.append(f"{T0 + k},{k},{','.join(bid + ask)}")
    (folder / "orderbook_TESTUSD.csv").write_text("\n".join(rows) + "\n")
    trades = ["id,unix_timestamp_ms,side,price,quantity"]  # one a minute: the signal reads the book
    trades += [f"{i},{(T0 + 60 * i) * 1000 + 500},buy,{bid0[60 * i] + 0.001:.3f},0.1" for i in range(n // 60)]
    (folder / "trades_TESTUSD.csv").write_text("\n".join(trades) + "\n")
    return folder


def test_least_squares_on_the_signals_features_gives_the_markets_weights_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    day = a_market(tmp_path / "2026-01-06")
    fit = weights.for_days([day], FLAGS, tuple(TRUE))
    assert fit.samples > HOURS * 3600 * 0.9  # every second but the warm-up and the last 10 s
    assert fit.weights == pytest.approx(TRUE, abs=0.05)
    assert float(fit.flags()["weight-imb1"]) == pytest.approx(fit.weights["imb1"], rel=1e-3)  # as the trials get it


def test_the_features_are_the_bots_own_and_a_fixed_weights_part_is_taken_out(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    day = a_market(tmp_path / "2026-01-06")
    args, cfg = cli.parse(["--data", str(day), *FLAGS])
    market, rules = cli.load_market(args, {})
    got = samples(market, float(rules.tick), float(rules.step), cfg.signal, args.gap_s)
    assert got.x.shape[1] == len(NAMES) and np.all(np.abs(got.x[:, :3]) <= 1)  # imbalances
    # imb10 fixed at its true weight: the others come out as before, its part of the move taken out first
    fixed = {name: 0.0 for name in NAMES} | {"imb10": TRUE["imb10"]}
    fit = weights.fit([got], ("imb1", "imb5"), fixed)
    assert fit.weights == pytest.approx({k: TRUE[k] for k in ("imb1", "imb5")}, abs=0.05)
    left_out = weights.fit([got], ("imb1", "imb5"), fixed | {"imb10": 0.0})  # its part is then in the move,
    assert abs(left_out.weights["imb5"] - TRUE["imb5"]) > 0.05  # and imb5, which overlaps it, takes some of it
    with pytest.raises(ValueError, match="no weight named"):
        weights.fit([got], ("imb3",), fixed)
