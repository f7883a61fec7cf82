"""The README: its Quick start, run as written in a fresh copy of the repository with no ../shared beside it
(issue 22): the --sim session says it is simulated and prints its summary, then the simulator's accounting,
in cents; `report` finds the session's ledger; generated data feeds the backtester; and afterwards
`git status` shows nothing new. The commands come from the README itself, so the two cannot drift apart.
And what it says about Python and virtual environments."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

# The commands a user runs without keys or network, in the order the README gives them.
LOCAL = ("--sim", "report", "sim_exchange.py --write-synthetic", "backtest.py")
SHORTER = "0.05"  # hours of synthetic data the test writes instead of the README's (3 minutes, not 60)


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```bash\n(.*?)```", section, re.S) for line in block.splitlines()]
    commands = [line.split("  #")[0].strip() for line in lines if line.startswith("python ")]
    return [c for c in commands if any(k in c for k in LOCAL) and "--paper" not in c and "--network" not in c]


def fresh_copy(dest: Path) -> Path:
    """The repository's files as a clone has them (tracked, plus new files not ignored), committed in a new
    repository of their own."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "fresh clone"]):
        subprocess.run([*git, *step], cwd=dest, check=True, capture_output=True)
    return dest


def argv(command: str) -> list[str]:
    words = command.split()
    if "--hours" in words:
        words[words.index("--hours") + 1] = SHORTER
    return [sys.executable, *words[1:]]


def sim_session(command: str, repo: Path, env: dict) -> str:
    """Run the --sim command until the bot has started, then Ctrl+C it, as a user would; its output."""
    proc = subprocess.Popen(argv(command), cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if " started " in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return "".join(lines) + out


def check_sim_output(text: str) -> None:
    started = next(line for line in text.splitlines() if " started ETHUSDT run " in line)
    assert " on the built-in simulator (--sim: " in started and "user 0x" not in started, started
    assert ": model=fixed long " in started, started  # the Quick start's model, named as an upgrade needs it
    order = ["mm: started ETHUSDT run ", "mm: stopped: ", "mm: session summary (--sim: simulated): "]
    order.append("mm: simulator's accounting: ")
    at = [text.index(needle) for needle in order]
    assert at == sorted(at), "the simulator's accounting comes after the bot's own summary"
    readme = (ROOT / "README.md").read_text()
    for needle in (order[0], *order[2:]):
        ran = text.split(needle)[1].splitlines()[0]
        shown = readme.split(needle)[1].splitlines()[0]
        assert keys(ran) == keys(shown), f"the README's sample line differs from a run's: {needle}"
    accounting = dict(kv.split("=") for kv in text.split(order[-1])[1].splitlines()[0].split(", "))
    for name in ("notional_volume", "realized_pnl", "fees", "funding"):
        assert re.fullmatch(r"-?\d+\.\d\d", accounting[name]), f"{name}={accounting[name]}: USD in cents"


def keys(line: str) -> list[str]:
    return re.findall(r"(\w+)=", line)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.timeout(240)
def test_the_quick_start_runs_as_written_in_a_fresh_clone_and_leaves_nothing_behind(tmp_path):
    commands = quick_start_commands()
    assert [next(k for k in LOCAL if k in c) for c in commands] == list(LOCAL), commands
    repo = fresh_copy(tmp_path / "aster-mm")
    assert not (repo.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTER_", "TELEGRAM_", "NOTIFY_"))}
    env.update(PYTHONPATH="", XDG_CACHE_HOME=str(tmp_path / "cache"), MPLBACKEND="Agg")

    sim, report, synthetic, backtest = commands
    check_sim_output(sim_session(sim, repo, env))

    done = subprocess.run(argv(report), cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "read ledger-ETHUSDT-sim.csv (--sim: simulated fills)" in done.stdout.splitlines()

    done = subprocess.run(argv(synthetic), cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        pass  # the backtest extra is not installed here: its own tests are skipped too
    else:
        done = subprocess.run(argv(backtest), cwd=repo, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PnL per volume" in done.stdout and (repo / "data" / "backtest.png").stat().st_size > 0

    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert status.stdout == "", f"the Quick start left files in the checkout:\n{status.stdout}"


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_says_which_python_and_installs_into_a_virtual_environment():
    quick = readme_section("Quick start")
    assert "Python 3.11 or newer" in quick
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" in quick
    service = readme_section("Running as a service")
    assert "system Python" in service and "python3-venv" in service
    assert "sudo /usr/bin/python3 -m venv .venv" in service
