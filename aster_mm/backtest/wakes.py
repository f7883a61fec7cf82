"""When the backtest wakes the strategy: when what it reads can have changed, and at the data's gaps.

hftbacktest can wake its caller at every feed event (wait_next_feed), but a day of BTC holds ~300,000 of
them and the bot reads only the top of the book, which changes ~45,000 times. So the runner lets
hftbacktest run, in one call, straight to the next moment the strategy's inputs can change: the next
change of what it reads of the book, the next response to its live order, the next gap edge, and, while
the strategy reads the clock (`Strategy.wake_within`), the next tick of it. It finds those book changes
with one bare pass of hftbacktest over the data (orders never change the local book, so the pass holds for
every setting), and keeps the book as read at each of them (`BookTable`), so that the loop reads the book
from the table rather than through hftbacktest's depth; both are cached beside the converted events, as
are the market's trades (`Trades`).

What a strategy reads is declared, so a model can read more without the runner guessing: `Strategy.reads`
(aster_mm.core.strategy.Reads: the touch prices for the spread models; ten levels with their sizes, and
the clock, for the signal model). The runner asks the strategy only when the inputs of its decision changed
(runner.py). Runner.run(every_event=True) wakes at every feed event instead: the reference loop, slower,
whose fills the fast one must reproduce (tests/test_backtest_days.py).

Gaps. The data is not invented where it is missing: a stretch of more than `gap_s` seconds without a
book row or a trade (by receipt time) is a gap. At `gap_s` into it the live bot would find its market
data stale (no frame of any kind for Timings.stale_after, 30 s by default) and pull its quote; the
backtest does the same: it cancels the live order then, and places nothing until the first book row
after the gap (a quote priced off the book from before the gap would invent the market in between).
Nothing after the gap can fill an order placed before it. A book that stays still while trades print is
not a gap: the live bot would keep quoting on it too. Recordings that drop unchanged snapshots (the
StandX days) have many such stretches; `backtest.py inspect` lists book and trade silences apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aster_mm.backtest import engine
from aster_mm.backtest.bot import TOP_OF_BOOK as TOP_OF_BOOK  # re-exported: the spread models' reads
from aster_mm.backtest.bot import Reads
from aster_mm.backtest.convert import MarketData
from aster_mm.backtest.stream import BUY_EVENT, EVENT_DTYPE, LOCAL_EVENT, TRADE_EVENT

NS = 1_000_000_000
NEVER = 1 << 62  # later than any data


@dataclass(frozen=True)
class BookTable:
    """What a strategy reads of the local book, at each change of it: the local ns of the change (sorted,
    the first feed event included), hftbacktest's best bid and ask ticks then, the ticks of the best `levels`
    of each side (bids best first, then asks; -NO_LEVEL / +NO_LEVEL where a side is thinner), their
    quantities if read (else an empty array), and for each change the first change since which the touch
    (best bid and ask) has been the same.

    hftbacktest moves its local book only on feed events, and a wait returns after every event of its last
    timestamp, so the book the backtest sees at any time is the table's last row at or before that time."""

    times: np.ndarray  # int64 [n]
    top: np.ndarray  # int64 [n, 2]
    ticks: np.ndarray  # int64 [n, 2 * levels]
    qty: np.ndarray  # float64 [n, 2 * levels], or [n, 0] when the quantities are not read
    touch_since: np.ndarray  # int64 [n]

    @classmethod
    def of(cls, times: list[int], tops: list[tuple[int, int]], rows: list[tuple], reads: Reads) -> BookTable:
        """From the tops and the rows of `Backtest.levels` (ticks, then quantities when read, per side)."""
        n, width = reads.levels, 2 * reads.levels if reads.quantities else reads.levels
        cells = np.array(rows, dtype=object).reshape(len(rows), 2 * width)  # Python ints: ticks up to i64::MAX
        ticks = cells[:, [*range(n), *range(width, width + n)]].astype(np.int64)
        qty = cells[:, [*range(n, width), *range(width + n, 2 * width)]].astype(np.float64)
        top = np.array(tops, dtype=np.int64).reshape(len(tops), 2)
        moved = np.ones(len(top), dtype=bool)
        moved[1:] = np.any(top[1:] != top[:-1], axis=1)
        since = np.maximum.accumulate(np.where(moved, np.arange(len(top)), 0))
        return cls(np.array(times, dtype=np.int64), top, ticks, qty, since)


def book_table(market: MarketData, tick: float, lot: float, reads: Reads) -> BookTable:
    """The book as `reads` reads it, at every change (one bare pass of hftbacktest over the data: orders
    never move the local book, so it holds for every setting); cached in the market's cache directory."""
    name = hashlib.sha1(repr((tick, lot, reads.levels, reads.quantities)).encode()).hexdigest()[:16]
    return BookTable(**cached(market, f"book-{name}", lambda: _bare_pass(market, tick, lot, reads)))


def cached(market: MarketData, name: str, compute: Callable[[], Any]) -> dict[str, np.ndarray]:
    """The arrays of the dataclass `compute()` makes, kept as `name`.npz in the market's cache directory."""
    path = Path(market.cache_dir) / f"{name}.npz"
    if market.cache_dir and path.is_file():
        with np.load(path) as saved:
            return dict(saved)
    arrays = dataclasses.asdict(compute())
    if market.cache_dir:
        partial = path.with_name(f"{name}.{os.getpid()}.npz")
        np.savez(partial, **arrays)
        partial.replace(path)
        for old in path.parent.glob("wakes-*.npy"):  # what book_table replaced
            old.unlink(missing_ok=True)
    return arrays


def book_changes(market: MarketData, tick: float, lot: float, reads: Reads) -> np.ndarray:
    """Local ns at which what `reads` reads of the book changed (the first feed event included), sorted."""
    return book_table(market, tick, lot, reads).times


def _bare_pass(market: MarketData, tick: float, lot: float, reads: Reads) -> BookTable:
    bt = engine.Backtest(market.chunks, market.price_range, engine.EngineConfig(tick=tick, lot=lot))
    advance, levels, times, tops, rows, last = bt.advance, bt.levels, [], [], [], None
    try:
        while advance(NEVER, False) != engine.END_OF_DATA:
            seen = levels(reads.levels, reads.quantities)
            if seen != last:
                times.append(bt.timestamp)
                tops.append(bt.top_ticks())
                rows.append(seen)
                last = seen
    finally:
        bt.close()
    return BookTable.of(times, tops, rows, reads)


@dataclass(frozen=True)
class Trades:
    """The market's trades as the bot receives them: local ns (sorted), price, quantity, and whether the
    buyer was the aggressor."""

    local_ts: np.ndarray
    px: np.ndarray
    qty: np.ndarray
    buy: np.ndarray


def market_trades(market: MarketData) -> Trades:
    """Every trade event of the local feed, in the stream's order (hftbacktest's local processor sees them
    in this order, each at its local time); cached in the market's cache directory."""
    return Trades(**cached(market, "trades", lambda: _trades(market)))


def _trades(market: MarketData) -> Trades:
    parts = []
    for chunk in market.chunks:
        events = np.load(chunk)["data"]
        parts.append(events[(events["ev"] & (TRADE_EVENT | LOCAL_EVENT)) == (TRADE_EVENT | LOCAL_EVENT)])
    events = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
    return Trades(events["local_ts"], events["px"], events["qty"], (events["ev"] & BUY_EVENT) != 0)


def trade_times(market: MarketData) -> np.ndarray:
    """Local ns of every market trade."""
    return market_trades(market).local_ts


class Gaps:
    """The data's gaps: stretches of more than `gap_s` seconds without a book row or a trade."""

    def __init__(self, gap_s: float, silences: np.ndarray):
        """`silences`: rows of (last frame before, first frame after, first book row at or after it), local ns."""
        if gap_s < 1:
            raise ValueError(f"the gap threshold must be at least 1 s, got {gap_s:g}")
        long = silences[(silences[:, 1] - silences[:, 0]) > gap_s * NS]
        self.gap_s, self.start, self.end = gap_s, long[:, 0], long[:, 1]
        self.stale_from, self.until = _merged(long[:, 0] + int(gap_s * NS), long[:, 2])
        self._i = 0  # the first stale stretch not over yet, for `stale` (asked in time order)

    @classmethod
    def of(cls, market: MarketData, gap_s: float) -> Gaps:
        return cls(gap_s, market.silences)

    def stale(self, now: int) -> bool:
        """Whether the bot holds its quote back at `now` (asked with `now` never going back): from `gap_s`
        into a gap until the first book row after it."""
        i, until = self._i, self.until
        while i < len(until) and until[i] <= now:
            i += 1
        self._i = i
        return i < len(until) and now >= self.stale_from[i]

    def edges(self) -> np.ndarray:
        return np.concatenate([self.stale_from, self.until[self.until < NEVER]])

    def summary(self) -> dict:
        lengths = (self.end - self.start) / NS
        return {
            "threshold_s": self.gap_s,
            "count": len(lengths),
            "total_s": round(float(lengths.sum()), 3),
            "longest_s": round(float(lengths.max()), 3) if len(lengths) else 0.0,
            "longest_at_ns": int(self.start[int(np.argmax(lengths))]) if len(lengths) else None,
        }


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the intervals [start, end), as sorted disjoint ones."""
    out: list[list[int]] = []
    for a, b in sorted(zip(starts.tolist(), ends.tolist())):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    pairs = np.array(out, dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


class Schedule:
    """The wake times in order; `after(now)` is the first later than `now` (NEVER when none is), or earlier the
    next tick of the clock (every `every_s`) when the strategy reads it now."""

    def __init__(self, times: np.ndarray, every_s: float | None = None):
        self.times: list[int] = np.unique(times).tolist()
        self.every_ns = int(every_s * NS) if every_s else 0
        self._i = 0

    def after(self, now: int, clock: bool = True) -> int:
        times, i = self.times, self._i
        while i < len(times) and times[i] <= now:
            i += 1
        self._i = i
        nxt = times[i] if i < len(times) else NEVER
        if self.every_ns and clock:
            nxt = min(nxt, (now // self.every_ns + 1) * self.every_ns)
        return nxt


def schedule(market: MarketData, table: BookTable, reads: Reads, gaps: Gaps, every_event: bool) -> Schedule:
    """The wakes beyond hftbacktest's own (every feed event when `every_event`, else the responses to the
    live order): the gap edges, and unless `every_event` the changes of what the strategy reads."""
    parts = [gaps.edges()]
    if not every_event:
        parts.append(table.times)
        if reads.trades:
            parts.append(trade_times(market))
    return Schedule(np.concatenate(parts), reads.every_s)
