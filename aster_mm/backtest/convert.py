"""Recorded CSVs -> hftbacktest's event array, and the symbol's trading rules.

The recorder wrote 10-level book snapshots (`orderbook_<SYM>.csv[.gz]`, one timestamp in float seconds)
and aggressor-side trades (`trades_<SYM>.csv[.gz]`, one timestamp in ms). hftbacktest wants a stream of
market-by-price updates, so consecutive snapshots are diffed: a level whose quantity changed is a depth
event with the new quantity, a level that left the 10 recorded levels is a depth event with quantity 0.
Depth beyond the recorded levels is therefore unknown and treated as empty.

Several day folders make one continuous stream: their rows are joined in time order and converted as
one, so the first snapshot of a day is a diff from the last one of the day before and the two days'
events interleave where receipt and exchange times straddle midnight. A stretch without book rows
stays one (the runner treats a long one as a gap: wakes.py); nothing is filled in. The silences of the
feed (no book row and no trade, by local receipt) of a second or more are kept with the conversion.

Times: a book row's `unix_timestamp` is its local receipt and a trade's `unix_timestamp_ms` the
exchange's trade time (aster_mm/recording/market_csv.py). Newer recordings also carry the other stamp
(a book's transaction/event time, a trade's receipt); where a row has only one, the other is derived
with an assumed constant feed latency, and the report says which.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from aster_mm.backtest import stream
from aster_mm.backtest.bot import SymbolRules
from aster_mm.recording.reading import data_file, head_lines

# Rules of the symbols in the shared recordings, as the exchange's exchangeInfo listed them.
KNOWN_RULES = {
    "BNBUSDT": ("0.01", "0.01", "0.01", "5"),
    "ASTERUSDT": ("0.0001", "0.01", "0.01", "5"),
}
DEFAULT_MIN_NOTIONAL = Decimal(5)
INFER_FROM_ROWS = 20_000
CACHE_FORMAT = 4  # bump when the event stream or its metadata change
CHUNK_EVENTS = 2_000_000  # events per .npz file (128 MB)
SILENCE_KEPT_NS = 1_000_000_000  # silences of the feed at least this long are kept for the gap rule

Files = tuple[Path, Path]  # one day's (book, trades) files


@dataclass(frozen=True)
class MarketData:
    chunks: list[str]  # .npz files of hftbacktest events (key "data"), to be read in this order
    mid_ts: np.ndarray  # exchange ns of each snapshot with both sides
    mid: np.ndarray  # that snapshot's mid (float, for statistics)
    n_snapshots: int
    n_trades: int
    feed_latency_ns: int
    start_ns: int  # exchange time of the first and last event
    end_ns: int
    feed_note: str  # how the feed latency was found, for the report
    price_range: tuple[float, float]  # lowest and highest price of any event
    silences: np.ndarray  # (start, end, next book row) local ns of each silence >= 1 s of the whole feed
    local_end_ns: int  # local time of the last event
    cache_dir: str  # where what is derived from these events (wakes.py) is cached
    days: tuple[str, ...]  # the data folders, in time order


def data_files(data_dir: Path, symbol: str) -> Files:
    """The folder's book and trades files for `symbol`, plain or gzip."""
    return data_file(data_dir, "orderbook", symbol), data_file(data_dir, "trades", symbol)


def _decimals(texts) -> int:
    return max((max(0, -int(Decimal(t).normalize().as_tuple().exponent)) for t in set(texts) if t), default=0)


def symbol_rules(
    symbol: str, book_csv: Path, trades_csv: Path, tick: Decimal | None = None, step: Decimal | None = None
) -> SymbolRules:
    """Known rules for the recorded symbols; otherwise the tick from the prices' decimals and the step
    from the quantities' decimals in the files' first INFER_FROM_ROWS rows (a day's files are too long to
    read twice). `tick`/`step` override either."""
    if symbol in KNOWN_RULES:
        t, s, min_qty, min_notional = (Decimal(x) for x in KNOWN_RULES[symbol])
    elif tick is not None and step is not None:
        t, s, min_qty, min_notional = tick, step, step, DEFAULT_MIN_NOTIONAL
    else:
        header, *rows = list(csv.reader(head_lines(book_csv, INFER_FROM_ROWS)))
        trade_rows = list(csv.reader(head_lines(trades_csv, INFER_FROM_ROWS)))[1:]
        px_cols = [i for i, name in enumerate(header) if "_price_" in name]
        qty_cols = [i for i, name in enumerate(header) if "_qty_" in name]
        t = Decimal(1).scaleb(-_decimals([r[i] for r in rows for i in px_cols] + [r[3] for r in trade_rows]))
        s = Decimal(1).scaleb(-_decimals([r[i] for r in rows for i in qty_cols] + [r[4] for r in trade_rows]))
        min_qty, min_notional = s, DEFAULT_MIN_NOTIONAL
    t, s = tick or t, step or s
    return SymbolRules(
        symbol=symbol, status="TRADING", tick=t, step=s, min_qty=max(min_qty, s), min_notional=min_notional
    )


def load(book_csv: Path, trades_csv: Path, feed_latency_ns: int, cache_root: Path | None = None) -> MarketData:
    """One folder's files as hftbacktest's event stream (see load_days)."""
    return load_days([(book_csv, trades_csv)], feed_latency_ns, cache_root)


def load_days(days: list[Files], feed_latency_ns: int, cache_root: Path | None = None) -> MarketData:
    """The days' files as one hftbacktest event stream (stream.py), written as .npz chunks under
    `cache_root` (default: ~/.cache/aster-mm/backtest/<hash of the folders>, or under $XDG_CACHE_HOME), one
    directory per symbol and feed latency, reused while every file keeps its path, size and mtime."""
    cache, key = _cache_dir(days, feed_latency_ns, cache_root)
    meta_path = cache / "meta.npz"
    if meta_path.is_file() and (market := _read_meta(cache, meta_path, key)) is not None:
        return market
    # One conversion at a time per cache directory: processes started together (the optimiser's workers) wait for
    # the first one's and read it, rather than converting again and removing it under its reader as stale.
    with open(cache.with_name(f"{cache.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if meta_path.is_file() and (market := _read_meta(cache, meta_path, key)) is not None:
            return market
        build = cache.with_name(f"{cache.name}.building-{os.getpid()}")  # readers never see half a cache
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        meta = _convert(days, feed_latency_ns, build)
        np.savez(build / meta_path.name, key=key, **meta)
        shutil.rmtree(cache, ignore_errors=True)  # a stale conversion
        build.rename(cache)
    market = _read_meta(cache, meta_path, key)
    if market is None:
        raise ValueError(f"{cache} changed while it was being written; run again")
    return market


def _read_days(days: list[Files], feed_latency_ns: int) -> tuple[stream.Columns, stream.Columns, list[str]]:
    """Every day's book and trades, joined in time order; overlapping days are refused."""
    parts = []
    for book_csv, trades_csv in days:
        book = stream.read_book(book_csv, feed_latency_ns)
        parts.append((book, stream.read_trades(trades_csv, feed_latency_ns), str(book_csv.parent)))
    parts.sort(key=lambda p: int(p[0]["local"][0]) if len(p[0]["local"]) else 0)
    for (before, _, name_a), (after, _, name_b) in zip(parts, parts[1:]):
        if len(before["local"]) and len(after["local"]) and after["local"][0] < before["local"][-1]:
            raise ValueError(f"{name_a} and {name_b} overlap in time: give each day once")
    books, trades, names = zip(*parts)
    return stream.join(list(books)), stream.join(list(trades)), list(names)


def _convert(days: list[Files], feed_latency_ns: int, build: Path) -> dict:
    """Writes the event chunks into `build`; returns the metadata to keep beside them."""
    book, trades, names = _read_days(days, feed_latency_ns)
    stats = _Stats()
    chunks: list[str] = []
    pending: list[np.ndarray] = []
    last = (np.iinfo(np.int64).min, np.iinfo(np.int64).min)
    for piece in stream.ordered_events(stats.watch(stream.raw_windows(book, trades, stats.on_mids))):
        pending.append(piece)
        if sum(len(p) for p in pending) >= CHUNK_EVENTS:
            last = _write_chunk(build, chunks, pending, last)
            pending = []
    if pending or not chunks:
        last = _write_chunk(build, chunks, pending, last)
    measured, total = book["measured"] + trades["measured"], len(book["local"]) + len(trades["exch"])
    return {
        "mid_ts": np.concatenate([m[0] for m in stats.mids]) if stats.mids else np.zeros(0, np.int64),
        "mid": np.concatenate([m[1] for m in stats.mids]) if stats.mids else np.zeros(0),
        "counts": np.array([len(book["local"]), len(trades["exch"]), len(chunks)]),
        "span": np.array(stats.span if stats.span[0] <= stats.span[1] else [0, 0]),
        "feed_latency_ns": feed_latency_ns,
        "prices": np.array(stats.prices if stats.prices[0] <= stats.prices[1] else [1.0, 1.0]),
        "feed_note": _feed_note(stats.latencies, feed_latency_ns, measured, total),
        "silences": silences(book["local"], trades["local"]),
        "local_end": max(last[1], 0),
        "days": np.array(names),
    }


def silences(book_local: np.ndarray, trade_local: np.ndarray) -> np.ndarray:
    """(last frame before, first frame after, first book row at or after that) local ns of every
    stretch of SILENCE_KEPT_NS or more without a book row or a trade."""
    frames = np.sort(np.concatenate([book_local, trade_local]))
    quiet = np.flatnonzero(np.diff(frames) >= SILENCE_KEPT_NS)
    books = np.sort(book_local)
    after = np.searchsorted(books, frames[quiet + 1], side="left")
    resume = np.where(after < len(books), books[np.minimum(after, len(books) - 1)], np.iinfo(np.int64).max)
    return np.stack([frames[quiet], frames[quiet + 1], resume], axis=1).astype(np.int64)


class _Stats:
    """What the conversion notes on the way: mids, time span, price range, feed latencies."""

    def __init__(self) -> None:
        self.mids: list[tuple[np.ndarray, np.ndarray]] = []
        self.latencies: dict[int, int] = {}
        self.span = [int(np.iinfo(np.int64).max), int(np.iinfo(np.int64).min)]
        self.prices = [np.inf, -np.inf]

    def on_mids(self, ts: np.ndarray, mid: np.ndarray) -> None:
        ok = ~np.isnan(mid)
        self.mids.append((ts[ok], mid[ok]))

    def watch(self, windows: Iterator[tuple]) -> Iterator[tuple]:
        for raw, end in windows:
            if len(raw):
                ts, px = raw["exch_ts"], raw["px"]
                self.span = [min(self.span[0], int(ts[0])), max(self.span[1], int(ts.max()))]
                self.prices = [min(self.prices[0], float(px.min())), max(self.prices[1], float(px.max()))]
                values, counts = np.unique(raw["local_ts"] - raw["exch_ts"], return_counts=True)
                for v, c in zip(values.tolist(), counts.tolist()):
                    self.latencies[v] = self.latencies.get(v, 0) + c
            yield raw, end


def event_array(market: MarketData) -> np.ndarray:
    """All the events in one array (small data, tests)."""
    return np.concatenate([np.load(c)["data"] for c in market.chunks])


def _cache_dir(days: list[Files], feed_latency_ns: int, root: Path | None) -> tuple[Path, str]:
    """The cache directory, and the key its contents must carry to be current: every input file's path,
    size and modification time."""
    files = [p for day in days for p in day]
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha1(repr((CACHE_FORMAT, stats, feed_latency_ns)).encode()).hexdigest()
    if root is None:  # never beside the data: a shared data folder may be read-only
        folders = sorted(str(book.parent.resolve()) for book, _ in days)
        folder = hashlib.sha1("\n".join(folders).encode()).hexdigest()[:12]
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aster-mm" / "backtest" / folder
    root.mkdir(parents=True, exist_ok=True)
    symbol = days[0][0].name.removeprefix("orderbook_").split(".")[0]
    return root / f"{symbol}-feed{feed_latency_ns}ns", key


def _write_chunk(cache: Path, chunks: list[str], pieces: list[np.ndarray], last: tuple[int, int]) -> tuple[int, int]:
    events = np.concatenate(pieces) if pieces else np.zeros(0, stream.EVENT_DTYPE)
    last = _check_order(events, last)
    path = cache / f"events-{len(chunks):04d}.npz"
    np.savez(path, data=events)
    chunks.append(str(path))
    return last


def _check_order(events: np.ndarray, last: tuple[int, int]) -> tuple[int, int]:
    """hftbacktest's validate_event_order, across chunk boundaries too: returns the last exchange-side
    and local-side times."""
    out = []
    for flag, name, prev in ((stream.EXCH_EVENT, "exch_ts", last[0]), (stream.LOCAL_EVENT, "local_ts", last[1])):
        ts = events[name][(events["ev"] & flag) == flag]
        if len(ts) and (ts[0] < prev or np.any(np.diff(ts) < 0)):
            raise ValueError(f"{name}: events are out of order")
        out.append(int(ts[-1]) if len(ts) else prev)
    return out[0], out[1]


def _read_meta(cache: Path, meta_path: Path, key: str) -> MarketData | None:
    """The cached market, or None if it was made from other files or by another version."""
    meta = np.load(meta_path)
    if "key" not in meta or str(meta["key"]) != key:
        return None
    n_book, n_trades, n_chunks = (int(x) for x in meta["counts"])
    return MarketData(
        [str(cache / f"events-{i:04d}.npz") for i in range(n_chunks)],
        meta["mid_ts"],
        meta["mid"],
        n_book,
        n_trades,
        int(meta["feed_latency_ns"]),
        int(meta["span"][0]),
        int(meta["span"][1]),
        str(meta["feed_note"]),
        (float(meta["prices"][0]), float(meta["prices"][1])),
        meta["silences"].reshape(-1, 3),
        int(meta["local_end"]),
        str(cache),
        tuple(str(d) for d in meta["days"]),
    )


def _feed_note(latencies: dict[int, int], feed_latency_ns: int, measured: int, total: int) -> str:
    if measured == 0:
        return (
            f"feed latency {feed_latency_ns / 1e6:g} ms assumed (one timestamp per row: a book row's is "
            "its receipt, a trade's is the exchange's)"
        )
    values = sorted(latencies)
    cum = np.cumsum([latencies[v] for v in values])
    n = int(cum[-1])
    lo, hi = (values[int(np.searchsorted(cum, k, side="right"))] for k in ((n - 1) // 2, n // 2))
    median = (lo + hi) / 2 / 1e6
    return (
        f"feed latency from the data's two timestamps on {measured} of {total} rows (median {median:.1f} ms), "
        f"{feed_latency_ns / 1e6:g} ms assumed on the rest"
    )
