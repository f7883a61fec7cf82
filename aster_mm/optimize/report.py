"""The walk-forward report: each fold's choice, its in-sample (training days) and out-of-sample (the next day)
figures side by side, and the overfitting warning.

The warning's rule: a fold's out-of-sample result falls far behind its in-sample one when its PnL per volume at
the base tier is more than `gap_bp` (--overfit-bp, 1 bp) below the in-sample figure, or it traded under half the
in-sample volume per day. The search fits the training days, noise included; a choice that only fits noise
earns in sample and not on the day after.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aster_mm.optimize.weights import WeightFit


@dataclass(frozen=True)
class FoldResult:
    number: int
    train: tuple[str, ...]
    test: str
    trials: int  # complete trials of the fold's study
    best_trial: int
    flags: dict[str, str]  # the choice, as option name -> value
    in_sample: dict  # evaluate.figures of the choice on the training days
    out_of_sample: dict  # ... on the test day
    score_in: float
    score_out: float
    weights: WeightFit | None = None  # the signal's weights fitted on the training days, given to every trial

    def as_json(self) -> dict:
        return {
            "fold": self.number,
            "train": list(self.train),
            "test": self.test,
            "trials": self.trials,
            "best_trial": self.best_trial,
            "options": self.flags,
            "objective": {"in_sample": self.score_in, "out_of_sample": self.score_out},
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
            **({"signal_weights": self.weights.as_json()} if self.weights else {}),
        }


def _num(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


ROWS = [  # label, how to show one side's figures
    ("hours of data", lambda f, s: _num(f["days"] * 24, 1)),
    ("fills", lambda f, s: str(f["fills"])),
    ("volume USD/day", lambda f, s: _num(f["volume_usd_per_day"], 0)),
    ("bp/vol base", lambda f, s: _num(f["bp_base"], 2, sign=True)),
    ("bp/vol MM1", lambda f, s: _num(f["bp_mm1"], 2, sign=True)),
    ("net USD base", lambda f, s: _num(f["net_base_usd"], 2, sign=True)),
    ("net USD/day base", lambda f, s: _num(f["net_base_usd_per_day"], 2, sign=True)),
    ("net USD/day MM1", lambda f, s: _num(f["net_mm1_usd_per_day"], 2, sign=True)),
    ("max drawdown USD", lambda f, s: _num(f["max_drawdown_usd"], 2)),
    ("markout 1s bp", lambda f, s: _num(f["markout_1s_bp"], 2, sign=True)),
    ("markout 10s bp", lambda f, s: _num(f["markout_10s_bp"], 2, sign=True)),
    ("markout 60s bp", lambda f, s: _num(f["markout_60s_bp"], 2, sign=True)),
    ("objective", lambda f, s: _num(s, 2, sign=True)),
]


def table(results: list[FoldResult]) -> str:
    """One column per fold and side (IS: the training days, OOS: the test day), one row per figure."""
    head = [""] + [f"fold {r.number} {side}" for r in results for side in ("IS", "OOS")]
    lines = [head]
    for label, show in ROWS:
        row = [label]
        for r in results:
            row += [show(r.in_sample, r.score_in), show(r.out_of_sample, r.score_out)]
        lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in lines
    ]
    for r in results:
        chosen = " ".join(f"--{k} {v}" for k, v in r.flags.items())
        text.append(
            f"fold {r.number}: train {', '.join(r.train)} -> test {r.test}; {r.trials} trials, best #{r.best_trial}: "
            f"{chosen}"
        )
        if r.weights:
            text.append(f"fold {r.number}: signal weights fitted on {', '.join(r.train)}: {r.weights.describe()}")
    return "\n".join(text)


def overfit_warnings(results: list[FoldResult], gap_bp: float = 1.0) -> list[str]:
    """The folds whose out-of-sample result falls far behind the in-sample one (the module's rule)."""
    out = []
    for r in results:
        bp_in, bp_out = r.in_sample["bp_base"], r.out_of_sample["bp_base"]
        vol_in, vol_out = r.in_sample["volume_usd_per_day"], r.out_of_sample["volume_usd_per_day"]
        why = []
        if bp_in is not None and (bp_out is None or bp_out < bp_in - gap_bp):
            why.append(f"bp/vol at base {_num(bp_in, 2, True)} in sample, {_num(bp_out, 2, True)} out of sample")
        if vol_in > 0 and vol_out < vol_in / 2:
            why.append(f"volume {vol_in:,.0f} USD/day in sample, {vol_out:,.0f} out of sample")
        if why:
            out.append(
                f"WARNING fold {r.number}: out-of-sample falls far behind in-sample ({'; '.join(why)}): the choice "
                f"may fit the training days' noise (overfitting). Rule: OOS bp/vol at base more than {gap_bp:g} bp "
                "below IS, or OOS volume per day under half of IS's."
            )
    return out


def preset_comments(results: list[FoldResult], objective: str, command: str, written: str) -> list[str]:
    """The preset's header: where its values come from and how they did out of sample."""
    last = results[-1]
    oos = last.out_of_sample
    return [
        f"aster-mm preset written by aster-mm-optimize on {written}",
        f"chosen on fold {last.number}: train {', '.join(last.train)} ({last.trials} trials, objective {objective})",
        f"out of sample on {last.test}: {oos['fills']} fills, {oos['volume_usd_per_day']:,.0f} USD/day, "
        f"bp/vol base {_num(oos['bp_base'], 2, True)}, MM1 {_num(oos['bp_mm1'], 2, True)}, "
        f"max drawdown {oos['max_drawdown_usd']:.2f} USD",
        f"regenerate: {command}",
        "use: python market_maker.py --config THIS_FILE (options on the command line win)",
        "",
    ]


def write_json(path: Path, payload: dict) -> None:
    import json

    text = json.dumps(payload, indent=2)
    if str(path) == "-":
        print(text)
    else:
        path.write_text(text + "\n")
