"""The walk-forward optimiser (issue 19 item 3): folds, the search space, the objective, the run end to end on
tiny synthetic days, a study shared by two processes (SQLite) and by two workers on a real PostgreSQL, and the
preset it writes driving the bot's first order on the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("optuna", reason="pip install -r requirements-backtest.txt")
pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")

import optuna  # noqa: E402
import pg_server  # noqa: E402

from aster_mm.backtest import cli as backtest  # noqa: E402
from aster_mm.optimize import report, space, study, weights  # noqa: E402
from aster_mm.optimize.evaluate import Evaluator, Objective, figures  # noqa: E402
from aster_mm.optimize.folds import walk_forward  # noqa: E402
from aster_mm.settings.parser import parse_config  # noqa: E402
from aster_mm.simulator.markets import RECORDED_LEVELS, SYNTHETIC_START, SyntheticMarket  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
postgres = pg_server.postgres  # the fixture
SYMBOL = "ETHUSDT"
DAYS = ("2025-09-29", "2025-09-30", "2025-10-01")
TINY = ["--trials", "3", "--startup-trials", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> Path:
    """Three days of 3 minutes of the simulator's synthetic ETHUSDT market, one folder per day."""
    root = tmp_path_factory.mktemp("days")
    for i, day in enumerate(DAYS):
        market = SyntheticMarket(symbol=SYMBOL, seed=i + 1, start_price=Decimal(2500), levels=RECORDED_LEVELS)
        market.write_csv(root / day, 0.05, SYNTHETIC_START + i * 86400)
    return root


def optimize(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "optimize.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def run_backtest(*args: str, cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "backtest.py"), *args, "--json", "bt.json"], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((cwd / "bt.json").read_text())


def trials_of(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=study.storage_url(storage)).get_trials(deepcopy=False)


# ----------------------------------------------------------------------------------------------- pieces
def test_folds_train_on_the_days_before_and_test_on_the_next():
    d = [Path(f"d{i}") for i in range(1, 5)]
    folds = walk_forward(d, min_train_days=1)
    assert [(f.train, f.test) for f in folds] == [(tuple(d[:1]), d[1]), (tuple(d[:2]), d[2]), (tuple(d[:3]), d[3])]
    assert [(f.number, f.test) for f in walk_forward(d, min_train_days=1, folds=2)] == [(1, d[2]), (2, d[3])]
    assert folds[2].name == "d1..d3->d4"
    with pytest.raises(ValueError, match="at least 4 day folders"):
        walk_forward(d[:3], min_train_days=3)


def test_a_trial_is_the_bots_own_options_and_fixed_ones_are_not_searched():
    table = space.searched("fixed", fixed={"side"})
    assert "side" not in table and {"buy-spread", "sell-spread", "reprice-threshold", "stop-loss"} <= set(table)
    s = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        flags = space.suggest(s.ask(), table)
        argv = [x for k, v in flags.items() for x in (f"--{k}", v)]
        cfg = parse_config(["--symbol", SYMBOL, *argv])  # the bot's parser takes the choice as it is
        assert cfg.buy_spread == Decimal(flags["buy-spread"]) and "e" not in flags["buy-spread"]
        # a stop-loss left off is off, not the signal model's own stop
        signal = parse_config(["--symbol", SYMBOL, "--spread-model", "signal", *argv])
        assert (signal.stop_loss_in_force is None) == (flags["stop-loss"] == "0")


def test_the_objective_penalises_a_trial_below_the_volume_target_without_dropping_it():
    fig = {"volume_usd_per_day": 150_000.0, "net_base_usd_per_day": 20.0, "bp_base": 1.5, "net_mm1_usd_per_day": 9.0}
    net = Objective("net", 300_000, 10, "base")
    assert net.score(fig) == pytest.approx(20.0 - 10e-4 * 300_000 * 0.5)
    assert net.score({**fig, "volume_usd_per_day": 400_000.0}) == 20.0
    assert Objective("cost", 300_000, 10, "base").score(fig) == pytest.approx(1.5 - 5.0)
    idle = {"volume_usd_per_day": 0.0, "net_base_usd_per_day": 0.0, "bp_base": None}
    assert Objective("cost", 300_000, 10, "base").score(idle) == -10.0
    assert net.score(idle) < net.score(fig)  # ranked by how far it fell short, not dropped


def test_the_budget_holds_when_another_worker_asked_between_the_count_and_the_ask(monkeypatch):
    """The race two workers run: both count the study's trials, see room for one more, and both ask. The one
    numbered past the budget is failed at once (marked over budget), without running the objective."""
    s = optuna.create_study(direction="maximize")
    s.ask()  # the other worker's trial #0, running
    real, stale = study.counted, [True]

    def counted_before_the_other_asked(st):
        return [] if stale and stale.pop() else real(st)

    monkeypatch.setattr(study, "counted", counted_before_the_other_asked)
    ran = []
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.run_trials(s, lambda trial: ran.append(trial.number) or 1.0, budget=1)
    assert ran == []
    (mine,) = [t for t in s.trials if t.number == 1]
    assert mine.state == optuna.trial.TrialState.FAIL and mine.user_attrs["over_budget"]
    monkeypatch.undo()
    study.run_trials(s, lambda trial: ran.append(trial.number) or 1.0, budget=2)  # room for one more: it runs
    assert ran == [2] and len(study.counted(s)) == 2


def test_out_of_sample_far_behind_in_sample_is_warned_with_its_rule():
    fig = {"bp_base": 2.0, "volume_usd_per_day": 400_000.0}
    r = report.FoldResult(1, ("a",), "b", 3, 0, {}, fig, {**fig, "bp_base": 0.5}, 0.0, 0.0)
    (warning,) = report.overfit_warnings([r], gap_bp=1.0)
    assert "fold 1" in warning and "overfitting" in warning and "more than 1 bp below IS" in warning
    assert report.overfit_warnings([r], gap_bp=2.0) == []
    thin = report.FoldResult(1, ("a",), "b", 3, 0, {}, fig, {**fig, "volume_usd_per_day": 100_000.0}, 0.0, 0.0)
    assert "volume" in report.overfit_warnings([thin])[0]


# ----------------------------------------------------------------------------------------------- end to end
def test_the_optimiser_walks_forward_reports_is_and_oos_and_continues_its_study(days, tmp_path):
    args = ["--data", str(days), "--symbol", SYMBOL, *TINY, "--storage", "s.db", "--json", "r.json"]
    done = optimize(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stdout)
    out = json.loads((tmp_path / "r.json").read_text())
    assert [f["test"] for f in out["folds"]] == list(DAYS[1:])
    for fold in out["folds"]:
        assert fold["trials"] == 3 and fold["in_sample"]["fills"] > 0
        # out of sample is the choice run on the test day alone; in sample, on the training days
        evaluator = Evaluator(["--symbol", SYMBOL, "--spread-model", "fixed"])
        assert evaluator.run((days / fold["test"],), fold["options"]) == fold["out_of_sample"]
        assert evaluator.run(tuple(days / d for d in fold["train"]), fold["options"]) == fold["in_sample"]
    assert "fold 1 IS" in done.stdout and "fold 2 OOS" in done.stdout and "bp/vol MM1" in done.stdout
    assert [f["train"] for f in out["folds"]] == [list(DAYS[:1]), list(DAYS[:2])]
    preset = tomllib.loads((tmp_path / f"{SYMBOL}-fixed.toml").read_text())
    assert as_text(preset) == {"symbol": SYMBOL, "spread-model": "fixed", **out["folds"][1]["options"]}
    again = optimize(*[a if a != "3" else "4" for a in args], cwd=tmp_path)  # --trials 4: one more per fold
    assert again.returncode == 0, again.stderr[-2000:]
    for fold in json.loads((tmp_path / "r.json").read_text())["folds"]:
        assert fold["trials"] == 4
    assert "other settings (argv)" in optimize(*args, "--side", "long", cwd=tmp_path).stderr


def test_the_signal_models_weights_are_fitted_per_fold_and_fixed_for_its_trials(days, tmp_path):
    fixed = ["--symbol", SYMBOL, "--signal-warmup", "20", "--weight-ret30", "0.05"]  # ret30 given: not fitted
    done = optimize("--data", str(days), "--model", "signal", *TINY, "--json", "r.json", *fixed, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp_path / "r.json").read_text())
    for fold in out["folds"]:
        train = [days / d for d in fold["train"]]
        fitted = weights.for_days(train, fixed, ("imb1", "imb5", "imb10", "ret5"))
        assert fold["signal_weights"]["weights"] == pytest.approx(fitted.weights)
        assert "weight-ret30" not in fold["options"] and fitted.flags().items() <= fold["options"].items()
        name = walk_forward([*train, days / fold["test"]], len(train))[0].name
        for trial in trials_of(str(tmp_path / "optimize.db"), f"{SYMBOL}-signal-net:{name}"):
            assert fitted.flags().items() <= trial.user_attrs["flags"].items()  # every trial ran with them
        assert f"fold {fold['fold']}: signal weights fitted on {', '.join(fold['train'])}: imb1" in done.stdout
    preset = tomllib.loads((tmp_path / f"{SYMBOL}-signal.toml").read_text())
    assert preset["weight-imb1"] == pytest.approx(out["folds"][-1]["signal_weights"]["weights"]["imb1"], rel=1e-3)
    # what was reported out of sample is what backtest.py gives with the preset: the trials ran the signal model
    last = out["folds"][-1]
    ran = run_backtest("--config", f"{SYMBOL}-signal.toml", "--data", str(days / last["test"]), cwd=tmp_path)
    assert ran["settings"]["spread_model"] == "signal" and ran["metrics"]["model_state"]
    assert figures(ran["metrics"]) == last["out_of_sample"]


def as_text(preset: dict) -> dict[str, str]:
    """A preset's values as the command line writes them (TOML gives numbers back as floats)."""
    return {k: v if isinstance(v, str) else space.format_number(v) for k, v in preset.items()}


def _open_at_once(url: str, go, out) -> None:
    go.wait()  # every process past its imports: they open the storage at the same moment
    try:
        study.open_study(study.open_storage(url), "s", {"same": True}, None, 1)
        out.put("ok")
    except Exception as err:  # noqa: BLE001 - reported to the test
        out.put(repr(err))


def test_workers_opening_a_new_storage_at_once_all_get_it(tmp_path):
    """Optuna makes its tables, then stamps their version, each after checking they are missing: workers
    started together all find them missing, and all but one used to fail (UNIQUE constraint failed:
    alembic_version.version_num, or table ... already exists)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # optuna is imported already: the processes start at once
    for round_ in range(8):
        url, go, out = f"sqlite:///{tmp_path / f'new{round_}.db'}", ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(url, go, out)) for _ in range(4)]
        for p in procs:
            p.start()
        go.set()
        for p in procs:
            p.join(60)
        assert [out.get(timeout=5) for _ in procs] == ["ok"] * 4


def test_two_processes_on_one_sqlite_file_share_the_budget_exactly(days, tmp_path):
    args = ["--data", str(days), "--symbol", SYMBOL, "--folds", "1", "--trials", "8", "--startup-trials", "2"]
    args += ["--storage", "shared.db", "--study", "both"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "optimize.py"), *args, "--preset", f"p{i}.toml"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1500:] for o in outs]
    trials = trials_of(f"sqlite:///{tmp_path / 'shared.db'}", "both:2025-09-29..2025-09-30->2025-10-01")
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 8 and len({t.number for t in complete}) == 8
    assert all(t.user_attrs.get("over_budget") for t in trials if t not in complete)  # no other kind of leftover
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both worked on it
    assert all("figures" in t.user_attrs and t.value is not None for t in complete)  # nothing lost
    presets = [tomllib.loads((tmp_path / f"p{i}.toml").read_text()) for i in range(2)]
    assert presets[0] == presets[1]  # both judged the same study


def test_two_workers_share_a_study_on_postgresql(days, tmp_path, postgres):
    args = ["--data", str(days), "--symbol", SYMBOL, "--folds", "1", "--trials", "6", "--startup-trials", "2"]
    done = optimize(*args, "--storage", postgres, "--study", "pg", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        pg_server.PASSWORD not in done.stdout + (tmp_path / f"{SYMBOL}-fixed.toml").read_text()
    )  # the password is masked
    complete = [
        t
        for t in trials_of(postgres, "pg:2025-09-29..2025-09-30->2025-10-01")
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    assert len(complete) == 6 and len({t.number for t in complete}) == 6
    assert len({t.user_attrs["worker"] for t in complete}) == 2


def test_the_preset_written_drives_the_bots_first_order_on_the_simulator(days, tmp_path):
    fixed = ["--side", "short", "--balance-fraction", "0.05"]
    done = optimize(
        "--data", str(days), "--symbol", SYMBOL, *TINY, "--folds", "1", *fixed, "--preset", "p.toml", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    preset = tomllib.loads((tmp_path / "p.toml").read_text())
    assert preset["side"] == "short" and preset["balance-fraction"] == 0.05 and "sell-spread" in preset
    journal = tmp_path / "journal.jsonl"
    bot = subprocess.Popen(
        [sys.executable, "-c", JOURNALLED_BOT, str(journal), "--config", "p.toml", "--sim", "--log-file", "mm.log"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        order = first_order(journal, bot)
    finally:
        bot.terminate()
        bot.communicate(timeout=20)
    assert bot.returncode == 0
    assert order["side"] == "SELL" and order.get("reduceOnly") in (None, "false")  # --side short opens with a SELL
    price, qty = Decimal(order["price"]), Decimal(order["quantity"])
    assert abs(price / 2500 - 1 - Decimal(str(preset["sell-spread"]))) < Decimal("0.0015")  # the default is 0.006
    assert abs(price * qty - 10_000 * Decimal("0.05")) < 25  # --balance-fraction 0.05 of the 10,000 USDT


# The bot's --sim with the simulator writing what it receives to a journal file (JSON lines).
JOURNALLED_BOT = """
import functools, sys
import aster_mm.live.local as local
import market_maker
local.SimExchange = functools.partial(local.SimExchange, journal_file=sys.argv[1])
sys.exit(market_maker.main(sys.argv[2:]))
"""


def first_order(journal: Path, bot: subprocess.Popen, timeout: float = 30) -> dict:
    """The parameters of the first order placement the simulator answered."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and bot.poll() is None:
        lines = journal.read_text().splitlines() if journal.exists() else []
        for entry in map(json.loads, lines):
            if entry["method"] == "POST" and entry.get("endpoint", entry["path"]).endswith("/order"):
                return entry["params"]
        time.sleep(0.05)  # polling a file another process writes: its next line is the event
    raise AssertionError(f"no order reached the simulator: {bot.poll()=}")


def test_backtest_reads_the_same_preset(days, tmp_path):
    (tmp_path / "p.toml").write_text(f'symbol = "{SYMBOL}"\nbuy-spread = 0.0004\nsell_spread = "0.0003"\n')
    args, cfg = backtest.parse(["--data", str(days / "2025-09-29"), "--config", str(tmp_path / "p.toml")])
    assert (args.symbol, cfg.buy_spread, cfg.sell_spread) == (SYMBOL, Decimal("0.0004"), Decimal("0.0003"))
    with_flags = backtest.parse(["--data", str(days / "2025-09-29"), "--symbol", SYMBOL, "--buy-spread", "0.0004"])[1]
    assert with_flags.buy_spread == cfg.buy_spread
