"""The log an operator reads: the status line at the symbol's precision, the stop line saying what is
left open, and a simulated session in its own log file."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from decimal import Decimal as D

from helpers import ROOT, SYMBOL, BotRun, wait_open

from aster_mm.core.decisions import QuoteParams
from aster_mm.core.rules import SymbolRules
from aster_mm.core.state import Book, StrategyState
from aster_mm.core.status import status_line
from aster_mm.settings.parser import parse_config


def test_status_line_rounds_to_the_symbol_and_labels_the_spread_absolute():
    st = StrategyState(book=Book(D("2500.00"), D("2500.01"), 0.0), balances={"USDT": D("9989.940000001")})
    st.position.amount = D("0.8")
    rules = SymbolRules(
        symbol=SYMBOL,
        status="TRADING",
        tick=D("0.01"),
        step=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("100"),
        min_notional=D("5"),
    )
    line = status_line(st, QuoteParams(D("0.006"), D("0.006"), D("0.2"), D("15")), 40, rules)
    assert "position=0.800 " in line and "mid=2500.00 " in line and "book_spread_abs=0.01 " in line
    assert "wallet=9989.94 " in line and "mode=SELL" in line
    coarse = SymbolRules(
        symbol=SYMBOL,
        status="TRADING",
        tick=D("10"),
        step=D("1"),
        min_qty=D("1"),
        max_qty=D("100"),
        min_notional=D("5"),
    )
    assert "mid=2500 " in status_line(
        st, QuoteParams(D("0.006"), D("0.006"), D("0.2"), D("15")), None, coarse
    )  # no 2.5E+3


def test_a_simulated_session_logs_to_its_own_file_by_default():
    assert parse_config(["--symbol", SYMBOL]).log_file == "market_maker.log"
    assert parse_config(["--symbol", SYMBOL, "--sim"]).log_file == "market_maker-sim.log"
    assert parse_config(["--symbol", SYMBOL, "--sim", "--log-file", "x.log"]).log_file == "x.log"


async def test_the_sim_demo_never_writes_the_live_log(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        "--symbol",
        SYMBOL,
        "--sim",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(20):
        while b" started " not in await proc.stdout.readline():
            pass
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert " started " in (tmp_path / "market_maker-sim.log").read_text()
    assert not (tmp_path / "market_maker.log").exists()


async def test_the_stop_line_says_what_is_left_open(sim, caplog):
    caplog.set_level(logging.INFO, logger="mm")
    async with BotRun(sim):
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
    [stop] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped: ")]
    assert stop.startswith(
        f"stopped: left open: position {sim.position(SYMBOL)} {SYMBOL} (stopping the bot never closes a position);"
    )
    assert "order=none" in stop and sim.open_orders(SYMBOL) == []
