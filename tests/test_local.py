"""Local runs without keys (aster_mm/live/local.py): `--sim` signs with throwaway V3 wallets; paper trading
(`--paper`) runs the unchanged bot against the simulator, fed by a "live" exchange's public depth and trade
streams. The live exchange here is a second simulator on 127.0.0.1: what it received shows that paper trading
sends it nothing but public requests."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest
from helpers import FIXED_MODEL, ROOT, SYMBOL, free_port, run_cli

import market_maker
from aster_mm.accounting.books import ledger_path
from aster_mm.ops.unattended import Ops
from aster_mm.settings.parser import parse_config
from aster_mm.simulator import LiveFeed, SimExchange
from aster_mm.simulator.live_feed import parse_feed_frame

# The live book's mid is 2000.01, far from the synthetic market's 2500: with the default 0.6 % spreads the
# bot quotes BUY at 2000.01 * 0.994 = 1988.00994 -> 1988.00 and, once long, SELL at 2012.02006 -> 2012.02.
LIVE_BOOK = ([("2000.00", "5")], [("2000.02", "5")])
BUY_PRICE, SELL_PRICE = D("1988.00"), D("2012.02")


def paper_env(rest_url: str) -> dict:
    """No credentials of any kind: only the live exchange's REST host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTER_", "TELEGRAM_"))}
    env.update(ASTER_REST_URL=rest_url, PYTHONUNBUFFERED="1")
    return env


async def read_until(proc: asyncio.subprocess.Process, needle: str, lines: list[str], timeout: float = 15) -> str:
    """Collect the bot's output until a line containing `needle` (synchronisation only)."""

    async def scan() -> str:
        while line := (await proc.stdout.readline()).decode():
            lines.append(line)
            if needle in line:
                return line
        raise AssertionError(f"the bot stopped before {needle!r}:\n{''.join(lines)}")

    return await asyncio.wait_for(scan(), timeout)


async def print_until(proc, lines: list[str], needle: str, live: SimExchange, *trade) -> str:
    """The live market keeps printing `trade` until the bot's output shows `needle`: the bot logs a
    placement before the simulator has the order, so one print could pass before the quote rests."""

    async def market() -> None:
        while True:
            await live.trade(SYMBOL, *trade)
            await asyncio.sleep(0.2)  # the pace of the live market, not a synchronisation

    printer = asyncio.create_task(market())
    try:
        return await read_until(proc, needle, lines)
    finally:
        printer.cancel()


def ledger_fills(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if row["kind"] == "fill"]


async def test_a_paper_session_trades_real_prices_with_simulated_fills_and_no_keys(tmp_path, monkeypatch, capsys):
    async with SimExchange() as live:
        await live.set_book(SYMBOL, *LIVE_BOOK)
        proc = await run_cli(
            "--symbol",
            SYMBOL,
            "--paper",
            "--paper-feed-url",
            live.ws_url,
            "--paper-balance",
            "5000",
            env=paper_env(live.rest_url),
            cwd=tmp_path,
        )
        lines: list[str] = []
        try:
            await read_until(proc, "place BUY", lines)
            # m=true: sellers sweep through our BUY; once long, the bot quotes the SELL
            await print_until(proc, lines, "place SELL", live, "SELL", "1980", "10")
            # m=false: buyers sweep through our SELL
            await print_until(proc, lines, "fill SELL", live, "BUY", "2030", "10")
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        text = "".join(lines) + out.decode()
        assert proc.returncode == 0, err.decode() + text
        assert "Traceback" not in text + err.decode()

        # Nothing reached the live exchange but its public rules and the public feed.
        assert {r["path"] for r in live.requests()} == {"/fapi/v1/exchangeInfo"}
        assert not any("signature" in r["params"] or "signer" in r["params"] for r in live.requests())
        assert live.order_requests() == [] and live.open_orders() == [] and live.position(SYMBOL) == 0
        assert live.user_stream_connections == 0

    # Simulated fills at the quotes the feed's prices made, sized from the paper balance (5000 * 0.2 / mid).
    fills = ledger_fills(tmp_path / f"ledger-{SYMBOL}-paper.csv")
    assert [(f["side"], D(f["price"]), f["maker"]) for f in fills] == [
        ("BUY", BUY_PRICE, "true"),
        ("SELL", SELL_PRICE, "true"),
    ]
    qty = D(fills[0]["qty"])
    assert D("0.45") < qty <= D("0.5") and D(fills[1]["qty"]) == qty
    assert (tmp_path / "market_maker-paper.log").is_file() and not (tmp_path / "market_maker.log").exists()

    # The same summaries as --sim: the bot's session summary and the simulator's own accounting.
    assert "started ETHUSDT run" in text and "paper trading (--paper: real prices, simulated fills" in text
    session = text.split("session summary (--paper: simulated): ")[1].split("\n")[0]
    assert "fills=2" in session and f"realized={(SELL_PRICE - BUY_PRICE) * qty:.2f}" in session
    accounting = dict(kv.split("=") for kv in text.split("simulator's accounting: ")[1].split("\n")[0].split(", "))
    assert int(accounting["fills"]) == 2 and D(accounting["buy_volume"]) == D(accounting["sell_volume"]) == qty

    monkeypatch.chdir(tmp_path)  # the report finds the paper ledger and says it is one (never added to real ones)
    capsys.readouterr()
    assert market_maker.main(["report"]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[2].split()[:2] == ["total", "2"]
    assert report[3] == f"read ledger-{SYMBOL}-paper.csv (--paper: simulated fills on real prices)"


@pytest.mark.parametrize(
    "symbol, rest, needle",
    [
        ("FOOUSDT", "live", "unknown symbol 'FOOUSDT'"),
        (SYMBOL, "closed", "paper trading needs the symbol's rules from http://127.0.0.1:"),
    ],
)
async def test_paper_without_the_symbols_rules_exits_1(tmp_path, symbol, rest, needle):
    async with SimExchange() as live:
        rest_url = live.rest_url if rest == "live" else f"http://127.0.0.1:{free_port()}"
        proc = await run_cli(
            "--symbol",
            symbol,
            "--paper",
            "--paper-feed-url",
            live.ws_url,
            "--start-timeout",
            "0",
            env=paper_env(rest_url),
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 1, out.decode() + err.decode()
        assert needle in err.decode() and "Traceback" not in out.decode() + err.decode()
        assert live.order_requests() == [] and live.market_stream_connections == 0


# ------------------------------------------------------------------ the live feed, in process
def paper_market(paper: SimExchange, session: aiohttp.ClientSession):
    return session.ws_connect(f"{paper.ws_url}/stream?streams=ethusdt@depth5")


async def test_the_feed_applies_books_and_trades_and_survives_a_drop():
    async with SimExchange() as live, SimExchange() as paper, aiohttp.ClientSession() as session:
        live.refuse_streams("market")  # the live feed is not there yet
        feed = LiveFeed(SYMBOL, live.ws_url, reconnect_first=0.05)
        task = asyncio.create_task(feed.run(paper))
        try:
            with pytest.raises(aiohttp.WSServerHandshakeError):  # no market for the bot without the feed
                async with paper_market(paper, session):
                    pass
            live.refuse_streams("market", False)
            await live.set_book(SYMBOL, *LIVE_BOOK)
            await paper.wait_for(lambda: paper.book(SYMBOL)[0] == [(D("2000.00"), D("5"))])
            await live.trade(SYMBOL, "SELL", "1999.50", "0.3")
            trade = await paper.wait_for(
                lambda: next(
                    (
                        e["payload"]
                        for e in paper.journal
                        if e["kind"] == "event" and e["payload"].get("e") == "aggTrade"
                    ),
                    None,
                )
            )
            assert (trade["m"], trade["p"], trade["q"]) == (True, "1999.50", "0.300")

            async with paper_market(paper, session) as bot_market:  # where the bot's market stream would be
                live.refuse_streams("market")
                await live.drop_streams("market")
                async with asyncio.timeout(5):
                    async for _ in bot_market:  # dropped with the feed
                        pass
            with pytest.raises(aiohttp.WSServerHandshakeError):
                async with paper_market(paper, session):
                    pass
            await live.set_book(SYMBOL, [("2100.00", "2")], [("2100.05", "3")])  # sent on reconnecting
            live.refuse_streams("market", False)
            await paper.wait_for(lambda: paper.book(SYMBOL) == ([(D("2100.00"), D("2"))], [(D("2100.05"), D("3"))]))
            async with paper_market(paper, session) as bot_market:  # up again with the feed
                assert json.loads((await bot_market.receive()).data)["data"]["b"][0] == ["2100.00", "2.000"]
            await live.trade(SYMBOL, "BUY", "2100.05", "1")
            await paper.wait_for(
                lambda: (
                    [
                        e["payload"]["m"]
                        for e in paper.journal
                        if e["kind"] == "event" and e["payload"].get("e") == "aggTrade"
                    ]
                    == [True, False]
                )
            )
            assert (feed.connections, feed.gaps, feed.bad_frames) == (2, 1, 0)
            assert live.requests() == []  # the feed is the public stream only
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_feed_frames():
    book = {
        "stream": "ethusdt@depth10@100ms",
        "data": {
            "e": "depthUpdate",
            "E": 1,
            "T": 1,
            "s": SYMBOL,
            "U": 1,
            "u": 2,
            "pu": 0,
            "b": [["10.1", "2"]],
            "a": [["10.2", "3"]],
        },
    }
    assert parse_feed_frame(json.dumps(book)) == ("book", [(D("10.1"), D("2"))], [(D("10.2"), D("3"))])
    trade = {"e": "aggTrade", "E": 1, "s": SYMBOL, "a": 7, "p": "10.15", "q": "0.5", "f": 1, "l": 1, "T": 1}
    assert parse_feed_frame(json.dumps(trade | {"m": True})) == ("trade", "SELL", D("10.15"), D("0.5"))
    assert parse_feed_frame(json.dumps(trade | {"m": False}))[1] == "BUY"
    assert parse_feed_frame(json.dumps({"result": None, "id": 1})) is None
    with pytest.raises(ValueError, match="malformed"):
        parse_feed_frame(json.dumps(trade | {"m": "true"}))


# ------------------------------------------------------------------ options
def test_paper_options(tmp_path):
    config = parse_config(["--symbol", "ethusdt", "--paper", "--fill-model", "optimistic", "--order-latency-ms", "5"])
    assert (config.paper, config.fill_model, config.order_latency_ms, config.paper_balance) == (
        True,
        "optimistic",
        5.0,
        D("10000"),
    )
    assert config.log_file == "market_maker-paper.log" and ledger_path(config) == Path("ledger-ETHUSDT-paper.csv")
    assert Ops.from_config(config).alerts.prefix == "aster-mm ETHUSDT [paper]"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--paper", "--sim"], "not allowed with argument"),
        (["--paper-balance", "100"], "only with --paper"),
        (["--paper", "--start-price", "2500"], "only with --sim"),
        (["--paper", "--paper-feed-url", "https://x"], "must start with ws:// or wss://"),
    ],
)
def test_paper_option_errors_exit_2(args, needle, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(["--symbol", SYMBOL, *args])
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


# ------------------------------------------------------------------ --sim: throwaway V3 wallets
async def test_sim_with_only_the_symbol_runs_the_default_signal_model_and_stops_clean(tmp_path):
    """What a user gets with only --symbol (and --sim): the signal model, its stop-loss in force, and a reason for
    not quoting yet (its warm-up), said once; Ctrl+C leaves nothing open."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, str(ROOT / "market_maker.py"), "--symbol", SYMBOL, "--sim"),
        *("--log-file", str(tmp_path / "mm.log")),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines: list[str] = []
        async with asyncio.timeout(20):
            while not any("not quoting: signal warming up" in line for line in lines):
                lines.append((await proc.stdout.readline()).decode())
        # the warm-up's seconds to go change every second: read 2.5 s more of the log, then stop it
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.5):
                while line := (await proc.stdout.readline()).decode():
                    lines.append(line)
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    text = "".join(lines) + out.decode()
    assert proc.returncode == 0 and ": model=signal long " in text and "left open: nothing" in text, text[-2000:]
    assert text.count("not quoting: signal warming up") == 1  # a second a line would be 60 lines of warm-up


async def test_sim_option_trades_on_v3_end_to_end(tmp_path):
    """`market_maker.py --sim` signs with throwaway V3 wallets and places an order through the simulator."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        "--symbol",
        SYMBOL,
        "--sim",
        *FIXED_MODEL,  # quotes at once on the synthetic market
        "--log-file",
        str(tmp_path / "mm.log"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = []
        async with asyncio.timeout(20):
            while not any(" place BUY " in line for line in lines):
                lines.append((await proc.stdout.readline()).decode())
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0
    started = next(line for line in lines if " started ETHUSDT" in line)
    assert " on the built-in simulator (--sim: " in started and "user 0x" not in started  # no account of yours
