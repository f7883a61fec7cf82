"""The walk-forward run: every worker searches every fold's study, then each fold's choice is judged on its test
day, reported, and the last one written as a preset."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import warnings
from pathlib import Path

import optuna

from aster_mm.optimize import report, study, weights
from aster_mm.optimize.evaluate import Evaluator
from aster_mm.optimize.folds import Fold
from aster_mm.optimize.plan import Plan, preset_values
from aster_mm.optimize.space import searched, suggest
from aster_mm.optimize.study import StudyMismatch
from aster_mm.optimize.weights import WeightFit
from aster_mm.settings import config_file

__all__ = ["StudyMismatch", "search", "walk_forward"]


def search(plan: Plan, worker: int = 0) -> None:
    """This process's share of every fold's trials (the budget is the study's, shared with every worker)."""
    quiet()
    storage = study.open_storage(study.storage_url(plan.storage))
    evaluator = Evaluator(list(plan.base_argv))
    space = searched(plan.model, set(plan.fixed))
    for fold in plan.folds:
        s = _open(plan, storage, fold, worker)
        fitted = fold_weights(plan, fold)

        def objective(trial: optuna.Trial, fold: Fold = fold, fitted: WeightFit | None = fitted) -> float:
            flags = {**(fitted.flags() if fitted else {}), **suggest(trial, space)}
            fig = evaluator.run(fold.train, flags)
            trial.set_user_attr("flags", flags)
            trial.set_user_attr("figures", fig)
            return plan.objective.score(fig)

        study.run_trials(s, objective, plan.trials)


def fold_weights(plan: Plan, fold: Fold) -> WeightFit | None:
    """The signal's weights fitted on the fold's training days (None: none are fitted)."""
    if not plan.fit_weights:
        return None
    return weights.for_days(fold.train, plan.base_argv, plan.fit_weights)


def quiet() -> None:
    """Optuna's per-trial lines, its notes on experimental arguments, the strategy's log lines: not wanted here."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("mm").setLevel(logging.ERROR)


def _open(plan: Plan, storage, fold: Fold, worker: int) -> optuna.Study:
    s = study.open_study(storage, plan.study_name(fold), plan.settings(fold), None, plan.startup_trials)
    if plan.seed is not None:  # another seed for each worker and each resumption: no repeated random trials
        s.sampler = optuna.samplers.TPESampler(
            seed=plan.seed + 1000 * worker + len(s.trials),
            n_startup_trials=plan.startup_trials,
            multivariate=True,
            group=True,
        )
    return s


def _searched_by_all(plan: Plan, workers: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    helpers = [ctx.Process(target=search, args=(plan, i), name=f"optimize-worker-{i}") for i in range(1, workers)]
    for p in helpers:
        p.start()
    try:
        search(plan, 0)
    finally:
        for p in helpers:
            p.join()
    failed = [p.name for p in helpers if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker(s) failed: {', '.join(failed)}")


def judge(plan: Plan, evaluator: Evaluator, fold: Fold) -> report.FoldResult:
    """The fold's best trial, its in-sample figures (stored with the trial) and its run on the test day."""
    storage = study.open_storage(study.storage_url(plan.storage))
    s = study.open_study(storage, plan.study_name(fold), plan.settings(fold), None, plan.startup_trials)
    study.wait_for_others(s)
    best = study.best(s)
    if best is None:
        raise RuntimeError(f"fold {fold.number}: no complete trial in study {s.study_name!r}")
    flags = dict(best.user_attrs["flags"])
    out = evaluator.run((fold.test,), flags)
    return report.FoldResult(
        weights=fold_weights(plan, fold),
        number=fold.number,
        train=tuple(d.name for d in fold.train),
        test=fold.test.name,
        trials=len(s.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))),
        best_trial=best.number,
        flags=flags,
        in_sample=dict(best.user_attrs["figures"]),
        out_of_sample=out,
        score_in=float(best.value or 0.0),
        score_out=plan.objective.score(out),
    )


def walk_forward(plan: Plan, opts: argparse.Namespace, command: str, written: str) -> int:
    quiet()
    try:
        _searched_by_all(plan, opts.workers)
    except RuntimeError as err:
        print(f"optimize.py: {err}", flush=True)
        return 1
    evaluator = Evaluator(list(plan.base_argv))
    results = [judge(plan, evaluator, fold) for fold in plan.folds]
    warnings = report.overfit_warnings(results, opts.overfit_bp)
    print(f"objective: {plan.objective.describe()}; storage {study.shown(plan.storage)}, study {plan.study}")
    print(report.table(results))
    for w in warnings:
        print(w)
    path = opts.preset or Path(f"{plan.symbol}-{plan.model}.toml")
    values = preset_values(plan, results[-1].flags)
    path.write_text(config_file.dumps(values, report.preset_comments(results, plan.objective.kind, command, written)))
    print(f"preset: {path} (fold {results[-1].number}'s choice; python market_maker.py --config {path})")
    if opts.json:
        payload = {
            "objective": plan.objective.describe(),
            "storage": study.shown(plan.storage),
            "study": plan.study,
            "folds": [r.as_json() for r in results],
            "warnings": warnings,
            "preset": {"path": str(path), "options": values},
        }
        report.write_json(opts.json, payload)
    return 0
