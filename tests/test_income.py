"""Income reconciliation (aster_mm/accounting/income.py): income rows become ledger rows once, read page by page; a
round that could not write a row writes no sync row; market-maker rewards are recorded once."""

from __future__ import annotations

import time
from decimal import Decimal as D

from helpers import SYMBOL, BotRun, wait_open

from aster_mm.accounting.income import IncomeSync
from aster_mm.accounting.ledger import FILL, FUNDING, Ledger


# ------------------------------------------------------------------------------------ income rows into the ledger
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


# ---------------------------------------------------------------- a round that could not write a row, and rewards
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
