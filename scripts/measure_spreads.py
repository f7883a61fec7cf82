"""Measures what the adaptive spread model costs (one update, one refit) and what it estimates on the
recorded Aster data. Run: python scripts/measure_spreads.py. A measurement, not a test."""

from __future__ import annotations

import csv
import itertools
import sys
import timeit
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from aster_mm.core.spreads import AdaptiveConfig, AdaptiveSpreads, describe  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "aster-2025-09-29"
CONFIG = AdaptiveConfig(
    risk_aversion=0.1,
    min_spread=Decimal("0.0002"),
    fixed_buy_spread=Decimal("0.006"),
    fixed_sell_spread=Decimal("0.006"),
)


def loaded(mids: int, trades: int) -> tuple[AdaptiveSpreads, float]:
    """A model holding `mids` mid samples and `trades` trades spread over the windows."""
    rng = np.random.default_rng(0)
    model = AdaptiveSpreads(CONFIG)
    end = CONFIG.intensity_window
    for t in np.linspace(0.0, end, mids):
        model.on_mid(t, 100.0 * (1 + 1e-4 * rng.standard_normal()))
    for t in np.linspace(0.0, end, trades):
        model.on_trade(t, 100.0 * (1 + rng.exponential(2e-4) * rng.choice([-1, 1])), 100.0)
    return model, end


def per_call_us(stmt, number: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6


def measure_costs() -> None:
    for mids, trades in ((3000, 6000), (16384, 65536)):
        model, end = loaded(mids, trades)
        print(f"-- {mids} mids, {trades} trades held")
        refit = per_call_us(lambda: model._refit(end), 20)
        assert model._refit(end) is not None
        print(f"refit             {refit:8.1f} µs")
        model.spreads(end)  # fitted now: the calls below are not due
        lots = itertools.cycle([i / 10 for i in range(-50, 51)])  # the inventory moves: no answer kept
        print(f"spreads (no refit){per_call_us(lambda: model.spreads(end, next(lots)), 20000):8.2f} µs")
        print(f"  same inventory  {per_call_us(lambda: model.spreads(end, 1.0), 20000):8.2f} µs")
        print(f"on_mid            {per_call_us(lambda: model.on_mid(end, 100.0), 20000):8.2f} µs")
        print(f"on_trade          {per_call_us(lambda: model.on_trade(end, 100.01, 100.0), 20000):8.2f} µs")


def replay(symbol: str) -> None:
    with open(DATA / f"prices_{symbol}.csv") as f:
        mids = [(float(r["unix_timestamp"]), 0, float(r["mid"])) for r in csv.DictReader(f)]
    with open(DATA / f"trades_{symbol}.csv") as f:
        trades = [(int(r["unix_timestamp_ms"]) / 1000, 1, float(r["price"])) for r in csv.DictReader(f)]
    for gamma in (0.01, 0.1, 1.0):
        model = AdaptiveSpreads(AdaptiveConfig(**(vars(CONFIG) | {"risk_aversion": gamma})))
        mid = None
        for t, kind, x in sorted(mids + trades):
            if kind == 0:
                mid = x
                model.on_mid(t, x)
            elif mid is not None:
                model.on_trade(t, x, mid)
        end = max(mids[-1][0], trades[-1][0])
        flat, long = model.spreads(end + CONFIG.refit_every), model.spreads(end + CONFIG.refit_every, 1.0)
        print(
            f"{symbol} gamma={gamma}: flat buy/sell {flat.buy_spread}/{flat.sell_spread}, "
            f"long 1 lot buy/sell {long.buy_spread}/{long.sell_spread}; {describe(long.estimates)}"
        )


if __name__ == "__main__":
    measure_costs()
    if DATA.exists():
        for sym in ("ASTERUSDT", "BNBUSDT"):
            replay(sym)
