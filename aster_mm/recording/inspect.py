"""`python backtest.py inspect DIR...`: check a recording before trusting it, per symbol and day folder.

Prints, for each data folder (a day) and symbol: the span (UTC); book rows and rows/s; trades and
trades/min; gaps longer than a threshold, book and trades separately; crossed, locked and one-sided
books; levels out of order; timestamps going back; trades printed outside the book at their time (how
many, how far in ticks); the price and quantity grids (the tick and step they imply); the spread in ticks
and bp. The last line of each block names what looks wrong, or says nothing does.

Times: a book row is placed at its exchange time where the recording has one (transaction_time_ms, else
event_time_ms), else at its receipt (unix_timestamp); a trade at its exchange time (unix_timestamp_ms).
Gaps are measured on the same clocks. Needs polars (the backtest extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from aster_mm.recording.reading import complete_bytes, data_file, day_folders, symbols

PERCENTILES = (10, 50, 90, 99)
_GRIDS = sorted((m * 10.0**e for e in range(-8, 4) for m in (1, 2, 5)), reverse=True)


@dataclass(frozen=True)
class Book:
    t: np.ndarray  # s, exchange time where recorded, else receipt
    received: np.ndarray  # s
    bid_px: np.ndarray  # (rows, levels), NaN where thinner
    ask_px: np.ndarray
    qty: np.ndarray  # every level's quantity, for the step
    exchange_clock: bool
    flagged: int  # rows with gap=1


@dataclass(frozen=True)
class Trades:
    t: np.ndarray  # s, exchange time
    ids: np.ndarray
    buy: np.ndarray  # aggressor was the buyer
    px: np.ndarray
    qty: np.ndarray


def _frame(path: Path) -> pl.DataFrame:
    data = complete_bytes(path)
    return pl.read_csv(data, infer_schema=False) if data else pl.DataFrame()


def _floats(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return df[name].cast(pl.Float64, strict=False).to_numpy()


def read_book(path: Path) -> Book:
    df = _frame(path)
    n = sum(1 for c in df.columns if c.startswith("bid_price_"))

    def levels(side: str, what: str) -> np.ndarray:
        return np.stack([_floats(df, f"{side}_{what}_{i}") for i in range(n)], axis=1) if n else np.zeros((len(df), 0))

    received = _floats(df, "unix_timestamp")
    exch_ms = _floats(df, "transaction_time_ms")
    exch_ms = np.where(np.isnan(exch_ms), _floats(df, "event_time_ms"), exch_ms)
    clock = bool(len(df)) and not np.isnan(exch_ms).all()
    t = np.where(np.isnan(exch_ms), received, exch_ms / 1000) if clock else received
    qty = np.concatenate([levels("bid", "qty"), levels("ask", "qty")], axis=1)
    flagged = int(np.nansum(_floats(df, "gap") == 1))
    return Book(t, received, levels("bid", "price"), levels("ask", "price"), qty, clock, flagged)


def read_trades(path: Path) -> Trades:
    df = _frame(path)
    side = df["side"].str.strip_chars().str.to_lowercase().to_numpy() if len(df) else np.zeros(0, str)
    return Trades(
        _floats(df, "unix_timestamp_ms") / 1000,
        _floats(df, "id"),
        side == "buy",
        _floats(df, "price"),
        _floats(df, "quantity"),
    )


def grid(values: np.ndarray) -> float | None:
    """The coarsest of 1, 2, 5 x 10^k that every value is a multiple of (None without values)."""
    v = np.unique(values[np.isfinite(values) & (values > 0)])
    if not len(v):
        return None
    for g in _GRIDS:
        q = v / g
        if np.all(np.abs(q - np.round(q)) < 1e-6):  # float error on q stays far below this
            return g
    return _GRIDS[-1]


def gaps(t: np.ndarray, threshold_s: float) -> dict:
    """Stretches of more than `threshold_s` between consecutive times: count, longest (and where), total."""
    d = np.diff(t)
    long = np.flatnonzero(d > threshold_s)
    if not len(long):
        return {"count": 0}
    worst = long[np.argmax(d[long])]
    return {"count": len(long), "longest_s": float(d[worst]), "at": float(t[worst]), "total_s": float(d[long].sum())}


def book_checks(book: Book) -> dict:
    """Books (rows) crossed, locked, with a side empty, with levels out of order."""
    if not book.bid_px.shape[1] or not book.ask_px.shape[1]:
        return {"crossed": 0, "locked": 0, "one-sided": len(book.t), "out-of-order": 0}
    bid, ask = book.bid_px[:, 0], book.ask_px[:, 0]
    both = ~np.isnan(bid) & ~np.isnan(ask)
    with np.errstate(invalid="ignore"):
        bids_bad = (np.diff(book.bid_px, axis=1) >= 0).any(axis=1)  # NaN compares false: holes do not count
        asks_bad = (np.diff(book.ask_px, axis=1) <= 0).any(axis=1)
    return {
        "crossed": int((bid[both] > ask[both]).sum()),
        "locked": int((bid[both] == ask[both]).sum()),
        "one-sided": int((~both).sum()),
        "out-of-order": int((bids_bad | asks_bad).sum()),
    }


def time_checks(book: Book, trades: Trades) -> dict:
    """How often each clock goes back from one row to the next (and trade ids fail to increase)."""
    return {
        "book receipt": int((np.diff(book.received) < 0).sum()),
        "book exchange time": int((np.diff(book.t) < 0).sum()) if book.exchange_clock else 0,
        "trade time": int((np.diff(trades.t) < 0).sum()),
        "trade id": int((np.diff(trades.ids) <= 0).sum()),
    }


def trades_vs_book(book: Book, trades: Trades, tick: float) -> dict:
    """Each trade against the last book at or before its time: inside the spread, through the touch (and
    by how many ticks), beyond the recorded levels, on the wrong side for its aggressor."""
    order = np.argsort(book.t, kind="stable")
    i = np.searchsorted(book.t[order], trades.t, side="right") - 1
    seen = i >= 0
    row = order[np.clip(i, 0, None)][seen]
    px, buy = trades.px[seen], trades.buy[seen]
    bid, ask = book.bid_px[row, 0], book.ask_px[row, 0]
    deep_bid, deep_ask = np.fmin.reduce(book.bid_px[row], axis=1), np.fmax.reduce(book.ask_px[row], axis=1)
    with np.errstate(invalid="ignore"):
        beyond = np.where(px < bid, bid - px, np.where(px > ask, px - ask, 0.0)) / tick
        outside = beyond > 1e-6
        return {
            "compared": int(seen.sum()),
            "inside": int(((px > bid) & (px < ask)).sum()),
            "outside": int(outside.sum()),
            "ticks": np.percentile(beyond[outside], [50, 90]).tolist() + [float(beyond[outside].max())]
            if outside.any()
            else None,
            "beyond_levels": int(((px < deep_bid) | (px > deep_ask)).sum()),
            "wrong_side": int(((buy & (px <= bid)) | (~buy & (px >= ask))).sum()),
        }


def spreads(book: Book, tick: float) -> dict:
    bid, ask = book.bid_px[:, 0], book.ask_px[:, 0]
    ok = ~np.isnan(bid) & ~np.isnan(ask)
    width = (ask - bid)[ok]
    if not len(width):
        return {}
    bp = width / ((ask + bid)[ok] / 2) * 1e4
    return {
        "ticks": np.percentile(width / tick, PERCENTILES).tolist(),
        "bp": np.percentile(bp, PERCENTILES).tolist(),
        "mean_bp": float(bp.mean()),
    }


def inspect_day(folder: Path, symbol: str, gap_s: float) -> dict:
    """Every figure of one folder's recording of `symbol`."""
    book = read_book(data_file(folder, "orderbook", symbol))
    trades = read_trades(data_file(folder, "trades", symbol))
    prices, trade_prices = book.bid_px[~np.isnan(book.bid_px)], trades.px
    grids = {
        "book prices": grid(np.concatenate([prices, book.ask_px[~np.isnan(book.ask_px)]])),
        "trade prices": grid(trade_prices),
        "quantities": grid(np.concatenate([book.qty.ravel(), trades.qty])),
    }
    tick = min((g for g in (grids["book prices"], grids["trade prices"]) if g), default=1.0)
    times = np.concatenate([book.t, trades.t])
    return {
        "span": (float(np.nanmin(times)), float(np.nanmax(times))) if len(times) else None,
        "book_rows": len(book.t),
        "book_span_s": float(book.t.max() - book.t.min()) if len(book.t) > 1 else 0.0,
        "flagged": book.flagged,
        "trades": len(trades.t),
        "trade_span_s": float(trades.t.max() - trades.t.min()) if len(trades.t) > 1 else 0.0,
        "book_gaps": gaps(np.sort(book.t), gap_s),
        "trade_gaps": gaps(np.sort(trades.t), gap_s),
        "grids": grids,
        "tick": tick,
        "spread": spreads(book, tick) if len(book.t) else {},
        "book": book_checks(book),
        "times": time_checks(book, trades),
        "vs_book": trades_vs_book(book, trades, tick) if len(book.t) and len(trades.t) else None,
        "clock": "exchange time" if book.exchange_clock else "receipt",
    }


def _utc(t: float, day: bool = True) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S")


def _gap_text(g: dict) -> str:
    if not g["count"]:
        return "none"
    return f"{g['count']} (longest {g['longest_s']:.1f} s at {_utc(g['at'], False)}, {g['total_s']:.0f} s in all)"


def _pcts(values: list[float], digits: int) -> str:
    return "/".join(f"{v:.{digits}f}" for v in values)


def format_day(name: str, symbol: str, r: dict, gap_s: float) -> list[str]:
    lines = [f"== {name}  {symbol}"]
    if r["span"]:
        start, end = r["span"]
        lines.append(f"span        {_utc(start)} .. {_utc(end)} UTC ({(end - start) / 3600:.2f} h)")
    per_s = r["book_rows"] / r["book_span_s"] if r["book_span_s"] else 0.0
    per_min = r["trades"] / r["trade_span_s"] * 60 if r["trade_span_s"] else 0.0
    lines.append(f"book        {r['book_rows']:,} rows, {per_s:.2f}/s; rows flagged gap=1: {r['flagged']:,}")
    lines.append(f"trades      {r['trades']:,}, {per_min:.1f}/min")
    lines.append(f"gaps > {gap_s:g} s  book {_gap_text(r['book_gaps'])}; trades {_gap_text(r['trade_gaps'])}")
    g = r["grids"]
    lines.append(
        f"grid        book prices {g['book prices']:g}, trade prices {g['trade prices'] or 0:g}, quantities "
        f"{g['quantities'] or 0:g}: tick {r['tick']:g}, step {g['quantities'] or 0:g}"
    )
    if r["spread"]:
        s = r["spread"]
        lines.append(
            f"spread      ticks p{'/'.join(map(str, PERCENTILES))} {_pcts(s['ticks'], 0)}, "
            f"bp {_pcts(s['bp'], 3)}, mean {s['mean_bp']:.3f} bp"
        )
    b = r["book"]
    lines.append("book checks " + ", ".join(f"{k} {v}" for k, v in b.items()))
    lines.append("going back  " + ", ".join(f"{k} {v}" for k, v in r["times"].items()) + " (row to row)")
    lines += _vs_book_lines(r)
    problems = _problems(r)
    lines.append("verdict     " + ("; ".join(problems) if problems else "nothing looks wrong"))
    return lines


def _vs_book_lines(r: dict) -> list[str]:
    v = r["vs_book"]
    if not v:
        return []
    n = max(v["compared"], 1)
    far = f" by ticks p50/p90/max {_pcts(v['ticks'], 0)}" if v["ticks"] else ""
    return [
        f"vs book     (the last book by its {r['clock']} at each trade's time) inside the spread "
        f"{v['inside'] / n:.1%}, outside the touch {v['outside']:,} ({v['outside'] / n:.1%}){far}; beyond the "
        f"recorded levels {v['beyond_levels']:,}; aggressor on the wrong side {v['wrong_side']:,} "
        f"({v['wrong_side'] / n:.1%})"
    ]


def _problems(r: dict) -> list[str]:
    out = []
    if r["book_gaps"]["count"]:
        out.append(f"book gaps {r['book_gaps']['count']}")
    if r["trade_gaps"]["count"]:
        out.append(f"trade gaps {r['trade_gaps']['count']}")
    out += [f"{k} books {v}" for k, v in r["book"].items() if v]
    out += [f"{k} going back {v}" for k, v in r["times"].items() if v]
    v = r["vs_book"]
    if v and v["beyond_levels"]:
        out.append(f"trades beyond the recorded levels {v['beyond_levels']} ({v['beyond_levels'] / v['compared']:.1%})")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backtest.py inspect",
        description="Check recordings before trusting them: span, rates, gaps, book defects, timestamps "
        "going back, trades against the book, tick/step, spreads; per day folder and symbol.",
    )
    p.add_argument("data", type=Path, nargs="+", help="data folders, or parents of day folders")
    p.add_argument("--symbol", type=str.upper, help="only this symbol (default: every one found)")
    p.add_argument("--gap-s", type=float, default=30.0, help="report silences longer than this (s)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        folders = day_folders(args.data, args.symbol)
        for folder in folders:
            for symbol in [args.symbol] if args.symbol else symbols(folder):
                report = inspect_day(folder, symbol, args.gap_s)
                print("\n".join(format_day(str(folder), symbol, report, args.gap_s)))
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
