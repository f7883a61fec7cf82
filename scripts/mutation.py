"""Mutation testing of the code that decides and moves money (issue 14), on demand, not in CI.

    python scripts/mutation.py                 # mutate the whole scope, run its tests, print the score
    python scripts/mutation.py --report        # print the score and survivors of the last run again
    python scripts/mutation.py --resume        # only the mutants of the scope not yet decided
    python scripts/mutation.py --recheck tests/test_execution.py   # the survivors against tests added since
    python scripts/mutation.py 'aster_mm.live.execution.*'   # only these mutants (mutmut name globs)

mutmut 3 (configured in pyproject.toml, [tool.mutmut]) copies the sources into mutants/, makes every
function switchable to each of its mutants, records which tests reach which function, and runs only
those tests against each mutant (stopping at the first failure). SCOPE below names the functions that
count; a whole module is "module.*". A full run takes about half an hour on 2 cores.

Exit status: 0 when the score is at least TARGET, 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.90

# mutmut names a mutant module.x_function__mutmut_N or module.xǁClassǁmethod__mutmut_N.
SCOPE = [
    "aster_mm.core.decisions.*",  # what to quote
    "aster_mm.core.actions.*",  # what the quoting loop does next (live and backtest alike)
    "aster_mm.core.orders.*",  # the order state machine
    "aster_mm.core.position.*",  # the position tracker
    "aster_mm.live.execution.*",  # every order request and what its answer means
    "aster_mm.live.account.*",  # account states: modes, balance, leverage, rules
    "aster_mm.exchange.signing.*",  # V1 and V3 request signing
    "aster_mm.live.chores.xǁDeadManSwitchǁ*",  # the dead-man switch: renewal and disarm
    "aster_mm.live.bot.xǁMarketMakerǁshutdown*",  # cancel everything, then disarm
    "aster_mm.live.bot.xǁMarketMakerǁstep*",  # the one decision per wake-up ...
    "aster_mm.live.bot.xǁMarketMakerǁ_situation*",  # ... the plain data it is decided on ...
    "aster_mm.live.bot.xǁMarketMakerǁ_act*",  # ... and what is sent for it
    "aster_mm.live.housekeeping.*",  # what must hold before deciding, in order
    "aster_mm.live.bot.xǁMarketMakerǁnot_ready*",  # no quoting blind
    "aster_mm.live.bot.xǁMarketMakerǁquote_loop*",  # a failed step forces a reconciliation
    "aster_mm.core.strategy.*",  # the order wanted: quote, stop-loss, loss limits
    "aster_mm.core.limits.*",  # position cap, stop-loss and loss-limit decisions
    "aster_mm.core.quoting.*",  # the signal model's quote: guard, placement, breakeven floor and its decay
    "aster_mm.core.signals.*",  # the signal the guard and the fair value read
    "aster_mm.accounting.ledger.*",  # every fill, funding payment and rebate, once; daily totals; where to reconcile
    "aster_mm.accounting.income.*",  # the income reconciliation: what the stream missed, from where nothing is missing
    "aster_mm.accounting.pnl.*",  # the session's net PnL the loss limits read
    # the client: signing glue, clock, error mapping, retries, the order endpoints' answers
    *(
        f"aster_mm.exchange.client.{name}*"
        for name in (
            "x_sign",
            "xǁAsterClientǁ_encode",
            "xǁAsterClientǁ_now_ms",
            "xǁAsterClientǁsync_time",
            "xǁAsterClientǁblocked_for",
            "xǁAsterClientǁ_send_once",
            "xǁAsterClientǁ_raise_for",
            "xǁAsterClientǁ_retry_after",
            "xǁAsterClientǁ_request",
            "xǁAsterClientǁcan_modify",
            "xǁAsterClientǁpath",
            "xǁAsterClientǁplace_limit",
            "xǁAsterClientǁmodify_order",
            "xǁAsterClientǁcancel_order",
            "xǁAsterClientǁcancel_all",
            "xǁAsterClientǁquery_order",
            "xǁAsterClientǁset_margin_type",
        )
    ),
    "aster_mm.exchange.errors.*",  # what the client's errors carry
    # a new module that decides or moves money: add it here and to only_mutate in pyproject.toml
]

DETECTED = {"killed", "timeout", "caught by type check"}  # a hang is detection: the test run failed


def mutmut_status():
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code


def in_scope(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p if p.endswith("*") else p + "__mutmut_*") for p in patterns)


def results(patterns: list[str]) -> dict[str, str]:
    """Mutant name -> status, from mutmut's result files."""
    status_by_code = mutmut_status()
    found = {}
    for meta in (ROOT / "mutants").rglob("*.meta"):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: status_by_code[code] for name, code in codes.items() if in_scope(name, patterns)})
    return found


def recheck(patterns: list[str], tests: list[str], workers: int) -> None:
    """Run the survivors against `tests` only (tests written after the last run), as mutmut would: the
    mutant switched on by MUTANT_UNDER_TEST, in the mutants/ copy. A failing run marks it killed."""
    left = [name for name, status in results(patterns).items() if status in ("survived", "no tests")]
    env = {**os.environ, "AMM_TEST_SCHEMES": "v1"}

    def run(name: str, *selection: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *(selection or tests)],
            cwd=ROOT / "mutants",
            env={**env, "MUTANT_UNDER_TEST": name},
            capture_output=True,
            text=True,
        )

    # The tests must pass on the unmutated copy (the sources in mutants/ are from the last run): a test
    # written for newer code would otherwise "kill" every survivor.
    if run("").returncode != 0:
        raise SystemExit(
            f"recheck: {' '.join(tests)} fail without any mutant: run mutmut again first "
            "(`--resume`) so that mutants/ holds the current sources"
        )

    def killed(name: str) -> bool:
        """A failing test counts only if it fails again when run alone: on a loaded machine a timing test
        can fail by itself, and that must not pass for a kill."""
        first = run(name)
        failed = [line.split()[1] for line in first.stdout.splitlines() if line.startswith("FAILED ")]
        return first.returncode == 1 and bool(failed) and run(name, failed[0]).returncode == 1

    with ThreadPoolExecutor(workers) as pool:
        dead = {name for name, k in zip(left, pool.map(killed, left)) if k}
    for meta in (ROOT / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        hit = dead & set(data["exit_code_by_key"])
        data["exit_code_by_key"].update({name: 1 for name in hit})
        meta.write_text(json.dumps(data))
    print(f"recheck: {len(dead)} of {len(left)} survivors killed by {' '.join(tests)}")


def module_of(name: str) -> str:
    module, _, function = name.partition(".x")
    return module if function else name.rsplit(".", 1)[0]


def report(patterns: list[str]) -> float:
    found = results(patterns)
    if not found:
        print("no results: run without --report first")
        return 0.0
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, status in found.items():
        by_module[module_of(name)].append(status)
    print(f"{'module':<24} {'killed':>7} {'total':>6} {'score':>7}")
    for module, statuses in sorted(by_module.items()):
        killed = sum(s in DETECTED for s in statuses)
        print(f"{module:<24} {killed:>7} {len(statuses):>6} {killed / len(statuses):>7.1%}")
    killed = sum(s in DETECTED for s in found.values())
    score = killed / len(found)
    print(f"{'all':<24} {killed:>7} {len(found):>6} {score:>7.1%}   (target {TARGET:.0%})")
    left = sorted((name, status) for name, status in found.items() if status not in DETECTED)
    if left:
        print("\nnot killed (see them with: mutmut show NAME):")
        for name, status in left:
            print(f"  {status:<12} {name}")
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutant name globs (default: the whole SCOPE)")
    parser.add_argument("--report", action="store_true", help="only print the last run's results")
    parser.add_argument("--resume", action="store_true", help="run only the mutants without a result yet")
    parser.add_argument("--recheck", nargs="+", metavar="TEST", help="re-run the survivors against these tests")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    patterns = args.patterns or SCOPE
    if args.recheck:
        # mutants/ holds the tests of the last run, and none of the files some tests read: copy them in. The
        # tests find the shared data beside their repository, which for mutants/ is this one: link it.
        for path in ("tests", "backtest.py", ".env.example", "README.md", "docs"):
            if (ROOT / path).is_dir():
                shutil.copytree(ROOT / path, ROOT / "mutants" / path, dirs_exist_ok=True)
            else:
                shutil.copy2(ROOT / path, ROOT / "mutants" / path)
        link = ROOT / "shared"
        made = not link.exists() and (ROOT.parent / "shared").is_dir()
        if made:
            link.symlink_to(ROOT.parent / "shared")
        try:
            recheck(patterns, args.recheck, args.max_children)
        finally:
            if made:
                link.unlink()
    elif not args.report:
        globs = [p if p.endswith("*") else p + "__mutmut_*" for p in patterns]
        if args.resume:
            globs = sorted(name for name, status in results(patterns).items() if status == "not checked")
            if not globs:
                return 0 if report(patterns) >= TARGET else 1
        # The simulator tests on the V1 scheme only: V3 doubles the time, and its paths are covered by the tests
        # that run on V3 alone (tests/test_client_v3.py, test_sim_auth.py, and the `v3sim` ones).
        env = {**os.environ, "AMM_TEST_SCHEMES": "v1"}
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *globs], cwd=ROOT, env=env
        )
        if run.returncode != 0:
            print(f"mutmut failed (exit status {run.returncode})", file=sys.stderr)
            return run.returncode
    return 0 if report(patterns) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
