"""The ledger never loses a fill (issue 20, item 4; invariant 10): runs killed right after fills, again and
again, with the market filling their orders while they are down, leave every exchange trade in the ledger
exactly once; every run marks its start, and the income reconciliation starts from the earliest run that
has not completed one; a graceful stop makes a final one; market-maker rebates are ledger rows whichever way
the exchange pays them.

The figures of the restart loop (runs, kills, trades, ledger rows) are printed (`pytest -s` shows them)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from decimal import Decimal as D

from conftest import SYMBOL, BotRun, open_orders, run_cli, set_mid, signer_for, wait_open

import market_maker
from aster_mm.accounting.income import IncomeSync
from aster_mm.accounting.ledger import FILL, INCOME, REWARD, START, SYNC, Entry, Ledger, read_entries
from aster_mm.exchange.client import AsterClient
from aster_mm.simulator import Readings, SimExchange

KILLS = 6


async def exchange_trades(sim: SimExchange) -> list[dict]:
    """The account's trades as the exchange lists them (GET userTrades), the last day."""
    async with AsterClient(signer=signer_for(sim), rest_url=sim.rest_url) as client:
        await client.sync_time()
        now = int(time.time() * 1000) + client.time_offset_ms
        return await client.user_trades(SYMBOL, now - 86_400_000, now + 60_000)


async def new_order(sim: SimExchange, seen: set[str], timeout: float = 30.0) -> dict:
    """The first order a new run places (one no earlier run placed)."""
    await sim.wait_for(lambda: any(o["clientOrderId"] not in seen for o in open_orders(sim)), timeout)
    [order] = open_orders(sim)
    seen.add(order["clientOrderId"])
    return order


async def test_sigkill_after_fills_again_and_again_loses_no_trade(sim, bot_env, tmp_path):
    ledger = tmp_path / "ledger.csv"
    args = ("--symbol", SYMBOL, "--ledger", str(ledger), "--log-file", str(tmp_path / "mm.log"))
    args += ("--cancel-countdown", "0")  # no dead-man switch: what rests at the kill rests on, to be filled
    seen: set[str] = set()
    down_fills = 0
    for run in range(KILLS):
        proc = await run_cli(*args, env=bot_env, cwd=tmp_path)
        try:
            order = await new_order(sim, seen)
            if run % 3 == 0:  # the fill's stream event is lost for sure, and the run dies before reconciling
                sim.freeze_streams("user")
                await sim.fill_order(SYMBOL, qty=D(order["origQty"]) / 2)
            elif run % 3 == 1:  # the run may or may not have written the event, or placed its next order
                await sim.fill_order(SYMBOL)
            else:  # the run wrote the event and placed its next order, which the market fills while it is down
                await sim.fill_order(SYMBOL)
                await new_order(sim, seen)
        finally:
            proc.kill()  # SIGKILL: no shutdown path at all
            await proc.wait()
        sim.freeze_streams("user", False)
        if open_orders(sim):  # the market fills what the dead run left resting
            await sim.fill_order(SYMBOL)
            down_fills += 1
        await set_mid(sim, "2500")
    proc = await run_cli(*args, env=bot_env, cwd=tmp_path)  # the last run stops gracefully
    try:
        await new_order(sim, seen)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0

    trades = await exchange_trades(sim)
    rows = read_entries(ledger)
    fills = [e for e in rows if e.kind == FILL]
    print(
        f"\nrestart loop ({sim.scheme}): {KILLS + 1} runs, {KILLS} SIGKILLs, {len(trades)} exchange trades "
        f"({down_fills} filled while the bot was down), {len(rows)} ledger rows: {len(fills)} fills "
        f"({sum(e.source == INCOME for e in fills)} from the income history), "
        f"{sum(e.kind == START for e in rows)} starts, {sum(e.kind == SYNC for e in rows)} syncs"
    )
    assert down_fills >= 2 * KILLS // 3 and len(trades) >= KILLS + down_fills
    assert any(e.source == INCOME for e in fills) and any(e.source != INCOME for e in fills)
    assert Counter(e.trade_id for e in fills) == Counter(str(t["id"]) for t in trades)  # each exactly once
    by_id = {str(t["id"]): t for t in trades}
    for e in fills:  # and as the exchange has it
        t = by_id[e.trade_id]
        assert (e.side, e.price, e.qty) == (t["side"], D(t["price"]), D(t["qty"]))
    assert sum(e.kind == START for e in rows) == KILLS + 1


async def test_a_run_killed_before_its_first_reconciliation_is_covered_by_the_next(sim, tmp_path):
    """The gap the start rows close: the first run of a new ledger loses a fill's stream event and dies before
    reconciling; the next run's own rows must not hide it (it starts from the dead run's start)."""
    path = tmp_path / "ledger.csv"
    run = BotRun(sim, ledger=str(path))
    income = run.bot.books.income
    income.sync = lambda lag=None: asyncio.sleep(0, 0)  # it dies before any reconciliation: none is written
    income.final = lambda budget: asyncio.sleep(0)
    async with run:
        await wait_open(sim, "BUY")
        sim.freeze_streams("user")  # the event of the fill below never reaches the bot
        await sim.fill_order(SYMBOL)
        lost = (await exchange_trades(sim))[-1]
    sim.freeze_streams("user", False)
    assert [e.kind for e in read_entries(path)] == [START]
    async with BotRun(sim, ledger=str(path)) as bot:
        await sim.wait_for(lambda: str(lost["id"]) in bot.books.ledger.trade_ids, 10)
    [fill] = [e for e in read_entries(path) if e.kind == FILL]
    assert (fill.trade_id, fill.source) == (str(lost["id"]), INCOME)


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


async def test_a_round_that_could_not_write_a_row_writes_no_sync_row(sim, tmp_path):
    """A sync row says "everything before me is in the ledger": never after a row that failed to write."""
    async with BotRun(sim, ledger=str(tmp_path / "ledger.csv")) as bot:
        await wait_open(sim, "BUY")
        await sim.wait_for(lambda: bot.books.ledger.synced_ms is not None, 5)  # its own first round is done
        sim.freeze_streams("user")
        await sim.fill_order(SYMBOL)
        ledger = bot.books.ledger
        writer = ledger._writer
        syncs = ledger.synced_ms

        class FullForFills:  # the fill's row fails; the sync row after it would not
            def writerow(self, row):
                if row[2] == FILL:
                    raise OSError(28, "No space left on device")
                writer.writerow(row)

        ledger._writer = FullForFills()
        assert await bot.books.income.sync(lag=0) == 0 and ledger.synced_ms == syncs and ledger.write_failures
        ledger._writer = writer
        assert await bot.books.income.sync(lag=0) == 1 and ledger.synced_ms != syncs
        sim.freeze_streams("user", False)


# ------------------------------------------------------------------------------------ rebates
async def test_rebates_on_the_fill_and_paid_as_income_both_count_in_pnl_and_report(tmp_path, capsys):
    """The docs name MARKET_MERCHANT_RETURN_REWARD but not how or when it is paid: the simulator pays a
    negative maker rate on the fill (A30) or, with rebates="reward", later as that income type. Both land
    in the ledger once, in the session's PnL and in `report`."""
    maker, notional = D("-0.0001"), D("2485.00") * D("0.8")
    for rebates in ("commission", "reward"):
        path = tmp_path / f"ledger-{rebates}.csv"
        async with SimExchange(readings=Readings(rebates=rebates)) as sim:
            sim.scheme = "v3"
            sim.set_commission(maker, "0.00035")
            await set_mid(sim, "2500")
            run = BotRun(sim, ledger=str(path))
            async with run as bot:
                await wait_open(sim, "BUY")
                await sim.fill_order(SYMBOL)
                await wait_open(sim, "SELL")
                paid = await sim.pay_rewards()
                if rebates == "reward":
                    assert paid == [(SYMBOL, -maker * notional)]
                    # the reward reaches the ledger only through the income history: the graceful stop's
                    # final reconciliation reads it
                else:
                    assert paid == []
                    await sim.wait_for(lambda: bot.books.figures().fills == 1, 5)
            figures = bot.books.figures()
            assert bot.state.fees.maker == maker  # read at start
        entries = read_entries(path)
        rebate = -maker * notional
        if rebates == "reward":
            [reward] = [e for e in entries if e.kind == REWARD]
            assert (reward.commission, reward.source, reward.tran_id != "") == (-rebate, INCOME, True)
            assert (figures.rebates, figures.fees) == (rebate, 0)
        else:
            [fill] = [e for e in entries if e.kind == FILL]
            assert fill.commission == -rebate and not [e for e in entries if e.kind == REWARD]
            assert (figures.rebates, figures.fees) == (0, -rebate)
        assert figures.net - figures.unrealized == rebate  # nothing realized yet: the rebate is the rest
        capsys.readouterr()
        assert market_maker.main(["report", "--ledger", str(path)]) == 0
        total = capsys.readouterr().out.splitlines()[2].split()
        fees, rebates_cell, net = total[3], total[5], total[7]
        assert (fees, rebates_cell, net) == (
            ("0.00", "0.20", "0.20") if rebates == "reward" else ("-0.20", "0.00", "0.20")
        )


async def test_reward_rows_are_recorded_once_by_type_and_tran_id(tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    ledger.open()

    class Client:
        time_offset_ms = 0

        def blocked_for(self):
            return 0.0

        async def income(self, symbol, kind, start, end, limit):
            if kind != "MARKET_MERCHANT_RETURN_REWARD":
                return []
            row = {"symbol": SYMBOL, "incomeType": kind, "income": "0.5", "asset": "USDT", "time": end - 10}
            return [{**row, "tranId": "77"}, {**row, "tranId": "77"}, {**row, "tranId": "78", "income": "0.25"}]

    sync = IncomeSync(Client(), SYMBOL, ledger, 3600, 0, lambda: 0, "amm-r")
    assert await sync.sync() == 2 and await sync.sync() == 0
    assert ledger.day(time.strftime("%Y-%m-%d", time.gmtime())).rebates == D("0.75")
    ledger.close()


def test_a_commission_in_another_asset_is_estimated_at_the_accounts_rates():
    """A fee paid in BNB cannot be counted in USD; the session's PnL counts it at the account's rate (read at
    start: FeeRates) rather than as nothing."""
    from aster_mm.accounting.pnl import SessionPnL
    from aster_mm.core.state import FeeRates

    session = SessionPnL(start_ms=0)
    for maker, asset in ((True, "BNB"), (False, "BNB"), (True, "USDT")):
        session.add(Entry(FILL, 1, SYMBOL, price=D("2000"), qty=D("1"), maker=maker, commission=D("0.001"),
                          commission_asset=asset))  # fmt: skip
    figures = session.figures(D(0), None, None, rates=FeeRates(D("-0.00002"), D("0.0003")))
    assert figures.fees == D("0.001") + D("2000") * D("-0.00002") + D("2000") * D("0.0003")
    assert figures.net == -figures.fees
