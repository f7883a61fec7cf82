"""What the benchmark drives: a simulator that timestamps every request and market frame, the bot and
the floor client as subprocesses against it, and a local inbox that receives the bot's alerts.

Every time here is `time.perf_counter()` in the benchmark process: a frame's send time is taken just
before the simulator emits it, a request's arrival when the simulator's aiohttp handler for it is
entered (the simulator's `on_request` observers: after aiohttp parsed the request head, before the body
is read), and its answer when the handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
from aiohttp import web

from aster_mm.simulator import SimExchange

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding aster_mm
SYMBOL = "ETHUSDT"
ORDER = "/fapi/v1/order"
V3_ORDER = "/fapi/v3/order"
MID = Decimal("2500")
TICK = Decimal("0.01")
GAP = 0.02  # idle pause between two measured events, so they never overlap
CLK_TCK = os.sysconf("SC_CLK_TCK")
TELEGRAM_TOKEN = "123456:bench-token"


class TimedSim(SimExchange):
    """SimExchange that stamps each REST request with perf_counter() as its handler is entered."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.arrivals: list[list] = []  # [perf_counter at arrival, method, path, perf_counter when answered]
        self.market_sent = 0.0  # perf_counter when the last market frame was handed to the socket
        self.on_request.append(self._arrived)
        self.on_market_frame.append(self._frame_sent)

    def _arrived(self, method: str, path: str) -> Callable[[], None]:
        entry = [time.perf_counter(), method, path, None]
        self.arrivals.append(entry)

        def answered() -> None:
            entry[3] = time.perf_counter()

        return answered

    def _frame_sent(self) -> None:
        self.market_sent = time.perf_counter()

    def arrival_after(self, t0: float, method: str = "POST", path: str = ORDER) -> list | None:
        """The first `method path` request that arrived at or after t0 (see `arrivals`)."""
        found = None
        for entry in reversed(self.arrivals):
            if entry[0] < t0:
                break
            if entry[1] == method and entry[2] == path:
                found = entry
        return found

    def sent_between(self, t0: float, t1: float) -> list[str]:
        """'METHOD path' of every request that arrived from t0 to t1."""
        return [f"{m} {p}" for at, m, p, _ in self.arrivals if t0 <= at <= t1]


def book(mid: Decimal) -> tuple[list, list]:
    bids = [(mid - TICK * (i + 1), Decimal(5)) for i in range(5)]
    asks = [(mid + TICK * (i + 1), Decimal(5)) for i in range(5)]
    return bids, asks


@contextlib.asynccontextmanager
async def fresh_sim(mid: Decimal | None = MID):
    sim = TimedSim()
    await sim.start()
    try:
        if mid is not None:
            await sim.set_book(SYMBOL, *book(mid))
        yield sim
    finally:
        await sim.stop()


def summarize(values: list[float]) -> dict:
    s = sorted(values)

    def pct(q: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    return {
        "n": len(s),
        "p50": round(pct(0.5), 3),
        "p99": round(pct(0.99), 3),
        "max": round(s[-1], 3),
        "mean": round(statistics.fmean(s), 3),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ alerts inbox
class AlertInbox:
    """A local HTTP server standing in for both a webhook and the Telegram Bot API: it keeps each text."""

    def __init__(self):
        self.texts: list[tuple[str, str]] = []  # (sink, text)
        self.runs = 0  # bots started with alerts to this inbox
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        sink = "telegram" if request.path.endswith("/sendMessage") else "webhook"
        self.texts.append((sink, (await request.json()).get("text", "")))
        return web.json_response({"ok": True})

    async def __aenter__(self) -> AlertInbox:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._hook)
        self._runner = runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, sink: str, containing: str = "") -> int:
        return sum(1 for s, text in self.texts if s == sink and containing in text)


async def scrape(port: int, name: str) -> float | None:
    """The value of one sample (`name` with no labels) from the bot's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


# ------------------------------------------------------------------------------------ processes
def proc_sample(pid: int) -> tuple[float, float, float]:
    """(RSS MB, peak RSS MB, CPU seconds user+system) of a live process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (
        int(status["VmRSS"].split()[0]) / 1024,
        int(status["VmHWM"].split()[0]) / 1024,
        (int(stat[11]) + int(stat[12])) / CLK_TCK,
    )


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def credentials(sim: TimedSim, v3: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTER_", "TELEGRAM_"))}
    if v3:
        env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    else:
        env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret)
    return env | {"ASTER_REST_URL": sim.rest_url, "ASTER_WS_URL": sim.ws_url}


@contextlib.asynccontextmanager
async def running(sim: TimedSim, workdir: Path, name: str, args: list[str], env: dict, timeout: float):
    """Start `python args...` in `workdir` (no .env there), yield the process once an order rests on
    `sim`, stop it with SIGTERM."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "stdout.log", "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=workdir, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
        try:
            await sim.wait_for(lambda: sim.open_orders(SYMBOL) or proc.returncode is not None, timeout)
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}")
            yield proc
        except BaseException:
            tail = (workdir / "stdout.log").read_text(errors="replace").splitlines()[-15:]
            print(f"bench: {name} in {workdir} failed; last output:\n  " + "\n  ".join(tail), file=sys.stderr)
            raise
        finally:
            await stop_process(proc)


class Bot:
    """A running bot process and where its metrics are served."""

    def __init__(self, proc: asyncio.subprocess.Process, metrics_port: int, ledger: Path):
        self.proc, self.metrics_port, self.ledger = proc, metrics_port, ledger


@contextlib.asynccontextmanager
async def running_bot(
    sim: TimedSim,
    workdir: Path,
    log_level: str,
    inbox: AlertInbox,
    timeout: float = 20.0,
    v3: bool = False,
    modify: bool = True,
):
    """market_maker.py against `sim` (V1 credentials, or V3 with `v3`; `--no-modify` unless `modify`) with
    everything an unattended run has on: metrics on a free port, the ledger in `workdir`, alerts to `inbox`
    as webhook and Telegram."""
    port, ledger = free_port(), workdir / "ledger.csv"
    env = credentials(sim, v3) | {
        "PYTHONPATH": str(PACKAGE_ROOT),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_CHAT_ID": "42",
        "TELEGRAM_API_URL": inbox.url,
    }
    args = [
        "-m",
        "aster_mm",
        "--symbol",
        SYMBOL,
        "--log-file",
        str(workdir / "mm.log"),
        "--log-level",
        log_level,
        "--metrics-port",
        str(port),
        "--ledger",
        str(ledger),
        "--alert-webhook",
        f"{inbox.url}/hook",
        *("--spread-model", "fixed"),  # the card's requote on a moving mid, as the floor client quotes
        *([] if modify else ["--no-modify"]),
    ]
    inbox.runs += 1
    async with running(sim, workdir, "bot", args, env, timeout) as proc:
        yield Bot(proc, port, ledger)


@contextlib.asynccontextmanager
async def running_floor(sim: TimedSim, workdir: Path, timeout: float = 20.0, v3: bool = False, modify: bool = True):
    """The bare client of `aster_mm.bench.floor` against `sim`."""
    args = ["-m", "aster_mm.bench.floor", "--symbol", SYMBOL, *([] if modify else ["--no-modify"])]
    env = credentials(sim, v3) | {"PYTHONPATH": str(PACKAGE_ROOT)}
    async with running(sim, workdir, "floor", args, env, timeout) as proc:
        yield proc
