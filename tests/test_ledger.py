"""The ledger (aster_mm/accounting/ledger.py): fills and funding written once, across restarts, reconciled from the
earliest run that never completed a reconciliation, and read back as written; end to end, its totals agree with
the simulator's and with the report, the status line and the session summary."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import HAND_WRITTEN, SYMBOL, BotRun, assert_invariants, order_update, set_mid, wait_open

import market_maker
from aster_mm.accounting.ledger import (
    FILL,
    FUNDING,
    FUNDING_MATCH_MS,
    INCOME,
    START,
    STREAM,
    SYNC,
    Entry,
    Ledger,
    Totals,
    fill_entry,
    read_entries,
)
from aster_mm.accounting.pnl import usd
from aster_mm.core.events import parse_order_update

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


# ------------------------------------------------------------------------------------ where a reconciliation starts
def test_reconciliation_starts_at_the_earliest_run_no_reconciliation_followed(tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    assert ledger.reconcile_from() is None  # a new ledger: the session's start
    ledger.record(Entry(START, 1_000, SYMBOL, client_id="amm-a"))
    ledger.record(Entry(FILL, 5_000, SYMBOL, trade_id="1"))
    assert ledger.reconcile_from() == 1_000  # not the first fill: what run a lost before it is covered too
    ledger.record(Entry(SYNC, 9_000, SYMBOL, INCOME, client_id="amm-a"))
    assert ledger.reconcile_from() == 9_000 and ledger.reconcile_from(overlap_ms=500) == 8_500
    ledger.record(Entry(START, 20_000, SYMBOL, client_id="amm-b"))  # run b dies before reconciling
    ledger.record(Entry(FILL, 25_000, SYMBOL, trade_id="2"))
    ledger.record(Entry(START, 40_000, SYMBOL, client_id="amm-c"))
    assert ledger.reconcile_from() == 9_000  # a's last round: what b and the market did since
    ledger.close()
    reread = Ledger(tmp_path / "ledger.csv")
    reread.open()  # a restart knows the same
    assert reread.reconcile_from() == 9_000 and set(reread.run_starts) == {"amm-a", "amm-b", "amm-c"}
    reread.record(Entry(SYNC, 50_000, SYMBOL, INCOME, client_id="amm-c"))
    assert reread.reconcile_from() == 50_000 and reread.unreconciled == {}
    reread.close()


def test_a_ledger_without_start_rows_reconciles_from_its_last_sync_or_first_row(tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()
    ledger.record(Entry(FILL, 5_000, SYMBOL, trade_id="1"))
    assert ledger.reconcile_from() == 5_000
    ledger.record(Entry(SYNC, 9_000, SYMBOL, INCOME))
    assert ledger.reconcile_from() == 9_000
    ledger.close()
