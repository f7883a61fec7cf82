"""The signal model's features on a recording, once a second, next to the mid's move over the following 10 s:
what the optimiser fits the signal's weights on (aster_mm/optimize/weights.py).

The features are the bot's own: the recording's books (the bare pass's table, wakes.BookTable) and trades go
through the core's `SignalState` exactly as a backtest feeds them (feed.MarketFeed), in one pass. Each second of
local time takes the reading of the last book at or before it, which is what the bot would hold then; the move is
the mid of the book in force 10 s later against that one, in units of the reading's sigma. Seconds without a warm
signal, or whose next 10 s touch a gap in the data (wakes.Gaps), are left out. Cached beside the converted events.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from aster_mm.backtest import wakes
from aster_mm.backtest.bot import Features, Reads, SignalConfig, SignalState
from aster_mm.backtest.convert import MarketData
from aster_mm.backtest.feed import MarketFeed

NS = 1_000_000_000
HORIZON_S = 10  # the move predicted: pred is the mid's move over the next 10 s, in sigma
NAMES = ("imb1", "imb5", "imb10", "micro", "ret5", "ret30", "flow")  # the columns of `x`, as SignalWeights names them
SIGNAL_READS = Reads(10, True)  # the levels the signal reads (Strategy.reads): the backtests' own table


@dataclass(frozen=True)
class Samples:
    """One row a second: `x` the features as pred weighs them (imbalances and flow unit-free; the microprice's
    distance and the returns in sigma), `y` the mid's move over the next HORIZON_S in sigma."""

    x: np.ndarray  # float64 [n, len(NAMES)]
    y: np.ndarray  # float64 [n]


def samples(market: MarketData, tick: float, lot: float, signal: SignalConfig, gap_s: float) -> Samples:
    """The recording's samples for a signal of these windows (its weights do not matter), cached."""
    windows = (signal.sigma_window, signal.warmup, signal.flow_window, signal.step)
    name = hashlib.sha1(repr((tick, lot, windows, gap_s, HORIZON_S)).encode()).hexdigest()[:16]
    return Samples(
        **wakes.cached(market, f"signal-samples-{name}", lambda: _one_pass(market, tick, lot, signal, gap_s))
    )


def _one_pass(market: MarketData, tick: float, lot: float, signal: SignalConfig, gap_s: float) -> Samples:
    table = wakes.book_table(market, tick, lot, SIGNAL_READS)
    state = SignalState(signal)
    feed = MarketFeed(table, wakes.market_trades(market), tick, signal=state)
    n = len(table.times)
    mids, features = np.full(n, np.nan), np.full((n, len(NAMES) + 1), np.nan)  # the features, then sigma
    for i, now in enumerate(feed.times):
        feed.advance(now)
        feed.feed(now, None)
        reading = state.reading
        if reading is not None:
            mids[i] = reading.mid
            if reading.features is not None:
                features[i] = _columns(reading.features)
    return _on_the_second(table.times, mids, features, wakes.Gaps.of(market, gap_s))


def _columns(f: Features) -> tuple[float, ...]:
    """A reading's features in NAMES' order, then sigma."""
    return f.imb1, f.imb5, f.imb10, f.micro_bp, f.ret5_bp, f.ret30_bp, f.flow, f.sigma_bp


def _on_the_second(times: np.ndarray, mids: np.ndarray, features: np.ndarray, gaps: wakes.Gaps) -> Samples:
    if len(times) == 0:
        return Samples(np.zeros((0, len(NAMES))), np.zeros(0))
    first, last = math.ceil(times[0] / NS), int(times[-1] // NS) - HORIZON_S
    grid = np.arange(first, max(last, first), dtype=np.int64) * NS
    now = np.searchsorted(times, grid, side="right") - 1
    later = np.searchsorted(times, grid + HORIZON_S * NS, side="right") - 1
    f, sigma = features[now, : len(NAMES)], features[now, len(NAMES)]
    ok = np.isfinite(sigma) & (sigma > 0) & np.isfinite(mids[now]) & np.isfinite(mids[later])
    for start, end in zip(gaps.stale_from.tolist(), gaps.until.tolist()):  # the next 10 s touch a stale stretch
        ok &= ~((grid < end) & (grid + HORIZON_S * NS >= start))
    move = (mids[later] - mids[now]) / mids[now] * 1e4 / sigma
    x = f.copy()
    x[:, 3:6] /= sigma[:, None]  # the microprice's distance and the returns, in sigma, as pred divides them
    return Samples(x[ok], move[ok])
