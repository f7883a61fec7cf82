"""The options of the signal model (`--spread-model signal`): the signal's weights and windows, and the quote's
rules. Their defaults are the core's (`SignalWeights`, `SignalConfig`, `QuotePolicy`), so they live in one place;
`signal_settings` turns the parsed values into those records for `Config`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from aster_mm.core.quoting import QuotePolicy
from aster_mm.core.signals import SignalConfig, SignalWeights
from aster_mm.settings import values

_WEIGHTS = SignalWeights()
_SIGNAL = SignalConfig()
_POLICY = QuotePolicy()

# (flag, the record's field, value type, help)
WEIGHT_OPTIONS = [
    ("--weight-imb1", "imb1", "book imbalance at the top level, (bid qty - ask qty) / (bid qty + ask qty)"),
    ("--weight-imb5", "imb5", "book imbalance over the top 5 levels"),
    ("--weight-imb10", "imb10", "book imbalance over the top 10 levels"),
    ("--weight-micro", "micro", "the top level's microprice minus mid (bp), divided by sigma"),
    ("--weight-ret5", "ret5", "the mid's return over the last 5 s (bp), divided by sigma"),
    ("--weight-ret30", "ret30", "the mid's return over the last 30 s (bp), divided by sigma"),
    ("--weight-flow", "flow", "trade-flow imbalance of the aggregate trades over --flow-window, by aggressor"),
]
SIGNAL_OPTIONS = [
    ("--sigma-window", "sigma_window", values.number("sigma-window", 10, 86400, "seconds"),
     "seconds of mid history behind sigma, the mid's realized volatility (sampled every second)"),
    ("--signal-warmup", "warmup", values.number("signal-warmup", 0, 86400, "seconds"),
     "seconds of market data before the signal is trusted; no opening order until then"),
    ("--flow-window", "flow_window", values.number("flow-window", 0.001, 86400, "seconds"),
     "seconds of aggregate trades behind the trade-flow imbalance"),
]  # fmt: skip
POLICY_OPTIONS = [
    ("--fair-weight", "fair_weight", values.number("fair-weight", 0, 1000),
     "fair value = mid * (1 + fair_weight * pred * sigma), pred being the predicted 10 s move in sigma"),
    ("--guard-sigma", "guard_sigma", values.number("guard-sigma", -100, 100),
     "adverse-selection guard: open (and keep the opening order) only while pred is at least this "
     "towards the position (up for --side long, down for short); otherwise pull the opening order"),
    ("--improve-ticks", "improve_ticks", values.whole("improve-ticks", 0, 1_000_000),
     "the opening order improves the market's touch by up to this many ticks, never reaching the "
     "other side (with a one-tick spread it joins the touch)"),
    ("--open-depth-ticks", "open_depth_ticks", values.whole("open-depth-ticks", 0, 1_000_000),
     "then sits this many ticks further back"),
    ("--close-offset-sigma", "close_offset_sigma", values.number("close-offset-sigma", -100, 100),
     "the closing order is at least fair value plus this many sigma (a long's SELL; a short's BUY mirrored)"),
    ("--breakeven-target-bp", "target_bp", values.number("breakeven-target-bp", -1000, 1000, "bp"),
     "the close's breakeven floor: entry plus two maker fees (the account's rate) plus this"),
    ("--decay-after", "decay_after", values.number("decay-after", 0, 86400 * 365, "seconds"),
     "seconds in position before the breakeven floor starts to fall"),
    ("--decay-bp-per-min", "decay_bp_per_min", values.number("decay-bp-per-min", 0, 10000, "bp a minute"),
     "how fast the floor falls, in bp a minute"),
    ("--decay-floor-bp", "floor_bp", values.number("decay-floor-bp", -10000, 10000, "bp"),
     "the floor falls no lower than entry plus this (negative: the loss accepted, before the stop-loss)"),
    ("--skew-bp-per-lot", "skew_bp_per_lot", values.number("skew-bp-per-lot", 0, 10000, "bp"),
     "inventory skew: the close's fair-value part moves this many bp towards the touch per lot held "
     "(a lot: one opening order)"),
    ("--requote-ticks", "requote_ticks", values.whole("requote-ticks", 0, 1_000_000_000),
     "the resting order follows its target only when the target moved more than this many ticks..."),
    ("--requote-bp", "requote_bp", values.number("requote-bp", 0, 10000, "bp"),
     "... and more than this many bp (--reprice-threshold applies to the fixed and adaptive models)"),
]  # fmt: skip


def add_signal_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "signal model (with --spread-model signal)",
        "pred, the predicted 10 s mid move in units of sigma, is the weighted sum of the features below.",
    )
    for flag, name, text in WEIGHT_OPTIONS:
        kind = values.number(flag.removeprefix("--"))
        g.add_argument(flag, type=kind, default=getattr(_WEIGHTS, name), help=f"weight of {text}")
    for options, record in ((SIGNAL_OPTIONS, _SIGNAL), (POLICY_OPTIONS, _POLICY)):
        for flag, name, kind, text in options:
            metavar = flag.removeprefix("--").replace("-", "_").upper()
            g.add_argument(flag, dest=name, type=kind, default=getattr(record, name), metavar=metavar, help=text)


def signal_settings(args: dict[str, Any]) -> dict[str, Any]:
    """Take the signal model's values out of the parsed `args`; answer Config's `signal` and `quote_policy`."""
    weights = SignalWeights(**{name: args.pop(f"weight_{name}") for _, name, _ in WEIGHT_OPTIONS})
    signal = {name: args.pop(name) for _, name, _, _ in SIGNAL_OPTIONS}
    policy = {name: args.pop(name) for _, name, _, _ in POLICY_OPTIONS}
    return {
        "signal": dataclasses.replace(_SIGNAL, weights=weights, **signal),
        "quote_policy": QuotePolicy(**policy),
    }
