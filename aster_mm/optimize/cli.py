#!/usr/bin/env python3
"""optimize.py: walk-forward search of the bot's options with Optuna (TPE), judged by the bot's own backtester.

    python optimize.py --data ../shared/data/standx-btcusd --symbol BTCUSD --tick 0.01 --step 0.0001 \\
        [--model fixed|adaptive|signal] [--fit-weights imb1,imb5,...|none] [--objective net|cost] [--trials 100] \\
        [--folds N] [--min-train-days 1] \\
        [--storage optimize.db | postgresql://...] [--study NAME] [--workers N] [--preset FILE] [--json FILE] \\
        [backtest.py's flags] [fixed strategy flags]

Over the day folders of --data: train on days 1..k, test on day k+1, then roll. On each fold's training days
(replayed as one market), Optuna's TPE searches the model's options (aster_mm/optimize/space.py) for the best
--objective; the choice is then run on the test day, which took no part in it. The report shows each fold's
in-sample and out-of-sample figures side by side and warns when out of sample falls far behind. The last fold's
choice is written as a preset (TOML) for `market_maker.py --config FILE`. For the signal model, each fold's signal
weights are fitted by least squares on its training days and fixed for its trials (aster_mm/optimize/weights.py).
Flags of backtest.py (--queue-model, latencies, --wallet, --tick, --step, --gap-s) apply to every run; a strategy
flag given here is fixed and left out of the search. Exit status: 0 done, 2 bad option or data or missing extra,
1 a worker failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from aster_mm.optimize.evaluate import OBJECTIVES, TIERS, Objective

DEFAULT_FITTED = ("imb1", "imb5", "imb10", "ret5", "ret30")  # the research's (aster_mm/optimize/weights.py)

DEFAULT_STORAGE = "optimize.db"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="optimize.py",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Any other flag is backtest.py's (python backtest.py --help) or a strategy flag of market_maker.py, "
        "fixed for every trial. docs/backtesting.md explains the folds, the objective and the storage.",
    )
    _search_flags(p)
    _storage_flags(p)
    _output_flags(p)
    return p


def _search_flags(p: argparse.ArgumentParser) -> None:
    from aster_mm.optimize.space import SPACES

    p.add_argument("--data", type=Path, nargs="+", required=True, help="day folders, or parents of day folders")
    p.add_argument("--symbol", type=str.upper, help="symbol (required unless --config names it)")
    p.add_argument(
        "--model", choices=sorted(SPACES), default="fixed", help="the quote model whose options are searched"
    )
    p.add_argument("--objective", choices=OBJECTIVES, default="net", help="net: net PnL per day; cost: bp per volume")
    p.add_argument("--objective-tier", choices=TIERS, default="base", help="the fee tier the objective is taken at")
    p.add_argument(
        "--min-volume-usd-per-day",
        type=float,
        default=300_000.0,
        help="the volume target: a trial trading less per day is penalised (not dropped)",
    )
    p.add_argument(
        "--shortfall-penalty-bp",
        type=float,
        default=10.0,
        help="the penalty below the volume target: net loses this many bp of the missing volume per day, cost this "
        "many bp times the missing share",
    )
    p.add_argument("--trials", type=int, default=100, help="trials per fold, shared by every worker")
    p.add_argument("--folds", type=int, default=None, help="only the last N folds (default: all)")
    p.add_argument("--min-train-days", type=int, default=1, help="days of training in the first fold")
    p.add_argument("--startup-trials", type=int, default=10, help="random trials before TPE models the results")
    p.add_argument("--seed", type=int, default=None, help="the sampler's seed (reproducible single-worker runs)")
    p.add_argument(
        "--fit-weights",
        default=",".join(DEFAULT_FITTED),
        help="--model signal: the signal weights fitted per fold by least squares on its training days (the next 10 s "
        "mid move in sigma on the signal's features), then fixed for its trials; comma-separated names, or 'none'. "
        "A weight given as --weight-NAME is kept as given",
    )


def _storage_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help="a SQLite file (rerunning continues its studies) or a SQLAlchemy URL, e.g. "
        "postgresql://user:password@host/db, shared by workers on many machines",
    )
    p.add_argument(
        "--study", default=None, help="study name (default SYMBOL-MODEL-OBJECTIVE); each fold's study adds the days"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes searching at once on this machine (more: start this command elsewhere with the same "
        "--storage and --study)",
    )


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset", type=Path, default=None, help="where the last fold's choice goes (default SYMBOL-MODEL.toml)"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON ('-' for stdout)")
    p.add_argument(
        "--overfit-bp",
        type=float,
        default=1.0,
        help="warn when a fold's out-of-sample bp/vol at base is more than this below its in-sample one",
    )


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
    from aster_mm.recording.reading import day_folders

    for flag in ("--sweep", "--plot", "--every-event"):
        if any(t == flag or t.startswith(flag + "=") for t in rest):
            raise ValueError(f"{flag} is backtest.py's; the optimiser runs its own trials")
    symbol_argv = ["--symbol", opts.symbol] if opts.symbol else []
    args, _ = backtest.parse(["--data", *map(str, opts.data), *symbol_argv, *rest])  # exits 2 on a bad flag
    strategy = backtest.build_parser().parse_known_args(["--data", ".", *rest])[1]
    folds = walk_forward(day_folders(opts.data, args.symbol), opts.min_train_days, opts.folds)
    fixed = frozenset(t[2:].split("=")[0] for t in strategy if t.startswith("--")) - {"config"}
    return Plan(
        symbol=args.symbol,
        model=opts.model,
        folds=tuple(folds),
        base_argv=("--symbol", args.symbol, *rest),
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    opts, rest = parser.parse_known_args(argv)
    try:
        from aster_mm.optimize import run, study
    except ImportError as err:  # optuna, hftbacktest: the backtest extra
        print(
            f"optimize.py needs the backtest extra ({err}): pip install -r requirements-backtest.txt", file=sys.stderr
        )
        return 2
    if opts.trials < 1 or opts.workers < 1:
        parser.error("--trials and --workers must be at least 1")
    try:
        plan = make_plan(opts, rest)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    logging.getLogger("mm").setLevel(logging.ERROR)  # the strategy's log lines, a few per trial
    command = shlex.join(["python", "optimize.py", *(study.shown(a) for a in argv)])
    try:
        return run.walk_forward(plan, opts, command, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    except run.StudyMismatch as err:
        parser.error(str(err))
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue the studies", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
