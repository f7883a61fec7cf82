"""The public market data the exchange keeps besides the book: the trade tape (every print: the market's
own, a second party's, our taker fills) and the funding rates, and the views the market data endpoints
make of them (V3 doc: "Recent Trades List", "Compressed/Aggregate Trades List", "Kline/Candlestick
Data", "24hr Ticker Price Change Statistics", "Get Funding Rate History").

Each print is one aggregate trade (`f` = `l` = `a`). Klines exist only for intervals that had a trade
(docs/simulator.md, A45).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from .wire import ZERO, ApiError, fmt, int_param, limit_param

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
INTERVALS = {  # V3 doc, "Kline/Candlestick chart intervals"; 1M is the calendar month
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": 0,
}
MONDAY_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday: weeks open on Mondays


@dataclass(frozen=True)
class Print:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool  # the aggressor sold


def interval_bounds(t: int, interval: str) -> tuple[int, int]:
    """(open time, close time) of the kline of `interval` that holds time `t` (ms)."""
    if interval == "1M":
        day = datetime.fromtimestamp(t / 1000, UTC)
        month = datetime(day.year, day.month, 1, tzinfo=UTC)
        following = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
        return int(month.timestamp() * 1000), int(following.timestamp() * 1000) - 1
    ms = INTERVALS[interval]
    origin = MONDAY_MS if interval == "1w" else 0
    start = t - (t - origin) % ms
    return start, start + ms - 1


def kline(open_time: int, close_time: int, prints: list[Print]) -> list:
    """One kline row as the docs show it (the last field is "Ignore.")."""
    prices = [p.price for p in prints]
    taker_buys = [p for p in prints if not p.buyer_maker]
    return [
        open_time,
        fmt(prices[0]),
        fmt(max(prices)),
        fmt(min(prices)),
        fmt(prices[-1]),
        fmt(sum((p.qty for p in prints), ZERO)),
        close_time,
        fmt(sum((p.qty * p.price for p in prints), ZERO)),
        len(prints),
        fmt(sum((p.qty for p in taker_buys), ZERO)),
        fmt(sum((p.qty * p.price for p in taker_buys), ZERO)),
        "0",
    ]


class Tape:
    def __init__(self, keep: int = 100_000):
        self._keep = keep
        self._prints: dict[str, deque[Print]] = {}
        self.funding: list[dict] = []  # {"symbol", "fundingRate", "fundingTime"}, oldest first
        self.rates: dict[str, Decimal] = {}  # each symbol's current funding rate

    def add(self, symbol: str, p: Print) -> None:
        self._prints.setdefault(symbol, deque(maxlen=self._keep)).append(p)

    def prints(self, symbol: str) -> list[Print]:
        return list(self._prints.get(symbol, ()))

    def last(self, symbol: str) -> Print | None:
        tape = self._prints.get(symbol)
        return tape[-1] if tape else None

    def trades(self, symbol: str, params: dict) -> list[dict]:
        """Recent Trades List / Old Trades Lookup (`fromId`): oldest first."""
        limit, from_id = limit_param(params, 500, 1000), int_param(params, "fromId")
        prints = self.prints(symbol)
        chosen = [p for p in prints if p.id >= from_id][:limit] if from_id is not None else prints[-limit:]
        return [
            {
                "id": p.id,
                "price": fmt(p.price),
                "qty": fmt(p.qty),
                "quoteQty": fmt(p.price * p.qty),
                "time": p.time,
                "isBuyerMaker": p.buyer_maker,
            }
            for p in chosen
        ]

    def agg_trades(self, symbol: str, params: dict) -> list[dict]:
        """Aggregate trades: "If both startTime and endTime are sent, time between startTime and endTime must
        be less than 1 hour." / "If fromId, startTime, and endTime are not sent, the most recent aggregate
        trades"."""
        limit, from_id = limit_param(params, 500, 1000), int_param(params, "fromId")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and end - start >= HOUR_MS:
            raise ApiError(-1127, "More than 1 hours between startTime and endTime.")
        prints = self.prints(symbol)
        if from_id is not None:
            prints = [p for p in prints if p.id >= from_id]
        if start is not None or end is not None:
            prints = [p for p in prints if (start or 0) <= p.time <= (end if end is not None else p.time)]
        chosen = prints[:limit] if from_id is not None or start is not None else prints[-limit:]
        return [
            {"a": p.id, "p": fmt(p.price), "q": fmt(p.qty), "f": p.id, "l": p.id, "T": p.time, "m": p.buyer_maker}
            for p in chosen
        ]

    def klines(self, symbol: str, params: dict) -> list[list]:
        interval = params.get("interval") or ""
        if interval not in INTERVALS:
            raise ApiError(-1120, "Invalid interval.")
        limit = limit_param(params, 500, 1500)
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        buckets: dict[int, tuple[int, list[Print]]] = {}
        for p in self.prints(symbol):
            if (start is None or p.time >= start) and (end is None or p.time <= end):
                opened, closed = interval_bounds(p.time, interval)
                buckets.setdefault(opened, (closed, []))[1].append(p)
        rows = [kline(opened, closed, prints) for opened, (closed, prints) in sorted(buckets.items())]
        return rows[:limit] if start is not None else rows[-limit:]

    def ticker_24h(self, symbol: str, now: int, fallback: Decimal) -> dict:
        """24 hour rolling window statistics; without trades the prices are the `fallback` (the mid)."""
        prints = self.prints(symbol)
        window = [p for p in prints if p.time > now - DAY_MS]
        before = [p for p in prints if p.time <= now - DAY_MS]
        last = prints[-1].price if prints else fallback
        first = window[0].price if window else last
        volume = sum((p.qty for p in window), ZERO)
        quote = sum((p.qty * p.price for p in window), ZERO)
        return {
            "symbol": symbol,
            "priceChange": fmt(last - first),
            "priceChangePercent": fmt(round((last - first) / first * 100, 3)) if first else "0",
            "weightedAvgPrice": fmt(round(quote / volume, 8)) if volume else fmt(last),
            "prevClosePrice": fmt(before[-1].price if before else first),
            "lastPrice": fmt(last),
            "lastQty": fmt(prints[-1].qty) if prints else "0",
            "openPrice": fmt(first),
            "highPrice": fmt(max((p.price for p in window), default=last)),
            "lowPrice": fmt(min((p.price for p in window), default=last)),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote),
            "openTime": window[0].time if window else now - DAY_MS,
            "closeTime": now,
            "firstId": window[0].id if window else -1,
            "lastId": window[-1].id if window else -1,
            "count": len(window),
        }

    # ---------------------------------------------------------------- funding
    def settle_funding(self, symbol: str, rate: Decimal, now: int) -> None:
        self.rates[symbol] = rate
        self.funding.append({"symbol": symbol, "fundingRate": fmt(rate), "fundingTime": now})

    def funding_history(self, params: dict) -> list[dict]:
        """Funding rate history: "If startTime and endTime are not sent, the most recent limit datas are
        returned." / "If the number of data between startTime and endTime is larger than limit, return as
        startTime + limit." / "In ascending order."."""
        limit = limit_param(params, 100, 1000)
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        symbol = params.get("symbol") or None
        rows = [
            r
            for r in self.funding
            if symbol in (None, r["symbol"])
            and (start is None or r["fundingTime"] >= start)
            and (end is None or r["fundingTime"] <= end)
        ]
        return rows[:limit] if start is not None else rows[-limit:]
