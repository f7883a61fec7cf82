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
from pathlib import Path

from aster_mm.optimize.evaluate import OBJECTIVES, TIERS
from aster_mm.optimize.plan import DEFAULT_FITTED, make_plan
from aster_mm.settings.help import DefaultsOnce

DEFAULT_STORAGE = "optimize.db"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="optimize.py",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=DefaultsOnce,
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
