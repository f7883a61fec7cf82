"""Issue 12, items 1 and 2: the ledger (fills and funding, once, across restarts, reconciled with the
income history), PnL in the status line and the session summary, the `report` subcommand; and the
simulator's funding payments and income history they are checked against."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SYMBOL, BotRun, assert_invariants, order_update, set_mid, wait_open

import market_maker
from aster_mm.accounting.ledger import (
    FILL,
    FUNDING,
    FUNDING_MATCH_MS,
    INCOME,
    STREAM,
    SYNC,
    Entry,
    Ledger,
    Totals,
    fill_entry,
    funding_entries,
    read_entries,
)
from aster_mm.accounting.pnl import PnL, SessionPnL, pnl_text, usd
from aster_mm.core.events import parse_account_update, parse_order_update
from aster_mm.core.position import unrealized_pnl
from aster_mm.exchange.client import AsterClient

D = Decimal


def fills(path: Path) -> list[Entry]:
    return [e for e in read_entries(path) if e.kind == FILL] if path.exists() else []


def fundings(path: Path) -> list[Entry]:
    return [e for e in read_entries(path) if e.kind == FUNDING] if path.exists() else []


def sim_totals(sim) -> dict[str, Decimal]:
    s = sim.summary(SYMBOL)
    return {
        "fills": s["fills"],
        "volume": s["notional_volume"],
        "fees": s["fees"],
        "funding": s["funding"],
        "realized": s["realized_pnl"],
    }


def ledger_totals(path: Path) -> dict[str, Decimal]:
    rows = read_entries(path)
    f = [e for e in rows if e.kind == FILL]
    return {
        "fills": len(f),
        "volume": sum((e.notional for e in f), D(0)),
        "fees": sum((e.commission for e in f), D(0)),
        "funding": sum((e.funding for e in rows if e.kind == FUNDING), D(0)),
        "realized": sum((e.realized_pnl for e in f), D(0)),
    }


def report_total(path: Path, capsys) -> dict[str, str]:
    capsys.readouterr()
    assert market_maker.main(["report", "--ledger", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, total = lines[0].split(), next(line for line in lines if line.startswith("total")).split()
    return dict(zip(header[2:], total[1:]))  # the total line has no symbol


def figure(text: str, name: str) -> str:
    return next(part.split("=", 1)[1] for part in text.split() if part.startswith(name + "="))


# ------------------------------------------------------------------------------------ e2e
async def test_ledger_report_status_and_summary_agree_with_the_simulator(sim, tmp_path, capsys, caplog):
    path = tmp_path / "ledger.csv"
    caplog.set_level(logging.INFO, logger="mm")
    run = BotRun(sim, ledger=str(path))
    async with run as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)  # BUY 0.8 @ 2485, maker fee
        await wait_open(sim, "SELL")
        paid = await sim.pay_funding(SYMBOL, "0.0001")  # long pays 0.8 * 2500 * 0.0001
        assert paid == D("-0.2")
        await sim.wait_for(lambda: len(fundings(path)) == 1)
        await sim.fill_order(SYMBOL)  # SELL 0.8 @ 2515: realizes 24
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)  # BUY 0.801 again: a position left open
        await wait_open(sim, "SELL")
        await set_mid(sim, "2490")
        await sim.wait_for(lambda: bot.state.mark_price == D("2490"), 5)
        await sim.wait_for(lambda: len(fills(path)) == 3)
        status = bot.describe()
        assert_invariants(sim, bot)
    want = sim_totals(sim)
    assert want["fills"] == 3 and want["funding"] == D("-0.2") and want["realized"] == D("24")
    assert ledger_totals(path) == want
    assert {e.source for e in read_entries(path) if e.kind in (FILL, FUNDING)} == {STREAM}

    unrealized = sim.accounts.unrealized(SYMBOL)  # 0.801 * (2490 - 2485)
    assert unrealized == sim.position(SYMBOL) * 5 and sim.position(SYMBOL) == D("0.801")
    net = want["realized"] - want["fees"] + want["funding"] + unrealized
    p = bot.books.figures()
    assert (p.realized, p.fees, p.funding, p.volume, p.fills) == (
        want["realized"],
        want["fees"],
        want["funding"],
        want["volume"],
        3,
    )
    assert p.unrealized == unrealized and p.net == net and p.entry_price == D("2485")

    for text in (status, next(r.getMessage() for r in caplog.records if r.getMessage().startswith("session summary"))):
        assert figure(text, "position") == "0.801@2485.00"
        assert (
            figure(text, "realized"),
            figure(text, "fees"),
            figure(text, "funding"),
            figure(text, "upnl"),
            figure(text, "net"),
            figure(text, "volume"),
        ) == (
            usd(want["realized"]),
            usd(want["fees"]),
            usd(want["funding"]),
            usd(unrealized),
            usd(net),
            usd(want["volume"]),
        )
        assert figure(text, "net/volume") == f"{(net / want['volume'] * 10_000).quantize(D('0.1'))}bp"

    total = report_total(path, capsys)
    assert (total["fills"], total["volume"], total["fees"], total["funding"], total["realized"], total["net"]) == (
        "3",
        usd(want["volume"]),
        usd(want["fees"]),
        usd(want["funding"]),
        usd(want["realized"]),
        usd(want["realized"] - want["fees"] + want["funding"]),
    )


async def test_restart_with_the_same_ledger_adds_no_duplicates(sim, tmp_path):
    path = tmp_path / "ledger.csv"
    async with BotRun(sim, ledger=str(path)):
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        await sim.pay_funding(SYMBOL, "0.0002")
        await sim.wait_for(lambda: len(fills(path)) == 1 and len(fundings(path)) == 1)
    fill_events = [
        e["payload"]
        for e in sim.journal
        if e.get("stream") == "user"
        and e["payload"].get("e") == "ORDER_TRADE_UPDATE"
        and e["payload"]["o"]["x"] == "TRADE"
    ]
    funding_events = [
        e["payload"]
        for e in sim.journal
        if e.get("stream") == "user" and e["payload"].get("a", {}).get("m") == "FUNDING_FEE"
    ]
    async with BotRun(sim, ledger=str(path)) as bot:  # reads the income history again from start
        await wait_open(sim, "SELL")
        await sim.wait_for(
            lambda: bot.books.ledger.synced_ms and bot.books.ledger.synced_ms > bot.books.session.start_ms
        )
        for payload in fill_events + funding_events:  # the stream replays them
            await sim._engine.push_user(payload)
        await sim.fill_order(SYMBOL)  # and something new happens
        await sim.wait_for(lambda: len(fills(path)) == 2)
        assert_invariants(sim, bot)
    assert len({e.trade_id for e in fills(path)}) == len(fills(path)) == 2
    assert len(fundings(path)) == 1
    assert ledger_totals(path) == sim_totals(sim)


async def test_a_fill_whose_stream_event_was_lost_lands_once_from_the_income_history(sim, tmp_path):
    path = tmp_path / "ledger.csv"
    async with BotRun(sim, ledger=str(path)) as bot:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # the fill's events are lost on the wire
        await sim.fill_order(SYMBOL)
        sim.refuse_streams("user")
        await sim.drop_streams("user")
        sim.freeze_streams("user", False)
        sim.refuse_streams("user", False)
        await wait_open(sim, "SELL")  # the REST reconciliation saw the position
        await sim.wait_for(lambda: len(fills(path)) == 1)
        await sim.fill_order(SYMBOL)  # a later fill comes by the stream
        await sim.wait_for(lambda: len(fills(path)) == 2)
        bot.books.income.poke()  # another round finds nothing new
        synced = bot.books.ledger.synced_ms
        await sim.wait_for(lambda: bot.books.ledger.synced_ms > synced)
        assert_invariants(sim, bot)
    lost, later = fills(path)
    [trade] = [t for t in sim.accounts.history.trades if str(t["id"]) == lost.trade_id]
    assert lost.source == INCOME and later.source == STREAM
    assert (lost.side, lost.price, lost.qty, lost.order_id, lost.maker) == (
        "BUY",
        D("2485"),
        D("0.8"),
        str(trade["orderId"]),
        True,
    )
    assert lost.commission == D("2485") * D("0.8") * D("0.0001")
    assert ledger_totals(path) == sim_totals(sim)
    assert bot.books.figures().fills == 2  # both in the session's figures


async def test_fees_and_funding_while_the_bot_was_down_are_recorded_on_restart(sim, tmp_path):
    path = tmp_path / "ledger.csv"
    async with BotRun(sim, ledger=str(path)):
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await sim.wait_for(lambda: len(fills(path)) == 1)
    # the bot is stopped, long 0.8: funding is paid, and an order placed elsewhere fills
    assert await sim.pay_funding(SYMBOL, "0.0001") == D("-0.2")
    await sim.place_order_direct(SYMBOL, "SELL", "2510", "0.3", client_order_id="manual-1", reduce_only=True)
    await sim.fill_order(SYMBOL, "manual-1")
    async with BotRun(sim, ledger=str(path)) as bot:
        await sim.wait_for(lambda: len(fills(path)) == 2 and len(fundings(path)) == 1)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)
        session = bot.books.figures()
    down_fill, down_funding = fills(path)[1], fundings(path)[0]
    assert (down_fill.source, down_fill.side, down_fill.qty, down_fill.realized_pnl) == (
        INCOME,
        "SELL",
        D("0.3"),
        D("0.3") * (D("2510") - D("2485")),
    )
    assert (down_funding.source, down_funding.funding, down_funding.tran_id != "") == (INCOME, D("-0.2"), True)
    assert ledger_totals(path) == sim_totals(sim)
    assert (session.fills, session.funding, session.realized) == (0, 0, 0)  # not this session's


# ------------------------------------------------------------------------------------ report
HAND_WRITTEN = """time_utc,time_ms,kind,symbol,source,trade_id,tran_id,order_id,client_id,side,price,qty,maker,commission,commission_asset,realized_pnl,funding,asset
2025-09-28 23:59:59.000,1759103999000,fill,ETHUSDT,stream,11,,7,amm-a-1,BUY,4000,0.5,true,0.2,USDT,0,,
2025-09-29 00:00:00.000,1759104000000,funding,ETHUSDT,stream,,,,,,,,,,,,-0.1,USDT
2025-09-29 08:00:00.000,1759132800000,fill,ETHUSDT,stream,12,,8,amm-a-2,SELL,4010,0.5,true,0.2005,USDT,5,,
2025-09-29 09:00:00.000,1759136400000,fill,ETHUSDT,income,13,,,,,,,,0.1,USDT,1,,
2025-09-29 09:30:00.000,1759138200000,reward,ETHUSDT,income,,555,,,,,,,-0.25,USDT,,,
2025-09-29 10:00:00.000,1759140000000,sync,ETHUSDT,income,,,,,,,,,,,,,
2025-09-29 10:00:01.000,1759140001000,start,ETHUSDT,run,,,,amm-b,,,,,,,,,
"""


def test_report_summarises_a_hand_written_ledger_per_day(tmp_path, capsys):
    path = tmp_path / "ledger-ETHUSDT.csv"
    path.write_text(HAND_WRITTEN)
    assert market_maker.main(["report", "--ledger", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = ["day", "symbol", "fills", "volume", "fees", "funding", "rebates", "realized", "net", "net/volume"]
    assert lines[0].split() == header
    assert lines[1].split() == [
        "2025-09-28",
        "ETHUSDT",
        "1",
        "2000.00",
        "0.20",
        "0.00",
        "0.00",
        "0.00",
        "-0.20",
        "-1.0bp",
    ]
    # 2005 volume, fees 0.3005, funding -0.1, a rebate 0.25, realized 6: net 5.8495 = 29.2 bp
    day = ["2025-09-29", "ETHUSDT", "2", "2005.00", "0.30", "-0.10", "0.25", "6.00", "5.85", "29.2bp"]
    assert lines[2].split() == day
    assert lines[3].split() == ["total", "3", "4005.00", "0.50", "-0.10", "0.25", "6.00", "5.65", "14.1bp"]

    capsys.readouterr()
    assert market_maker.main(["report", "--ledger", str(path), "--since", "2025-09-29"]) == 0
    out = capsys.readouterr().out
    assert "2025-09-28" not in out and "2025-09-29" in out


def test_report_finds_the_ledgers_in_the_working_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / "ledger-ETHUSDT.csv").write_text(HAND_WRITTEN)
    (tmp_path / "ledger-ETHUSDT-sim.csv").write_text(HAND_WRITTEN)  # a demo's: never mixed in
    (tmp_path / "ledger-BNBUSDT-paper.csv").write_text(HAND_WRITTEN.replace("ETHUSDT", "BNBUSDT"))
    monkeypatch.chdir(tmp_path)
    assert market_maker.main(["report"]) == 0
    out = capsys.readouterr().out
    real, paper, sim = out.split("\n\n")  # each kind in a table of its own, saying which files it read
    assert real.splitlines()[3].split()[1] == "3" and "BNBUSDT" not in real
    assert real.splitlines()[4] == "read ledger-ETHUSDT.csv"
    assert paper.splitlines()[4] == "read ledger-BNBUSDT-paper.csv (--paper: simulated fills on real prices)"
    assert sim.splitlines()[4] == "read ledger-ETHUSDT-sim.csv (--sim: simulated fills)"
    assert [line.split()[1] for line in out.splitlines() if line.startswith("total")] == ["3", "3", "3"]


def test_report_after_the_quick_start_finds_the_sim_ledger(tmp_path, capsys, monkeypatch):
    (tmp_path / "ledger-ETHUSDT-sim.csv").write_text(HAND_WRITTEN)
    monkeypatch.chdir(tmp_path)
    assert market_maker.main(["report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split()[:2] == ["total", "3"] and lines[4] == "read ledger-ETHUSDT-sim.csv (--sim: simulated fills)"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--since", "yesterday"], "since must be a date"),
        (["--ledger", "missing.csv"], "does not exist"),
        (["--ledger", "bad.csv"], "not a ledger"),
        ([], "no ledger-*.csv"),
    ],
)
def test_report_bad_input_exits_2(tmp_path, capsys, monkeypatch, args, needle):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        market_maker.main(["report", *args])
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


# ------------------------------------------------------------------------------------ ledger unit
def test_funding_seen_on_the_stream_and_in_the_income_history_is_one_row(tmp_path):
    path = tmp_path / "ledger.csv"
    stream = Entry(FUNDING, 1_000_000, SYMBOL, STREAM, funding=D("-0.2"), asset="USDT")
    income = Entry(FUNDING, 1_000_004, SYMBOL, INCOME, tran_id="77", funding=D("-0.2"), asset="USDT")
    other = Entry(FUNDING, 1_000_004 + 8 * 3600_000, SYMBOL, INCOME, tran_id="78", funding=D("-0.2"), asset="USDT")
    ledger = Ledger(path)
    ledger.open()
    assert ledger.record(stream) and not ledger.record(stream)  # a replayed stream event
    assert not ledger.record(income) and not ledger.record(income)  # the same payment, with its id
    assert ledger.record(other) and not ledger.record(other)
    ledger.close()
    again = Ledger(path)  # a restart reads it back
    again.open()
    assert not again.record(income) and not again.record(stream) and not again.record(other)
    again.close()
    assert [e.tran_id for e in fundings(path)] == ["", "78"]
    # the other order: the income history first, then the stream event
    path2 = tmp_path / "ledger2.csv"
    ledger = Ledger(path2)
    ledger.open()
    assert ledger.record(income) and not ledger.record(stream)
    assert not ledger.record(stream) and not ledger.record(income)  # each replayed once more
    ledger.close()
    assert len(fundings(path2)) == 1


def test_a_stream_funding_and_its_income_row_pair_up_to_the_match_window(tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    paid = Entry(FUNDING, 1_000_000, SYMBOL, STREAM, funding=D("-0.2"), asset="USDT")
    assert ledger.record(paid)
    assert not ledger.record(
        Entry(FUNDING, 1_000_000 + FUNDING_MATCH_MS, SYMBOL, INCOME, tran_id="9", funding=D("-0.2"), asset="USDT")
    )
    assert ledger.record(Entry(FUNDING, 2_000_000, SYMBOL, STREAM, funding=D("-0.2"), asset="USDT"))
    assert ledger.record(
        Entry(FUNDING, 2_000_001 + FUNDING_MATCH_MS, SYMBOL, INCOME, tran_id="10", funding=D("-0.2"), asset="USDT")
    )
    ledger.close()


def test_a_stream_fill_is_written_with_everything_the_event_says():
    report = parse_order_update(
        order_update(
            "TRADE", "PARTIALLY_FILLED", c="amm-x-3", S="SELL", l="0.004", z="0.004", L="2491.50", t=55, i=8886774
        ),
        SYMBOL,
    )
    assert fill_entry(report, SYMBOL) == Entry(
        FILL,
        report.trade.at_ms,
        SYMBOL,
        STREAM,
        "55",
        "",
        "8886774",
        "amm-x-3",
        "SELL",
        D("2491.50"),
        D("0.004"),
        True,
        D("0.00049800"),
        "USDT",
        D("0"),
    )


def test_daily_totals_and_net_per_volume(tmp_path, tokyo):
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    day_ms = 1_759_100_400_000  # 2025-09-28 23:00 UTC, already the 29th in Tokyo
    for e in (
        Entry(
            FILL,
            day_ms,
            SYMBOL,
            price=D("2000"),
            qty=D("1"),
            commission=D("0.2"),
            commission_asset="USDT",
            realized_pnl=D("3"),
        ),
        Entry(FUNDING, day_ms + 1, SYMBOL, funding=D("-0.1"), asset="USDT"),
        Entry(FUNDING, day_ms + 2, SYMBOL, funding=D("0.05"), asset="USDF"),
        Entry(FUNDING, day_ms + 3, SYMBOL, funding=D("-9"), asset="BNB"),  # not USD: not in the figures
        *(
            Entry(
                FILL,
                day_ms + 4 + i,
                SYMBOL,
                trade_id=str(i),
                price=D("1000"),
                qty=D("1"),
                commission=fee,
                commission_asset="BNB",
            )
            for i, fee in enumerate((D("0.001"), D("0.002"), D("0")))
        ),
    ):
        ledger.record(e)
    ledger.close()
    totals = ledger.day("2025-09-28")
    assert (totals.fills, totals.volume, totals.fees, totals.funding) == (4, D("5000"), D("0.2"), D("-0.05"))
    assert totals.other_fees == {"BNB": D("0.003")}  # a BNB fee is not a USD fee
    assert totals.net == D("2.75") and totals.bp_of(totals.net) == D("5.5")
    assert ledger.day("2025-09-29") == Totals() and Totals().bp_of(D("1")) is None


def test_session_figures_mark_the_position_and_count_only_what_changed_since_the_start():
    session = SessionPnL(start_ms=0)
    session.add(
        Entry(
            FILL,
            1,
            SYMBOL,
            price=D("2000"),
            qty=D("1"),
            commission=D("0.2"),
            commission_asset="USDT",
            realized_pnl=D("3"),
        )
    )
    session.unrealized_at_start = D("5")  # an adopted position was 5 up at start
    p = session.figures(D("0.5"), D("2000"), D("2030"), reported_unrealized=D("99"))
    assert (p.unrealized, p.net, p.mark_price) == (D("15"), D("12.8"), D("2030"))  # 3 - 0.2 + 15 - 5
    unmarked = session.figures(D("0.5"), D("2000"), None, reported_unrealized=D("7"))
    assert unmarked.unrealized == D("7")  # no mark yet: what the exchange says
    assert unrealized_pnl(D("0.5"), None, None, None) == 0 and unrealized_pnl(D("0"), None, None, D("9")) == 0


def test_the_money_part_of_the_status_line_is_rounded_to_the_symbol():
    p = PnL(
        D("0.8004"),
        D("2485.005"),
        D("2490"),
        D("3.996"),
        D("1"),
        D("0.2"),
        D("-0.02"),
        D("0.1"),
        D("4.875"),
        D("1988"),
        1,
    )
    assert pnl_text(p, D("0.01"), D("0.001")) == (
        "position=0.800@2485.00 upnl=4.00 realized=1.00 fees=0.20 "
        "funding=-0.02 rebates=0.10 net=4.88 volume=1988.00 net/volume=24.5bp fills=1"
    )
    flat = PnL(D("0"), D("2485"), None, D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), 0)
    assert pnl_text(flat, None, None).startswith("position=0 upnl=0.00")  # no entry price when flat
    assert pnl_text(flat, None, None).endswith("net/volume=- fills=0")


def test_the_session_counts_what_happened_from_its_first_millisecond_on():
    session = SessionPnL(start_ms=1_000)
    for at in (999, 1_000, 1_001):
        session.add(Entry(FILL, at, SYMBOL, price=D("2000"), qty=D("1")))
    assert session.totals.fills == 2


@pytest.fixture
def tokyo(monkeypatch):
    """The machine's local time is UTC+9: ledger times and days must still be UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_every_kind_of_row_reads_back_as_written(tmp_path, tokyo):
    """A restart knows what it wrote only by reading it back: every field of every kind of row survives."""
    entries = [
        Entry(
            FILL,
            1_759_104_000_000,
            SYMBOL,
            STREAM,
            "11",
            "",
            "8",
            "amm-a-1",
            "BUY",
            D("2485.00"),
            D("0.800"),
            True,
            D("0.1988"),
            "USDT",
            D("0"),
        ),
        Entry(
            FILL,
            1_759_104_000_001,
            SYMBOL,
            STREAM,
            "12",
            "",
            "9",
            "amm-a-2",
            "SELL",
            D("2490.00"),
            D("0.800"),
            False,
            D("-0.05"),
            "BNB",
            D("4.00"),
        ),
        Entry(
            FILL, 1_759_104_000_002, SYMBOL, INCOME, "13", "", "", "", "", None, None, None, D("0.3"), "USDT", D("-1.5")
        ),
        Entry(FUNDING, 1_759_104_000_003, SYMBOL, INCOME, tran_id="77", funding=D("-0.12"), asset="USDF"),
        Entry(FUNDING, 1_759_104_000_004, SYMBOL, STREAM, funding=D("0.07"), asset="USDT"),
        Entry(SYNC, 1_759_104_000_005, SYMBOL, INCOME),
    ]
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    assert all(ledger.record(e) for e in entries)
    ledger.close()
    assert read_entries(tmp_path / "ledger.csv") == entries
    again = Ledger(tmp_path / "ledger.csv")  # what a restart knows: where the income history resumes
    again.open()
    again.close()
    assert (again.first_ms, again.synced_ms, again.trade_ids) == (
        entries[0].time_ms,
        entries[-1].time_ms,
        {"11", "12", "13"},
    )
    first = (tmp_path / "ledger.csv").read_text().splitlines()[1]
    assert first.startswith("2025-09-29 00:00:00.000,1759104000000,fill,")  # the time in words, to the ms
    assert ",true,0.1988," in first and ",false,-0.05," in (tmp_path / "ledger.csv").read_text().splitlines()[2]
    hand_written = tmp_path / "hand.csv"  # money cells left empty are zero, not missing
    hand_written.write_text(HAND_WRITTEN)
    fill, funding = read_entries(hand_written)[:2]
    assert (fill.funding, funding.commission, funding.realized_pnl, funding.price) == (0, 0, 0, None)


def test_a_ledger_without_every_column_is_refused_by_name(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text("time_utc,time_ms,kind,symbol,source\n")
    with pytest.raises(ValueError, match="lacks trade_id, tran_id"):
        read_entries(path)
    good = HAND_WRITTEN.splitlines()[:2]
    path.write_text("\n".join([*good, good[1].replace("1759103999000", "yesterday")]) + "\n")
    with pytest.raises(ValueError, match="line 3 is not a ledger row"):
        read_entries(path)


# ------------------------------------------------------------------------------------ simulator
async def test_simulator_income_history_and_trade_list_have_the_exchanges_shape(sim):
    client = AsterClient(sim.api_key, sim.api_secret, sim.rest_url, timeout=2.0)
    try:
        await sim.place_order_direct(SYMBOL, "BUY", "2499", "1", client_order_id="a")
        await sim.fill_order(SYMBOL)  # opens: commission only
        start = sim.now_ms()
        assert await sim.pay_funding(SYMBOL, "0.001") == D("-2.5")  # 1 * mark 2500 * 0.001
        await sim.place_order_direct(SYMBOL, "SELL", "2509", "1", client_order_id="b")
        await sim.fill_order(SYMBOL)  # closes: realized 10, commission
        rows = sim.income()
        assert [r["incomeType"] for r in rows] == ["COMMISSION", "FUNDING_FEE", "REALIZED_PNL", "COMMISSION"]
        assert set(rows[0]) == {"symbol", "incomeType", "income", "asset", "info", "time", "tranId", "tradeId"}
        assert rows[0]["income"] == str(-D("2499") * D("0.0001")) and rows[0]["tradeId"] != ""
        assert rows[1]["tradeId"] == "" and rows[1]["income"] == "-2.5" and rows[2]["income"] == "10"
        assert len({r["tranId"] for r in rows}) == 4
        assert sim.summary(SYMBOL)["funding"] == D("-2.5")
        assert sim.balances()["USDT"] == D("10000") + D("10") - D("2.5") - (D("2499") + D("2509")) * D("0.0001")

        now = sim.now_ms()
        assert await client.income(SYMBOL, "COMMISSION", 0, now) == [rows[0], rows[3]]
        assert await client.income(SYMBOL, "FUNDING_FEE", start, now) == [rows[1]]
        assert await client.income(SYMBOL, "COMMISSION", 0, now, limit=1) == [rows[0]]
        assert await client.income(SYMBOL, "REALIZED_PNL", 0, start - 1) == []
        assert await client.income("BNBUSDT", "COMMISSION", 0, now) == []
        trades = await client.user_trades(SYMBOL, now - 3600_000, now)
        assert [(t["side"], t["price"], t["qty"], t["realizedPnl"]) for t in trades] == [
            ("BUY", "2499", "1", "0"),
            ("SELL", "2509", "1", "10"),
        ]
        assert {str(t["id"]) for t in trades} == {rows[0]["tradeId"], rows[3]["tradeId"]}
    finally:
        await client.close()


async def test_funding_event_has_the_exchanges_shape(sim):
    sim.set_position(SYMBOL, "-2", "2500")
    events = []
    sim._engine.on_user = lambda payload: _collect(events, payload)
    assert await sim.pay_funding(SYMBOL, "0.0001") == D("0.5")  # a short receives a positive rate
    [event] = events
    assert event["e"] == "ACCOUNT_UPDATE" and event["a"]["m"] == "FUNDING_FEE"
    assert event["a"]["B"] == [{"a": "USDT", "wb": "10000.5", "cw": "10000.5", "bc": "0.5"}]
    assert "P" not in event["a"]  # crossed: balance only
    [entry] = funding_entries(parse_account_update(event, SYMBOL), SYMBOL)
    assert (entry.kind, entry.symbol, entry.source, entry.funding, entry.asset) == (
        FUNDING,
        SYMBOL,
        STREAM,
        D("0.5"),
        "USDT",
    )
    sim.set_position("BNBUSDT", "0", "0")
    assert await sim.pay_funding("BNBUSDT", "0.0001") == 0 and len(events) == 1


async def _collect(events: list, payload: dict) -> None:
    events.append(payload)


# ------------------------------------------------------------------------------------ income reconciliation unit
def test_income_rows_become_one_fill_per_trade_and_one_row_per_funding():
    from aster_mm.accounting.income import income_entries

    rows = [
        {
            "symbol": SYMBOL,
            "incomeType": "COMMISSION",
            "income": "-0.2",
            "asset": "USDT",
            "time": 5,
            "tranId": "1",
            "tradeId": "42",
        },
        {
            "symbol": SYMBOL,
            "incomeType": "REALIZED_PNL",
            "income": "3",
            "asset": "USDT",
            "time": 5,
            "tranId": "2",
            "tradeId": "42",
        },
        {
            "symbol": SYMBOL,
            "incomeType": "COMMISSION",
            "income": "-0.2",
            "asset": "USDT",
            "time": 5,
            "tranId": "1",
            "tradeId": "42",
        },  # a page overlap: once
        {
            "symbol": SYMBOL,
            "incomeType": "COMMISSION",
            "income": "-0.1",
            "asset": "USDT",
            "time": 9,
            "tranId": "3",
            "tradeId": "43",
        },  # not in the trade list
        {
            "symbol": SYMBOL,
            "incomeType": "FUNDING_FEE",
            "income": "0.05",
            "asset": "USDT",
            "time": 7,
            "tranId": "4",
            "tradeId": "",
        },
        {
            "symbol": "BNBUSDT",
            "incomeType": "FUNDING_FEE",
            "income": "1",
            "asset": "USDT",
            "time": 7,
            "tranId": "5",
            "tradeId": "",
        },
    ]
    trades = {
        "42": {
            "id": 42,
            "orderId": 7,
            "side": "SELL",
            "price": "2500",
            "qty": "0.1",
            "maker": True,
            "time": 4,
            "commissionAsset": "USDT",
        }
    }
    full, funding, bare = income_entries(SYMBOL, rows, trades)
    assert (full.trade_id, full.side, full.price, full.qty, full.commission, full.realized_pnl, full.time_ms) == (
        "42",
        "SELL",
        D("2500"),
        D("0.1"),
        D("0.2"),
        D("3"),
        4,
    )
    assert (funding.kind, funding.tran_id, funding.funding) == (FUNDING, "4", D("0.05"))
    assert (bare.trade_id, bare.price, bare.qty, bare.commission, bare.notional) == ("43", None, None, D("0.1"), 0)


async def test_income_is_read_page_by_page(tmp_path):
    import time

    from aster_mm.accounting.income import PAGE, IncomeSync

    BASE = int(time.time() * 1000) - 60_000

    class Client:
        time_offset_ms = 0
        calls: list = []

        def blocked_for(self):
            return 0.0

        async def income(self, symbol, kind, start, end, limit):
            self.calls.append((kind, start))
            if kind != "COMMISSION":
                return []
            rows = [
                {
                    "symbol": SYMBOL,
                    "incomeType": kind,
                    "income": "-0.1",
                    "asset": "USDT",
                    "time": t,
                    "tranId": str(t),
                    "tradeId": str(t),
                }
                for t in range(BASE, BASE + 1500)
            ]
            return [r for r in rows if start <= r["time"] <= end][:limit]

        async def user_trades(self, symbol, start, end, limit):
            return []

    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    client = Client()
    sync = IncomeSync(client, SYMBOL, ledger, 3600, 0, lambda: BASE)
    assert await sync.sync() == 1500
    assert [s for k, s in client.calls if k == "COMMISSION"] == [BASE, BASE + PAGE - 1]
    assert await sync.sync() == 0 and ledger.synced_ms is not None


def test_cli_report_help_and_a_bad_ledger_directory(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    def run(*args):
        return subprocess.run(
            [sys.executable, str(ROOT / "market_maker.py"), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )

    done = run("report", "--help")
    assert done.returncode == 0 and "--since" in done.stdout
    assert "report" in run("--help").stdout
    done = run("--symbol", SYMBOL, "--ledger", str(tmp_path / "nowhere" / "l.csv"), "--sim")
    assert done.returncode == 2 and "--ledger" in done.stderr and "Traceback" not in done.stderr


async def test_an_unreadable_ledger_is_fatal_before_anything_is_sent(sim, tmp_path):
    from aster_mm.core.errors import FatalError

    path = tmp_path / "ledger.csv"
    path.write_text("not,a,ledger\n1,2,3\n")
    run = BotRun(sim, ledger=str(path))
    try:
        with pytest.raises(FatalError, match="ledger"):
            await run.bot.run()
    finally:
        await run.client.close()
    assert sim.order_requests() == [] and path.read_text() == "not,a,ledger\n1,2,3\n"
