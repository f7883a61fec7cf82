"""Market sources that drive the simulator through `set_book` and `trade`: a seeded synthetic random
walk (`SyntheticMarket`) and a replay of recorded CSV data (`ReplayMarket`, the format of
shared/data/aster-2025-09-29/). The synthetic market can also write itself in that format
(`SyntheticMarket.write_csv`), so a long synthetic day can be replayed or backtested like a recording.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .orders import SymbolSpec, default_symbols
from .wire import D, decimals, to_dec

if TYPE_CHECKING:
    from .exchange import SimExchange

# The synthetic market's first mid for the simulator's known symbols; any other symbol needs one given.
START_PRICES = {"ETHUSDT": D("2500"), "BNBUSDT": D("1020"), "ASTERUSDT": D("1.85")}
RECORDED_LEVELS = 10  # depth levels per side in the recorded CSVs
SYNTHETIC_START = 1_759_104_000.0  # 2025-09-29 00:00 UTC: where a written synthetic day begins
DATA_HINT = (
    "the 2025-09-29 BNBUSDT and ASTERUSDT recordings are published in a public repository of Aster "
    "market-making research: copy them into this directory, or record your own with record.py"
)


class MarketSetupError(ValueError):
    """A market the simulator cannot set up; the message is for the user, not a traceback."""


def _spec_for(symbol: str) -> SymbolSpec:
    return default_symbols().get(symbol) or SymbolSpec(symbol)


def symbol_table(spec: SymbolSpec) -> dict[str, SymbolSpec]:
    """The simulator's default symbols with `spec` added (or replacing its namesake)."""
    return default_symbols() | {spec.symbol: spec}


def _with_units(spec: SymbolSpec, tick: Any, step: Any) -> SymbolSpec:
    tick = to_dec(tick) if tick is not None else spec.tick
    step = to_dec(step) if step is not None else spec.step
    return replace(spec, tick=tick, step=step, min_qty=max(spec.min_qty, step))


def synthetic_spec(
    symbol: str, start_price: Any = None, tick: Any = None, step: Any = None
) -> tuple[SymbolSpec, Decimal]:
    """Rules and first mid for a synthetic market in `symbol`. A symbol the simulator does not know needs
    `start_price`; its tick is then a power of ten about 1/10,000 of that price and its step a power of ten
    worth 1 to 10 USD, unless `tick`/`step` are given."""
    known = default_symbols().get(symbol)
    if start_price is None:
        if symbol not in START_PRICES:
            raise MarketSetupError(
                f"unknown symbol {symbol}: give its --start-price (and, if you like, --tick "
                f"and --step), or use one of {', '.join(START_PRICES)}"
            )
        start_price = START_PRICES[symbol]
    start = to_dec(start_price)
    if not start.is_finite() or start <= 0:
        raise MarketSetupError(f"start price must be greater than 0, got {start_price}")
    if known is None:
        magnitude = start.adjusted()  # the exponent of its leading digit
        known = SymbolSpec(symbol, D(10) ** (magnitude - 4), D(10) ** -magnitude, D(10) ** -magnitude)
    return _with_units(known, tick, step), start


def _decimals(texts: Iterable[str]) -> int:
    return max((decimals(D(t)) for t in texts if t), default=0)


def recorded_file(data_dir: Path, name: str) -> Path:
    """`<name>.csv`, or `<name>.csv.gz` when only that exists (shared/data/standx-btcusd is gzip)."""
    plain = data_dir / f"{name}.csv"
    zipped = data_dir / f"{name}.csv.gz"
    return zipped if zipped.is_file() and not plain.is_file() else plain


def open_csv(path: Path) -> Iterator[dict]:
    """The rows of a recorded CSV file, gzip-compressed or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        yield from csv.DictReader(f)


class SyntheticMarket:
    """Deterministic random-walk market with a 5-level book and trade flow.

    Each step the mid moves by a normal relative return of std `volatility` (0.0004 per 0.1 s step is
    about 0.5 % over 15 s: much livelier than a real market, so a test run sees fills within seconds of
    simulated time). Each step prints `trades_per_step` (Poisson mean) small trades at the touch and, with
    probability `sweep_prob`, one large sweep (a wick) printing `sweep_min`..`sweep_max` away from mid.
    A bot re-centring its quotes follows the random walk, so the sweeps are what reach quotes placed
    0.6 % from mid: with the defaults (a sweep every ~3.3 s, 0.2 %..1.2 % deep, uniformly) such quotes
    are hit on both sides after a median of ~15 s of simulated time, within ~33 s for 90 % of seeds.
    """

    def __init__(
        self,
        symbol: str = "ETHUSDT",
        start_price: Any = D("2500"),
        seed: int = 1,
        volatility: float = 0.0004,
        tick: Any = None,
        spread_ticks: int = 1,
        levels: int = 5,
        interval: float = 0.1,
        trades_per_step: float = 1.0,
        speed: float = 1.0,
        sweep_prob: float = 0.03,
        sweep_min: float = 0.002,
        sweep_max: float = 0.012,
        level_notional: float = 20000.0,
        step: Any = None,
    ):
        spec = _spec_for(symbol)
        self.symbol, self.seed, self.volatility = symbol, seed, volatility
        self.tick = to_dec(tick) if tick is not None else spec.tick
        self.step = to_dec(step) if step is not None else spec.step
        self.spread_ticks, self.levels, self.interval = spread_ticks, levels, interval
        self.trades_per_step, self.speed = trades_per_step, speed
        self.sweep_prob, self.sweep_min, self.sweep_max = sweep_prob, sweep_min, sweep_max
        self.level_notional = level_notional
        self.mid = float(start_price)
        self._rng = np.random.default_rng(seed)

    def _price(self, x: float) -> Decimal:
        return (D(repr(float(x))) / self.tick).to_integral_value(ROUND_FLOOR) * self.tick

    def _qty(self, notional: float) -> Decimal:
        qty = (D(repr(float(notional) / self.mid)) / self.step).to_integral_value(ROUND_FLOOR) * self.step
        return max(qty, self.step)

    def step_once(self) -> tuple[list, list, list]:
        rng = self._rng
        self.mid *= math.exp(rng.normal(0.0, self.volatility))
        best_bid = self._price(self.mid - float(self.tick) * self.spread_ticks / 2)
        best_ask = best_bid + self.tick * self.spread_ticks
        sizes = rng.uniform(0.3, 1.7, size=2 * self.levels) * self.level_notional
        bids = [(best_bid - i * self.tick, self._qty(sizes[i])) for i in range(self.levels)]
        asks = [(best_ask + i * self.tick, self._qty(sizes[self.levels + i])) for i in range(self.levels)]
        trades = []
        for _ in range(rng.poisson(self.trades_per_step)):
            buy = rng.random() < 0.5
            trades.append(
                (
                    "BUY" if buy else "SELL",
                    best_ask if buy else best_bid,
                    self._qty(rng.exponential(0.1) * self.level_notional),
                )
            )
        if rng.random() < self.sweep_prob:
            buy = rng.random() < 0.5
            depth = rng.uniform(self.sweep_min, self.sweep_max)
            price = self._price(self.mid * (1 + depth if buy else 1 - depth))
            trades.append(("BUY" if buy else "SELL", price, self._qty(rng.uniform(1, 5) * self.level_notional)))
        return bids, asks, trades

    def steps(self, n: int) -> Iterator[tuple[list, list, list]]:
        for _ in range(n):
            yield self.step_once()

    def write_csv(self, out_dir: Any, hours: float, start: float = SYNTHETIC_START) -> int:
        """Write `hours` of this market to orderbook_/trades_/prices_<SYM>.csv in `out_dir`, with the
        columns of the shared recordings (one timestamp per row, as they have): a book row every
        `interval` seconds from unix time `start`, its trades stamped at the same instant (they print
        after it, as in `run`). Returns the number of steps written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        levels = range(RECORDED_LEVELS)
        book_header = ["unix_timestamp", "lastUpdateId"] + [
            f"{side}_{what}_{i}" for side in ("bid", "ask") for i in levels for what in ("price", "qty")
        ]
        n_steps, trade_id = round(hours * 3600 / self.interval), 0
        with (
            open(out / f"orderbook_{self.symbol}.csv", "w", newline="") as fb,
            open(out / f"trades_{self.symbol}.csv", "w", newline="") as ft,
            open(out / f"prices_{self.symbol}.csv", "w", newline="") as fp,
        ):
            books, trades, prices = csv.writer(fb), csv.writer(ft), csv.writer(fp)
            books.writerow(book_header)
            trades.writerow(["id", "unix_timestamp_ms", "side", "price", "quantity"])
            prices.writerow(["unix_timestamp", "bid", "ask", "mid"])
            for n in range(n_steps):
                bids, asks, prints = self.step_once()
                t = start + n * self.interval
                row = [f"{t:.3f}", n + 1]
                for side in (bids, asks):
                    for i in levels:
                        row += [side[i][0], side[i][1]] if i < len(side) else ["", ""]
                books.writerow(row)
                prices.writerow([f"{t:.3f}", bids[0][0], asks[0][0], (bids[0][0] + asks[0][0]) / 2])
                for side, price, qty in prints:
                    trade_id += 1
                    trades.writerow([trade_id, round(t * 1000), side.lower(), price, qty])
        return n_steps

    async def run(self, sim: SimExchange, duration: float | None = None) -> None:
        """Drive sim at interval/speed real seconds per step; duration is in simulated seconds."""
        loop = asyncio.get_running_loop()
        n, start = 0, loop.time()
        while duration is None or n * self.interval < duration:
            bids, asks, trades = self.step_once()
            await sim.set_book(self.symbol, bids, asks)
            for side, price, qty in trades:
                await sim.trade(self.symbol, side, price, qty)
            n += 1
            if self.speed and math.isfinite(self.speed):
                await asyncio.sleep(max(0.0, start + n * self.interval / self.speed - loop.time()))
            else:
                await asyncio.sleep(0)


class ReplayMarket:
    """Replays recorded orderbook_<SYM>.csv (top 5 of 10 levels) and trades_<SYM>.csv, merged by time; either
    file may be gzip-compressed (`.csv.gz`)."""

    def __init__(self, data_dir: Any, symbol: str = "BNBUSDT", speed: float = 1.0, levels: int = 5):
        self.data_dir, self.symbol, self.speed, self.levels = Path(data_dir), symbol, speed, levels
        self.book_csv = recorded_file(self.data_dir, f"orderbook_{symbol}")
        self.trades_csv = recorded_file(self.data_dir, f"trades_{symbol}")
        missing = [p.name for p in (self.book_csv, self.trades_csv) if not p.is_file()]
        if missing:
            raise MarketSetupError(
                f"no recorded {symbol} data in {self.data_dir} ({' and '.join(missing)} not found); {DATA_HINT}"
            )

    def spec(self, tick: Any = None, step: Any = None) -> SymbolSpec:
        """The simulator's rules for a symbol it knows; otherwise the tick from the recorded prices' decimals
        and the step from the quantities' (trailing zeros ignored). `tick`/`step` override either."""
        known = default_symbols().get(self.symbol)
        if known is None:
            rows, trades = list(open_csv(self.book_csv)), list(open_csv(self.trades_csv))
            prices = [v for r in rows for k, v in r.items() if "_price_" in k] + [t["price"] for t in trades]
            qtys = [v for r in rows for k, v in r.items() if "_qty_" in k] + [t["quantity"] for t in trades]
            step_ = D(1).scaleb(-_decimals(qtys))
            known = SymbolSpec(self.symbol, D(1).scaleb(-_decimals(prices)), step_, step_)
        return _with_units(known, tick, step)

    def events(self) -> list[tuple]:
        """[(t seconds, "book", bids, asks) | (t, "trade", side, price, qty)] sorted by time, from the first
        book row on: trades recorded before it would print into a market with no book."""
        out: list[tuple] = []
        for row in open_csv(self.book_csv):
            out.append((float(row["unix_timestamp"]), "book", self._side(row, "bid"), self._side(row, "ask")))
        if not out:
            raise MarketSetupError(f"{self.book_csv} has no order-book rows")
        for row in open_csv(self.trades_csv):
            # A book row is stamped with its local receipt; record.py's trades carry theirs too, on the
            # same clock (older recordings have only the exchange's trade time).
            local = row.get("local_timestamp")
            t = float(local) if local else int(row["unix_timestamp_ms"]) / 1000
            out.append((t, "trade", row["side"].upper(), D(row["price"]), D(row["quantity"])))
        out.sort(key=lambda e: e[0])  # stable: a book and a trade at the same instant keep file order
        first_book = next(n for n, e in enumerate(out) if e[1] == "book")
        return out[first_book:]

    def _side(self, row: dict, side: str) -> list:
        return [
            (D(row[f"{side}_price_{i}"]), D(row[f"{side}_qty_{i}"]))
            for i in range(self.levels)
            if row.get(f"{side}_price_{i}")
        ]

    async def run(self, sim: SimExchange) -> int:
        """Replay all events into sim; returns the number of events applied."""
        events = self.events()
        loop = asyncio.get_running_loop()
        start, t0 = loop.time(), events[0][0] if events else 0.0
        realtime = bool(self.speed) and math.isfinite(self.speed)
        for n, event in enumerate(events):
            if realtime:
                await asyncio.sleep(max(0.0, start + (event[0] - t0) / self.speed - loop.time()))
            elif n % 50 == 0:
                await asyncio.sleep(0)
            if event[1] == "book":
                await sim.set_book(self.symbol, event[2], event[3])
            else:
                await sim.trade(self.symbol, *event[2:])
        return len(events)
