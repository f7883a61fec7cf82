"""record.py against the simulator's public streams over real sockets: CSV content, gaps, rotation,
replay of a recording, and the CLI."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import math
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers import DATA_DIR, FIXED_MODEL, NO_HOST, PLAIN, ROOT, SYMBOL, free_port

from aster_mm.recording.market_csv import HEADERS, DayFiles, WriteError, utc_day
from aster_mm.recording.reading import complete_bytes
from aster_mm.recording.recorder import Recorder, parse_frame
from aster_mm.simulator import ReplayMarket, SimExchange, SyntheticMarket

BIDS = [(D("2500.00") - i * D("0.01"), D("1.5") + i) for i in range(10)]
ASKS = [(D("2500.01") + i * D("0.01"), D("2.25") + i) for i in range(10)]


@pytest.fixture
async def exchange():
    async with SimExchange() as sim:  # an empty book: no snapshot on connect unless a test sets one
        yield sim


class Recording:
    """A Recorder running in this process against the simulator, stopped (and checked) on exit."""

    def __init__(self, sim: SimExchange, out: Path, **kwargs):
        self.sim = sim
        self.recorder = Recorder(SYMBOL, out, sim.ws_url, reconnect_first=0.05, reconnect_max=0.2, **kwargs)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Recorder:
        self.task = asyncio.create_task(self.recorder.run())
        await self.recorder.wait_for(lambda: self.recorder.connections >= 1)
        return self.recorder

    async def __aexit__(self, *exc) -> None:
        self.recorder.stop()
        await asyncio.wait_for(self.task, 5)  # a crash of the recorder fails the test here


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


async def eventually(predicate, timeout: float = 5.0):
    """Poll a condition on the file system (which has no event to wait on) until it holds."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.01)
    return result


def day_dir(out: Path) -> Path:
    [day] = [p for p in out.iterdir() if p.is_dir()]
    return day


# ------------------------------------------------------------------------------ content
async def test_book_frames_and_trades_land_in_csvs_with_reference_columns(exchange, tmp_path):
    async with Recording(exchange, tmp_path, flush_every=0.02) as rec:
        await exchange.set_book(SYMBOL, BIDS, ASKS)
        await exchange.trade(SYMBOL, "BUY", "2500.01", "0.5")
        await exchange.trade(SYMBOL, "SELL", "2500.00", "0.25")
        await rec.wait_for(lambda: rec.books == 1 and rec.trades == 2)
        day = day_dir(tmp_path)
        # flushed while still running: a kill now would lose nothing of this
        await eventually(lambda: len(rows(day / f"trades_{SYMBOL}.csv")) == 2)

    for kind in ("orderbook", "trades", "prices"):
        if not DATA_DIR.is_dir():  # the shared recordings' columns, when they are beside the checkout
            continue
        reference = header(DATA_DIR / f"{kind}_BNBUSDT.csv")
        assert header(day / f"{kind}_{SYMBOL}.csv")[: len(reference)] == reference
    [book] = rows(day / f"orderbook_{SYMBOL}.csv")
    assert [(D(book[f"bid_price_{i}"]), D(book[f"bid_qty_{i}"])) for i in range(10)] == BIDS
    assert [(D(book[f"ask_price_{i}"]), D(book[f"ask_qty_{i}"])) for i in range(10)] == ASKS
    assert book["gap"] == "0" and int(book["lastUpdateId"]) > 0 and int(book["event_time_ms"]) > 0
    assert day.name == utc_day(float(book["unix_timestamp"]))
    trades = rows(day / f"trades_{SYMBOL}.csv")
    assert [(t["side"], D(t["price"]), D(t["quantity"]), t["gap"]) for t in trades] == [
        ("buy", D("2500.01"), D("0.5"), "0"),
        ("sell", D("2500.00"), D("0.25"), "0"),
    ]
    assert int(trades[1]["id"]) == int(trades[0]["id"]) + 1
    [price] = rows(day / f"prices_{SYMBOL}.csv")
    assert (D(price["bid"]), D(price["ask"]), D(price["mid"])) == (D("2500.00"), D("2500.01"), D("2500.005"))


def test_malformed_and_foreign_frames():
    assert parse_frame('{"result": null, "id": 1}', 1.0) is None
    for bad in (
        "not json",
        '{"e": "aggTrade", "a": 1}',
        '{"data": {"e": "depthUpdate", "u": "x"}}',
        '{"e": "aggTrade", "a": 1, "T": 2, "E": 2, "p": "1", "q": "1", "m": "false"}',
    ):
        with pytest.raises(ValueError):
            parse_frame(bad, 1.0)


# ------------------------------------------------------------------------------ faults
async def test_dropped_stream_reconnects_marks_the_gap_and_resumes(exchange, tmp_path):
    async with Recording(exchange, tmp_path) as rec:
        await exchange.set_book(SYMBOL, BIDS, ASKS)
        await exchange.trade(SYMBOL, "BUY", "2500.01", "1")
        await rec.wait_for(lambda: rec.books == 1 and rec.trades == 1)

        exchange.refuse_streams("market")  # the first reconnection attempts fail too
        await exchange.drop_streams("market")
        await exchange.trade(SYMBOL, "SELL", "2500.00", "2")  # missed: nobody is connected
        exchange.refuse_streams("market", False)
        await rec.wait_for(lambda: rec.connections == 2)  # the snapshot of the book comes with it
        await exchange.trade(SYMBOL, "SELL", "2499.99", "3")
        await exchange.trade(SYMBOL, "BUY", "2500.01", "4")
        await rec.wait_for(lambda: rec.books == 2 and rec.trades == 3)
        assert rec.gaps == 1

    day = day_dir(tmp_path)
    assert [r["gap"] for r in rows(day / f"orderbook_{SYMBOL}.csv")] == ["0", "1"]
    assert [r["gap"] for r in rows(day / f"prices_{SYMBOL}.csv")] == ["0", "1"]
    trades = rows(day / f"trades_{SYMBOL}.csv")
    assert [(D(t["quantity"]), t["gap"]) for t in trades] == [(1, "0"), (3, "1"), (4, "0")]
    assert int(trades[1]["id"]) == int(trades[0]["id"]) + 2  # the id jump shows the missed trade
    assert len(ReplayMarket(day, SYMBOL, levels=10).events()) == 5  # the gap column does not disturb replay


async def test_rotation_at_a_utc_day_boundary_and_appending_after_a_restart(exchange, tmp_path):
    midnight = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    now = [midnight - 0.25]
    async with Recording(exchange, tmp_path, clock=lambda: now[0]) as rec:
        await exchange.set_book(SYMBOL, BIDS, ASKS)
        await rec.wait_for(lambda: rec.books == 1)
        now[0] = midnight + 0.1
        await exchange.trade(SYMBOL, "BUY", "2500.01", "1")
        await exchange.set_book(SYMBOL, BIDS[1:], ASKS)
        await rec.wait_for(lambda: rec.books == 2 and rec.trades == 1)
    day1, day2 = tmp_path / "2026-11-22", tmp_path / "2026-11-23"
    assert sorted(p.name for p in tmp_path.iterdir()) == [day1.name, day2.name]
    assert len(rows(day1 / f"orderbook_{SYMBOL}.csv")) == 1 and rows(day1 / f"trades_{SYMBOL}.csv") == []
    assert [r["gap"] for r in rows(day2 / f"orderbook_{SYMBOL}.csv")] == ["0"]  # continuous across days
    assert [r["gap"] for r in rows(day2 / f"trades_{SYMBOL}.csv")] == ["0"]
    assert len(ReplayMarket(day2, SYMBOL, levels=10).events()) == 2  # each day replays on its own

    async with Recording(exchange, tmp_path, clock=lambda: now[0]) as rec:  # a second run, same day
        await rec.wait_for(lambda: rec.books == 1)  # the snapshot on connect
    assert [r["gap"] for r in rows(day2 / f"orderbook_{SYMBOL}.csv")] == ["0", "1"]
    assert header(day2 / f"orderbook_{SYMBOL}.csv") == HEADERS["orderbook"]  # no second header


def test_refuses_to_append_to_a_file_with_other_columns(tmp_path):
    day = tmp_path / "2026-11-23"
    day.mkdir()
    (day / f"trades_{SYMBOL}.csv").write_text("id,unix_timestamp_ms,side,price,quantity\n1,2,buy,3,4\n")
    files = DayFiles(tmp_path, SYMBOL)
    with pytest.raises(Exception, match="other columns"):
        files.write(
            "trades",
            ["5", "6", "buy", "7", "8", "9", "10.0"],
            datetime(2026, 11, 23, 1, tzinfo=UTC).timestamp(),
        )
    files.close()


# ------------------------------------------------------------------------------ gzip
def gz_rows(path: Path) -> list[dict]:
    """The complete rows of a (maybe still open, maybe cut short) .csv.gz file."""
    return list(csv.DictReader(io.StringIO(complete_bytes(path).decode())))


async def test_gzip_recording_reads_back_while_running_after_a_kill_and_after_a_restart(exchange, tmp_path):
    async with Recording(exchange, tmp_path, flush_every=0.02, compress=True) as rec:
        await exchange.set_book(SYMBOL, BIDS, ASKS)
        await exchange.trade(SYMBOL, "BUY", "2500.01", "0.5")
        await exchange.trade(SYMBOL, "SELL", "2500.00", "0.25")
        await rec.wait_for(lambda: rec.books == 1 and rec.trades == 2)
        day = day_dir(tmp_path)
        trades_gz = day / f"trades_{SYMBOL}.csv.gz"
        # flushed while the gzip member is still open: a kill now leaves exactly these bytes
        await eventually(lambda: len(gz_rows(trades_gz)) == 2)
        killed = tmp_path / "killed.csv.gz"
        killed.write_bytes(trades_gz.read_bytes())
    assert [(t["side"], D(t["quantity"])) for t in gz_rows(killed)] == [("buy", D("0.5")), ("sell", D("0.25"))]
    assert sorted(p.name for p in day.iterdir()) == [f"{k}_{SYMBOL}.csv.gz" for k in ("orderbook", "prices", "trades")]
    [book] = gz_rows(day / f"orderbook_{SYMBOL}.csv.gz")
    assert [(D(book[f"bid_price_{i}"]), D(book[f"bid_qty_{i}"])) for i in range(10)] == BIDS
    assert gzip.decompress(trades_gz.read_bytes()).decode().splitlines()[0] == ",".join(HEADERS["trades"])

    async with Recording(exchange, tmp_path, compress=True) as rec:  # a second run appends a gzip member
        await rec.wait_for(lambda: rec.books == 1)
    books = gz_rows(day / f"orderbook_{SYMBOL}.csv.gz")
    assert [b["gap"] for b in books] == ["0", "1"]  # one header, the restart flagged


def test_a_gzip_file_cut_anywhere_keeps_every_row_flushed_before_the_cut(tmp_path):
    files = DayFiles(tmp_path, SYMBOL, compress=True)
    noon = datetime(2026, 11, 23, 12, tzinfo=UTC).timestamp()
    flushed_at = []
    for block in range(4):
        for i in range(300):
            n = block * 300 + i
            files.write("trades", [str(n), str(n), "buy", "2500.01", f"{n}.5", str(n), f"{noon:.6f}"], noon)
        files.flush()
        flushed_at.append(files.path("trades").stat().st_size)
    whole = files.path("trades").read_bytes()
    files.close()
    for cut in range(20, len(whole), 97):
        path = tmp_path / "cut.csv.gz"
        path.write_bytes(whole[:cut])
        rows_ = gz_rows(path)
        assert [int(r["id"]) for r in rows_] == list(range(len(rows_)))  # complete rows, none torn
        assert len(rows_) >= 300 * sum(1 for size in flushed_at if size <= cut)


def test_gzip_and_plain_files_are_not_mixed_in_one_day(tmp_path):
    noon = datetime(2026, 11, 23, 12, tzinfo=UTC).timestamp()
    plain = DayFiles(tmp_path, SYMBOL)
    plain.write("prices", ["1", "2", "3", "2.5"], noon)
    plain.close()
    with pytest.raises(WriteError, match="exists: record into another directory, or without --gzip"):
        DayFiles(tmp_path, SYMBOL, compress=True).write("prices", ["1", "2", "3", "2.5"], noon)


# ------------------------------------------------------------------------------ record, then replay
async def test_a_recorded_session_replays_into_a_fresh_simulator(exchange, tmp_path):
    market = SyntheticMarket(symbol=SYMBOL, seed=7, speed=math.inf)
    async with Recording(exchange, tmp_path) as rec:
        await market.run(exchange, duration=4.0)  # 40 steps, each a book and some trades
        sent = [e["payload"] for e in exchange.journal if e["kind"] == "event"]
        books = [p for p in sent if p.get("e") == "depthUpdate"]
        trades = [p for p in sent if p.get("e") == "aggTrade"]
        await rec.wait_for(lambda: rec.books == len(books) and rec.trades == len(trades))

    async with SimExchange() as replayed:
        applied = await ReplayMarket(day_dir(tmp_path), SYMBOL, speed=math.inf, levels=10).run(replayed)
        again = [e["payload"] for e in replayed.journal if e["kind"] == "event"]
        assert applied == len(books) + len(trades) == len(again)
        assert [(p["b"], p["a"]) for p in again if p["e"] == "depthUpdate"] == [(p["b"], p["a"]) for p in books]
        assert [(p["p"], p["q"], p["m"]) for p in again if p["e"] == "aggTrade"] == [
            (p["p"], p["q"], p["m"]) for p in trades
        ]
        assert replayed.book(SYMBOL) == exchange.book(SYMBOL)


async def test_a_recorded_session_backtests(exchange, tmp_path):
    """record.py's folder is the backtester's input too: every recorded book and trade reaches it."""
    pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")
    import aster_mm.backtest.cli as backtest

    market = SyntheticMarket(symbol=SYMBOL, seed=7, speed=10)  # stamps 10 ms apart: room for latency
    async with Recording(exchange, tmp_path) as rec:
        await market.run(exchange, duration=20.0)  # 200 steps of a lively market, in 2 s
        summary = exchange.summary(SYMBOL)  # nobody traded: the recording is the market alone
        sent = [e["payload"] for e in exchange.journal if e["kind"] == "event"]
        n_books = sum(1 for p in sent if p.get("e") == "depthUpdate")
        n_trades = sum(1 for p in sent if p.get("e") == "aggTrade")
        await rec.wait_for(lambda: rec.books == n_books and rec.trades == n_trades)
    assert summary["fills"] == 0

    out = tmp_path / "report.json"
    status = backtest.main(
        [
            "--data",
            str(day_dir(tmp_path)),
            "--symbol",
            SYMBOL,
            *FIXED_MODEL,
            "--buy-spread",
            "0.001",
            "--sell-spread",
            "0.001",
            "--order-latency-ms",
            "1",
            "--json",
            str(out),
        ]
    )
    assert status == 0
    result = json.loads(out.read_text())
    m = result["metrics"]
    assert (m["book_snapshots"], m["trades"]) == (n_books, n_trades)
    assert m["orders_sent"] > 0 and m["fills"] > 0
    assert "feed latency from the data's two timestamps" in result["assumptions"][0]  # record.py keeps both


# ------------------------------------------------------------------------------ CLI
def cli_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


async def run_record(*args: str, env: dict | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "record.py"),
        *args,
        env=env or cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_cli_records_for_minutes_then_exits_0(exchange, tmp_path):
    await exchange.set_book(SYMBOL, BIDS, ASKS)  # sent as a snapshot when the recorder connects
    proc = await run_record(
        "--symbol", "ethusdt", "--out", str(tmp_path), "--minutes", "0.01", env=cli_env(ASTER_WS_URL=exchange.ws_url)
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    assert len(rows(day_dir(tmp_path) / f"orderbook_{SYMBOL}.csv")) == 1


async def test_cli_gzip_records_csv_gz_files(exchange, tmp_path):
    await exchange.set_book(SYMBOL, BIDS, ASKS)
    proc = await run_record(
        "--symbol", SYMBOL, "--out", str(tmp_path), "--minutes", "0.01", "--gzip", "--ws-url", exchange.ws_url
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    day = day_dir(tmp_path)
    assert not list(day.glob("*.csv")) and len(gz_rows(day / f"orderbook_{SYMBOL}.csv.gz")) == 1


async def test_cli_sigterm_flushes_and_exits_0(exchange, tmp_path):
    proc = await run_record("--symbol", SYMBOL, "--out", str(tmp_path), "--ws-url", exchange.ws_url)
    await exchange.wait_for(lambda: exchange.market_stream_connections == 1, timeout=10)
    await exchange.trade(SYMBOL, "SELL", "2500.00", "0.75")
    await exchange.set_book(SYMBOL, BIDS, ASKS)
    path = tmp_path / utc_day(datetime.now(UTC).timestamp()) / f"orderbook_{SYMBOL}.csv"
    await eventually(lambda: path.exists() and path.stat().st_size > 0)  # the files are open
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    [trade] = rows(path.parent / f"trades_{SYMBOL}.csv")
    assert (trade["side"], D(trade["quantity"])) == ("sell", D("0.75"))
    assert len(rows(path)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--symbol", "ETH/USDT"], "--symbol must be"),
        (["--symbol", SYMBOL, "--minutes", "0"], "--minutes must be"),
        (["--symbol", SYMBOL, "--ws-url", "http://127.0.0.1:1"], "must start with ws://"),
    ],
)
async def test_cli_bad_input_exits_2_without_traceback(tmp_path, args, message):
    proc = await run_record(*args, "--out", str(tmp_path))
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2 and message in err.decode() and "Traceback" not in err.decode()
    assert list(tmp_path.iterdir()) == []


async def test_cli_symbol_the_exchange_does_not_list_exits_2(exchange, tmp_path):
    proc = await run_record("--symbol", "NOPEUSDT", "--out", str(tmp_path), "--ws-url", exchange.ws_url)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2 and "HTTP 400" in err.decode() and "Traceback" not in err.decode()


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
