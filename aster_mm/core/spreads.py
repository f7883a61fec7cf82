"""Spreads that follow the market: rolling estimators and the Guéant–Lehalle–Fernandez-Tapia quotes.

Owns the adaptive spread model (`--spread-model adaptive`) and nothing else: no I/O, no clock (the
caller passes the time, in seconds), no orders. Three pieces:

- `VolatilityEstimator`: the mid's volatility per sqrt(second), from (t, mid) samples however irregular.
- `IntensityEstimator`: the rate lambda(delta) = A * exp(-k * delta) at which a resting order at a
  relative distance delta from mid is reached by trades, from (t, trade price, mid) observations.
- `glft_depths`: the GLFT asymptotic optimal distances from mid for both sides given inventory.

`AdaptiveSpreads` wires them: fed mids and trades, it refits every few seconds and answers the
(buy_spread, sell_spread) the bot uses as today (BUY at mid*(1-buy_spread), SELL at mid*(1+sell_spread)),
never tighter than min_spread, the fixed spreads until the estimators are warm. When a window turns quiet
(too few trades to fit), it keeps the last good fit and lets its spreads decay towards the fixed ones with
a half-life, rather than jumping back; the estimates say so, and how good the intensity fit was (R²).

Units. Estimators work in relative terms (log returns; distances as fractions of mid). The GLFT step
works in basis points, so the risk aversion gamma reads "per basis point per lot" (a lot is one
opening order's size) and sits in the same range as hftbacktest's per-tick examples (0.01 .. 1). The
distances are reported in ticks as well, the unit that stays meaningful on a book whose spread is a
fraction of a basis point (BTC: one tick is 0.001 bp). Statistics are floats; only the spreads handed
back are Decimal.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Estimates = dict[str, float]  # printable figures by name ("warm" is a bool: 0 or 1)

BP = 1e-4  # one basis point as a fraction
_SPREAD_QUANTUM = Decimal("1e-8")


class _Recent:
    """The last `capacity` (a, b) float pairs, oldest first, read as two views without a copy: pairs go into
    columns twice that long, and when those are full the newest `capacity` move back to the start (one copy
    per `capacity` appends, where a ring buffer would copy all of it on every read)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._a = np.empty(2 * capacity, dtype=np.float64)
        self._b = np.empty(2 * capacity, dtype=np.float64)
        self._end = 0
        self.ordered = True  # every `a` at least the one before it (times as they arrive): searchable

    def append(self, a: float, b: float) -> None:
        end = self._end
        if end == len(self._a):
            keep = self.capacity
            self._a[:keep], self._b[:keep] = self._a[end - keep : end], self._b[end - keep : end]
            end = keep
        if end and a < self._a[end - 1]:
            self.ordered = False
        self._a[end], self._b[end] = a, b
        self._end = end + 1

    @property
    def full(self) -> bool:
        """Older pairs were dropped."""
        return self._end >= self.capacity

    def columns(self) -> tuple[Floats, Floats]:
        """The pairs held, oldest first: (every a, every b), views valid until the next append."""
        start = max(self._end - self.capacity, 0)
        return self._a[start : self._end], self._b[start : self._end]


# ================================================================================== volatility
def realized_sigma(ts: Floats, mids: Floats, start: float, now: float, step: float) -> float | None:
    """Volatility of log(mid) per sqrt(second) over [start, now], or None with too little data.

    The mid is sampled on a regular grid of `step` seconds with the last value seen before each grid
    point (a book that does not push has not moved), so irregular pushes neither bias the estimate nor
    let the bid/ask bounce of very frequent pushes inflate it. `ts` is sorted, with a sample at or before
    `start`.
    """
    n = int((now - start) // step)
    if n < 2:
        return None
    grid = start + _offsets(n, step)
    idx = np.searchsorted(ts, grid, side="right") - 1
    logs = np.log(mids[idx])
    returns = logs[1:] - logs[:-1]  # np.diff, without its checks
    return math.sqrt(float(np.dot(returns, returns)) / (n * step))


@functools.lru_cache(maxsize=16)
def _offsets(n: int, step: float) -> Floats:
    """The grid's offsets from its start, 0 .. n steps (read-only: shared by every fit of that length)."""
    out: Floats = step * np.arange(n + 1, dtype=np.float64)
    out.flags.writeable = False
    return out


class VolatilityEstimator:
    """Rolling volatility of the mid over the last `window` seconds."""

    def __init__(self, window: float = 300.0, step: float = 1.0, capacity: int = 16384) -> None:
        self.window, self.step = window, step
        self._samples = _Recent(capacity)

    def add(self, t: float, mid: float) -> None:
        self._samples.append(t, mid)

    def fit(self, now: float) -> float | None:
        ts, mids = self._samples.columns()
        if len(ts) == 0:
            return None
        # keep the last sample before the window: it is the mid at the window's start (the samples before it
        # are all earlier: the grid finds the same ones without them cut off)
        first = max(int(np.searchsorted(ts, now - self.window, side="right")) - 1, 0)
        start = max(ts[first], now - self.window)
        return realized_sigma(ts, mids, start, now, self.step)


# =================================================================================== intensity
_LARGEST_LOG = math.log(sys.float_info.max)


def fit_intensity(
    distances: Floats, duration: float, buckets: int = 20, min_count: int = 10
) -> tuple[float, float, float] | None:
    """(A, k, R²) of lambda(delta) = A*exp(-k*delta) per side and second, or None if it cannot be fitted.

    An order resting at distance delta is reached by every trade printing at least delta from mid,
    so lambda(delta) is the rate of trades at distance >= delta. `distances` pools both sides
    (|price - mid| / mid), hence the division by two: the model is symmetric. The fit is least
    squares of log(lambda) on delta over a grid from the nearest trade to the 95th percentile,
    using only grid points with at least `min_count` trades beyond them; R² is that fit's.
    """
    if duration <= 0 or len(distances) < min_count:
        return None
    ordered = np.sort(distances)
    lo, hi = ordered[0], quantile_of_sorted(ordered, 0.95)
    if hi <= lo:
        return None
    grid = np.linspace(lo, hi, buckets)
    beyond = len(ordered) - np.searchsorted(ordered, grid, side="left")
    usable = beyond >= min_count
    if np.count_nonzero(usable) < 3:
        return None
    x, y = grid[usable], np.log(beyond[usable] / (2.0 * duration))
    slope, intercept = np.polyfit(x, y, 1)
    if slope >= 0 or intercept > _LARGEST_LOG:  # trades bunched at one distance far from mid: no A to speak of
        return None
    spread = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - (slope * x + intercept)) ** 2)) / spread if spread > 0 else 1.0
    return math.exp(intercept), -float(slope), r2


def quantile_of_sorted(ordered: Floats, q: float) -> float:
    """np.quantile(ordered, q) (its default, linear method: Hyndman and Fan's 7th), for data already sorted:
    the same arithmetic, without sorting again (numpy partitions a copy) and without its dispatch."""
    n = len(ordered)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(ordered[-1])
    below = math.floor(virtual)
    a, b, t = float(ordered[below]), float(ordered[below + 1]), virtual - below
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t  # numpy's _lerp, exact from either end


class IntensityEstimator:
    """Rolling trade-arrival intensity over the last `window` seconds."""

    def __init__(self, window: float = 600.0, buckets: int = 20, min_count: int = 10, capacity: int = 65536) -> None:
        self.window, self.buckets, self.min_count = window, buckets, min_count
        self._trades = _Recent(capacity)
        self._since: float | None = None

    def start(self, t: float) -> None:
        """Observation begins at t (if not already begun): quiet time counts, trades or not."""
        if self._since is None:
            self._since = t

    def add(self, t: float, price: float, mid: float) -> None:
        self.start(t)
        self._trades.append(t, abs(price - mid) / mid)

    def window_distances(self, now: float) -> tuple[Floats, float]:
        """The distances of the trades in the window and how many seconds the window covers."""
        if self._since is None:
            return np.empty(0), 0.0
        ts, distances = self._trades.columns()
        begin = max(now - self.window, self._since)
        if self._trades.full:  # older trades were dropped: observation starts at the oldest
            begin = max(begin, ts[0])
        if self._trades.ordered:
            return distances[int(np.searchsorted(ts, begin, side="left")) :], now - begin
        return distances[ts >= begin], now - begin

    def fit(self, now: float) -> tuple[float, float, float] | None:
        distances, duration = self.window_distances(now)
        return fit_intensity(distances, duration, self.buckets, self.min_count)


# ======================================================================================== GLFT
@dataclass(frozen=True)
class Depths:
    """Optimal distances from mid (price units of the inputs) and the terms they are built from."""

    bid: float
    ask: float
    half_spread: float  # the distance of both sides when flat
    skew: float  # how far both quotes move per lot of inventory


def glft_depths(sigma: float, a: float, k: float, gamma: float, inventory: float, lot: float = 1.0) -> Depths:
    """GLFT (2013) asymptotic optimal bid and ask distances from mid, in the price unit of sigma and 1/k.

    sigma: volatility per sqrt(time unit); a: arrivals per time unit at distance 0; k: decay per price
    unit; gamma: risk aversion; inventory and lot in the same quantity unit (lots: lot=1). With
    x = gamma*lot/k:
        c1 = ln(1 + x) / (gamma*lot)
        c2 = sqrt(gamma / (2*a*lot*k) * (1 + x)**(1 + 1/x))
        bid = c1 + (2*inventory + lot)/2 * sigma*c2,  ask = c1 - (2*inventory - lot)/2 * sigma*c2
    A long inventory lowers the ask (it closes sooner) and raises the bid; a short one mirrors it.
    """
    if min(sigma, a, k, gamma, lot) <= 0:
        raise ValueError("sigma, A, k, gamma and lot must be positive")
    x = gamma * lot / k
    c1 = math.log1p(x) / (gamma * lot)
    c2 = math.sqrt(gamma / (2.0 * a * lot * k) * math.exp((1.0 + 1.0 / x) * math.log1p(x)))
    skew = sigma * c2
    half_spread = c1 + lot / 2.0 * skew
    return Depths(
        bid=half_spread + skew * inventory, ask=half_spread - skew * inventory, half_spread=half_spread, skew=skew
    )


# ================================================================================== the model
@dataclass(frozen=True)
class AdaptiveConfig:
    risk_aversion: float  # gamma, per basis point per lot
    min_spread: Decimal  # floor for both sides (at least the fees of a round trip)
    fixed_buy_spread: Decimal  # used until the estimators are warm
    fixed_sell_spread: Decimal
    max_spread: Decimal = Decimal("0.05")  # a runaway estimate must never put a price near zero
    warmup_seconds: float = 60.0  # of observation before the estimates are trusted
    min_trades: int = 50  # in the intensity window before the estimates are trusted
    refit_every: float = 5.0
    vol_window: float = 300.0
    vol_step: float = 1.0
    intensity_window: float = 600.0
    half_life: float = 300.0  # s: a quiet window's spreads decay from the last good fit to the fixed ones


@dataclass(frozen=True)
class Spreads:
    buy_spread: Decimal
    sell_spread: Decimal
    estimates: Estimates  # for the status line; see AdaptiveSpreads.estimates


@dataclass(frozen=True)
class _Fit:
    sigma_bp: float  # per sqrt(second)
    a: float  # per second and side
    k_bp: float  # per basis point
    trades: int
    r2: float  # of the intensity fit
    at: float  # when it was fitted


class AdaptiveSpreads:
    """Estimators plus GLFT: fed mids and trades, answers the spreads for the current inventory."""

    def __init__(self, config: AdaptiveConfig) -> None:
        self.config = config
        self.volatility = VolatilityEstimator(config.vol_window, config.vol_step)
        self.intensity = IntensityEstimator(config.intensity_window)
        self._since: float | None = None
        self._fitted_at: float | None = None  # when a refit was last tried
        self._fit: _Fit | None = None  # the last good fit
        self._fresh = False  # the last refit gave it
        self._last_key: tuple[object, ...] | None = None  # what the last spreads were made of, and they
        self._last = Spreads(Decimal(0), Decimal(0), {})

    def on_mid(self, t: float, mid: float) -> None:
        if self._since is None:
            self._since = t
        self.intensity.start(t)
        self.volatility.add(t, mid)

    def on_trade(self, t: float, price: float, mid: float) -> None:
        self.intensity.add(t, price, mid)

    def spreads(self, now: float, inventory: float = 0.0, tick_bp: float | None = None) -> Spreads:
        """(buy_spread, sell_spread) for `inventory` lots (signed: long > 0), refitting when due. `tick_bp`,
        the symbol's tick in bp of the mid, has the distances reported in ticks too."""
        cfg = self.config
        if self._fitted_at is None or now - self._fitted_at >= cfg.refit_every:
            fit = self._refit(now)
            self._fresh, self._fit, self._fitted_at = fit is not None, fit or self._fit, now
        if self._fit is None:
            return Spreads(_clamp(cfg.fixed_buy_spread, cfg), _clamp(cfg.fixed_sell_spread, cfg), {"warm": False})
        fit = self._fit
        weight = 1.0 if self._fresh else 0.5 ** ((now - fit.at) / cfg.half_life)  # of the fit, against fixed
        key = (fit, inventory, tick_bp, weight, self._fresh, None if self._fresh else round(now - fit.at))
        if key != self._last_key:  # the same fit, inventory and weight give the same spreads: asked again and again
            self._last_key, self._last = key, self._spreads(fit, inventory, weight, now, tick_bp)
        return self._last

    def _spreads(self, fit: _Fit, inventory: float, weight: float, now: float, tick_bp: float | None) -> Spreads:
        cfg = self.config
        depths = glft_depths(fit.sigma_bp, fit.a, fit.k_bp, cfg.risk_aversion, inventory)
        buy = weight * depths.bid * BP + (1.0 - weight) * float(cfg.fixed_buy_spread)
        sell = weight * depths.ask * BP + (1.0 - weight) * float(cfg.fixed_sell_spread)
        return Spreads(_to_spread(buy, cfg), _to_spread(sell, cfg), self.estimates(depths, now, weight, tick_bp))

    def estimates(self, depths: Depths, now: float, weight: float = 1.0, tick_bp: float | None = None) -> Estimates:
        """Short, printable: sigma (bp/sqrt s), A (/s), k (/bp), trades, the fit's R², GLFT terms (bp, and
        ticks when known); in a quiet window also the last fit's age and the weight it still has."""
        fit = self._fit
        assert fit is not None
        out: Estimates = {
            "warm": True,
            "sigma_bp": round(fit.sigma_bp, 3),
            "A": round(fit.a, 4),
            "k_bp": round(fit.k_bp, 4),
            "trades": fit.trades,
            "r2": round(fit.r2, 3),
            "half_spread_bp": round(depths.half_spread, 4),
            "skew_bp": round(depths.skew, 4),
        }
        if tick_bp:
            out.update(
                half_spread_ticks=round(depths.half_spread / tick_bp, 1), skew_ticks=round(depths.skew / tick_bp, 1)
            )
        if not self._fresh:
            out.update(quiet=True, fit_age_s=round(now - fit.at), weight=round(weight, 3))
        return out

    def _refit(self, now: float) -> _Fit | None:
        """Fresh estimates, or None while not warm or quiet (too little time or too few trades, or no fit)."""
        cfg = self.config
        if self._since is None or now - self._since < cfg.warmup_seconds:
            return None
        distances, duration = self.intensity.window_distances(now)
        if len(distances) < cfg.min_trades:
            return None
        sigma = self.volatility.fit(now)
        akr = fit_intensity(distances, duration, self.intensity.buckets, self.intensity.min_count)
        if not sigma or akr is None:
            return None
        return _Fit(sigma / BP, akr[0], akr[1] * BP, len(distances), akr[2], now)


def _clamp(spread: Decimal, cfg: AdaptiveConfig) -> Decimal:
    return min(max(spread, cfg.min_spread), cfg.max_spread)


def _to_spread(fraction: float, cfg: AdaptiveConfig) -> Decimal:
    """A float distance as a Decimal spread, rounded wider, within [min_spread, max_spread]."""
    if not math.isfinite(fraction):
        return cfg.max_spread
    exact = Decimal(repr(max(fraction, 0.0))).quantize(_SPREAD_QUANTUM, rounding=ROUND_CEILING)
    return _clamp(exact, cfg)


def describe(estimates: Estimates) -> str:
    """The estimates as a compact status-line fragment."""
    if not estimates.get("warm"):
        return "spreads=fixed (warming up)"
    quiet = (
        " (quiet: last fit {fit_age_s:.0f} s ago, decaying towards the fixed spreads, weight {weight})"
        if estimates.get("quiet")
        else ""
    )
    ticks = " ({half_spread_ticks} ticks)" if "half_spread_ticks" in estimates else ""
    return (
        "spreads=adaptive" + quiet + " sigma={sigma_bp}bp/sqrt(s) A={A}/s k={k_bp}/bp trades={trades} r2={r2} "
        "half={half_spread_bp}bp" + ticks + " skew={skew_bp}bp"
    ).format(**estimates)
