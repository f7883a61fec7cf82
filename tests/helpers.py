"""What the test files share, in one place: the real bot against the simulator (BotRun, in this process; run_cli
and run, as a subprocess), waits on what the exchange shows, a scripted exchange for unit tests of the bot
(FakeClient, make_bot, FakeClock, order_update), plain clients of the simulator's wire API (V3: agent and
send; V1: Client and recv), the docs' demo keys, and the hand-made markets of the backtester's tests.
Fixtures and hooks are in conftest.py; tests/simclient.py is the simulator's documented example client."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import yarl

from aster_mm.core.config import Config, Timings
from aster_mm.core.kinds import Side, SpreadModel
from aster_mm.core.quoting import QuotePolicy
from aster_mm.core.rules import SymbolRules
from aster_mm.core.signals import SignalWeights
from aster_mm.core.state import Book
from aster_mm.exchange.client import AsterClient
from aster_mm.exchange.pacing import RateGate
from aster_mm.exchange.signing import Eip712Signer, HmacSigner
from aster_mm.live.bot import MarketMaker
from aster_mm.ops.unattended import Ops
from aster_mm.settings.signal import POLICY_OPTIONS, WEIGHT_OPTIONS
from aster_mm.simulator import SimExchange

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data" / "aster-2025-09-29"
SYMBOL = "ETHUSDT"
T0 = 1_700_000_000_000  # exchange milliseconds
CID = "amm-run1-1"
ORDER = "/fapi/v1/order"
ORDER_PATH = ORDER  # a V1 path also matches its V3 twin
NO_HOST = "aster-mm-test.invalid"  # RFC 6761: .invalid never resolves
PLAIN = {k: v for k, v in os.environ.items() if not k.startswith(("ASTER_", "TELEGRAM_", "NOTIFY_"))}  # no keys
BASE = "https://fapi.test"  # the REST host the client's unit tests mock (aioresponses)
NOW = 1_700_000_000.0  # seconds; the clock those tests inject starts here

# The docs' demonstration agent (V3 doc, "Example of POST /fapi/v3/order": "for demonstration
# purposes only (the privateKey corresponds to the signer)"): a public test key, never a real one.
DEMO_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
DEMO_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
DEMO_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"

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


# ============================================================================ the simulator's book and orders
def levels(mid: Decimal, half_spread: Decimal = Decimal("0.01"), tick: Decimal = Decimal("0.01"), n: int = 5):
    """A book `n` levels deep around `mid`."""
    bids = [(mid - half_spread - i * tick, Decimal("5")) for i in range(n)]
    asks = [(mid + half_spread + i * tick, Decimal("5")) for i in range(n)]
    return bids, asks


async def set_mid(sim: SimExchange, mid: str | Decimal, symbol: str = SYMBOL) -> None:
    bids, asks = levels(Decimal(mid))
    await sim.set_book(symbol, bids=bids, asks=asks)


def open_orders(sim: SimExchange) -> list[dict]:
    return sim.open_orders(SYMBOL)


async def wait_open(sim: SimExchange, side: str, timeout: float = 5.0) -> dict:
    """Wait until our one open order is on `side`, and return it."""
    await sim.wait_for(lambda: any(o["side"] == side for o in open_orders(sim)), timeout)
    [order] = open_orders(sim)
    return order


async def wait_none_open(sim: SimExchange, timeout: float = 5.0) -> None:
    await sim.wait_for(lambda: not open_orders(sim), timeout)


def order_posts(sim: SimExchange) -> list[dict]:
    """The parameters of every placement the exchange received."""
    return [r["params"] for r in sim.requests("POST", "/fapi/v1/order")]


def refusals(sim: SimExchange, code: int) -> list[dict]:
    return [r for r in sim.order_requests() if isinstance(r["response"], dict) and r["response"].get("code") == code]


def assert_invariants(sim: SimExchange, bot) -> None:
    assert sim.peak_open_orders.get(SYMBOL, 0) <= 1, "two orders were open at once"
    assert bot.state.position.amount == sim.position(SYMBOL), "position drift"


# ============================================================================ the real bot
def signer_for(sim: SimExchange):
    if getattr(sim, "scheme", "v1") == "v3":
        return Eip712Signer(sim.v3_user, sim.v3_signer, sim.v3_signer_key)
    return HmacSigner(sim.api_key, sim.api_secret)


def secrets_of(sim: SimExchange) -> list[bytes]:
    """Every secret the bot may hold for this simulator, as it could appear in output."""
    key = sim.v3_signer_key.removeprefix("0x")
    return [s.encode() for s in (sim.api_key, sim.api_secret, key, key.upper())]


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


class BotRun:
    """The real MarketMaker, in this process, against the simulator over real sockets."""

    def __init__(self, sim: SimExchange, timings: Timings = FAST, **config):
        self.sim = sim
        self.client = AsterClient(signer=signer_for(sim), rest_url=sim.rest_url, timeout=2.0)
        if "ledger" not in config:  # never a ledger in the working directory
            config["ledger"] = str(Path(tempfile.mkdtemp(prefix="amm-ledger-")) / "ledger.csv")
        ops = config.pop("ops", None)
        # the card's mechanics are tested on the fixed model, whose prices a test can compute from the mid
        config.setdefault("spread_model", SpreadModel.FIXED)
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


async def wait_seen(bot, predicate, timeout: float = 5.0) -> None:
    """Wait on the bot's own state (the simulator does not see it)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


FIXED_MODEL = ("--spread-model", "fixed")
# The signal model's settings before the optimiser chose its defaults (the research's): the tests of the model's
# mechanics price with these, so they do not move when the defaults are chosen again
RESEARCH_WEIGHTS = SignalWeights(imb1=0.130, imb5=0.148, imb10=0.123, micro=0.0, ret5=0.193, ret30=0.039, flow=0.0)
RESEARCH_POLICY = QuotePolicy(
    fair_weight=4.0, guard_sigma=0.4, improve_ticks=1, open_depth_ticks=0, close_offset_sigma=2.0, target_bp=-2.0,
    decay_after=15.0, decay_bp_per_min=10.0, floor_bp=-20.0, skew_bp_per_lot=0.0, requote_ticks=20, requote_bp=0.0,
)  # fmt: skip
# the same as options, read from the parser's own tables, with no stop-loss (the research's was given as a flag)
RESEARCH_FLAGS = [
    *(x for flag, name, _ in WEIGHT_OPTIONS for x in (flag, repr(getattr(RESEARCH_WEIGHTS, name)))),
    *(x for flag, name, _, _ in POLICY_OPTIONS for x in (flag, repr(getattr(RESEARCH_POLICY, name)))),
    *("--stop-loss", "0"),
]


def card(args: tuple[str, ...] | list[str]) -> list[str]:
    """The bot's arguments on the fixed model unless they name a model (or a --config file that may): the
    tests of the card's mechanics (place, fill, flip, requote, cancel) compute its prices from the mid; the
    default signal model, which opens only when the book predicts a move, has tests of its own."""
    chosen = {"--spread-model", "--config"} & {a.split("=")[0] for a in args}
    return [*args] if chosen or "--symbol" not in args else [*args, *FIXED_MODEL]


async def run_cli(*args: str, env: dict, cwd: Path) -> asyncio.subprocess.Process:
    """market_maker.py started as a subprocess (on the fixed model: `card`), its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        *card(args),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def run(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """market_maker.py run to its end as a user runs it (on the fixed model: `card`), without the caller's
    credentials; what it printed."""
    return subprocess.run(
        [sys.executable, str(ROOT / "market_maker.py"), *card(args)],
        cwd=cwd,
        env={**PLAIN, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ============================================================================ unit tests of the bot
class FakeClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeClient:
    """A scripted exchange: records every call, keeps a list of open orders, counts the peak."""

    time_offset_ms = 0
    used_weight_1m = None
    key_hint = "fake…00"
    can_modify = False  # a V1 client

    def __init__(self, open_orders=(), position="0", update_time=0):
        self.limits = RateGate()  # never limited here
        self.open = [dict(o) for o in open_orders]
        self.calls: list[tuple] = []
        self.peak_open = len(self.open)
        self.position_amt, self.update_time = position, update_time

    def blocked_for(self) -> float:
        return 0.0

    def banned_for(self) -> float:
        return 0.0

    def order_wait(self, counts_order: bool = True) -> float:
        return 0.0

    async def position_rows(self, symbol):
        self.calls.append(("position",))
        return [
            {"symbol": symbol, "positionAmt": self.position_amt, "updateTime": self.update_time, "positionSide": "BOTH"}
        ]

    async def wallet_balances(self):
        self.calls.append(("balance",))
        return {"USDT": Decimal(10000), "USDF": Decimal(0)}

    async def open_orders(self, symbol):
        self.calls.append(("open_orders",))
        return [dict(o) for o in self.open]

    async def query_order(self, symbol, *, client_order_id=None):
        self.calls.append(("query", client_order_id))
        return next((dict(o) for o in self.open if o["clientOrderId"] == client_order_id), None)

    async def cancel_order(self, symbol, *, client_order_id=None):
        self.calls.append(("cancel", client_order_id))
        found = next((o for o in self.open if o["clientOrderId"] == client_order_id), None)
        if found is None:
            return None
        self.open.remove(found)
        return {**found, "status": "CANCELED"}

    async def place_limit(
        self, symbol, side, quantity, price, client_order_id, *, reduce_only=False, time_in_force="GTX"
    ):
        self.calls.append(("place", client_order_id))
        order = {
            "clientOrderId": client_order_id,
            "orderId": 1000 + len(self.calls),
            "status": "NEW",
            "executedQty": "0",
            "side": side,
            "origQty": str(quantity),
            "price": str(price),
        }
        self.open.append(order)
        self.peak_open = max(self.peak_open, len(self.open))
        return dict(order)


class RecordingClient(FakeClient):
    """FakeClient that also records the symbol of every query and can fail a cancel."""

    def __init__(self, *args, fail_cancel: Exception | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_cancel = fail_cancel
        self.queried: list[tuple[str, str | None]] = []

    async def query_order(self, symbol, *, client_order_id=None):
        self.queried.append((symbol, client_order_id))
        return await super().query_order(symbol, client_order_id=client_order_id)

    async def cancel_order(self, symbol, *, client_order_id=None):
        if self.fail_cancel is not None:
            raise self.fail_cancel
        return await super().cancel_order(symbol, client_order_id=client_order_id)


def make_bot(client, clock) -> MarketMaker:
    """A MarketMaker on `client` and `clock`, past its start: streams up, rules, wallet and book known."""
    bot = MarketMaker(Config(symbol=SYMBOL, spread_model=SpreadModel.FIXED), client, ws_url="ws://x", now=clock)
    bot.rules = SymbolRules(SYMBOL, "TRADING", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal(5))
    st = bot.state
    st.user_up = st.market_up = True
    st.need_reconcile = False
    st.balances = {"USDT": Decimal(10000), "USDF": Decimal(0)}
    st.available = Decimal(10000)
    st.book = Book(Decimal("2499.99"), Decimal("2500.01"), clock(), ("2499.99", "2500.01"))
    return bot


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
    """An ORDER_TRADE_UPDATE of the user stream, as the exchange sends it."""
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


# ============================================================================ the simulator's wire API, without the bot
def agent(sim: SimExchange, key: str | None = None, address: str | None = None, **kw) -> Eip712Signer:
    """A V3 signer: the simulator's own agent, or the wallet `key` (address `address`) as an agent of its user."""
    if key is None:
        return Eip712Signer(sim.v3_user, sim.v3_signer, sim.v3_signer_key, **kw)
    return Eip712Signer(sim.v3_user, address, key, **kw)


async def send(sim: SimExchange, method: str, path: str, payload: str) -> tuple[int, dict]:
    """A request with `payload` sent exactly as given (the query of a GET, else the form body), on `sim.session`."""
    url = sim.rest_url + path
    kwargs = {}
    if method == "GET":
        url = yarl.URL(f"{url}?{payload}", encoded=True)
    else:
        kwargs = {"data": payload.encode(), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    async with sim.session.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


KEY, SECRET = "simkey", "simsecret"


def signed_query(params: dict, secret: str = SECRET) -> str:
    query = urlencode(params)
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


class Client:
    """Minimal V1 signing client of the simulator, independent of the project's api_client."""

    def __init__(self, sim: SimExchange, session: aiohttp.ClientSession):
        self.sim, self.session = sim, session

    async def call(
        self, method, path, params=None, signed=True, key=KEY, secret=SECRET, in_body=False, timestamp=None, timeout=5.0
    ):
        params = dict(params or {})
        if signed:
            params["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
        raw = signed_query(params, secret) if signed else urlencode(params)
        url = self.sim.rest_url + path
        kwargs = {"headers": {"X-MBX-APIKEY": key}, "timeout": aiohttp.ClientTimeout(total=timeout)}
        if in_body:
            kwargs["data"], kwargs["headers"]["Content-Type"] = raw, "application/x-www-form-urlencoded"
        elif raw:
            url += "?" + raw
        # encoded=True: send the query exactly as signed (yarl would otherwise re-quote it)
        async with self.session.request(method, yarl.URL(url, encoded=True), **kwargs) as resp:
            return resp.status, await resp.json(), resp.headers

    async def order(self, symbol="ETHUSDT", side="BUY", price="2490.00", qty="0.010", tif="GTX", **extra):
        """A LIMIT order answered after matching (RESULT; the exchange's default is ACK)."""
        params = {
            "symbol": symbol,
            "side": side,
            "type": "LIMIT",
            "timeInForce": tif,
            "quantity": qty,
            "price": price,
            "newOrderRespType": "RESULT",
            **extra,
        }
        return await self.call("POST", "/fapi/v1/order", params)

    async def user_ws(self):
        _, body, _ = await self.call("POST", "/fapi/v1/listenKey", signed=False)
        before = self.sim.user_stream_connections
        ws = await self.session.ws_connect(f"{self.sim.ws_url}/ws/{body['listenKey']}")
        await self.sim.wait_for(lambda: self.sim.user_stream_connections > before)
        return ws


async def recv(ws, predicate=lambda m: True, timeout=2.0):
    """Next JSON message matching predicate (others are skipped)."""

    async def loop():
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return msg
            data = msg.json()
            if predicate(data):
                return data

    return await asyncio.wait_for(loop(), timeout)


# ============================================================================ the ledger
HAND_WRITTEN = """time_utc,time_ms,kind,symbol,source,trade_id,tran_id,order_id,client_id,side,price,qty,maker,commission,commission_asset,realized_pnl,funding,asset
2025-09-28 23:59:59.000,1759103999000,fill,ETHUSDT,stream,11,,7,amm-a-1,BUY,4000,0.5,true,0.2,USDT,0,,
2025-09-29 00:00:00.000,1759104000000,funding,ETHUSDT,stream,,,,,,,,,,,,-0.1,USDT
2025-09-29 08:00:00.000,1759132800000,fill,ETHUSDT,stream,12,,8,amm-a-2,SELL,4010,0.5,true,0.2005,USDT,5,,
2025-09-29 09:00:00.000,1759136400000,fill,ETHUSDT,income,13,,,,,,,,0.1,USDT,1,,
2025-09-29 09:30:00.000,1759138200000,reward,ETHUSDT,income,,555,,,,,,,-0.25,USDT,,,
2025-09-29 10:00:00.000,1759140000000,sync,ETHUSDT,income,,,,,,,,,,,,,
2025-09-29 10:00:01.000,1759140001000,start,ETHUSDT,run,,,,amm-b,,,,,,,,,
"""  # noqa: E501 (a ledger file written out whole)


# ============================================================================ the backtester's hand-made markets
MARKET_T0 = 1_759_175_600  # seconds: where write_market's times start
NS = 1_000_000_000
BOOK_HEADER = ",".join(
    [
        "unix_timestamp",
        "lastUpdateId",
        *(f"{s}_{w}_{i}" for s in ("bid", "ask") for i in (0, 1) for w in ("price", "qty")),
    ]
)
BOOK = ("100.0", "5", "99.9", "5", "100.2", "5", "100.3", "5")
DOWN = ("99.0", "5", "98.9", "5", "99.2", "5", "99.3", "5")  # mid 99.1
UP = ("100.4", "5", "100.3", "5", "100.6", "5", "100.7", "5")


def write_market(
    tmp_path: Path,
    books: list[tuple[float, tuple]],
    trades: list[tuple[float, str, str, str]],
    symbol: str = "TESTUSDT",
) -> Path:
    """books: (seconds after MARKET_T0, (bid0, bq0, bid1, bq1, ask0, aq0, ask1, aq1)); trades: (s, side, price, qty)."""
    lines = [BOOK_HEADER] + [f"{MARKET_T0 + dt},{i},{','.join(levels)}" for i, (dt, levels) in enumerate(books)]
    (tmp_path / f"orderbook_{symbol}.csv").write_text("\n".join(lines) + "\n")
    lines = ["id,unix_timestamp_ms,side,price,quantity"]
    lines += [f"{i},{int((MARKET_T0 + dt) * 1000)},{side},{px},{qty}" for i, (dt, side, px, qty) in enumerate(trades)]
    (tmp_path / f"trades_{symbol}.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def load(data_dir: Path, feed_ms: int = 50, symbol: str = "TESTUSDT"):
    """The market of `data_dir` as the backtester converts it (needs the backtest extra)."""
    from aster_mm.backtest import convert

    return convert.load(*convert.data_files(data_dir, symbol), feed_ms * 1_000_000)


def a_market(folder: Path) -> Path:
    """Ten minutes of a book stepping between three levels every 2 s, trades through both sides."""
    folder.mkdir(parents=True, exist_ok=True)
    books = [(2.0 * i, (BOOK, UP, DOWN)[i % 3]) for i in range(300)]
    trades = [(2.0 * i + 1, "sell" if i % 2 else "buy", "98.5" if i % 2 else "100.8", "50") for i in range(300)]
    return write_market(folder, books, trades)
