"""Recorded Aster CSVs -> hftbacktest's event array, and the symbol's trading rules.

The recorder wrote 10-level book snapshots (`orderbook_<SYM>.csv`, one timestamp in float seconds) and
aggressor-side trades (`trades_<SYM>.csv`, one timestamp in ms). hftbacktest wants a stream of
market-by-price updates, so consecutive snapshots are diffed: a level whose quantity changed is a depth
event with the new quantity, a level that left the 10 recorded levels is a depth event with quantity 0.
Depth beyond the recorded levels is therefore unknown and treated as empty.

Times: a book row's `unix_timestamp` is its local receipt and a trade's `unix_timestamp_ms` the
exchange's trade time (aster_mm/market_csv.py). Newer recordings also carry the other stamp (a book's
transaction/event time, a trade's receipt); where a row has only one, the other is derived with an
assumed constant feed latency, and the report says which.
"""
from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from backtesting.bot import SymbolRules

from hftbacktest.data.validation import correct_event_order, validate_event_order
from hftbacktest.types import BUY_EVENT, DEPTH_EVENT, SELL_EVENT, TRADE_EVENT, event_dtype as EVENT_DTYPE

# Rules of the symbols in the shared recordings, as the exchange's exchangeInfo listed them.
KNOWN_RULES = {
    "BNBUSDT": ("0.01", "0.01", "0.01", "5"),
    "ASTERUSDT": ("0.0001", "0.01", "0.01", "5"),
}
DEFAULT_MIN_NOTIONAL = Decimal(5)
INFER_FROM_ROWS = 20_000


@dataclass(frozen=True)
class MarketData:
    events: np.ndarray          # EVENT_DTYPE, sorted by time
    mid_ts: np.ndarray          # exchange ns of each snapshot with both sides
    mid: np.ndarray             # that snapshot's mid (float, for statistics)
    n_snapshots: int
    n_trades: int
    feed_latency_ns: int
    start_ns: int               # exchange time of the first and last event
    end_ns: int
    feed_note: str              # how the feed latency was found, for the report


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
    return max((max(0, -Decimal(t).normalize().as_tuple().exponent) for t in texts if t), default=0)


def symbol_rules(symbol: str, book_csv: Path, trades_csv: Path, tick: Decimal | None = None,
                 step: Decimal | None = None) -> SymbolRules:
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
    return SymbolRules(symbol=symbol, status="TRADING", tick=t, step=s, min_qty=max(min_qty, s),
                       min_notional=min_notional)


def _levels(row: list[str], cols: list[tuple[int, int]]) -> dict[float, float]:
    out = {}
    for p, q in cols:
        if row[p] and row[q] and float(row[q]) > 0:
            out[float(row[p])] = float(row[q])
    return out


def _cell(row: list[str], col: dict[str, int], name: str) -> str:
    i = col.get(name)
    return row[i].strip() if i is not None and i < len(row) else ""


def book_events(header: list[str], rows: list[list[str]], feed_latency_ns: int):
    """Depth events (exch ns, local ns, side flag, price, qty) diffed between snapshots, each snapshot's
    (exch ns, mid), and how many rows carried the exchange's own time."""
    col = {name: i for i, name in enumerate(header)}
    n_levels = sum(1 for name in header if name.startswith("bid_price_"))
    sides = {
        BUY_EVENT: [(col[f"bid_price_{i}"], col[f"bid_qty_{i}"]) for i in range(n_levels)],
        SELL_EVENT: [(col[f"ask_price_{i}"], col[f"ask_qty_{i}"]) for i in range(n_levels)],
    }
    prev: dict[int, dict[float, float]] = {BUY_EVENT: {}, SELL_EVENT: {}}
    events, mids, measured = [], [], 0
    for row in rows:
        local = int(round(float(row[col["unix_timestamp"]]) * 1e9))
        exch_ms = _cell(row, col, "transaction_time_ms") or _cell(row, col, "event_time_ms")
        exch = int(exch_ms) * 1_000_000 if exch_ms else local - feed_latency_ns
        measured += bool(exch_ms)
        for side, cols in sides.items():
            now = _levels(row, cols)
            for px, qty in now.items():
                if prev[side].get(px) != qty:
                    events.append((exch, local, DEPTH_EVENT | side, px, qty))
            events.extend((exch, local, DEPTH_EVENT | side, px, 0.0) for px in prev[side] if px not in now)
            prev[side] = now
        if prev[BUY_EVENT] and prev[SELL_EVENT]:
            mids.append((exch, (max(prev[BUY_EVENT]) + min(prev[SELL_EVENT])) / 2))
    return events, mids, measured


def trade_events(header: list[str], rows: list[list[str]], feed_latency_ns: int):
    """Trade events (exch ns, local ns, aggressor side flag, price, qty), and how many rows carried
    their local receipt time."""
    col = {name: i for i, name in enumerate(header)}
    out, measured = [], 0
    for row in rows:
        side = row[col["side"]].strip().lower()
        if side not in ("buy", "sell"):
            raise ValueError(f"trade {row[col['id']]}: side must be buy or sell, got {side!r}")
        exch = int(row[col["unix_timestamp_ms"]]) * 1_000_000
        received = _cell(row, col, "local_timestamp")
        local = int(round(float(received) * 1e9)) if received else exch + feed_latency_ns
        measured += bool(received)
        out.append((exch, local, TRADE_EVENT | (BUY_EVENT if side == "buy" else SELL_EVENT),
                    float(row[col["price"]]), float(row[col["quantity"]])))
    return out, measured


def load(book_csv: Path, trades_csv: Path, feed_latency_ns: int) -> MarketData:
    """Both files as one event array in hftbacktest's order: exchange-side events sorted by exchange
    time, local-side events by local time (a book update before a trade at the same time)."""
    b_header, b_rows = _read_rows(book_csv)
    t_header, t_rows = _read_rows(trades_csv)
    depth, mids, book_measured = book_events(b_header, b_rows, feed_latency_ns)
    trades, trades_measured = trade_events(t_header, t_rows, feed_latency_ns)
    rows = sorted(depth + trades, key=lambda r: (r[0], r[2] & TRADE_EVENT))
    raw = np.zeros(len(rows), EVENT_DTYPE)
    if rows:
        raw["exch_ts"] = [r[0] for r in rows]
        # a receipt stamped before the exchange's time is clock skew: the bot cannot see it earlier
        raw["local_ts"] = np.maximum([r[1] for r in rows], raw["exch_ts"])
        raw["ev"] = [r[2] for r in rows]
        raw["px"] = [r[3] for r in rows]
        raw["qty"] = [r[4] for r in rows]
    events = correct_event_order(raw, np.argsort(raw["exch_ts"], kind="stable"),
                                 np.argsort(raw["local_ts"], kind="stable"))
    validate_event_order(events)
    stamps = raw["exch_ts"]
    return MarketData(events, np.array([m[0] for m in mids], dtype=np.int64),
                      np.array([m[1] for m in mids], dtype=np.float64), len(b_rows), len(t_rows),
                      feed_latency_ns, int(stamps.min()) if len(stamps) else 0, int(stamps.max()) if len(stamps) else 0,
                      _feed_note(raw, feed_latency_ns, book_measured + trades_measured, len(b_rows) + len(t_rows)))


def _feed_note(raw: np.ndarray, feed_latency_ns: int, measured: int, total: int) -> str:
    if measured == 0:
        return (f"feed latency {feed_latency_ns / 1e6:g} ms assumed (one timestamp per row: a book row's is "
                "its receipt, a trade's is the exchange's)")
    median = float(np.median(raw["local_ts"] - raw["exch_ts"])) / 1e6
    return (f"feed latency from the data's two timestamps on {measured} of {total} rows (median {median:.1f} ms), "
            f"{feed_latency_ns / 1e6:g} ms assumed on the rest")
