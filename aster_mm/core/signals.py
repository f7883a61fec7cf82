"""The short-horizon signal of `--spread-model signal`: where the mid is going in the next ten seconds.

Features of the market (each unit-free): order-book imbalance over the top 1, 5 and 10 levels, the
microprice's distance from mid, the mid's return over the last 5 and 30 s, and the trade-flow imbalance
of the aggregate trades over a window. Blended linearly into `pred`, the predicted 10 s mid move in units
of sigma, the mid's realized volatility (over 5 minutes of the mid sampled every second, per sqrt(60 s),
in basis points). The default weights are an OLS fit on two days of a BTC perpetual (see docs/trading.md).

Pure: floats (these are statistics), no clock (the caller passes times in seconds), no I/O. The book
given to `on_depth` is the market's, without our own order (`without_order` takes it out of a depth frame).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from aster_mm.core.spreads import VolatilityEstimator

Level = tuple[float, float]  # (price, quantity), best first
PRED_RESOLUTION = 0.01  # sigma: a prediction that moves less than this has not changed (it wakes nobody)
SQRT_60 = math.sqrt(60.0)


@dataclass(frozen=True)
class SignalWeights:
    """pred = imb1*imbalance(1) + imb5*imbalance(5) + imb10*imbalance(10) + micro*microprice_bp/sigma
    + ret5*return_5s_bp/sigma + ret30*return_30s_bp/sigma + flow*trade_flow (no intercept: the two
    sides stay mirror images). Defaults: the walk-forward optimiser's least-squares fit on BTC 2026-01-05/06,
    the training days of its last fold (docs/trading.md; trade flow and the microprice added nothing there)."""

    imb1: float = 0.1134
    imb5: float = 0.1049
    imb10: float = 0.1194
    micro: float = 0.0
    ret5: float = 0.2215
    ret30: float = 0.02723
    flow: float = 0.0


@dataclass(frozen=True)
class SignalConfig:
    weights: SignalWeights = field(default_factory=SignalWeights)
    sigma_window: float = 300.0  # s of mid history behind sigma
    warmup: float = 60.0  # s of mids before sigma (and so the signal) is trusted
    flow_window: float = 10.0  # s of aggregate trades behind the trade-flow imbalance
    step: float = 1.0  # s between the mid samples sigma is measured on


def imbalance(bids: Sequence[Level], asks: Sequence[Level], n: int) -> float:
    """(bid qty - ask qty) / (bid qty + ask qty) over the top `n` levels (fewer if the book has fewer)."""
    bid = sum(q for _, q in bids[:n])
    ask = sum(q for _, q in asks[:n])
    total = bid + ask
    return (bid - ask) / total if total > 0 else 0.0


def microprice_bp(bids: Sequence[Level], asks: Sequence[Level]) -> float:
    """The size-weighted microprice of the top level minus the mid, in basis points of the mid."""
    (bid, bid_qty), (ask, ask_qty) = bids[0], asks[0]
    mid = (bid + ask) / 2
    total = bid_qty + ask_qty
    if total <= 0:
        return 0.0
    return ((bid * ask_qty + ask * bid_qty) / total - mid) / mid * 1e4


def without_order(levels: Sequence[Level], price: float, qty: float) -> list[Level]:
    """`levels` with our own resting order (`qty` at `price`) taken out: the exchange's depth shows it,
    the market's view does not. A level left empty is dropped."""
    out = []
    for level_price, level_qty in levels:
        if level_price == price:
            level_qty -= qty
            if level_qty <= 1e-12:
                continue
        out.append((level_price, level_qty))
    return out


class _Lagged:
    """The mid as it was `lag` seconds ago: the last sample at or before then (the oldest one before
    that much history exists)."""

    def __init__(self, lag: float) -> None:
        self.lag = lag
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, t: float, mid: float) -> float:
        """Record (t, mid); answer the mid `lag` seconds before t."""
        samples = self._samples
        samples.append((t, mid))
        cutoff = t - self.lag
        while len(samples) > 1 and samples[1][0] <= cutoff:
            samples.popleft()
        return samples[0][1]


class TradeFlow:
    """(buy qty - sell qty) / (buy qty + sell qty) of the aggregate trades in the last `window` seconds,
    by aggressor side."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._trades: deque[tuple[float, float]] = deque()  # (t, signed qty: + when a buyer took)
        self._signed = self._total = 0.0

    def add(self, t: float, qty: float, buyer_aggressor: bool) -> None:
        signed = qty if buyer_aggressor else -qty
        self._trades.append((t, signed))
        self._signed += signed
        self._total += qty

    def value(self, now: float) -> float:
        trades, cutoff = self._trades, now - self.window
        while trades and trades[0][0] <= cutoff:
            _, signed = trades.popleft()
            self._signed -= signed
            self._total -= abs(signed)
        if not trades:
            self._signed = self._total = 0.0  # no drift from float sums
            return 0.0
        return self._signed / self._total if self._total > 0 else 0.0


class Features(NamedTuple):
    """The signal's inputs at one book, unweighted: imbalances (unit-free), the microprice's distance from
    the mid and the mid's returns (bp), the trade flow (unit-free), and sigma (bp per sqrt(60 s))."""

    imb1: float
    imb5: float
    imb10: float
    micro_bp: float
    ret5_bp: float
    ret30_bp: float
    flow: float
    sigma_bp: float

    def predict(self, w: SignalWeights) -> float:
        """pred, the predicted 10 s mid move in sigma (SignalWeights' formula)."""
        return (
            w.imb1 * self.imb1
            + w.imb5 * self.imb5
            + w.imb10 * self.imb10
            + (w.micro * self.micro_bp + w.ret5 * self.ret5_bp + w.ret30 * self.ret30_bp) / self.sigma_bp
            + w.flow * self.flow
        )


class Reading(NamedTuple):
    """The signal at one book: the market's touch (our own order left out), and the prediction."""

    at: float
    bid: float
    ask: float
    pred: float  # predicted 10 s mid move, in sigma; 0 while warming up
    sigma_bp: float | None  # realized volatility of the mid, bp per sqrt(60 s); None while warming up
    features: Features | None = None  # what pred was made of (None while warming up)

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def warm(self) -> bool:
        return self.sigma_bp is not None

    @property
    def key(self) -> tuple[float, float, int]:
        """What a decision reads of it: the touch and the prediction to its resolution."""
        return self.bid, self.ask, round(self.pred / PRED_RESOLUTION)

    def fair(self, weight: float) -> float:
        """The mid moved by `weight` times the predicted move: mid * (1 + weight * pred * sigma)."""
        return self.mid * (1 + weight * self.pred * (self.sigma_bp or 0.0) * 1e-4)


def imbalances(bids: Sequence[Level], asks: Sequence[Level]) -> tuple[float, float, float]:
    """`imbalance` over the top 1, 5 and 10 levels at once."""
    bid_qty, ask_qty = [q for _, q in bids[:10]], [q for _, q in asks[:10]]
    out = []
    for n in (1, 5, 10):
        bid, ask = sum(bid_qty[:n]), sum(ask_qty[:n])
        total = bid + ask
        out.append((bid - ask) / total if total > 0 else 0.0)
    return out[0], out[1], out[2]


class SignalState:
    """Fed every depth frame (`on_depth`) and aggregate trade (`on_trade`); `reading` is the signal at
    the last book."""

    def __init__(self, config: SignalConfig) -> None:
        self.config = config
        self.volatility = VolatilityEstimator(config.sigma_window, config.step)
        self.flow = TradeFlow(config.flow_window)
        self._r5, self._r30 = _Lagged(5.0), _Lagged(30.0)
        self._since: float | None = None
        self._last_mid: float | None = None
        self._next_fit = -math.inf
        self.sigma_bp: float | None = None
        self.reading: Reading | None = None
        self._key: tuple[float, float, int] | None = None  # the reading's
        self.books = 0  # books read so far

    def warmup_left(self, now: float) -> float:
        """Seconds of market data still needed before the signal is trusted."""
        return self.config.warmup if self._since is None else max(self.config.warmup - (now - self._since), 0.0)

    def on_trade(self, t: float, qty: float, buyer_aggressor: bool) -> None:
        self.flow.add(t, qty, buyer_aggressor)

    def on_depth(self, t: float, bids: Sequence[Level], asks: Sequence[Level]) -> bool:
        """A book (best first, our own order left out). True when what a decision reads of the signal
        changed: the touch, or the prediction by at least its resolution."""
        self.books += 1
        if not bids or not asks or bids[0][0] >= asks[0][0]:
            return False
        bid, ask = bids[0][0], asks[0][0]
        mid = (bid + ask) / 2
        if self._since is None:
            self._since = t
        if mid != self._last_mid:
            self.volatility.add(t, mid)
            self._last_mid = mid
        r5 = (mid - self._r5.add(t, mid)) / mid * 1e4
        r30 = (mid - self._r30.add(t, mid)) / mid * 1e4
        sigma = self._sigma(t)
        features, pred = None, 0.0
        if sigma is not None:
            imb1, imb5, imb10 = imbalances(bids, asks)
            features = Features(imb1, imb5, imb10, microprice_bp(bids, asks), r5, r30, self.flow.value(t), sigma)
            pred = features.predict(self.config.weights)
        self.reading = Reading(t, bid, ask, pred, sigma, features)
        key, self._key = self._key, (bid, ask, round(pred / PRED_RESOLUTION))
        return key != self._key

    def _sigma(self, t: float) -> float | None:
        """sigma in bp per sqrt(60 s), refitted once per grid step; None until warm (or on a still mid)."""
        if t >= self._next_fit:
            self._next_fit = t + self.config.step
            warm = self._since is not None and t - self._since >= self.config.warmup
            sigma = self.volatility.fit(t) if warm else None
            self.sigma_bp = sigma * 1e4 * SQRT_60 if sigma else None
        return self.sigma_bp
