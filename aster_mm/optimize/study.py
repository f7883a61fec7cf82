"""Optuna studies in shared storage: one study per fold, a trial budget several processes share exactly, and the
wait for the other workers' trials.

Storage is Optuna's RDB storage: a SQLite file by default (embedded; rerunning continues the study), or any
SQLAlchemy URL, e.g. postgresql://user:password@host/db, for workers on many machines. Every process started
with the same storage and study name works on the same studies. `--trials N` is the budget of each fold's study
as a whole, not per process: a process starts a trial only while fewer than N are complete or running, and a
trial that a race numbered past the budget is marked failed at once (`OverBudget`), so the study ends with
exactly N complete trials however many processes share it. A worker that dies leaves its trial running; the
heartbeat marks it failed after `GRACE_S`, and another worker makes it up.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

COUNTED = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING, TrialState.PRUNED)
HEARTBEAT_S, GRACE_S = 30, 120
SETTINGS_ATTR = "settings"


class OverBudget(Exception):
    """The trial was numbered after the study's budget was used up (two workers asked at once)."""


class StudyMismatch(ValueError):
    pass


def storage_url(text: str) -> str:
    """A SQLAlchemy URL as given, or a file path as a SQLite URL. A postgresql:// URL without a driver gets
    psycopg2's (the driver the backtest extra installs; SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    for bare in ("postgresql://", "postgres://"):
        if text.startswith(bare):
            return "postgresql+psycopg2://" + text.removeprefix(bare)
    return text


def shown(text: str) -> str:
    """The storage as it may be printed or written: a URL's password masked."""
    if "://" not in text:
        return text
    from sqlalchemy.engine import make_url

    return make_url(text).render_as_string(hide_password=True)


def open_storage(url: str, attempts: int = 20) -> optuna.storages.RDBStorage:
    """Optuna's storage at `url`, its tables made if new. Workers started together (on one SQLite file, or
    on one PostgreSQL database from several machines) each find the tables missing and make them: Optuna
    checks, then creates, then stamps its schema version, so all but one fail on a table or a version row
    another made in between. Such a failure is retried, and the retry finds the tables made."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
            )
        except sqlalchemy.exc.SQLAlchemyError as err:
            if attempt == attempts or not _made_by_another(err):
                raise
            time.sleep(random.uniform(0.01, 0.1) * attempt)
    raise AssertionError("unreachable")


def _made_by_another(err: Exception) -> bool:
    """The error of a schema another process made first: a duplicate row or table, or a busy SQLite file."""
    text = str(err).lower()
    return isinstance(err, sqlalchemy.exc.IntegrityError) or any(
        words in text for words in ("already exists", "duplicate", "database is locked")
    )


def open_study(
    storage: optuna.storages.RDBStorage, name: str, settings: dict, seed: int | None, startup: int
) -> optuna.Study:
    """The study `name`, created if new; StudyMismatch if it was made with other settings (data, options,
    objective), since its trials would not be comparable."""
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True)
    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", sampler=sampler, load_if_exists=True
    )
    made_with = study.user_attrs.get(SETTINGS_ATTR)
    if made_with is None:  # another worker may be writing its own at this moment: read back what stayed
        study.set_user_attr(SETTINGS_ATTR, settings)
        made_with = study.user_attrs.get(SETTINGS_ATTR)
    if made_with != settings:
        made_with = made_with or {}
        changed = sorted(k for k in set(made_with) | set(settings) if made_with.get(k) != settings.get(k))
        raise StudyMismatch(
            f"study {name!r} in this storage was made with other settings ({', '.join(changed)}): "
            "give another --study name (or --storage) to start afresh"
        )
    return study


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=COUNTED)


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], budget: int) -> None:
    """Run trials until the study holds `budget` complete or running ones (this process's and others')."""

    def within_budget(trial: optuna.Trial) -> float:
        if sum(t.number < trial.number for t in counted(study)) >= budget:
            trial.set_user_attr("over_budget", True)
            raise OverBudget
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return objective(trial)

    while len(counted(study)) < budget:
        study.optimize(within_budget, n_trials=1, catch=(OverBudget,))


def wait_for_others(study: optuna.Study, poll_s: float = 0.5) -> None:
    """Until no trial of the study is running (other workers' trials end, or the heartbeat fails them)."""
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        optuna.storages.fail_stale_trials(study)
        time.sleep(poll_s)


def best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(done, key=lambda t: (t.value, -t.number)) if done else None
