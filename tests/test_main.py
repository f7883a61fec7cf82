"""The command line entry point (aster_mm/live/main.py) run as a user runs it, a subprocess: a signal cancels
everything and exits 0, bad input and configuration errors exit 2 in two lines, fatal states exit 1; never a
traceback or a secret in what it prints."""

from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal

import pytest
from eth_account import Account
from helpers import ORDER, SYMBOL, open_orders, run, run_cli, secrets_of, wait_open


# ---- signals, bad input and fatal states, as exit statuses -------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_cancels_everything_and_exits_zero(sim, bot_env, tmp_path, sig):
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=15)
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        elapsed = time.monotonic() - started
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert open_orders(sim) == []
    assert not sim.requests("DELETE", "/fapi/v1/listenKey")  # the account's key, shared: left to expire
    assert elapsed < 2.0
    secret_free = out + err + (tmp_path / "mm.log").read_bytes()
    for secret in secrets_of(sim):  # the V1 key and secret, the V3 agent's private key
        assert secret not in secret_free


@pytest.mark.parametrize(
    "args, env_drop, status, needle",
    [
        (["--symbol", "FOOUSDT"], None, 1, "FOOUSDT"),
        (["--symbol", SYMBOL], "secret", 2, "secret"),  # the scheme's secret: ASTER_API_SECRET or ASTER_SIGNER_KEY
        (["--symbol", SYMBOL, "--buy-spread=-0.01"], None, 2, "buy-spread"),
        (["--symbol", SYMBOL, "--leverage", "200"], None, 2, "leverage"),
    ],
)
async def test_bad_input_exits_with_clear_message(sim, bot_env, tmp_path, args, env_drop, status, needle):
    secret_var = "ASTER_SIGNER_KEY" if sim.scheme == "v3" else "ASTER_API_SECRET"
    if env_drop:
        bot_env.pop(secret_var)
        needle = secret_var
    proc = await run_cli(*args, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == status
    assert needle in err.decode()
    assert b"Traceback" not in err + out
    assert not any(secret in err + out for secret in secrets_of(sim))
    assert sim.order_requests() == []


async def test_non_trading_symbol_without_position_is_cancelled_then_exits_1(sim, bot_env, tmp_path):
    await sim.place_order_direct("OLDUSDT", "BUY", Decimal("90"), Decimal("1"), client_order_id="amm-old-1")
    proc = await run_cli("--symbol", "OLDUSDT", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and "OLDUSDT" in err.decode() and "SETTLING" in err.decode()
    assert b"Traceback" not in err + out
    assert sim.open_orders("OLDUSDT") == []  # cancelled before the bot decided
    assert not sim.requests("POST", "/fapi/v1/order")


async def test_rejected_credentials_are_fatal(sim, bot_env, tmp_path):
    if sim.scheme == "v3":  # a well-formed agent wallet the exchange never approved
        stranger = Account.create()
        wrong = stranger.key.hex()
        bot_env.update(ASTER_SIGNER=stranger.address, ASTER_SIGNER_KEY=wrong)
    else:
        wrong = bot_env["ASTER_API_SECRET"] = "wrong-secret-0123456789"
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert "credentials" in err.decode()
    assert wrong.encode() not in out + err + (tmp_path / "mm.log").read_bytes()
    assert not sim.requests("POST", "/fapi/v1/order")


# ---- SIGTERM with a placement in flight --------------------------------------------------------------------
async def test_sigterm_with_placement_in_flight_leaves_nothing_open(sim, bot_env, tmp_path):
    sim.fail_next("POST", ORDER, status=503, execute=True, delay=1.5)  # executed, the answer hangs
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=15)  # the order exists; the bot still awaits the reply
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0
    assert open_orders(sim) == []


# ---- a configuration error is one usage line and the error, exit 2 -----------------------------------------
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


def test_a_bad_ledger_leaves_nothing_started(tmp_path):
    done = run("--symbol", "ETHUSDT", "--sim", "--ledger", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and " started " not in done.stdout
