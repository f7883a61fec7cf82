"""The account's history as the exchange keeps it: our trades (GET /fapi/v3/userTrades) and the income
flow (GET /fapi/v3/income) of realized PnL, commissions, funding fees and market-maker rewards.

Shapes follow the V1 futures doc (`asterdex/api-docs`, "Account Trade List (USER_DATA)" and "Get Income
History(USER_DATA)"): income rows carry symbol, incomeType, income, asset, info, time, tranId and tradeId
("trandId is unique in the same incomeType for a user"); startTime and endTime are inclusive; limit
defaults to 100 (max 1000); without startTime and endTime the recent 7 days are returned. A trade makes a
COMMISSION row when its fee is not zero and a REALIZED_PNL row when it realized something (the
simulator's reading of the exchange: opening fills realize nothing and show no REALIZED_PNL row).
Commissions are negative income, in USDT (A31). Rows are returned oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .wire import ZERO, ApiError, fmt, int_param, limit_param

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
INCOME_TYPES = (
    "TRANSFER",
    "WELCOME_BONUS",
    "REALIZED_PNL",
    "FUNDING_FEE",
    "COMMISSION",
    "INSURANCE_CLEAR",
    "MARKET_MERCHANT_RETURN_REWARD",
)


def _window(params: dict, now: int) -> tuple[int, int]:
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    if start is None and end is None:
        return now - SEVEN_DAYS_MS, now
    return (start if start is not None else 0), (end if end is not None else now)


@dataclass
class History:
    trades: list[dict] = field(default_factory=list)
    income: list[dict] = field(default_factory=list)
    _next_tran_id: int = 900000001

    def record_trade(
        self,
        symbol: str,
        trade_id: int,
        order_id: int,
        side: str,
        qty: Decimal,
        price: Decimal,
        maker: bool,
        fee: Decimal,
        realized: Decimal,
        now: int,
    ) -> None:
        self.trades.append(
            {
                "buyer": side == "BUY",
                "commission": fmt(-fee),
                "commissionAsset": "USDT",
                "id": trade_id,
                "maker": maker,
                "orderId": order_id,
                "price": fmt(price),
                "qty": fmt(qty),
                "quoteQty": fmt(price * qty),
                "realizedPnl": fmt(realized),
                "side": side,
                "positionSide": "BOTH",
                "symbol": symbol,
                "time": now,
            }
        )
        if realized != 0:
            self.add_income(symbol, "REALIZED_PNL", realized, now, str(trade_id))
        if fee != 0:
            self.add_income(symbol, "COMMISSION", -fee, now, str(trade_id))

    def add_income(self, symbol: str, kind: str, amount: Decimal, now: int, trade_id: str = "") -> dict:
        row = {
            "symbol": symbol,
            "incomeType": kind,
            "income": fmt(amount),
            "asset": "USDT",
            "info": kind,
            "time": now,
            "tranId": str(self._next_tran_id),
            "tradeId": trade_id,
        }
        self._next_tran_id += 1
        self.income.append(row)
        return row

    def income_rows(self, params: dict, now: int) -> list[dict]:
        kind = params.get("incomeType") or None
        if kind is not None and kind not in INCOME_TYPES:
            raise ApiError(-1100, "Illegal characters found in parameter 'incomeType'.")
        start, end = _window(params, now)
        limit = limit_param(params, 100, 1000)
        symbol = params.get("symbol") or None
        rows = [
            r
            for r in self.income
            if start <= r["time"] <= end and kind in (None, r["incomeType"]) and symbol in (None, r["symbol"])
        ]
        return rows[:limit]

    def user_trades(self, symbol: str, params: dict, now: int) -> list[dict]:
        from_id = int_param(params, "fromId")
        if from_id is not None and (params.get("startTime") or params.get("endTime")):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        limit = limit_param(params, 500, 1000)
        rows = [t for t in self.trades if t["symbol"] == symbol]
        if from_id is not None:
            return [t for t in rows if t["id"] >= from_id][:limit]
        start, end = _window(params, now)
        if end - start > SEVEN_DAYS_MS:
            raise ApiError(-1127, "More than 7 days between startTime and endTime.")
        rows = [t for t in rows if start <= t["time"] <= end]
        return rows[:limit] if params.get("startTime") else rows[-limit:]  # from the start, else the latest


def funding_amount(position: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What the position receives (positive) or pays: a long pays a positive rate, to 8 decimals."""
    return round(-position * mark * rate, 8) + ZERO
