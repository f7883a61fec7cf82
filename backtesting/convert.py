"""Recorded Aster CSVs -> hftbacktest's event array, and the symbol's trading rules.

The recorder wrote 10-level book snapshots (`orderbook_<SYM>.csv`, one timestamp in float seconds) and
aggressor-side trades (`trades_<SYM>.csv`, one timestamp in ms). hftbacktest wants a stream of
market-by-price updates, so consecutive snapshots are diffed: a level whose quantity changed is a depth
event with the new quantity, a level that left the 10 recorded levels is a depth event with quantity 0.
Depth beyond the recorded levels is therefore unknown and treated as empty.

Each row carries one timestamp, taken as the exchange's; the local (receive) timestamp is that plus an
assumed constant feed latency, stated in the report.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from backtesting.bot import SymbolRules

# hftbacktest's event flags (hftbacktest/types.py); copied as plain ints so this module and its tests
# do not need hftbacktest itself.
DEPTH_EVENT = 1
TRADE_EVENT = 2
EXCH_EVENT = 1 << 31
LOCAL_EVENT = 1 << 30
BUY_EVENT = 1 << 29
SELL_EVENT = 1 << 28

EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                        ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)

# Rules of the symbols in the shared recordings, as the exchange's exchangeInfo listed them.
KNOWN_RULES = {
    "BNBUSDT": ("0.01", "0.01", "0.01", "5"),
    "ASTERUSDT": ("0.0001", "0.01", "0.01", "5"),
}
DEFAULT_MIN_NOTIONAL = Decimal(5)


@dataclass(frozen=True)
class MarketData:
    events: np.ndarray          # EVENT_DTYPE, sorted by time
    mid_ts: np.ndarray          # exchange ns of each snapshot with both sides
    mid: np.ndarray             # that snapshot's mid (float, for statistics)
    n_snapshots: int
    n_trades: int
    feed_latency_ns: int
    start_ns: int               # first and last recorded row of either file
    end_ns: int


def data_files(data_dir: Path, symbol: str) -> tuple[Path, Path]:
    book, trades = data_dir / f"orderbook_{symbol}.csv", data_dir / f"trades_{symbol}.csv"
    for path in (book, trades):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected orderbook_{symbol}.csv and trades_{symbol}.csv)")
    return book, trades


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows[0], [r for r in rows[1:] if r]


def _decimals(texts) -> int:
    return max((max(0, -Decimal(t).normalize().as_tuple().exponent) for t in texts), default=0)


def symbol_rules(symbol: str, book_csv: Path, trades_csv: Path, tick: Decimal | None = None,
                 step: Decimal | None = None) -> SymbolRules:
    """Known rules for the recorded symbols; otherwise the tick from the prices' decimals and the step
    from the quantities' decimals. `tick`/`step` override either."""
    if symbol in KNOWN_RULES:
        t, s, min_qty, min_notional = (Decimal(x) for x in KNOWN_RULES[symbol])
    else:
        header, rows = _read_rows(book_csv)
        _, trade_rows = _read_rows(trades_csv)
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


def book_events(header: list[str], rows: list[list[str]]) -> tuple[list[tuple], list[tuple[int, float]]]:
    """Depth events (ns, side flag, price, qty) diffed between snapshots, and each snapshot's mid."""
    col = {name: i for i, name in enumerate(header)}
    n_levels = sum(1 for name in header if name.startswith("bid_price_"))
    sides = {
        BUY_EVENT: [(col[f"bid_price_{i}"], col[f"bid_qty_{i}"]) for i in range(n_levels)],
        SELL_EVENT: [(col[f"ask_price_{i}"], col[f"ask_qty_{i}"]) for i in range(n_levels)],
    }
    prev: dict[int, dict[float, float]] = {BUY_EVENT: {}, SELL_EVENT: {}}
    events, mids = [], []
    for row in rows:
        ts = int(round(float(row[col["unix_timestamp"]]) * 1e9))
        for side, cols in sides.items():
            now = _levels(row, cols)
            for px, qty in now.items():
                if prev[side].get(px) != qty:
                    events.append((ts, side, px, qty))
            events.extend((ts, side, px, 0.0) for px in prev[side] if px not in now)
            prev[side] = now
        if prev[BUY_EVENT] and prev[SELL_EVENT]:
            mids.append((ts, (max(prev[BUY_EVENT]) + min(prev[SELL_EVENT])) / 2))
    return events, mids


def trade_events(header: list[str], rows: list[list[str]]) -> list[tuple]:
    """Trade events (ns, aggressor side flag, price, qty); `side` is the aggressor's."""
    col = {name: i for i, name in enumerate(header)}
    out = []
    for row in rows:
        side = row[col["side"]].strip().lower()
        if side not in ("buy", "sell"):
            raise ValueError(f"trade {row[col['id']]}: side must be buy or sell, got {side!r}")
        out.append((int(row[col["unix_timestamp_ms"]]) * 1_000_000, BUY_EVENT if side == "buy" else SELL_EVENT,
                    float(row[col["price"]]), float(row[col["quantity"]])))
    return out


def load(book_csv: Path, trades_csv: Path, feed_latency_ns: int) -> MarketData:
    """Both files as one time-ordered event array (a book update before a trade at the same ns)."""
    b_header, b_rows = _read_rows(book_csv)
    t_header, t_rows = _read_rows(trades_csv)
    depth, mids = book_events(b_header, b_rows)
    trades = trade_events(t_header, t_rows)
    rows = [(ts, 0, DEPTH_EVENT | side, px, qty) for ts, side, px, qty in depth]
    rows += [(ts, 1, TRADE_EVENT | side, px, qty) for ts, side, px, qty in trades]
    rows.sort(key=lambda r: (r[0], r[1]))
    events = np.zeros(len(rows), EVENT_DTYPE)
    if rows:
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        events["ev"] = np.array([r[2] for r in rows], dtype=np.uint64) | EXCH_EVENT | LOCAL_EVENT
        events["exch_ts"] = ts
        events["local_ts"] = ts + feed_latency_ns
        events["px"] = [r[3] for r in rows]
        events["qty"] = [r[4] for r in rows]
    mid_ts = np.array([m[0] for m in mids], dtype=np.int64)
    mid = np.array([m[1] for m in mids], dtype=np.float64)
    ts_col = b_header.index("unix_timestamp")
    stamps = [ts for ts, *_ in trades] + [int(round(float(r[ts_col]) * 1e9)) for r in b_rows]
    return MarketData(events, mid_ts, mid, len(b_rows), len(t_rows), feed_latency_ns,
                      min(stamps, default=0), max(stamps, default=0))
