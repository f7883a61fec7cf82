"""Income reconciliation: bring into the ledger what the exchange's income history holds and the ledger
lacks (fees, realized PnL and funding while the bot was down, fills whose stream event was lost).

It runs when the user stream connects (at start and after every reconnect: events may have been lost)
and every hour. Each round reads GET /fapi/v1/income (REALIZED_PNL, COMMISSION, FUNDING_FEE) from where
the previous round stopped (the ledger's last `sync` row; a new ledger starts at the session's start)
to a few seconds ago, so the stream's own events arrive first. A trade id the ledger lacks is a fill it
never saw: its side, price, quantity and order come from GET /fapi/v1/userTrades, its commission and
realized PnL from the income rows. Rows are written with source `income`; the ledger drops what it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from aster_mm.accounting.ledger import FILL, FUNDING, INCOME, SYNC, ZERO, Entry, Ledger
from aster_mm.exchange.client import AsterClient, ExchangeError

log = logging.getLogger("ledger")

KINDS = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE")
PAGE = 1000  # the largest page both endpoints give
WINDOW_MS = 7 * 24 * 3600 * 1000  # userTrades refuses a longer window
OLDEST_MS = 90 * 24 * 3600 * 1000  # never ask further back than this


def income_entries(symbol: str, rows: list[dict], trades: dict[str, dict]) -> list[Entry]:
    """Ledger entries from income rows (deduplicated by type and tranId), oldest first: one fill per trade
    id (details from `trades` by id when known), one funding entry per FUNDING_FEE row."""
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
    ):
        self.client, self.symbol, self.ledger = client, symbol, ledger
        self.every, self.lag = every, lag
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

    def _now_ms(self) -> int:
        return int(time.time() * 1000) + self.client.time_offset_ms

    async def sync(self) -> int:
        """One round; returns how many rows it added."""
        end = self._now_ms() - int(self.lag * 1000)
        start = self.ledger.synced_ms or self.ledger.first_ms or self.session_start_ms()
        start = max(start, end - OLDEST_MS)
        if start > end:
            return 0
        rows = [r for kind in KINDS for r in await self._pages(self.client.income, kind, start, end)]
        missing = {
            str(r["tradeId"]): int(r["time"])
            for r in rows
            if r["incomeType"] != "FUNDING_FEE" and r.get("tradeId") and str(r["tradeId"]) not in self.ledger.trade_ids
        }
        trades = await self._trades(min(missing.values()), max(missing.values())) if missing else {}
        added = sum(self.ledger.record(e) for e in income_entries(self.symbol, rows, trades))
        self.ledger.record(Entry(SYNC, end, self.symbol, INCOME))
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
