"""What an optimiser run is: its folds, the flags it fixes, its objective and storage (`Plan`, made from the
command line), and the preset its choice becomes."""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from aster_mm.optimize.evaluate import Objective

DEFAULT_FITTED = ("imb1", "imb5", "imb10", "ret5", "ret30")  # --fit-weights: the research's (weights.py)


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs (picklable: --workers starts processes with it)."""

    symbol: str
    model: str
    folds: tuple
    base_argv: tuple[str, ...]  # backtest flags and fixed strategy flags, with --symbol
    strategy_argv: tuple[str, ...]  # the fixed strategy flags alone
    fixed: frozenset[str]  # the strategy options fixed on the command line
    objective: Objective
    trials: int
    storage: str
    study: str
    seed: int | None
    startup_trials: int
    fit_weights: tuple[str, ...] = ()  # the signal weights fitted per fold (aster_mm/optimize/weights.py)

    def study_name(self, fold) -> str:
        return f"{self.study}:{fold.name}"

    def settings(self, fold) -> dict:
        """What a fold's study is made with: a study found with other settings is not continued."""
        return {
            "symbol": self.symbol,
            "model": self.model,
            "argv": list(self.base_argv),
            "objective": asdict(self.objective),
            "train": [d.name for d in fold.train],
            "test": fold.test.name,
            **({"fit_weights": list(self.fit_weights)} if self.fit_weights else {}),
        }


def make_plan(opts: argparse.Namespace, rest: list[str]) -> Plan:
    """The folds and the fixed flags; ValueError / FileNotFoundError on bad data or flags."""
    from aster_mm.backtest import cli as backtest
    from aster_mm.optimize.folds import walk_forward
    from aster_mm.optimize.space import MODEL_OPTIONS
    from aster_mm.recording.reading import day_folders

    for flag in ("--sweep", "--plot", "--every-event"):
        if any(t == flag or t.startswith(flag + "=") for t in rest):
            raise ValueError(f"{flag} is backtest.py's; the optimiser runs its own trials")
    symbol_argv = ["--symbol", opts.symbol] if opts.symbol else []
    args, _ = backtest.parse(["--data", *map(str, opts.data), *symbol_argv, *rest])  # exits 2 on a bad flag
    strategy = backtest.build_parser().parse_known_args(["--data", ".", *rest])[1]
    folds = walk_forward(day_folders(opts.data, args.symbol), opts.min_train_days, opts.folds)
    fixed = frozenset(t[2:].split("=")[0] for t in strategy if t.startswith("--")) - {"config"}
    if "spread-model" in fixed:
        raise ValueError("--spread-model is the optimiser's --model")
    model_argv = [x for name, value in MODEL_OPTIONS[opts.model].items() for x in (f"--{name}", value)]
    return Plan(
        symbol=args.symbol,
        model=opts.model,
        folds=tuple(folds),
        base_argv=("--symbol", args.symbol, *model_argv, *rest),  # every trial runs the model searched
        strategy_argv=tuple(strategy),
        fixed=fixed,
        objective=Objective(
            opts.objective, opts.min_volume_usd_per_day, opts.shortfall_penalty_bp, opts.objective_tier
        ),
        trials=opts.trials,
        storage=opts.storage,
        study=opts.study or f"{args.symbol}-{opts.model}-{opts.objective}",
        seed=opts.seed,
        startup_trials=opts.startup_trials,
        fit_weights=fitted_weights(opts, fixed),
    )


def fitted_weights(opts: argparse.Namespace, fixed: frozenset[str]) -> tuple[str, ...]:
    """The signal weights to fit per fold: --fit-weights for the signal model, less those fixed by a flag."""
    from aster_mm.backtest.features import NAMES

    names = [n.strip() for n in opts.fit_weights.split(",") if n.strip() and n.strip() != "none"]
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"--fit-weights: no weight named {', '.join(unknown)} (the weights: {', '.join(NAMES)})")
    if opts.model != "signal":
        return ()
    return tuple(n for n in NAMES if n in names and f"weight-{n}" not in fixed)


def preset_values(plan: Plan, chosen: dict[str, str]) -> dict[str, str | bool]:
    """The preset: the symbol, the model, the choice, and the strategy flags fixed on the command line (with those
    of a --config file given to the optimiser, below them)."""
    from aster_mm.optimize.space import MODEL_OPTIONS
    from aster_mm.settings.parser import build_parser as bot_parser

    actions = {o[2:]: a for a in bot_parser()._actions for o in a.option_strings if o.startswith("--")}
    fixed: dict[str, str | bool] = {}
    tokens = list(plan.strategy_argv)
    while tokens:
        name, eq, value = tokens.pop(0)[2:].partition("=")
        if actions[name].nargs == 0:
            fixed[name] = True
            continue
        text = value if eq else tokens.pop(0)
        if name == "config":
            table = tomllib.loads(Path(text).read_text())
            fixed = {**{k.replace("_", "-"): v for k, v in table.items()}, **fixed}
        else:
            fixed[name] = text
    return {"symbol": plan.symbol, **MODEL_OPTIONS[plan.model], **fixed, **chosen}
