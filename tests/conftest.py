"""Shared fixtures: a simulator on 127.0.0.1 and the real bot running against it.

The `sim` fixture runs every test that uses it twice, once per credential scheme ("v1": API key and
HMAC on /fapi/v1 paths; "v3": Pro API agent wallet and EIP-712 on /fapi/v3 paths), and records the
scheme on the simulator (`sim.scheme`); `BotRun` and `bot_env` give the bot that scheme's credentials.
The simulator answers a V1 path asked of it (requests, fail_next) for the V3 path of the same endpoint.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aster_mm.core.config import Config, Timings  # noqa: E402
from aster_mm.core.kinds import Side  # noqa: E402
from aster_mm.exchange.client import AsterClient  # noqa: E402
from aster_mm.exchange.signing import Eip712Signer, HmacSigner  # noqa: E402
from aster_mm.live.bot import MarketMaker  # noqa: E402
from aster_mm.ops.unattended import Ops  # noqa: E402
from aster_mm.simulator import SimExchange  # noqa: E402

SYMBOL = "ETHUSDT"
T0 = 1_700_000_000_000  # exchange milliseconds
CID = "amm-run1-1"
DATA_DIR = ROOT.parent / "shared" / "data" / "aster-2025-09-29"

# Every wait short, so faults play out in milliseconds rather than the production seconds.
FAST = Timings(
    stale_after=1.5,
    status_every=60,
    keepalive_every=600,
    sweep_every=600,
    heartbeat_every=600,
    reconnect_first=0.05,
    reconnect_max=0.3,
    stable_after=0.5,
    unknown_grace=0.5,
    requery_every=0.05,
    shutdown_timeout=3.0,
    idle_wake=0.1,
    income_lag=0.3,
)


def levels(mid: Decimal, half_spread: Decimal = Decimal("0.01"), tick: Decimal = Decimal("0.01"), n: int = 5):
    """A book `n` levels deep around `mid`."""
    bids = [(mid - half_spread - i * tick, Decimal("5")) for i in range(n)]
    asks = [(mid + half_spread + i * tick, Decimal("5")) for i in range(n)]
    return bids, asks


async def set_mid(sim: SimExchange, mid: str | Decimal, symbol: str = SYMBOL) -> None:
    bids, asks = levels(Decimal(mid))
    await sim.set_book(symbol, bids=bids, asks=asks)


class RecordedOps(Ops):
    """Ops that keeps what an operator is told: the alerts, and the 'left open: …' line the bot ends with."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []
        self.told: list[str] = []

    def stopped(self, text: str) -> None:
        self.lines.append(text)
        super().stopped(text)

    def alert(self, text: str) -> None:
        self.told.append(text)
        super().alert(text)


def open_orders(sim: SimExchange) -> list[dict]:
    return sim.open_orders(SYMBOL)


async def wait_open(sim: SimExchange, side: str, timeout: float = 5.0) -> dict:
    """Wait until our one open order is on `side`, and return it."""
    await sim.wait_for(lambda: any(o["side"] == side for o in open_orders(sim)), timeout)
    [order] = open_orders(sim)
    return order


def assert_invariants(sim: SimExchange, bot) -> None:
    assert sim.peak_open_orders.get(SYMBOL, 0) <= 1, "two orders were open at once"
    assert bot.state.position.amount == sim.position(SYMBOL), "position drift"


def order_posts(sim: SimExchange) -> list[dict]:
    """The parameters of every placement the exchange received."""
    return [r["params"] for r in sim.requests("POST", "/fapi/v1/order")]


# AMM_TEST_SCHEMES=v1 runs them on one scheme only (scripts/mutation.py does, for time).
@pytest.fixture(params=os.environ.get("AMM_TEST_SCHEMES", "v1,v3").split(","))
def scheme(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Backtest conversions are cached under $XDG_CACHE_HOME: each test gets its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
async def sim(scheme):
    async with SimExchange() as exchange:
        exchange.scheme = scheme
        await set_mid(exchange, "2500")
        yield exchange


def signer_for(sim: SimExchange):
    if getattr(sim, "scheme", "v1") == "v3":
        return Eip712Signer(sim.v3_user, sim.v3_signer, sim.v3_signer_key)
    return HmacSigner(sim.api_key, sim.api_secret)


def secrets_of(sim: SimExchange) -> list[bytes]:
    """Every secret the bot may hold for this simulator, as it could appear in output."""
    key = sim.v3_signer_key.removeprefix("0x")
    return [s.encode() for s in (sim.api_key, sim.api_secret, key, key.upper())]


class BotRun:
    """The real MarketMaker, in this process, against the simulator over real sockets."""

    def __init__(self, sim: SimExchange, timings: Timings = FAST, **config):
        self.sim = sim
        self.client = AsterClient(signer=signer_for(sim), rest_url=sim.rest_url, timeout=2.0)
        if "ledger" not in config:  # never a ledger in the working directory
            config["ledger"] = str(Path(tempfile.mkdtemp(prefix="amm-ledger-")) / "ledger.csv")
        ops = config.pop("ops", None)
        self.bot = MarketMaker(
            Config(symbol=config.pop("symbol", SYMBOL), **config), self.client, sim.ws_url, timings=timings, ops=ops
        )
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> MarketMaker:
        self.task = asyncio.create_task(self.bot.run())
        return self.bot

    async def stop(self) -> None:
        """Stop the bot the way a signal does; a crash of the bot fails the test here."""
        try:
            if self.task is not None:
                self.bot.stop.set()
                await asyncio.wait_for(self.task, 10)
        finally:
            await self.client.close()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


@pytest.fixture
def bot_env(sim, tmp_path):
    """Environment for the bot as a subprocess: the simulator's URLs and keys, no inherited secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    if sim.scheme == "v3":
        env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    else:
        env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret)
    env.update(ASTER_REST_URL=sim.rest_url, ASTER_WS_URL=sim.ws_url, PYTHONUNBUFFERED="1")
    return env


async def run_cli(*args: str, env: dict, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def order_update(
    x,
    X,
    *,
    c=CID,
    S=Side.BUY,
    q="0.010",
    p="2490.00",
    l="0",  # noqa: E741 (l: the payload's own field name)
    z="0",
    L="0",
    t=0,
    i=8886774,
    E=T0,
    T=None,
    s=SYMBOL,
    R=False,
) -> dict:
    T = E - 1 if T is None else T
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": E,
        "T": T,
        "o": {
            "s": s,  # symbol
            "c": c,  # client order id
            "S": S,  # side
            "o": "LIMIT",  # order type
            "f": "GTX",  # time in force
            "q": q,  # original quantity
            "p": p,  # price
            "ap": L if z != "0" else "0",  # average price
            "x": x,  # execution type of this event
            "X": X,  # order status
            "i": i,  # order id
            "l": l,  # last filled quantity
            "z": z,  # cumulative filled quantity
            "L": L,  # last fill price
            "n": "0.00049800" if x == "TRADE" else "0",  # commission
            "N": "USDT",  # commission asset
            "T": T,  # trade time
            "t": t,  # trade id
            "m": True,  # maker
            "R": R,  # reduce only
            "ps": "BOTH",  # position side
            "rp": "0",  # realized profit
        },
    }
