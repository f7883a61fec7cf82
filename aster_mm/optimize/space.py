"""What the optimiser searches: per quote model, each bot option it tunes and the range it tries, as data.

The names are the bot's own long option names, so a trial's choice is a command line (and a preset) as it is.
A new strategy parameter is one line in its model's table. An option the user fixes on the optimiser's command
line is left out of the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False  # sample the logarithm (for scales: spreads, thresholds)
    integer: bool = False
    optional: bool = False  # the option may also be off, written 0 (`--stop-loss 0`: not the model's own stop)
    digits: int = 3  # significant digits the value is written with


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]


Param = Range | Choice

# Risk options every model shares. The stop-loss is a risk limit: searched, but allowed to stay off.
COMMON: dict[str, Param] = {
    "side": Choice(("long", "short")),
    "stop-loss": Range(0.0005, 0.01, log=True, optional=True),
}

SPACES: dict[str, dict[str, Param]] = {
    # the original logic: fixed distances from the mid
    "fixed": {
        "buy-spread": Range(0.00002, 0.003, log=True),
        "sell-spread": Range(0.00002, 0.003, log=True),
        "reprice-threshold": Range(0.00002, 0.002, log=True),
        **COMMON,
    },
    # the GLFT model on live volatility and trade intensity
    "adaptive": {
        "risk-aversion": Range(0.005, 1.0, log=True),
        "min-spread": Range(0.00005, 0.002, log=True),
        "reprice-threshold": Range(0.00002, 0.002, log=True),
        **COMMON,
    },
    # the signal model (docs/trading.md), with the ranges the research that preceded it found worth searching.
    # Its weights (--weight-*) are not searched: they are fitted by least squares on each fold's training days
    # (the next 10 s mid move in sigma on the features, computed by the bot's own signal code) and fixed for the
    # fold's trials (weights.py).
    "signal": {
        "guard-sigma": Range(0.2, 0.8),
        "fair-weight": Range(1.0, 6.0),
        "close-offset-sigma": Range(0.5, 3.0),
        "improve-ticks": Range(0, 1, integer=True),
        "decay-after": Range(0.0, 300.0),
        "decay-bp-per-min": Range(1.0, 30.0, log=True),
        "decay-floor-bp": Range(-20.0, 0.0),
        "breakeven-target-bp": Range(-2.0, 3.0),
        "stop-loss": Range(0.001, 0.004, optional=True),
        "requote-bp": Range(0.0, 2.0),
        "side": Choice(("long", "short")),
    },
}

# The options that select each model (always part of a trial's command line and of the preset).
MODEL_OPTIONS: dict[str, dict[str, str]] = {
    "fixed": {"spread-model": "fixed"},
    "adaptive": {"spread-model": "adaptive"},
    "signal": {"spread-model": "signal"},
}


def searched(model: str, fixed: set[str]) -> dict[str, Param]:
    """The model's table without the options the user fixed."""
    return {name: p for name, p in SPACES[model].items() if name not in fixed and name not in MODEL_OPTIONS[model]}


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, str]:
    """One trial's choice, as option name -> the text the command line would carry."""
    out: dict[str, str] = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            out[name] = str(trial.suggest_categorical(name, p.options))
            continue
        if p.optional and not trial.suggest_categorical(f"{name}:on", (True, False)):
            out[name] = "0"
            continue
        value: Any
        if p.integer:
            value = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            value = float(f"{trial.suggest_float(name, p.low, p.high, log=p.log):.{p.digits}g}")
        out[name] = str(value) if p.integer else format_number(value)
    return out


def format_number(value: float) -> str:
    """A float as a command line writes it, without an exponent (0.00012, not 1.2e-04)."""
    text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
