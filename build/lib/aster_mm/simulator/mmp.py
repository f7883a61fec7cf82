"""Market Maker Protection, as the V3 doc's "Update User MMP (USER_DATA)" describes it (POST /fapi/v3/mmp):

  windowTimeInMilliseconds "Time window (in ms) for calculating qtyLimit, valueLimit, and deltaLimit"
  frozenTimeInMilliseconds "Duration (in ms) during which MMP orders are prohibited after a limit is triggered"
  qtyLimit   "Maximum cumulative filled quantity (both buy and sell) within the window. If reached, triggers
             the frozen period"
  valueLimit "Maximum cumulative notional value within the window. If reached, triggers the frozen period"
  deltaLimit "Maximum cumulative net position change (buys minus sells) within the window. If reached,
             triggers the frozen period"

The limits are typed LONG: whole numbers. What the docs leave open, and the readings taken here (docs/
simulator.md): which orders are "MMP orders" (all of the account's orders on the symbol, A26); which fills
count and in which units (every fill, maker or taker; quantity in the base asset, value in the quote, A27);
what a freeze does (A28: `Readings.mmp_freeze`); how it ends (A29: after frozenTimeInMilliseconds by itself,
or at once with POST /fapi/v3/mmpReset, which also empties the window; DELETE removes it all). This module
only keeps the state; the engine refuses and cancels.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from .wire import ZERO, ApiError, invalid, mandatory


@dataclass
class MmpConfig:
    symbol: str
    window_ms: int
    frozen_ms: int
    qty_limit: int | None = None
    value_limit: int | None = None
    delta_limit: int | None = None
    fills: deque = field(default_factory=deque)  # (time ms, signed quantity, notional) inside the window
    frozen_until: int = 0  # ms, server clock

    def to_dict(self) -> dict:
        """One row of GET /fapi/v3/mmp (the doc's example shows every field as a number)."""
        return {
            "symbol": self.symbol,
            "windowTimeInMilliseconds": self.window_ms,
            "frozenTimeInMilliseconds": self.frozen_ms,
            "qtyLimit": self.qty_limit,
            "valueLimit": self.value_limit,
            "deltaLimit": self.delta_limit,
        }

    def record(self, now: int, signed_qty: Decimal, price: Decimal) -> bool:
        """Count a fill; True when it makes a limit reached, which starts the freeze (the fill stands)."""
        self.fills.append((now, signed_qty, abs(signed_qty) * price))
        while self.fills and self.fills[0][0] <= now - self.window_ms:
            self.fills.popleft()
        qty = sum((abs(q) for _, q, _ in self.fills), ZERO)
        value = sum((v for _, _, v in self.fills), ZERO)
        delta = abs(sum((q for _, q, _ in self.fills), ZERO))
        reached = (
            (self.qty_limit is not None and qty >= self.qty_limit)
            or (self.value_limit is not None and value >= self.value_limit)
            or (self.delta_limit is not None and delta >= self.delta_limit)
        )
        if reached:
            self.frozen_until = now + self.frozen_ms
            self.fills.clear()
        return reached


def _long(params: dict, name: str, required: bool) -> int | None:
    value = mandatory(params, name) if required else params.get(name)
    if value in (None, ""):
        return None
    if not str(value).isdigit():
        raise invalid(name)  # LONG: a whole, non-negative number
    return int(value)


class Mmp:
    def __init__(self) -> None:
        self.configs: dict[str, MmpConfig] = {}

    def configure(self, symbol: str, params: dict) -> None:
        window, frozen = (
            _long(params, "windowTimeInMilliseconds", True),
            _long(params, "frozenTimeInMilliseconds", True),
        )
        assert window is not None and frozen is not None  # mandatory
        if window <= 0:
            raise invalid("windowTimeInMilliseconds")
        qty, value, delta = (_long(params, name, False) for name in ("qtyLimit", "valueLimit", "deltaLimit"))
        if qty is None and value is None and delta is None:
            raise ApiError(
                -1102, "Param 'qtyLimit', 'valueLimit' or 'deltaLimit' must be sent, but all were empty/null!"
            )
        self.configs[symbol] = MmpConfig(symbol, window, frozen, qty, value, delta)

    def rows(self, symbol: str | None) -> list[dict]:
        return [c.to_dict() for s, c in self.configs.items() if symbol in (None, s)]

    def delete(self, symbol: str) -> None:
        self.configs.pop(symbol, None)

    def reset(self, symbol: str) -> None:
        if (config := self.configs.get(symbol)) is not None:
            config.frozen_until = 0
            config.fills.clear()

    def frozen(self, symbol: str, now: int) -> bool:
        config = self.configs.get(symbol)
        return config is not None and now < config.frozen_until

    def record(self, symbol: str, now: int, signed_qty: Decimal, price: Decimal) -> bool:
        config = self.configs.get(symbol)
        return config is not None and config.record(now, signed_qty, price)
