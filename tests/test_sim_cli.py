"""The simulator as a new user meets it: its command line, replay data that is missing or of a symbol it does
not know, and `market_maker.py --sim` for any symbol."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest
from helpers import FIXED_MODEL, ROOT

from aster_mm.simulator import MarketSetupError, ReplayMarket, SimExchange, symbol_table, synthetic_spec
from aster_mm.simulator.cli import build_parser

BOOK_HEADER = "unix_timestamp,lastUpdateId," + ",".join(
    f"{side}_price_{i},{side}_qty_{i}" for side in ("bid", "ask") for i in range(2)
)


def write_recording(directory: Path, symbol: str = "FOOUSDT") -> None:
    """A tiny recording in record.py's layout: prices padded to 6 decimals (tick 0.00001), quantities with
    one significant decimal (step 0.1), and a trade recorded before the first book row."""
    (directory / f"orderbook_{symbol}.csv").write_text(
        BOOK_HEADER + "\n"
        "1000.5,1,0.054320,1200.000000,0.054310,35.500000,0.054330,900.000000,0.054340,10.000000\n"
        "1001.5,2,0.054300,1100.000000,0.054290,35.500000,0.054310,800.000000,0.054320,10.000000\n"
    )
    (directory / f"trades_{symbol}.csv").write_text(
        "id,unix_timestamp_ms,side,price,quantity\n"
        "1,999000,sell,0.054000,50.000000\n"  # before any book: dropped
        "2,1001000,buy,0.054330,12.300000\n"
    )


def run_cli(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True, timeout=30
    )


# ------------------------------------------------------------------ replay
def test_replay_of_a_symbol_the_simulator_does_not_know_infers_its_rules(tmp_path):
    write_recording(tmp_path)
    market = ReplayMarket(tmp_path, symbol="FOOUSDT", speed=0)
    spec = market.spec()
    assert (spec.tick, spec.step, spec.min_qty) == (D("0.00001"), D("0.1"), D("0.1"))
    spec = market.spec(tick="0.000001", step="1")
    assert (spec.tick, spec.step, spec.min_qty) == (D("0.000001"), D("1"), D("1"))
    assert ReplayMarket(tmp_path, symbol="FOOUSDT").spec().symbol == "FOOUSDT"


async def test_replay_starts_at_the_first_book_row_and_serves_the_inferred_rules(tmp_path):
    write_recording(tmp_path)
    market = ReplayMarket(tmp_path, symbol="FOOUSDT", speed=0)
    spec = market.spec()
    async with SimExchange(symbols=symbol_table(spec)) as sim, aiohttp.ClientSession() as session:
        assert await market.run(sim) == 3  # two books, one trade: not the early trade
        frames = [e["payload"]["e"] for e in sim.journal if e["kind"] == "event" and e["stream"] == "market"]
        assert frames[0] == "depthUpdate" and frames.count("aggTrade") == 1
        assert sim.book("FOOUSDT")[0][0] == (D("0.0543"), D("1100"))
        async with session.get(f"{sim.rest_url}/fapi/v1/exchangeInfo") as resp:
            info = {s["symbol"]: s for s in (await resp.json())["symbols"]}
        filters = {f["filterType"]: f for f in info["FOOUSDT"]["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.00001" and filters["LOT_SIZE"]["stepSize"] == "0.1"
        assert "ETHUSDT" in info  # the known symbols stay


def test_missing_replay_data_is_a_clear_error(tmp_path):
    with pytest.raises(MarketSetupError, match="record.py"):
        ReplayMarket(tmp_path, symbol="BNBUSDT")
    done = run_cli("sim_exchange.py", "--symbol", "BNBUSDT", "--replay", str(tmp_path), "--port", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "orderbook_BNBUSDT.csv and trades_BNBUSDT.csv not found" in done.stderr and "record.py" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# ------------------------------------------------------------------ sim_exchange.py command line
def test_every_sim_exchange_option_has_help():
    undocumented = [a.option_strings for a in build_parser()._actions if not a.help]
    assert undocumented == []


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--symbol", "FOOUSDT"], "unknown symbol FOOUSDT: give its --start-price"),
        (["--symbol", "ETH/USDT"], "symbol must be letters and digits"),
        (["--symbol", "FOOUSDT", "--start-price", "0"], "must be greater than 0"),
    ],
)
def test_sim_exchange_bad_symbol_is_a_clear_error(tmp_path, args, needle):
    done = run_cli("sim_exchange.py", *args, "--port", "0", cwd=tmp_path)
    assert done.returncode == 2 and needle in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_synthetic_rules_for_any_symbol():
    spec, start = synthetic_spec("FOOUSDT", "0.05432")
    assert (start, spec.tick, spec.step, spec.min_qty) == (D("0.05432"), D("0.000001"), D("100"), D("100"))
    spec, _ = synthetic_spec("BARUSDT", "60000", tick="0.5", step="0.001")
    assert (spec.tick, spec.step) == (D("0.5"), D("0.001"))
    spec, start = synthetic_spec("ASTERUSDT")
    assert (start, spec.tick, spec.step) == (D("1.85"), D("0.0001"), D("0.01"))
    with pytest.raises(MarketSetupError, match="--start-price"):
        synthetic_spec("FOOUSDT")


# ------------------------------------------------------------------ market_maker.py --sim
async def test_bot_sim_trades_any_symbol_from_its_start_price(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        "--symbol",
        "FOOUSDT",
        "--sim",
        *FIXED_MODEL,  # quotes at once on the synthetic market
        "--start-price",
        "0.05432",
        "--log-file",
        str(tmp_path / "mm.log"),
        "--log-level",
        "DEBUG",  # a requote (Modify Order) is logged at DEBUG
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines = []

    async def until_requoted():  # accepted, then moved with the market
        while line := (await proc.stdout.readline()).decode():
            lines.append(line)
            if re.search(r" mm: order amm-\S+ (CANCELED|FILLED) | mm: modified amm-\S+ \d+@", line):
                return line

    try:
        assert await asyncio.wait_for(until_requoted(), 20)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    text = "".join(lines) + out.decode()
    assert proc.returncode == 0, err.decode()
    assert "started FOOUSDT" in text and "rejected=0" in text
    summary = dict(kv.split("=") for kv in text.split("simulator's accounting: ")[1].split("\n")[0].split(", "))
    assert int(summary["orders_sent"]) >= 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--symbol", "FOOUSDT", "--sim"], "unknown symbol FOOUSDT: give its --start-price"),
        (["--symbol", "ETHUSDT", "--start-price", "2500"], "only with --sim"),
    ],
)
def test_bot_sim_option_errors_exit_2(tmp_path, args, needle):
    done = run_cli("market_maker.py", *args, "--log-file", str(tmp_path / "mm.log"), cwd=tmp_path)
    assert done.returncode == 2 and needle in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_tick_and_step_overrides_keep_the_symbols_other_rules():
    spec, _ = synthetic_spec("OLDUSDT", "100", tick="0.1", step="1")
    assert (spec.tick, spec.step, spec.min_qty, spec.status) == (D("0.1"), D("1"), D("1"), "SETTLING")
