"""A new user's first hour (issue 22): errors that say what to do in a line or two, a start that fails fast
when the exchange's name does not even resolve, and files that cannot be used named before anything starts.
The bot runs as a user runs it, a subprocess, and the tests read what the user reads (stderr, exit status)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BotRun, FakeClock, free_port, open_orders, set_mid, wait_open

from aster_mm.core.config import Config
from aster_mm.core.errors import FatalError
from aster_mm.exchange.errors import ExchangeError, HostNotFoundError, UnknownOutcomeError
from aster_mm.live.credentials import env_file_warning
from aster_mm.live.main import start_timings
from aster_mm.live.startup import retry_until
from aster_mm.simulator import SimExchange

ROOT = Path(__file__).resolve().parent.parent
NO_HOST = "aster-mm-test.invalid"  # RFC 6761: .invalid never resolves
PLAIN = {k: v for k, v in os.environ.items() if not k.startswith(("ASTER_", "TELEGRAM_", "NOTIFY_"))}
V1_KEYS = {"ASTER_API_KEY": "k" * 64, "ASTER_API_SECRET": "s" * 64}


def run(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "market_maker.py"), *args],
        cwd=cwd,
        env={**PLAIN, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ----- item 2 (and 8): a configuration error is one usage line and the error, exit 2 ------------------------
CONFIG_ERRORS = {
    "a bad value": (["--symbol", "ETHUSDT", "--buy-spread", "-1"], "got -1"),
    "no credentials": (["--symbol", "ETHUSDT"], "--sim"),
    "an unwritable log file": (["--symbol", "ETHUSDT", "--sim", "--log-file", "{tmp}"], "cannot open log file"),
    "an unknown symbol": (["--symbol", "FOOUSDT", "--sim"], "FOOUSDT"),
    "an unwritable ledger": (["--symbol", "ETHUSDT", "--sim", "--ledger", "{tmp}"], "cannot write the ledger"),
    "a file that is no ledger": (["--symbol", "ETHUSDT", "--sim", "--ledger", "{tmp}/x.csv"], "is not a ledger"),
}


@pytest.mark.parametrize("argv, needle", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_a_configuration_error_is_two_lines_and_exit_2(tmp_path, argv, needle):
    (tmp_path / "x.csv").write_text("not,a,ledger\n1,2,3\n")
    done = run(*(a.replace("{tmp}", str(tmp_path)) for a in argv), cwd=tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 2 and lines[0].startswith("usage: market_maker.py --symbol SYMBOL"), done.stderr
    assert lines[1].startswith("market_maker.py: error: ") and needle in lines[1], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "script, args",
    [("backtest.py", ["--data", "x"]), ("sim_exchange.py", ["--bogus"]), ("record.py", []), ("bench.py", ["--x"])],
)
def test_the_tools_say_a_mistake_in_two_lines_too(tmp_path, script, args):
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *args], cwd=tmp_path, env=PLAIN, capture_output=True, text=True, timeout=60
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0].startswith(f"usage: {script} ") and lines[1].startswith(script) and ": error: " in lines[1]


def test_a_bad_ledger_leaves_nothing_started(tmp_path):
    done = run("--symbol", "ETHUSDT", "--sim", "--ledger", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and " started " not in done.stdout


# ----- item 1: a name that does not resolve fails the start in seconds, naming the host --------------------
@pytest.mark.parametrize("mode", ["--paper", "live"])
def test_an_unresolvable_host_fails_within_seconds_naming_it(tmp_path, mode):
    env = {"ASTER_REST_URL": f"https://{NO_HOST}", **(V1_KEYS if mode == "live" else {})}
    began = time.monotonic()
    done = run("--symbol", "ETHUSDT", *([mode] if mode != "live" else []), cwd=tmp_path, env=env, timeout=40)
    took = time.monotonic() - began
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()  # one line: the host and what to check (the default --start-timeout is 120)
    assert f"cannot resolve {NO_HOST}" in line and "DNS" in line and "ASTER_REST_URL" in line, line
    assert took < 25, f"{took:.0f} s"  # 5 s of grace, the interpreter's start, a loaded machine


async def test_no_dns_answer_is_given_a_few_seconds_and_other_faults_the_start_timeout():
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        clock.t += seconds

    def failing(*errors: ExchangeError):
        async def action():
            raise errors[min(calls.append(1) or len(calls), len(errors)) - 1]

        calls: list[int] = []
        return action

    began = clock.t
    with pytest.raises(FatalError, match=f"cannot resolve {NO_HOST}"):
        await retry_until(failing(HostNotFoundError(NO_HOST)), 120, 10, clock, sleep, unresolved_grace=5)
    assert 5 <= clock.t - began < 10

    began = clock.t
    with pytest.raises(FatalError, match="exchange unavailable for 120 s"):
        await retry_until(failing(UnknownOutcomeError(503, None, "busy")), 120, 10, clock, sleep, unresolved_grace=5)
    assert clock.t - began >= 120

    # The name resolved again (then a 5xx): the grace starts afresh at the next miss, the timeout holds.
    flapping = [HostNotFoundError(NO_HOST)] * 3 + [UnknownOutcomeError(503, None, "busy")] * 3
    began = clock.t
    with pytest.raises(FatalError, match="cannot resolve"):
        await retry_until(failing(*flapping, HostNotFoundError(NO_HOST)), 120, 10, clock, sleep, unresolved_grace=5)
    assert clock.t - began > 5 + 10


def test_a_systemd_service_waits_the_start_timeout_for_dns():
    config = Config(symbol="ETHUSDT", start_timeout=300)
    assert start_timings(config, {}).unresolved_grace == 5
    assert start_timings(config, {"NOTIFY_SOCKET": "/run/systemd/notify"}).unresolved_grace == 300


async def test_a_refused_connection_is_not_a_missing_name():
    """A host that resolves and refuses (a proxy or the exchange restarting) is retried for --start-timeout."""
    from aster_mm.exchange.client import AsterClient
    from aster_mm.exchange.signing import HmacSigner

    for url, kind in ((f"http://127.0.0.1:{free_port()}", ExchangeError), (f"http://{NO_HOST}", HostNotFoundError)):
        async with AsterClient(signer=HmacSigner("k", "s"), rest_url=url) as client:
            with pytest.raises(ExchangeError) as caught:
                await asyncio.wait_for(client.symbol_rules("ETHUSDT"), 30)
        assert type(caught.value) is kind, url


# ----- item 9: backtest.py without its extra: --help works, a run says how to install it in one line ---------
WITHOUT_EXTRA = """
import sys
class NoExtra:  # as if requirements-backtest.txt were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"hftbacktest", "numba", "polars", "matplotlib"}:
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NoExtra())
from aster_mm.backtest.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("args", [["--help"], ["--data", "data", "--symbol", "ETHUSDT"]], ids=["help", "run"])
def test_backtest_without_its_extra(args, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args],
        cwd=tmp_path,
        env={**PLAIN, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if args == ["--help"]:
        assert done.returncode == 0 and done.stdout.startswith("usage: backtest.py"), done.stderr
        assert "--buy-spread" in done.stdout or "strategy flag" in done.stdout
    else:
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.splitlines()
        assert "pip install -r requirements-backtest.txt" in line and "Traceback" not in line


def test_the_bots_numpy_is_one_the_backtest_extra_accepts():
    """Installing requirements-backtest.txt after requirements.txt must not change the bot's numpy."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    try:
        needed = metadata.requires("hftbacktest") or []
    except metadata.PackageNotFoundError:
        pytest.skip("the backtest extra is not installed")
    theirs = next(Requirement(r).specifier for r in needed if Requirement(r).name == "numpy")
    text = (ROOT / "requirements.txt").read_text()
    lines = [Requirement(r.split("#")[0]) for r in text.splitlines() if r.startswith("numpy")]
    (ours,) = [r.specifier for r in lines if r.marker is None or r.marker.evaluate()]
    if sys.version_info >= (3, 14):
        pytest.skip("numpy 2.2, the newest hftbacktest 2.4 accepts, has no wheels for Python 3.14")
    versions = [Version(f"{major}.{minor}.{patch}") for major in (1, 2, 3) for minor in range(40) for patch in (0, 99)]
    allowed = [v for v in versions if v in ours]
    assert allowed and all(v in theirs for v in allowed), f"requirements.txt {ours}, hftbacktest {theirs}"


# ----- the smaller ones -----------------------------------------------------------------------------------
async def test_a_requote_by_modify_order_is_logged_at_debug(caplog):
    """At INFO a requote every second or so buried the fills and the status lines (42 of 68 lines)."""
    caplog.set_level(logging.DEBUG, logger="mm")
    async with SimExchange() as sim:
        sim.scheme = "v3"
        await set_mid(sim, "2500")
        async with BotRun(sim):
            await wait_open(sim, "BUY")
            await set_mid(sim, "2510")
            await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
            assert sim.requests("PUT", "/fapi/v3/order")  # moved by Modify Order
    modified = [r for r in caplog.records if r.getMessage().startswith("modified amm-")]
    assert modified and {r.levelno for r in modified} == {logging.DEBUG}


def test_an_env_file_others_can_read_is_warned_about(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ASTER_API_KEY=x\nASTER_API_SECRET=y\n")
    env_file.chmod(0o644)
    assert "chmod 600" in env_file_warning(tmp_path) and "mode 644" in env_file_warning(tmp_path)
    rest = {"ASTER_REST_URL": f"http://127.0.0.1:{free_port()}"}
    done = run("--symbol", "ETHUSDT", "--start-timeout", "0", cwd=tmp_path, env=rest)
    assert done.returncode == 1 and done.stderr.startswith(f"market_maker.py: warning: {env_file} holds your keys")
    env_file.chmod(0o600)
    assert env_file_warning(tmp_path) is None and env_file_warning(tmp_path / "none") is None
    done = run("--symbol", "ETHUSDT", "--start-timeout", "0", cwd=tmp_path, env=rest)
    assert done.returncode == 1 and "warning" not in done.stderr


@pytest.mark.parametrize("where", ["unresolvable", "refused"])
def test_record_with_nothing_recorded_exits_1(tmp_path, where):
    url = f"ws://{NO_HOST}" if where == "unresolvable" else f"ws://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, str(ROOT / "record.py"), "--symbol", "ETHUSDT", "--out", str(tmp_path / "data")]
        + ["--ws-url", url, *(["--minutes", "0.02"] if where == "refused" else [])],
        env=PLAIN,
        capture_output=True,
        text=True,
        timeout=30,  # without --minutes it would record until stopped: a name that does not resolve ends it
    )
    assert done.returncode == 1, done.stderr
    error = done.stderr.splitlines()[-1]
    assert error.startswith("record.py: error: ")
    assert (f"cannot resolve {NO_HOST}" if where == "unresolvable" else "recorded nothing from ws://") in error


def test_every_bench_option_says_what_it_sets_and_its_default():
    from aster_mm.bench.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = parser._get_formatter()._expand_help(action)
        assert len(text) > 20 and not text.startswith("default"), action.dest
        assert action.nargs == 0 or text.count("(default: ") == 1, (action.dest, text)
