"""Recorded Aster CSVs -> hftbacktest's event array, and the symbol's trading rules.

The recorder wrote 10-level book snapshots (`orderbook_<SYM>.csv`, one timestamp in float seconds) and
aggressor-side trades (`trades_<SYM>.csv`, one timestamp in ms). hftbacktest wants a stream of
market-by-price updates, so consecutive snapshots are diffed: a level whose quantity changed is a depth
event with the new quantity, a level that left the 10 recorded levels is a depth event with quantity 0.
Depth beyond the recorded levels is therefore unknown and treated as empty.

Times: a book row's `unix_timestamp` is its local receipt and a trade's `unix_timestamp_ms` the
exchange's trade time (aster_mm/recording/market_csv.py). Newer recordings also carry the other stamp (a book's
transaction/event time, a trade's receipt); where a row has only one, the other is derived with an
assumed constant feed latency, and the report says which.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from aster_mm.backtest import stream
from aster_mm.backtest.bot import SymbolRules

# Rules of the symbols in the shared recordings, as the exchange's exchangeInfo listed them.
KNOWN_RULES = {
    "BNBUSDT": ("0.01", "0.01", "0.01", "5"),
    "ASTERUSDT": ("0.0001", "0.01", "0.01", "5"),
}
DEFAULT_MIN_NOTIONAL = Decimal(5)
INFER_FROM_ROWS = 20_000


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


def data_files(data_dir: Path, symbol: str) -> tuple[Path, Path]:
    book, trades = data_dir / f"orderbook_{symbol}.csv", data_dir / f"trades_{symbol}.csv"
    for path in (book, trades):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected orderbook_{symbol}.csv and trades_{symbol}.csv)")
    return book, trades


def _read_rows(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows (the first `limit` lines only, if given)."""
    with path.open(newline="") as f:
        rows = list(itertools.islice(csv.reader(f), limit))
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows[0], [r for r in rows[1:] if r]


def _decimals(texts) -> int:
    return max((max(0, -Decimal(t).normalize().as_tuple().exponent) for t in set(texts) if t), default=0)


def symbol_rules(
    symbol: str, book_csv: Path, trades_csv: Path, tick: Decimal | None = None, step: Decimal | None = None
) -> SymbolRules:
    """Known rules for the recorded symbols; otherwise the tick from the prices' decimals and the step
    from the quantities' decimals in the files' first INFER_FROM_ROWS rows (a day's files are too long to
    read twice). `tick`/`step` override either."""
    if symbol in KNOWN_RULES:
        t, s, min_qty, min_notional = (Decimal(x) for x in KNOWN_RULES[symbol])
    else:
        header, rows = _read_rows(book_csv, INFER_FROM_ROWS)
        _, trade_rows = _read_rows(trades_csv, INFER_FROM_ROWS)
        px_cols = [i for i, name in enumerate(header) if "_price_" in name]
        qty_cols = [i for i, name in enumerate(header) if "_qty_" in name]
        t = Decimal(1).scaleb(-_decimals([r[i] for r in rows for i in px_cols] + [r[3] for r in trade_rows]))
        s = Decimal(1).scaleb(-_decimals([r[i] for r in rows for i in qty_cols] + [r[4] for r in trade_rows]))
        min_qty, min_notional = s, DEFAULT_MIN_NOTIONAL
    t, s = tick or t, step or s
    return SymbolRules(
        symbol=symbol, status="TRADING", tick=t, step=s, min_qty=max(min_qty, s), min_notional=min_notional
    )


CACHE_FORMAT = 2  # bump when the event stream or its metadata change
CHUNK_EVENTS = 2_000_000  # events per .npz file (128 MB)


def load(book_csv: Path, trades_csv: Path, feed_latency_ns: int, cache_root: Path | None = None) -> MarketData:
    """Both files as hftbacktest's event stream (stream.py), written as .npz chunks under `cache_root`
    (default: ~/.cache/aster-mm/backtest/<data folder hash>, or under $XDG_CACHE_HOME), one directory per
    symbol and feed latency, reused while the CSVs keep their path, size and mtime."""
    cache, key = _cache_dir(book_csv, trades_csv, feed_latency_ns, cache_root)
    meta_path = cache / "meta.npz"
    if meta_path.is_file():
        market = _read_meta(cache, meta_path, key)
        if market is not None:
            return market
    build = cache.with_name(f"{cache.name}.building-{os.getpid()}")  # readers never see half a cache
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    book = stream.read_book(book_csv, feed_latency_ns)
    trades = stream.read_trades(trades_csv, feed_latency_ns)
    mids: list[tuple[np.ndarray, np.ndarray]] = []
    latencies: dict[int, int] = {}
    span = [np.iinfo(np.int64).max, np.iinfo(np.int64).min]
    prices = [np.inf, -np.inf]

    def on_mids(ts: np.ndarray, mid: np.ndarray) -> None:
        ok = ~np.isnan(mid)
        mids.append((ts[ok], mid[ok]))

    def windows():
        for raw, end in stream.raw_windows(book, trades, on_mids):
            if len(raw):
                span[0], span[1] = min(span[0], int(raw["exch_ts"][0])), max(span[1], int(raw["exch_ts"].max()))
                prices[0], prices[1] = min(prices[0], float(raw["px"].min())), max(prices[1], float(raw["px"].max()))
                values, counts = np.unique(raw["local_ts"] - raw["exch_ts"], return_counts=True)
                for v, c in zip(values.tolist(), counts.tolist()):
                    latencies[v] = latencies.get(v, 0) + c
            yield raw, end

    chunks, pending, last = [], [], (np.iinfo(np.int64).min, np.iinfo(np.int64).min)
    for piece in stream.ordered_events(windows()):
        pending.append(piece)
        if sum(len(p) for p in pending) >= CHUNK_EVENTS:
            last = _write_chunk(build, chunks, pending, last)
            pending = []
    if pending or not chunks:
        _write_chunk(build, chunks, pending, last)
    measured, total = book["measured"] + trades["measured"], len(book["local"]) + len(trades["exch"])
    mid_ts = np.concatenate([m[0] for m in mids]) if mids else np.zeros(0, np.int64)
    mid = np.concatenate([m[1] for m in mids]) if mids else np.zeros(0)
    start, end = (span[0], span[1]) if span[0] <= span[1] else (0, 0)
    np.savez(
        build / meta_path.name,
        mid_ts=mid_ts,
        mid=mid,
        counts=np.array([len(book["local"]), len(trades["exch"]), len(chunks)]),
        span=np.array([start, end]),
        feed_latency_ns=feed_latency_ns,
        prices=np.array(prices if prices[0] <= prices[1] else [1.0, 1.0]),
        key=key,
        feed_note=_feed_note(latencies, feed_latency_ns, measured, total),
    )
    shutil.rmtree(cache, ignore_errors=True)  # a stale conversion
    try:
        build.rename(cache)
    except OSError:  # another run has just put the same conversion there
        shutil.rmtree(build, ignore_errors=True)
    market = _read_meta(cache, meta_path, key)
    if market is None:
        raise ValueError(f"{cache} changed while it was being written; run again")
    return market


def event_array(market: MarketData) -> np.ndarray:
    """All the events in one array (small data, tests)."""
    return np.concatenate([np.load(c)["data"] for c in market.chunks])


def _cache_dir(book_csv: Path, trades_csv: Path, feed_latency_ns: int, root: Path | None) -> tuple[Path, str]:
    """The cache directory, and the key its contents must carry to be current."""
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in (book_csv, trades_csv)]
    key = hashlib.sha1(repr((CACHE_FORMAT, stats, feed_latency_ns)).encode()).hexdigest()
    if root is None:  # never beside the data: a shared data folder may be read-only
        folder = hashlib.sha1(str(book_csv.parent.resolve()).encode()).hexdigest()[:12]
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aster-mm" / "backtest" / folder
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{book_csv.stem.removeprefix('orderbook_')}-feed{feed_latency_ns}ns", key


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
    """The cached market, or None if it was made from other CSVs or by another version."""
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
