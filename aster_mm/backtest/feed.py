"""What the bot's market stream has told the strategy by each wake of the backtest, fed to its models as
aster_mm/live/feeds.py feeds them: the adaptive model every trade and every changed top of the book, the
signal model every trade and every changed book of the levels it reads (hftbacktest's book holds no order of
ours, so nothing is taken out of it).

The book comes from the bare pass's table (wakes.BookTable: the row in force at a wake is the last one at or
before it), the trades from the converted stream (wakes.Trades, up to the wake's time): the same values
hftbacktest's depth and trade buffer give at that moment, read without a call into it.
"""

from __future__ import annotations

import numpy as np

from aster_mm.backtest.bot import AdaptiveSpreads, Book, SignalState
from aster_mm.backtest.wakes import BookTable, Trades

NS = 1_000_000_000
VALID_TICK = 1 << 62  # hftbacktest marks an empty side with i64::MIN / i64::MAX, the table a missing level with ±1<<62


class MarketFeed:
    def __init__(
        self,
        table: BookTable,
        trades: Trades | None,
        tick: float,
        spreads: AdaptiveSpreads | None = None,
        signal: SignalState | None = None,
    ):
        """`trades`: None when no model reads them; `spreads`, `signal`: the models fed (None: not on)."""
        self.table, self.tick, self.spreads, self.signal = table, tick, spreads, signal
        self.times: list[int] = table.times.tolist()
        self.touch_since: list[int] = table.touch_since.tolist()
        self._bids: list[int] = table.top[:, 0].tolist()
        self._asks: list[int] = table.top[:, 1].tolist()
        self.row = -1  # the table's row in force
        self.top = (-VALID_TICK, VALID_TICK)  # hftbacktest's best bid and ask ticks (none before the first book)
        self._fed_row = -1  # the last row the signal read
        self._prices: np.ndarray | None = None  # the levels' prices and how many each side shows (levels())
        self._shown = np.zeros((0, 2), dtype=np.int64)
        self._top: tuple[int, int] | None = None  # the top the adaptive model last saw
        self._trade = 0  # the next trade to feed
        self._trade_ns: list[int] = [] if trades is None else trades.local_ts.tolist()
        if trades is not None:  # the times as the models take them: seconds, as floats
            self._trade_t: list[float] = (trades.local_ts / NS).tolist()
            self._trade_px: list[float] = trades.px.tolist()
            self._trade_qty: list[float] = trades.qty.tolist()
            self._trade_buy: list[bool] = trades.buy.tolist()

    def advance(self, now: int) -> int:
        """Move to the book in force at `now` (never going back); returns its touch's identity: the row
        since which the best bid and ask have been what they are (-1 before the first book)."""
        times, row = self.times, self.row
        if row + 1 < len(times) and times[row + 1] <= now:
            row += 1
            while row + 1 < len(times) and times[row + 1] <= now:
                row += 1
            self.row, self.top = row, (self._bids[row], self._asks[row])
        return self.touch_since[row] if row >= 0 else -1

    def feed(self, now: int, book: Book | None) -> None:
        """Feed the models the trades up to `now` and the book in force. `book`: the top of the book the bot
        holds (the adaptive model measures each trade's distance from its mid)."""
        spreads, signal = self.spreads, self.signal
        if signal is not None:
            end = self._trades_until(now)
            t, qty, buy = self._trade_t, self._trade_qty, self._trade_buy
            for i in range(self._trade, end):
                signal.on_trade(t[i], qty[i], buy[i])
            self._trade = end
            if self.row != self._fed_row and self.row >= 0:
                self._fed_row = self.row
                bids, asks = self.levels(self.row)
                signal.on_depth(now / NS, bids, asks)
        if spreads is None:
            return
        end = self._trades_until(now)
        if end > self._trade and book is not None:
            mid, t, px = float(book.mid), self._trade_t, self._trade_px
            for i in range(self._trade, end):
                spreads.on_trade(t[i], px[i], mid)
        self._trade = end
        top = self.top
        if top != self._top and -VALID_TICK < top[0] < top[1] < VALID_TICK:
            self._top = top
            spreads.on_mid(now / NS, (top[0] + top[1]) * self.tick / 2)

    def _trades_until(self, now: int) -> int:
        """The index past the last trade the stream has delivered by `now`."""
        ns, i = self._trade_ns, self._trade
        while i < len(ns) and ns[i] <= now:
            i += 1
        return i

    def levels(self, row: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The row's bids and asks as (price, quantity), best first, the missing levels left out."""
        if self._prices is None:  # once: every level's price (tick * tick size, as the bot's float), and how
            ticks = self.table.ticks  # many levels each side shows (the missing ones come last)
            shown, n = (ticks > -VALID_TICK) & (ticks < VALID_TICK), ticks.shape[1] // 2
            self._prices = ticks * self.tick
            self._shown = np.stack([shown[:, :n].sum(1), shown[:, n:].sum(1)], 1)
        n = self.table.ticks.shape[1] // 2
        prices, qty = self._prices[row].tolist(), self.table.qty[row].tolist()
        nb, na = self._shown[row].tolist()
        return list(zip(prices[:nb], qty[:nb])), list(zip(prices[n : n + na], qty[n : n + na]))
