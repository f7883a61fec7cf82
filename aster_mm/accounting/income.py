"""Income reconciliation: bring into the ledger what the exchange's income history holds and the ledger
lacks (fees, realized PnL and funding while the bot was down, fills whose stream event was lost, and the
market-maker rebates the exchange pays as income).

It runs when the user stream connects (at start and after every reconnect: events may have been lost),
every hour, and once more, bounded, when the bot stops. Each round reads GET /fapi/v1/income (REALIZED_PNL,
COMMISSION, FUNDING_FEE, MARKET_MERCHANT_RETURN_REWARD) from where the ledger says nothing can be missing
before (`Ledger.reconcile_from`: the last round's end, or the start of a run that never completed a round,
whichever is earlier; a minute more, for history rows that appear late) to a few seconds ago, so the
stream's own events arrive first. A trade id the ledger lacks is a fill it never saw: its side, price,
quantity and order come from GET /fapi/v1/userTrades, its commission and realized PnL from the income rows.
Rows are written with source `income`; the ledger drops what it has. The round ends with a `sync` row,
unless a row could not be written: then the next round covers it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from aster_mm.accounting.ledger import FILL, FUNDING, INCOME, REWARD, SYNC, ZERO, Entry, Ledger
from aster_mm.exchange.client import AsterClient, ExchangeError

log = logging.getLogger("ledger")

REWARD_TYPE = "MARKET_MERCHANT_RETURN_REWARD"  # V3 doc, "Get Income History": a documented incomeType
KINDS = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE", REWARD_TYPE)
PAGE = 1000  # the largest page both endpoints give
WINDOW_MS = 7 * 24 * 3600 * 1000  # userTrades refuses a longer window
OLDEST_MS = 90 * 24 * 3600 * 1000  # never ask further back than this
OVERLAP_MS = 60_000  # re-read this much before where the last round ended (the docs do not say how soon rows show)


def income_entries(symbol: str, rows: list[dict], trades: dict[str, dict]) -> list[Entry]:
    """Ledger entries from income rows (deduplicated by type and tranId), oldest first: one fill per trade
    id (details from `trades` by id when known), one funding entry per FUNDING_FEE row, one reward entry per
    MARKET_MERCHANT_RETURN_REWARD row (its amount as a negative commission: the docs do not tie it to a
    trade)."""
    unique = {(r["incomeType"], str(r["tranId"])): r for r in rows if r.get("symbol", symbol) == symbol}
    per_trade: dict[str, list[dict]] = defaultdict(list)
    entries = []
    for r in unique.values():
        if r["incomeType"] == "FUNDING_FEE":
            entries.append(
                Entry(
                    FUNDING,
                    int(r["time"]),
                    symbol,
                    INCOME,
                    tran_id=str(r["tranId"]),
                    funding=Decimal(r["income"]),
                    asset=r["asset"],
                )
            )
        elif r["incomeType"] == REWARD_TYPE:
            entries.append(
                Entry(
                    REWARD,
                    int(r["time"]),
                    symbol,
                    INCOME,
                    tran_id=str(r["tranId"]),
                    commission=-Decimal(r["income"]),
                    commission_asset=r["asset"],
                )
            )
        elif r["incomeType"] in ("REALIZED_PNL", "COMMISSION") and str(r.get("tradeId") or ""):
            per_trade[str(r["tradeId"])].append(r)
    for trade_id, group in per_trade.items():
        entries.append(_fill(symbol, trade_id, group, trades.get(trade_id)))
    return sorted(entries, key=lambda e: e.time_ms)


def _fill(symbol: str, trade_id: str, group: list[dict], trade: dict | None) -> Entry:
    fees = [r for r in group if r["incomeType"] == "COMMISSION"]
    commission = -sum((Decimal(r["income"]) for r in fees), ZERO)  # income is negative for a fee
    realized = sum((Decimal(r["income"]) for r in group if r["incomeType"] == "REALIZED_PNL"), ZERO)
    asset = fees[0]["asset"] if fees else (trade or {}).get("commissionAsset", "")
    if trade is None:
        log.warning(
            "trade %s is in the income history but not in the trade list: recorded without price and quantity", trade_id
        )
        return Entry(
            FILL,
            min(int(r["time"]) for r in group),
            symbol,
            INCOME,
            trade_id,
            commission=commission,
            commission_asset=asset,
            realized_pnl=realized,
        )
    return Entry(
        FILL,
        int(trade["time"]),
        symbol,
        INCOME,
        trade_id,
        "",
        str(trade["orderId"]),
        "",
        trade["side"],
        Decimal(trade["price"]),
        Decimal(trade["qty"]),
        bool(trade["maker"]),
        commission,
        asset,
        realized,
    )


class IncomeSync:
    def __init__(
        self,
        client: AsterClient,
        symbol: str,
        ledger: Ledger,
        every: float,
        lag: float,
        session_start_ms: Callable[[], int],
        run: str = "",
    ):
        """`run`: the client-id prefix of this run's orders, written on its sync rows."""
        self.client, self.symbol, self.ledger = client, symbol, ledger
        self.every, self.lag, self.run_name = every, lag, run
        self.session_start_ms = session_start_ms
        self._due = asyncio.Event()

    def poke(self) -> None:
        """Reconcile soon (the user stream (re)connected: events may have been lost)."""
        self._due.set()

    async def run(self) -> None:
        wait = self.every
        while True:
            try:
                async with asyncio.timeout(wait):
                    await self._due.wait()
            except TimeoutError:
                pass
            self._due.clear()
            await asyncio.sleep(self.lag)  # the stream's own events for what just happened first
            await asyncio.sleep(self.client.blocked_for())  # never during a 429 back-off or a 418 ban
            try:
                await self.sync()
                wait = self.every
            except (ExchangeError, OSError, ValueError, KeyError, TypeError, ArithmeticError) as err:
                log.warning("income reconciliation failed (%s): trying again in a minute", err)
                wait = min(60.0, self.every)

    async def final(self, budget: float) -> None:
        """The last round, when the bot stops: up to now (the streams are closed: no event is coming first),
        at most `budget` seconds, never during a 429 back-off or a ban (what it cannot read, the next run's
        first round does)."""
        if self.client.blocked_for() > 0:
            log.warning("no final income reconciliation: a rate-limit back-off is in force")
            return
        try:
            async with asyncio.timeout(budget):
                await self.sync(lag=0.0)
        except (TimeoutError, ExchangeError, OSError, ValueError, KeyError, TypeError, ArithmeticError) as err:
            log.warning("final income reconciliation not done (%s): the next run's first one covers it", err)

    def _now_ms(self) -> int:
        return int(time.time() * 1000) + self.client.time_offset_ms

    async def sync(self, lag: float | None = None) -> int:
        """One round, up to `lag` seconds ago (default: the configured lag); returns how many rows it added."""
        end = self._now_ms() - int((self.lag if lag is None else lag) * 1000)
        start = self.ledger.reconcile_from(OVERLAP_MS)
        start = max(self.session_start_ms() if start is None else start, end - OLDEST_MS)
        if start > end:
            return 0
        failures = self.ledger.write_failures
        rows = [r for kind in KINDS for r in await self._pages(self.client.income, kind, start, end)]
        rows = [r for r in rows if str(r.get("tradeId") or "") not in self.ledger.trade_ids]  # fills it has
        missing = {
            str(r["tradeId"]): int(r["time"])
            for r in rows
            if r["incomeType"] in ("REALIZED_PNL", "COMMISSION") and r.get("tradeId")
        }
        trades = await self._trades(min(missing.values()), max(missing.values())) if missing else {}
        added = sum(self.ledger.record(e) for e in income_entries(self.symbol, rows, trades))
        if self.ledger.write_failures != failures:
            log.warning("income reconciliation: rows could not be written; the next round reads them again")
            return added
        self.ledger.record(Entry(SYNC, end, self.symbol, INCOME, client_id=self.run_name))
        if added:
            log.info("income reconciliation: %d row(s) the ledger lacked, from %s to %s", added, start, end)
        return added

    async def _pages(self, fetch, kind: str | None, start: int, end: int) -> list[dict]:
        """Every row from start to end (inclusive), in windows of 7 days, paging on by time."""
        out = []
        for lo in range(start, end + 1, WINDOW_MS):
            hi, at = min(end, lo + WINDOW_MS - 1), lo
            while True:
                page = await (fetch(self.symbol, kind, at, hi, PAGE) if kind else fetch(self.symbol, at, hi, PAGE))
                out.extend(page)
                if len(page) < PAGE:
                    break
                last = max(int(r["time"]) for r in page)
                at = last if last > at else at + 1  # rows sharing `last` come again: deduplicated later
        return out

    async def _trades(self, start: int, end: int) -> dict[str, dict]:
        return {str(t["id"]): t for t in await self._pages(self.client.user_trades, None, start, end)}
