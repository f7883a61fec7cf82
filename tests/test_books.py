"""The bot's books (aster_mm/accounting/books.py) never lose a fill (issue 20, item 4; invariant 10): runs killed right
after fills, again and again, with the market filling their orders while they are down, leave every exchange
trade in the ledger exactly once; every run marks its start, so that a run killed before its first
reconciliation is covered by the next.

The figures of the restart loop (runs, kills, trades, ledger rows) are printed (`pytest -s` shows them)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from decimal import Decimal as D

from helpers import SYMBOL, BotRun, open_orders, run_cli, set_mid, signer_for, wait_open

from aster_mm.accounting.ledger import FILL, INCOME, START, SYNC, read_entries
from aster_mm.exchange.client import AsterClient
from aster_mm.simulator import SimExchange

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
