"""A symbol's trading rules (tick, step, minimums, status) as exact decimals, read from exchangeInfo."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any


@dataclass(frozen=True)
class SymbolRules:
    symbol: str
    status: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None = None  # LOT_SIZE.maxQty: the largest limit order
    market_max_qty: Decimal | None = None  # MARKET_LOT_SIZE.maxQty: the largest market order

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"

    def price_down(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value(ROUND_FLOOR) * self.tick

    def price_up(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value(ROUND_CEILING) * self.tick

    def qty_down(self, qty: Decimal) -> Decimal:
        return (qty / self.step).to_integral_value(ROUND_FLOOR) * self.step


def unit(text: str) -> Decimal:
    """A tick or step without trailing zeros and without an exponent ("0.0100" -> 0.01, "100" -> 100), so
    prices and quantities built from it print plainly."""
    value = Decimal(text).normalize()
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # "n", "N" or "F": not a number at all
        raise ValueError(f"not a finite number: {text!r}")
    return value.quantize(Decimal(1)) if exponent > 0 else value


def _positive(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None and Decimal(value) > 0 else None


def parse_symbol_rules(exchange_info: dict[str, Any], symbol: str) -> SymbolRules:
    """Rules for `symbol` from an exchangeInfo answer (any status); ValueError for an unknown symbol."""
    entry = next((s for s in exchange_info.get("symbols", []) if s.get("symbol") == symbol), None)
    if entry is None:
        raise ValueError(f"unknown symbol {symbol!r}: the exchange does not list it")
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    try:
        return SymbolRules(
            symbol=symbol,
            status=entry["status"],
            tick=unit(filters["PRICE_FILTER"]["tickSize"]),
            step=unit(filters["LOT_SIZE"]["stepSize"]),
            min_qty=Decimal(filters["LOT_SIZE"]["minQty"]),
            min_notional=Decimal(filters.get("MIN_NOTIONAL", {}).get("notional", "0")),
            max_qty=_positive(filters["LOT_SIZE"].get("maxQty")),
            market_max_qty=_positive(filters.get("MARKET_LOT_SIZE", {}).get("maxQty")),
        )
    except KeyError as missing:
        raise ValueError(f"symbol {symbol}: exchangeInfo lacks filter field {missing}") from None
