"""Start-up against a struggling exchange (aster_mm/live/startup.py, with the grace main.py gives it): a name that
does not resolve fails the start in seconds naming the host; a host that refuses, answers 403 or 503 is
retried up to --start-timeout, then the bot exits 1 naming it."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import NO_HOST, SYMBOL, BotRun, FakeClock, open_orders, run, run_cli, wait_open
from helpers import free_port as closed_port

from aster_mm.core.config import Config
from aster_mm.core.errors import FatalError
from aster_mm.exchange.errors import ExchangeError, HostNotFoundError, UnknownOutcomeError
from aster_mm.live.main import start_timings
from aster_mm.live.startup import retry_until

V1_KEYS = {"ASTER_API_KEY": "k" * 64, "ASTER_API_SECRET": "s" * 64}


# ---- a name that does not resolve fails the start in seconds, naming the host ------------------------------
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


# ---- HTTP 403 at start -------------------------------------------------------------------------------------
async def test_403_at_start_is_retried_not_taken_for_bad_credentials(sim):
    sim.fail_next("GET", "/fapi/v1/exchangeInfo", count=2, status=403, retry_after=0.1)
    async with BotRun(sim):
        await wait_open(sim, "BUY", timeout=10)
        assert len(sim.requests("GET", "/fapi/v1/exchangeInfo")) >= 3


# ---- an exchange unreachable or down at start --------------------------------------------------------------
async def test_unreachable_rest_host_is_retried_then_fatal_naming_it(bot_env, tmp_path):
    port = closed_port()
    bot_env["ASTER_REST_URL"] = f"http://127.0.0.1:{port}"
    proc = await run_cli(
        "--symbol", SYMBOL, "--start-timeout", "1", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and f"127.0.0.1:{port}" in err.decode()
    assert b"Traceback" not in out + err
    assert (tmp_path / "mm.log").read_text().count("retrying in") >= 1


async def test_unreachable_websocket_host_is_fatal_after_the_start_timeout(sim, bot_env, tmp_path):
    bot_env["ASTER_WS_URL"] = f"ws://127.0.0.1:{closed_port()}"
    proc = await run_cli(
        "--symbol", SYMBOL, "--start-timeout", "1", "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1 and "WebSocket host" in err.decode()
    assert b"Traceback" not in out + err
    assert open_orders(sim) == []


async def test_exchange_down_at_boot_is_waited_out(sim):
    await sim.restart(down_seconds=1.0)  # REST answers 503 for a second
    async with BotRun(sim):
        await wait_open(sim, "BUY", timeout=10)
