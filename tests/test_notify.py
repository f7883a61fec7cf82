"""systemd's notify protocol on a fake notify socket: READY after start, WATCHDOG pings only while the
quoting loop and the streams live, STATUS with the status line, STOPPING at the end."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket

import pytest
from helpers import FAST, SYMBOL, BotRun, run_cli, wait_open

from aster_mm.ops.notify import Notifier, socket_address, watchdog_period
from aster_mm.ops.unattended import Ops, OpsSettings, not_alive


class FakeSystemd:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, name: str):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(name))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def next(self, predicate, timeout: float = 10.0) -> str:
        """The next datagram (from now on) for which `predicate` holds."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                msg = (await loop.sock_recv(self.sock, 65536)).decode()
                self.messages.append(msg)
                if predicate(msg):
                    return msg

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake
    fake.close()


def test_abstract_socket_names_and_the_watchdog_period():
    assert socket_address("@sd/notify") == b"\0sd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert watchdog_period({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_period({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_period({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert watchdog_period({}) is None
    assert not Notifier(None).send("READY=1")  # not under systemd: nothing, no error


def test_alive_means_the_loop_ran_lately_and_each_stream_is_up_or_still_trying():
    up = {"market": (True, 0.0), "user": (True, 0.0)}
    assert not_alive(100.0, 99.0, up, loop_limit=45, stream_limit=90) == ""
    assert "quoting loop" in not_alive(100.0, 50.0, up, loop_limit=45, stream_limit=90)
    retrying = {"market": (False, 95.0), "user": (True, 0.0)}
    assert not_alive(100.0, 99.0, retrying, loop_limit=45, stream_limit=90) == ""
    stuck = {"market": (True, 0.0), "user": (False, 5.0)}
    assert "user stream" in not_alive(100.0, 99.0, stuck, loop_limit=45, stream_limit=90)


async def test_ready_then_pings_that_stop_while_the_loop_is_frozen_and_resume_after(sim, systemd):
    settings = OpsSettings(loop_limit=0.5, stream_limit=5.0)
    timings = dataclasses.replace(FAST, status_every=0.2)
    async with (
        Ops(settings, notifier=Notifier(systemd.name), watchdog_every=0.05) as ops,
        BotRun(sim, timings=timings, ops=ops) as bot,
    ):
        ready = await systemd.next(lambda m: "READY=1" in m)
        assert "STATUS=mode=BUY" in ready and bot.state.user_up and bot.state.market_up
        await systemd.next(lambda m: m == "WATCHDOG=1")
        await wait_open(sim, "BUY")
        status = await systemd.next(lambda m: m.startswith("STATUS="))
        assert "order=BUY" in status and "mid=2500.00" in status

        thawed = asyncio.Event()

        async def frozen() -> bool:  # the quoting loop hangs; everything else runs on
            await thawed.wait()
            return False

        bot.step = frozen
        bot.wake()
        async with asyncio.timeout(5):
            while not ops.why_not_alive():
                await asyncio.sleep(0.05)
        systemd.drain()
        await asyncio.sleep(10 * ops.watchdog_every)  # an observation window of ten ping periods
        assert "WATCHDOG=1" not in systemd.drain()

        del bot.step
        thawed.set()
        await systemd.next(lambda m: m == "WATCHDOG=1", timeout=5)


async def test_the_service_notifies_through_an_abstract_socket_named_in_its_environment(sim, bot_env, tmp_path):
    fake = FakeSystemd(f"@aster-mm-test-{os.getpid()}")
    env = {**bot_env, "NOTIFY_SOCKET": fake.name, "WATCHDOG_USEC": "200000"}
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=env, cwd=tmp_path)
    try:
        assert "STATUS=mode=BUY" in await fake.next(lambda m: "READY=1" in m, timeout=15)
        await fake.next(lambda m: m == "WATCHDOG=1")
        await wait_open(sim, "BUY")
        proc.send_signal(signal.SIGTERM)
        stopping = await fake.next(lambda m: "STOPPING=1" in m)
        assert "left open: nothing" in stopping
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        fake.close()
