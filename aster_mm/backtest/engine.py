"""The hftbacktest side of the backtest: the simulated asset and the calls the loop makes into it.

hftbacktest owns matching, queue position, latency and fees. The bot's decisions are plain Python
over Decimal, so the loop stays in Python and reaches the backtester through `Backtest` below.

Exchange model: NoPartialFillExchange (hftbacktest's default). hftbacktest 2.4's PartialFillExchange
does not apply partial fills to the local position and balance (nkaz001/hftbacktest issues #299 and
#316), so a quote here fills whole: when a trade prints through its price, or at its price once the
queue model puts it at the front. Aster's post-only (GTX) order that would cross is EXPIRED, as in
hftbacktest (asterdex/api-docs, futures "Time in force (timeInForce)": "GTX - Good Till Crossing
(Post Only)").
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from hftbacktest import GTX, LIMIT, BacktestAsset, build_roivec_backtest
from hftbacktest import binding as b
from hftbacktest.order import IOC, order_dtype
from hftbacktest.types import state_values_dtype

QUEUE_MODELS = ("risk-averse", "power2", "power3")

# hftbacktest order status / request codes (hftbacktest/order.py)
NONE, EXPIRED, FILLED, CANCELED, REJECTED = 0, 2, 3, 4, 6
# The book is kept as a vector over the data's price range widened by this factor each way: quotes fall
# well inside it, and it is an order of magnitude faster than hftbacktest's hash-map book.
ROI_MARGIN = 2.0
# the waits' answers: 0 the time ran out, 1 the data ended, 2 a feed event, 3 an order response; >= 10 an error
END_OF_DATA = 1
_FIRST_ERROR = 10


class OrderRecord(NamedTuple):
    """The fields of hftbacktest's local order record (hftbacktest.order.order_dtype) the runner reads."""

    qty: float
    leaves_qty: float
    exec_price_tick: int
    exch_timestamp: int
    maker: bool
    req: int
    status: int

    @classmethod
    def of(cls, raw: bytes) -> OrderRecord:
        return cls(*_ORDER.unpack(raw))


# order_dtype's layout: qty, leaves_qty, (exec_qty), exec_price_tick, (price_tick, tick_size), exch_timestamp,
# (local_timestamp, order_id, _q1, _q2), maker, (order_type), req, status, (side, time_in_force, padding)
_ORDER = struct.Struct("<dd8xq16xq32x?xBB4x")
assert _ORDER.size == order_dtype.itemsize and order_dtype.fields["req"][1] == 90
# state_values_dtype begins with position, balance, fee (f8 each)
_STATE = struct.Struct("<ddd")
assert [state_values_dtype.fields[f][1] for f in ("position", "balance", "fee")] == [0, 8, 16]


@dataclass(frozen=True)
class EngineConfig:
    tick: float
    lot: float
    queue_model: str = "risk-averse"
    order_latency_ns: int = 30_000_000  # each way: request to matching engine, and back
    latency_file: Path | None = None
    maker_fee: float = 0.0001
    taker_fee: float = 0.00035


def _order_latency_array(path: Path) -> np.ndarray:
    """Measured order latencies: an hftbacktest .npz, or a CSV with columns req_ts, exch_ts, resp_ts
    (ns; a header line is skipped)."""
    if path.suffix == ".npz":
        return np.load(path)["data"]
    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    out = np.zeros(
        len(raw), np.dtype([("req_ts", "i8"), ("exch_ts", "i8"), ("resp_ts", "i8"), ("_padding", "i8")], align=True)
    )
    out["req_ts"], out["exch_ts"], out["resp_ts"] = raw[:, 0], raw[:, 1], raw[:, 2]
    return out


def _asset(
    chunks: list[str], price_range: tuple[float, float], latencies: np.ndarray | None, cfg: EngineConfig
) -> BacktestAsset:
    low, high = price_range
    asset = (
        BacktestAsset()
        .data(list(chunks))
        .roi_lb(low / ROI_MARGIN)
        .roi_ub(high * ROI_MARGIN)
        .linear_asset(1.0)
        .no_partial_fill_exchange()
        .trading_value_fee_model(cfg.maker_fee, cfg.taker_fee)
        .tick_size(cfg.tick)
        .lot_size(cfg.lot)
    )
    if cfg.queue_model == "risk-averse":
        asset.risk_adverse_queue_model()
    elif cfg.queue_model in ("power2", "power3"):
        asset.power_prob_queue_model(float(cfg.queue_model[-1]))  # f(x) = x ** n
    else:
        raise ValueError(f"queue model must be one of {', '.join(QUEUE_MODELS)}, got {cfg.queue_model!r}")
    if latencies is not None:
        asset.intp_order_latency(latencies)
    else:
        asset.constant_order_latency(cfg.order_latency_ns, cfg.order_latency_ns)
    return asset


class Backtest:
    """One hftbacktest backtester, driven through the library's own C functions (`hftbacktest.binding`),
    the same calls its numba wrapper makes. Calling them from Python avoids numba's compile on every run:
    the jitclass wrapper cannot be cached on disk."""

    def __init__(self, chunks: list[str], price_range: tuple[float, float], cfg: EngineConfig):
        """`chunks`: .npz event files, read one after another; `price_range`: the lowest and highest price
        in them."""
        # hftbacktest is handed this array by address: keep it alive as long as it runs
        self._latencies = _order_latency_array(cfg.latency_file) if cfg.latency_file else None
        self.ptr = build_roivec_backtest([_asset(chunks, price_range, self._latencies, cfg)])
        self._depth = b.roivecbt_depth(self.ptr, 0)
        state = b.roivecbt_state_values(self.ptr, 0)  # hftbacktest's own memory: it follows the backtest
        self._state = _view(state, state_values_dtype)
        self._state_raw = (ctypes.c_char * _STATE.size).from_address(state)
        self._lot = cfg.lot
        # the depth vectors cover the whole price range from the start and never move
        self._bids = _depth_array(b.roivecdepth_bid_depth, self._depth)
        self._asks = _depth_array(b.roivecdepth_ask_depth, self._depth)
        self._roi_lb = b.roivecdepth_roi_lb_tick(self._depth)
        self._orders = b.roivecbt_orders(self.ptr, 0)  # the local order map (its entries move, it does not)

    def advance(self, timeout_ns: int, responses: bool = True) -> int:
        """Run the market until the next feed event (or order response), or `timeout_ns`."""
        return _checked(b.roivecbt_wait_next_feed(self.ptr, responses, timeout_ns))

    def elapse(self, duration_ns: int) -> int:
        """Run the market for `duration_ns`: every event up to then, however many, in one call."""
        return _checked(b.roivecbt_elapse(self.ptr, duration_ns))

    def wait_response(self, order_id: int, timeout_ns: int) -> int:
        """Run the market until a response for order `order_id` arrives, or `timeout_ns`."""
        return _checked(b.roivecbt_roivecbt_wait_order_response(self.ptr, 0, order_id, timeout_ns))

    @property
    def timestamp(self) -> int:
        return b.roivecbt_current_timestamp(self.ptr)

    def top_ticks(self) -> tuple[int, int]:
        return b.roivecdepth_best_bid_tick(self._depth), b.roivecdepth_best_ask_tick(self._depth)

    def state(self) -> np.void:
        """position, balance, fee, num_trades, trading_volume, trading_value (a copy)."""
        return self._state.copy()[0]

    def position_balance_fee(self) -> tuple[float, float, float]:
        return _STATE.unpack_from(self._state_raw)

    def levels(self, n: int, quantities: bool) -> tuple:
        """The best `n` price levels of each side, as ticks (with their quantities if asked): the book a
        strategy reading more than the touch sees."""
        bid, ask = self.top_ticks()
        if n == 1 and not quantities:
            return bid, ask
        return _side(self._bids, bid, self._roi_lb, n, -1, quantities, self._lot) + _side(
            self._asks, ask, self._roi_lb, n, 1, quantities, self._lot
        )

    def order(self, order_id: int) -> OrderRecord | None:
        """The local copy of order `order_id`, or None."""
        raw = self.order_bytes(order_id)
        return None if raw is None else OrderRecord.of(raw)

    def order_bytes(self, order_id: int) -> bytes | None:
        """Order `order_id`'s local record as raw bytes (cheap to compare: any response changes it)."""
        ptr = b.orders_get(self._orders, order_id)
        return None if not ptr else ctypes.string_at(ptr, order_dtype.itemsize)

    def submit(self, order_id: int, buy: bool, price: float, qty: float, time_in_force: str = "GTX") -> int:
        """A limit order, post-only (GTX) or, for a stop that must cross the spread, IOC; its answer comes
        later (wait=False), as the bot's does. The stop's reduce-only needs no flag here: its quantity
        never exceeds the position."""
        fn = b.roivecbt_submit_buy_order if buy else b.roivecbt_submit_sell_order
        return fn(self.ptr, 0, order_id, price, qty, IOC if time_in_force == "IOC" else GTX, LIMIT, False)

    def cancel(self, order_id: int) -> int:
        return b.roivecbt_cancel(self.ptr, 0, order_id, False)

    def forget_finished(self) -> None:
        b.roivecbt_clear_inactive_orders(self.ptr, 0)

    def close(self) -> None:
        b.roivecbt_close(self.ptr)


_NO_LEVEL = 1 << 62  # beyond hftbacktest's valid ticks (an empty side is i64::MIN / i64::MAX)


def _checked(code: int) -> int:
    if code >= _FIRST_ERROR:
        raise RuntimeError(f"hftbacktest failed with code {code} (see hftbacktest's handle_result)")
    return code


def _view(ptr: int, dtype: np.dtype) -> np.ndarray:
    """A one-record array over hftbacktest's memory (no copy: it follows the backtest)."""
    return np.frombuffer(memoryview((ctypes.c_char * dtype.itemsize).from_address(ptr)), dtype)


def _depth_array(fn, depth: int) -> np.ndarray:
    length = ctypes.c_uint64(0)
    ptr = fn(depth, ctypes.byref(length))
    return np.frombuffer(memoryview((ctypes.c_char * (8 * length.value)).from_address(ptr)), np.float64)


def _side(depth: np.ndarray, best: int, roi_lb: int, n: int, way: int, quantities: bool, lot: float) -> tuple:
    """The first `n` levels from `best` going `way` (-1 down for bids, +1 up for asks) that hold at least
    half a lot (what hftbacktest counts as a level), as ticks, then their quantities if asked."""
    found: list[int] = []  # indexes into `depth`
    if abs(best) < _NO_LEVEL:
        i, width = best - roi_lb, 64 * n
        while len(found) < n and 0 <= i < len(depth):
            lo, hi = (max(i - width + 1, 0), i + 1) if way < 0 else (i, min(i + width, len(depth)))
            held = np.flatnonzero(depth[lo:hi] >= lot / 2) + lo
            found += (held[::-1] if way < 0 else held).tolist()[: n - len(found)]
            i = lo - 1 if way < 0 else hi
    qty = [float(depth[i]) for i in found] + [0.0] * (n - len(found)) if quantities else []
    return tuple(i + roi_lb for i in found) + (way * _NO_LEVEL,) * (n - len(found)) + tuple(qty)
