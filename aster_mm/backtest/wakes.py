"""When the backtest wakes the strategy: when what it reads can have changed, and at the data's gaps.

hftbacktest can wake its caller at every feed event (wait_next_feed), but a day of BTC holds ~300,000 of
them and the bot reads only the top of the book, which changes ~45,000 times. So the runner lets
hftbacktest run, in one call, straight to the next moment the strategy's inputs can change: the next
change of what it reads of the book, the next response to its live order, the next gap edge. It finds
those book changes with one bare pass of hftbacktest over the data (orders never change the local book,
so the pass holds for every setting), cached beside the converted events.

What a strategy reads is declared, so a model can read more without the runner guessing: `Strategy.reads`
(aster_mm.core.strategy.Reads: the touch prices for the spread models; ten levels with their sizes, and
the clock, for the signal model). The runner calls the strategy only when its inputs changed: what it
reads of the book, its live order's record, the staleness of the data and `Strategy.signal_key()` (its
signal rounded to the resolution it acts on, and the clock it reads). Runner.run(every_event=True) wakes
at every feed event instead: the reference loop, slower, whose fills the fast one must reproduce
(tests/test_backtest_days.py).

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

import hashlib
import os
from pathlib import Path

import numpy as np

from aster_mm.backtest import engine
from aster_mm.backtest.bot import TOP_OF_BOOK as TOP_OF_BOOK  # re-exported: the spread models' reads
from aster_mm.backtest.bot import Reads
from aster_mm.backtest.convert import MarketData
from aster_mm.backtest.stream import LOCAL_EVENT, TRADE_EVENT

NS = 1_000_000_000
NEVER = 1 << 62  # later than any data


def book_changes(market: MarketData, tick: float, lot: float, reads: Reads) -> np.ndarray:
    """Local ns at which what `reads` reads of the book changed (the first feed event included), sorted;
    cached in the market's cache directory."""
    name = hashlib.sha1(repr((tick, lot, reads.levels, reads.quantities)).encode()).hexdigest()[:16]
    path = Path(market.cache_dir) / f"wakes-{name}.npy"
    if market.cache_dir and path.is_file():
        return np.load(path)
    times = _bare_pass(market, engine.EngineConfig(tick=tick, lot=lot), reads)
    if market.cache_dir:
        partial = path.with_name(f"{path.stem}.{os.getpid()}.npy")
        np.save(partial, times)
        partial.replace(path)
    return times


def _bare_pass(market: MarketData, cfg: engine.EngineConfig, reads: Reads) -> np.ndarray:
    bt = engine.Backtest(market.chunks, market.price_range, cfg)
    advance, levels, out, last = bt.advance, bt.levels, [], None
    try:
        while advance(NEVER, False) != engine.END_OF_DATA:
            seen = levels(reads.levels, reads.quantities)
            if seen != last:
                out.append(bt.timestamp)
                last = seen
    finally:
        bt.close()
    return np.array(out, dtype=np.int64)


def trade_times(market: MarketData) -> np.ndarray:
    """Local ns of every market trade."""
    times = []
    for chunk in market.chunks:
        events = np.load(chunk)["data"]
        mine = (events["ev"] & (TRADE_EVENT | LOCAL_EVENT)) == (TRADE_EVENT | LOCAL_EVENT)
        times.append(events["local_ts"][mine])
    return np.concatenate(times) if times else np.zeros(0, np.int64)


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
    """The wake times in order; `after(now)` is the first later than `now` (NEVER when none is)."""

    def __init__(self, times: np.ndarray, every_s: float | None = None):
        self.times = np.unique(times)
        self.every_ns = int(every_s * NS) if every_s else 0
        self._i = 0

    def after(self, now: int) -> int:
        times, i = self.times, self._i
        while i < len(times) and times[i] <= now:
            i += 1
        self._i = i
        nxt = int(times[i]) if i < len(times) else NEVER
        if self.every_ns:
            nxt = min(nxt, (now // self.every_ns + 1) * self.every_ns)
        return nxt


def schedule(market: MarketData, cfg: engine.EngineConfig, reads: Reads, gaps: Gaps, every_event: bool) -> Schedule:
    """The wakes beyond hftbacktest's own (every feed event when `every_event`, else the responses to the
    live order): the gap edges, and unless `every_event` the changes of what the strategy reads."""
    parts = [gaps.edges()]
    if not every_event:
        parts.append(book_changes(market, cfg.tick, cfg.lot, reads))
        if reads.trades:
            parts.append(trade_times(market))
    return Schedule(np.concatenate(parts), reads.every_s)
