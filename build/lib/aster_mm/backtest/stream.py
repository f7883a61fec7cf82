"""Recorded CSVs -> hftbacktest's event stream, vectorised and in bounded memory.

A synthetic day is ~860,000 ten-level snapshots and ~35 million depth events: too many for Python
objects, and 2 GB even as one event array. So the CSVs (plain or gzip, complete rows only:
aster_mm/recording/reading.py) are parsed column-wise (polars), snapshots are diffed a block of rows at
a time with numpy, and the events leave in time windows that are written out as .npz chunks, which
hftbacktest reads one after another. Several days are read one after another and joined (`join`) into
one stream; the parsed rows of all of them are held at once (a real day of BTC is ~70 MB of them).

The stream is the one a single sort of everything would give (convert.py documents the rules):
  raw order      all events sorted by (exchange time, trades after depth), stably, depth in row order;
  event order    hftbacktest's `correct_event_order` merge of that order (the exchange side) with the
                 stable local-time order (the local side).
Windows end at a time B that no later row can precede (the minimum exchange time of the rows not yet
read), so each window's raw events are final; a local time below B is final too, because a receipt is
never earlier than the exchange time. The merge then runs exactly as hftbacktest's does, stopping where
it would need a local event not yet known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numba
import numpy as np
import polars as pl
from hftbacktest.types import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)
from hftbacktest.types import (
    event_dtype as EVENT_DTYPE,
)

from aster_mm.recording.reading import complete_bytes

BLOCK_ROWS = 20_000  # book rows diffed at once
_NO_TIME = np.iinfo(np.int64).max
Columns = dict[str, Any]  # name -> numpy array (or a count), as read_book and read_trades return them


def _column(df: pl.DataFrame, name: str, dtype) -> np.ndarray | None:
    if name not in df.columns:
        return None
    return df[name].cast(dtype, strict=True).to_numpy()


def _read_csv(path: Path, is_float: Callable[[str], bool]) -> pl.DataFrame:
    """The file's complete rows: the columns `is_float` names as floats, the others as text."""
    data = complete_bytes(path)
    if not data:
        raise ValueError(f"{path} is empty")
    header = data[: data.find(b"\n")].decode().strip().split(",")
    return pl.read_csv(data, schema_overrides={c: pl.Float64 for c in header if is_float(c)}, infer_schema=False)


def _is_level(name: str) -> bool:
    return name.startswith(("bid_price_", "bid_qty_", "ask_price_", "ask_qty_"))


def _stamp_ns(seconds: np.ndarray) -> np.ndarray:
    return np.round(seconds * 1e9).astype(np.int64)


def read_book(path: Path, feed_latency_ns: int) -> Columns:
    """Each snapshot's local and exchange ns, whether the exchange's was recorded, and its levels
    (prices and quantities, NaN where the book was thinner)."""
    df = _read_csv(path, lambda name: name == "unix_timestamp" or _is_level(name))
    n_levels = sum(1 for name in df.columns if name.startswith("bid_price_"))
    local = _stamp_ns(df["unix_timestamp"].to_numpy())
    exch_ms = _column(df, "transaction_time_ms", pl.Int64)
    event_ms = _column(df, "event_time_ms", pl.Int64)
    if exch_ms is None:
        exch_ms = event_ms
    elif event_ms is not None:
        exch_ms = np.where(df["transaction_time_ms"].is_null().to_numpy(), event_ms, exch_ms)
    null: np.ndarray
    if exch_ms is None:
        null, exch = np.ones(len(df), bool), local - feed_latency_ns
    else:
        null = np.isnan(exch_ms.astype(np.float64))
        exch = np.where(null, local - feed_latency_ns, np.nan_to_num(exch_ms, nan=0).astype(np.int64) * 1_000_000)

    def levels(side: str, what: str) -> np.ndarray:
        cols = [f"{side}_{what}_{i}" for i in range(n_levels)]
        return df.select(cols).to_numpy().astype(np.float64) if cols else np.zeros((len(df), 0))

    return {
        "local": local,
        "exch": exch,
        "measured": int((~null).sum()),
        "bid_px": levels("bid", "price"),
        "bid_qty": levels("bid", "qty"),
        "ask_px": levels("ask", "price"),
        "ask_qty": levels("ask", "qty"),
    }


def read_trades(path: Path, feed_latency_ns: int) -> Columns:
    """Each trade's exchange and local ns, aggressor flag, price and quantity."""
    df = _read_csv(path, lambda name: name in ("price", "quantity", "local_timestamp"))
    side = df["side"].str.strip_chars().str.to_lowercase()
    bad = df.filter(~side.is_in(["buy", "sell"]))
    if len(bad):
        raise ValueError(f"trade {bad['id'][0]}: side must be buy or sell, got {bad['side'][0].strip().lower()!r}")
    exch = df["unix_timestamp_ms"].cast(pl.Int64).to_numpy() * 1_000_000
    received = _column(df, "local_timestamp", pl.Float64)
    if received is None:
        null, local = np.ones(len(df), bool), exch + feed_latency_ns
    else:
        null = np.isnan(received)
        local = np.where(null, exch + feed_latency_ns, _stamp_ns(np.nan_to_num(received)))
    flag = np.where((side == "buy").to_numpy(), BUY_EVENT, SELL_EVENT).astype(np.uint64) | TRADE_EVENT
    return {
        "exch": exch,
        "local": local,
        "measured": int((~null).sum()),
        "ev": flag,
        "px": df["price"].to_numpy(),
        "qty": df["quantity"].to_numpy(),
    }


def join(parts: list[Columns]) -> Columns:
    """Several days' columns (of read_book or of read_trades) as one, in the order given; books with
    fewer levels are padded with empty ones."""
    if len(parts) == 1:
        return parts[0]
    out: Columns = {"measured": sum(p["measured"] for p in parts)}
    for name in parts[0]:
        if name == "measured":
            continue
        arrays = [p[name] for p in parts]
        if arrays[0].ndim == 2:
            width = max(a.shape[1] for a in arrays)
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan) for a in arrays]
        out[name] = np.concatenate(arrays)
    return out


def _side_diff(px: np.ndarray, qty: np.ndarray):
    """For rows 1.. of a block (row 0 is the previous snapshot): which levels changed (a price whose
    quantity differs from, or is absent in, the row before) and which of the previous row's prices left."""
    valid = ~np.isnan(px) & ~np.isnan(qty) & (np.nan_to_num(qty) > 0)
    cur_px, cur_q, cur_v = px[1:], qty[1:], valid[1:]
    prev_px, prev_q, prev_v = px[:-1], qty[:-1], valid[:-1]
    same_px = (cur_px[:, :, None] == prev_px[:, None, :]) & cur_v[:, :, None] & prev_v[:, None, :]
    unchanged = (same_px & (cur_q[:, :, None] == prev_q[:, None, :])).any(axis=2)
    changed = cur_v & ~unchanged
    left = prev_v & ~same_px.any(axis=1)
    return changed, left, cur_px, cur_q, prev_px, valid


def book_block(book: dict, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth events of rows start..stop-1 in the old per-row order (bid changes, bids that left, ask
    changes, asks that left), the row of each, and each row's mid (NaN without both sides)."""
    slots, flags, rows_mids = [], [], []
    lo = start - 1
    for side, flag in (("bid", BUY_EVENT), ("ask", SELL_EVENT)):
        px, qty = book[f"{side}_px"][max(lo, 0) : stop], book[f"{side}_qty"][max(lo, 0) : stop]
        if lo < 0:  # the first snapshot is diffed against an empty book
            px = np.vstack([np.full((1, px.shape[1]), np.nan), px])
            qty = np.vstack([np.full((1, qty.shape[1]), np.nan), qty])
        changed, left, cur_px, cur_q, prev_px, valid = _side_diff(px, qty)
        slots += [(changed, cur_px, cur_q), (left, prev_px, np.zeros_like(prev_px))]
        flags += [flag, flag]
        best = np.where(valid[1:], px[1:], -np.inf if side == "bid" else np.inf)
        rows_mids.append(
            (best.max(axis=1) if side == "bid" else best.min(axis=1)) if best.shape[1] else np.full(len(best), np.nan)
        )
    mask = np.concatenate([s[0] for s in slots], axis=1)
    sel_row, sel_col = np.nonzero(mask)
    px = np.concatenate([s[1] for s in slots], axis=1)[sel_row, sel_col]
    qty = np.concatenate([s[2] for s in slots], axis=1)[sel_row, sel_col]
    width = slots[0][0].shape[1]
    ev = np.array([DEPTH_EVENT | f for f in flags for _ in range(width)], dtype=np.uint64)[sel_col]
    bid, ask = rows_mids
    mid = np.where(np.isfinite(bid) & np.isfinite(ask), (bid + ask) / 2, np.nan)
    events = np.zeros(len(sel_row), EVENT_DTYPE)
    rows = sel_row + start
    events["exch_ts"], events["local_ts"] = book["exch"][rows], book["local"][rows]
    events["ev"], events["px"], events["qty"] = ev, px, qty
    return events, rows, mid


def _suffix_min(a: np.ndarray) -> np.ndarray:
    return np.append(np.minimum.accumulate(a[::-1])[::-1], _NO_TIME) if len(a) else np.array([_NO_TIME])


def _trade_events(trades: dict, idx: slice) -> np.ndarray:
    out = np.zeros(idx.stop - idx.start, EVENT_DTYPE)
    for name, key in (("exch_ts", "exch"), ("local_ts", "local"), ("ev", "ev"), ("px", "px"), ("qty", "qty")):
        out[name] = trades[key][idx]
    return out


def raw_windows(book: dict, trades: dict, on_mids: Callable[[np.ndarray, np.ndarray], None]) -> Iterator[tuple]:
    """(raw events of the window in raw order, its end B) per block of book rows; the receipt is already
    clamped to the exchange time (a receipt stamped earlier is clock skew)."""
    n_book, n_trades = len(book["local"]), len(trades["exch"])
    book_after, trades_after = _suffix_min(book["exch"]), _suffix_min(trades["exch"])
    depth_carry, trade_carry = np.zeros(0, EVENT_DTYPE), np.zeros(0, EVENT_DTYPE)
    t_done = 0
    for start in range(0, max(n_book, 1), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n_book)
        depth = np.zeros(0, EVENT_DTYPE)
        if stop > start:
            depth, _rows, mid = book_block(book, start, stop)
            on_mids(book["exch"][start:stop], mid)
        end = int(book_after[stop]) if stop < n_book else _NO_TIME
        t_stop = int(np.searchsorted(trades_after, end, side="left")) if end != _NO_TIME else n_trades
        t_stop = min(max(t_stop, t_done), n_trades)
        depth = np.concatenate([depth_carry, depth])
        trade = np.concatenate([trade_carry, _trade_events(trades, slice(t_done, t_stop))])
        t_done = t_stop
        d_now, t_now = depth["exch_ts"] < end, trade["exch_ts"] < end
        depth_carry, trade_carry = depth[~d_now], trade[~t_now]
        raw = np.concatenate([depth[d_now], trade[t_now]])
        is_trade = np.concatenate([np.zeros(d_now.sum(), np.int8), np.ones(t_now.sum(), np.int8)])
        raw = raw[np.lexsort((is_trade, raw["exch_ts"]))]
        raw["local_ts"] = np.maximum(raw["local_ts"], raw["exch_ts"])
        yield raw, end
    assert not len(depth_carry) and not len(trade_carry)


@numba.njit(cache=True)
def _merge(exch, local, out, final):
    """hftbacktest's correct_event_order on the known heads of both sides: returns (rows written, exchange
    rows used, local rows used). Stops when the local side runs out, unless `final`."""
    n_e, n_l = len(exch), len(local)
    i = j = k = 0
    while True:
        if i < n_e and j < n_l:
            e, lo = exch[i], local[j]
            if e.exch_ts == lo.exch_ts and e.local_ts == lo.local_ts:
                out[k] = e
                out[k].ev = e.ev | EXCH_EVENT | LOCAL_EVENT
                i += 1
                j += 1
            elif e.exch_ts < lo.exch_ts or (e.exch_ts == lo.exch_ts and e.local_ts < lo.local_ts):
                out[k] = e
                out[k].ev = e.ev | EXCH_EVENT
                i += 1
            else:
                out[k] = lo
                out[k].ev = lo.ev | LOCAL_EVENT
                j += 1
        elif j < n_l:  # every exchange event still unknown is later than this local one's
            out[k] = local[j]
            out[k].ev = local[j].ev | LOCAL_EVENT
            j += 1
        elif i < n_e and final:
            out[k] = exch[i]
            out[k].ev = exch[i].ev | EXCH_EVENT
            i += 1
        else:
            return k, i, j
        k += 1


def ordered_events(windows: Iterator[tuple]) -> Iterator[np.ndarray]:
    """The merged event stream, one piece per raw window."""
    exch_buf, local_pool = np.zeros(0, EVENT_DTYPE), np.zeros(0, EVENT_DTYPE)
    for raw, end in windows:
        exch_buf = np.concatenate([exch_buf, raw])
        local_pool = np.concatenate([local_pool, raw])
        ready = local_pool["local_ts"] < end
        local_seg = local_pool[ready]
        local_seg = local_seg[np.argsort(local_seg["local_ts"], kind="stable")]
        local_pool = local_pool[~ready]
        final = end == _NO_TIME
        out = np.zeros(len(exch_buf) + len(local_seg), EVENT_DTYPE)
        k, i, j = _merge(exch_buf, local_seg, out, final)
        assert j == len(local_seg) and (not final or i == len(exch_buf))
        exch_buf = exch_buf[i:]
        yield out[:k].copy()
