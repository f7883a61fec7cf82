"""A symbol's trading rules (tick, step, minimums, status) as exact decimals, read from exchangeInfo."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class SymbolRules:
    symbol: str
    status: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal

    def price_down(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value(ROUND_FLOOR) * self.tick

    def price_up(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value(ROUND_CEILING) * self.tick

    def qty_down(self, qty: Decimal) -> Decimal:
        return (qty / self.step).to_integral_value(ROUND_FLOOR) * self.step


def parse_symbol_rules(exchange_info: dict, symbol: str) -> SymbolRules:
    """Rules for `symbol` from an exchangeInfo answer; ValueError for an unknown or non-trading symbol."""
    entry = next((s for s in exchange_info.get("symbols", []) if s.get("symbol") == symbol), None)
    if entry is None:
        raise ValueError(f"unknown symbol {symbol!r}: the exchange does not list it")
    if entry.get("status") != "TRADING":
        raise ValueError(f"symbol {symbol} is not trading (status {entry.get('status')})")
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    try:
        return SymbolRules(
            symbol=symbol,
            status=entry["status"],
            tick=Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize(),
            step=Decimal(filters["LOT_SIZE"]["stepSize"]).normalize(),
            min_qty=Decimal(filters["LOT_SIZE"]["minQty"]),
            min_notional=Decimal(filters.get("MIN_NOTIONAL", {}).get("notional", "0")),
        )
    except KeyError as missing:
        raise ValueError(f"symbol {symbol}: exchangeInfo lacks filter field {missing}") from None
