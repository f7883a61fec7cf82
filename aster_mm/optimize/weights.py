"""The signal model's weights for a fold, fitted on its training days by least squares: the mid's move over the
next 10 s in units of sigma, regressed on the signal's features as the bot's own signal code computes them
(aster_mm/backtest/features.py: one pass per day, cached beside the converted events), without an intercept (pred
has none: the long and short sides stay mirror images). Every trial of the fold then runs with these weights as
fixed --weight-* flags, and the report shows them.

`--fit-weights` names the weights fitted (default: the research's, imb1 imb5 imb10 ret5 ret30); the others keep
their value (their flag on the command line, else the bot's default), and their part of the prediction is taken
out of the move before the fit. A weight fixed on the command line is never fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aster_mm.backtest import cli as backtest
from aster_mm.backtest.features import NAMES, Samples, samples
from aster_mm.optimize.plan import DEFAULT_FITTED as DEFAULT_FITTED  # --fit-weights' default
from aster_mm.optimize.space import format_number


@dataclass(frozen=True)
class WeightFit:
    weights: dict[str, float]  # the fitted weights by SignalWeights name
    r2: float  # of the fit, on the move less the fixed weights' part
    samples: int  # seconds of the training days it was fitted on

    def flags(self) -> dict[str, str]:
        """The bot's options for them, 4 significant digits."""
        return {f"weight-{name}": format_number(float(f"{value:.4g}")) for name, value in self.weights.items()}

    def as_json(self) -> dict:
        return {"weights": self.weights, "r2": self.r2, "samples": self.samples}

    def describe(self) -> str:
        shown = " ".join(f"{name} {value:+.3f}" for name, value in self.weights.items())
        return f"{shown} (R² {self.r2:.3f} on {self.samples:,} seconds)"


def fit(days: Sequence[Samples], fitted: Sequence[str], fixed: dict[str, float]) -> WeightFit:
    """Least squares of the move on the `fitted` features; `fixed` holds every other weight (by name)."""
    x = np.concatenate([d.x for d in days]) if days else np.zeros((0, len(NAMES)))
    y = np.concatenate([d.y for d in days]) if days else np.zeros(0)
    unknown = sorted(set(fitted) - set(NAMES))
    if unknown:
        raise ValueError(f"--fit-weights: no weight named {', '.join(unknown)} (the weights: {', '.join(NAMES)})")
    if len(y) <= len(fitted):
        raise ValueError(f"too little data to fit the signal's weights: {len(y)} seconds with a warm signal")
    cols = [NAMES.index(n) for n in fitted]
    rest = [i for i in range(len(NAMES)) if i not in cols]
    target = y - x[:, rest] @ np.array([fixed[NAMES[i]] for i in rest])
    beta, *_ = np.linalg.lstsq(x[:, cols], target, rcond=None)
    residual = target - x[:, cols] @ beta
    spread = float(np.sum((target - target.mean()) ** 2))
    r2 = 1.0 - float(residual @ residual) / spread if spread > 0 else 0.0
    return WeightFit({n: float(b) for n, b in zip(fitted, beta)}, r2, len(y))


def for_days(days: Sequence[Path], base_argv: Sequence[str], fitted: Sequence[str]) -> WeightFit:
    """The weights fitted on these day folders, with the backtester's flags (tick, step, feed latency, gap) and
    the strategy's fixed ones (the signal's windows, the weights not fitted) in `base_argv`."""
    out, fixed = [], {}
    for day in days:
        args, cfg = backtest.parse(["--data", str(day), *base_argv])
        market, rules = backtest.load_market(args, {})
        out.append(samples(market, float(rules.tick), float(rules.step), cfg.signal, args.gap_s))
        fixed = {name: float(getattr(cfg.signal.weights, name)) for name in NAMES}
    return fit(out, fitted, fixed)
