"""The CSV layout of recorded market data, and a writer that rotates the files per UTC day.

The layout is the one of ../shared/data/aster-2025-09-29/ (which the simulator's ReplayMarket and the
backtester read); the recorder appends a few columns after the original ones:

  orderbook_<SYM>.csv  unix_timestamp (local receipt, s), lastUpdateId (u), bid_price_0, bid_qty_0 ...
                       ask_price_9, ask_qty_9 (best first; empty cells when the book is thinner),
                       + event_time_ms (E), transaction_time_ms (T), gap
  trades_<SYM>.csv     id (aggregate trade id a), unix_timestamp_ms (trade time T), side (aggressor:
                       buy/sell), price, quantity, + event_time_ms (E), local_timestamp (receipt, s), gap
  prices_<SYM>.csv     unix_timestamp, bid, ask, mid (best of each depth frame), + gap

gap is 1 on the first row of a file written after data may have been missed (the stream dropped, or a
new run appended to an existing file), else 0. The flagged row is itself good data, so a reader that
ignores the column loses nothing; a reader that cares must not assume continuity between the previous
row and the flagged one.

With `compress=True` the files are `<kind>_<SYM>.csv.gz`: one gzip member per run (a restart appends a
member, which every gzip reader concatenates), and each flush() ends with a zlib sync flush, so a crash
loses at most the rows written since the last flush; reading.py reads such a file up to its last
complete row.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from aster_mm.recording.reading import first_line

LEVELS = 10
KINDS = ("orderbook", "trades", "prices")
HEADERS = {
    "orderbook": ["unix_timestamp", "lastUpdateId"]
    + [f"{side}_{what}_{i}" for side in ("bid", "ask") for i in range(LEVELS) for what in ("price", "qty")]
    + ["event_time_ms", "transaction_time_ms", "gap"],
    "trades": ["id", "unix_timestamp_ms", "side", "price", "quantity", "event_time_ms", "local_timestamp", "gap"],
    "prices": ["unix_timestamp", "bid", "ask", "mid", "gap"],
}


class WriteError(Exception):
    """A recording file cannot be opened or written (disk full, permissions, foreign file)."""


@dataclass(frozen=True)
class Book:
    """One partial-depth frame."""

    received: float  # local unix time of receipt, s
    update_id: int  # u: last update id
    event_ms: int  # E: event time
    transaction_ms: int | None  # T: transaction time (absent on some streams)
    bids: tuple[tuple[Decimal, Decimal], ...]  # b: (price, qty), best first
    asks: tuple[tuple[Decimal, Decimal], ...]  # a: (price, qty), best first


@dataclass(frozen=True)
class Trade:
    """One aggregate trade."""

    received: float  # local unix time of receipt, s
    trade_id: int  # a: aggregate trade id
    trade_ms: int  # T: trade time
    event_ms: int  # E: event time
    side: str  # aggressor, "buy" or "sell" (m true: the buyer was the maker, so a seller hit)
    price: Decimal  # p
    qty: Decimal  # q


def num(d: Decimal) -> str:
    return format(d, "f")


def book_row(book: Book) -> list[str]:
    cells = [f"{book.received:.6f}", str(book.update_id)]
    for levels in (book.bids, book.asks):
        for i in range(LEVELS):
            cells += [num(levels[i][0]), num(levels[i][1])] if i < len(levels) else ["", ""]
    return cells + [str(book.event_ms), "" if book.transaction_ms is None else str(book.transaction_ms)]


def price_row(book: Book) -> list[str] | None:
    if not book.bids or not book.asks:
        return None
    bid, ask = book.bids[0][0], book.asks[0][0]
    return [f"{book.received:.6f}", num(bid), num(ask), num((bid + ask) / 2)]


def trade_row(trade: Trade) -> list[str]:
    return [
        str(trade.trade_id),
        str(trade.trade_ms),
        trade.side,
        num(trade.price),
        num(trade.qty),
        str(trade.event_ms),
        f"{trade.received:.6f}",
    ]


def utc_day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


class DayFiles:
    """Appends rows to OUT/<UTC day>/<kind>_<SYM>.csv; the first row of a new day opens that day's files.

    Each day's folder holds all three files (with headers, maybe no rows), so it is a data directory
    that replays on its own. Rows are buffered until flush() or close(); `compress` writes .csv.gz.
    """

    def __init__(self, out_dir: Path, symbol: str, compress: bool = False):
        self.out_dir, self.symbol, self.compress = Path(out_dir), symbol, compress
        self.day: str | None = None
        self.rows = dict.fromkeys(KINDS, 0)  # rows written this run, all days
        self._files: dict[str, TextIO] = {}
        self._writers: dict[str, Any] = {}  # csv writers
        self._gap_pending: set[str] = set()

    def path(self, kind: str, day: str | None = None, compress: bool | None = None) -> Path:
        day = day or self.day
        if day is None:
            raise ValueError("no day yet: its files open with the first row")
        gz = self.compress if compress is None else compress
        return self.out_dir / day / f"{kind}_{self.symbol}.csv{'.gz' if gz else ''}"

    def mark_gap(self) -> None:
        """The next row of every file follows missing data."""
        self._gap_pending = set(KINDS)

    def write(self, kind: str, row: list[str], now: float) -> None:
        day = utc_day(now)
        if day != self.day:
            self._open_day(day)
        gap = kind in self._gap_pending
        self._gap_pending.discard(kind)
        try:
            self._writers[kind].writerow(row + ["1" if gap else "0"])
        except OSError as err:
            raise WriteError(f"cannot write {self.path(kind)}: {err.strerror or err}") from err
        self.rows[kind] += 1

    def flush(self) -> None:
        for kind, f in self._files.items():
            try:
                f.flush()  # a GzipFile flushes with Z_SYNC_FLUSH: all so far decompresses, even after a crash
            except OSError as err:
                raise WriteError(f"cannot write {self.path(kind)}: {err.strerror or err}") from err

    def close(self) -> None:
        files, self._files, self._writers = self._files, {}, {}
        for f in files.values():
            try:
                f.close()
            except OSError as err:
                raise WriteError(f"cannot write {f.name}: {err.strerror or err}") from err

    def _open_day(self, day: str) -> None:
        self.close()
        self.day = day
        for kind in KINDS:
            path, other = self.path(kind), self.path(kind, compress=not self.compress)
            if other.exists():
                raise WriteError(f"{other} exists: record into another directory, or {self._other_way}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                appending = path.exists() and path.stat().st_size > 0
                if appending:
                    self._check_header(path, HEADERS[kind])
                    self._gap_pending.add(kind)  # whatever happened between the runs is missing
                f = self._open(path)
            except OSError as err:
                raise WriteError(f"cannot open {path}: {err.strerror or err}") from err
            self._files[kind], self._writers[kind] = f, csv.writer(f)
            if not appending:
                self._writers[kind].writerow(HEADERS[kind])

    @property
    def _other_way(self) -> str:
        return "without --gzip" if self.compress else "with --gzip"

    def _open(self, path: Path) -> TextIO:
        if not self.compress:
            return open(path, "a", newline="", encoding="utf-8")
        return io.TextIOWrapper(gzip.open(path, "ab"), encoding="utf-8", newline="")

    @staticmethod
    def _check_header(path: Path, header: list[str]) -> None:
        found = next(csv.reader([first_line(path)]), [])
        if found != header:
            raise WriteError(f"{path} exists with other columns; record into another directory")
