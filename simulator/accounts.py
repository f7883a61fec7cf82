"""The simulated account: wallets (USDT, USDF), one-way positions, margin, realized PnL, fees, statistics.

Collateral is pooled in cross margin. The mark price is the book's mid (else the last trade, else the
entry price). What is "available" is wallet + unrealized PnL - position margin - open-order margin.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .orders import Book, Order, SymbolSpec
from .wire import ZERO, fmt, to_dec

DEFAULT_LEVERAGE = 20
MAX_NOTIONAL = Decimal("1000000")


@dataclass
class Position:
    amt: Decimal = ZERO
    entry: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    realized: Decimal = ZERO  # cumulative, before fees ("cr" in ACCOUNT_UPDATE)
    update_time: int = 0

    def apply_fill(self, side: str, qty: Decimal, price: Decimal, now: int) -> Decimal:
        """Move the position by a fill; returns the PnL it realized (before fees)."""
        signed = qty if side == "BUY" else -qty
        realized = ZERO
        if self.amt == 0 or (self.amt > 0) == (signed > 0):
            total = abs(self.amt) + qty
            self.entry = (abs(self.amt) * self.entry + qty * price) / total
        else:
            closing = min(qty, abs(self.amt))
            realized = closing * (price - self.entry) * (1 if self.amt > 0 else -1)
            if qty > abs(self.amt):  # flipped through zero: the rest opens at the fill price
                self.entry = price
        self.amt += signed
        if self.amt == 0:
            self.entry = ZERO
        self.realized += realized
        self.update_time = now
        return realized


@dataclass
class Stats:
    orders_sent: int = 0  # orders accepted by the exchange (got an orderId)
    rejected: int = 0
    cancelled: int = 0
    expired: int = 0
    fills: int = 0
    buy_volume: Decimal = ZERO
    sell_volume: Decimal = ZERO
    notional_volume: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    max_abs_position: Decimal = ZERO

    def record_fill(self, side: str, qty: Decimal, price: Decimal, realized: Decimal, fee: Decimal,
                    position: Decimal) -> None:
        self.fills += 1
        if side == "BUY":
            self.buy_volume += qty
        else:
            self.sell_volume += qty
        self.notional_volume += price * qty
        self.realized_pnl += realized
        self.fees += fee
        self.max_abs_position = max(self.max_abs_position, abs(position))


class Accounts:
    def __init__(self, symbols: dict[str, SymbolSpec], books: dict[str, Book],
                 balances: dict[str, Any] | None, maker_fee: Decimal, taker_fee: Decimal):
        start = balances if balances is not None else {"USDT": Decimal("10000"), "USDF": ZERO}
        self.wallet = {"USDT": ZERO, "USDF": ZERO} | {a: to_dec(v) for a, v in start.items()}
        self.maker_fee, self.taker_fee = to_dec(maker_fee), to_dec(taker_fee)
        self.symbols, self._books = symbols, books
        self.positions = {s: Position() for s in symbols}
        self.stats = {s: Stats() for s in symbols}

    def settle_fill(self, symbol: str, side: str, qty: Decimal, price: Decimal, maker: bool,
                    now: int) -> tuple[Decimal, Decimal]:
        """Book a fill on the position, the USDT wallet and the statistics; returns (realized, fee)."""
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        pos = self.positions[symbol]
        realized = pos.apply_fill(side, qty, price, now)
        self.wallet["USDT"] += realized - fee
        self.stats[symbol].record_fill(side, qty, price, realized, fee, pos.amt)
        return realized, fee

    # ---------------------------------------------------------------- margin
    def mark(self, symbol: str) -> Decimal:
        book = self._books[symbol]
        bid, ask = book.best()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return book.last_price if book.last_price is not None else self.positions[symbol].entry

    def unrealized(self, symbol: str) -> Decimal:
        pos = self.positions[symbol]
        return pos.amt * (self.mark(symbol) - pos.entry) if pos.amt else ZERO

    def total_unrealized(self) -> Decimal:
        return sum((self.unrealized(s) for s in self.symbols), ZERO)

    def position_margin(self) -> Decimal:
        return sum((abs(p.amt) * p.entry / p.leverage for p in self.positions.values()), ZERO)

    def order_margin(self, open_orders: Iterable[Order]) -> Decimal:
        return sum((o.price * o.remaining / self.positions[o.symbol].leverage
                    for o in open_orders if not o.reduce_only), ZERO)

    def available(self, open_orders: Iterable[Order]) -> Decimal:
        return (sum(self.wallet.values(), ZERO) + self.total_unrealized() - self.position_margin()
                - self.order_margin(open_orders))

    def asset_available(self, asset: str, open_orders: Iterable[Order]) -> Decimal:
        # Collateral is pooled; USDF is counted first, the rest of what is available is shown as USDT.
        avail = max(ZERO, self.available(open_orders))
        usdf = min(self.wallet["USDF"], avail)
        return usdf if asset == "USDF" else avail - usdf

    # ---------------------------------------------------------------- wire views
    def position_dict(self, symbol: str) -> dict:
        pos, mark = self.positions[symbol], self.mark(symbol)
        return {"symbol": symbol, "positionAmt": fmt(pos.amt), "entryPrice": fmt(round(pos.entry, 8)),
                "markPrice": fmt(round(mark, 8)), "unRealizedProfit": fmt(round(self.unrealized(symbol), 8)),
                "liquidationPrice": "0", "leverage": str(pos.leverage),
                "maxNotionalValue": fmt(MAX_NOTIONAL), "marginType": "cross", "isolatedMargin": "0",
                "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": fmt(round(pos.amt * mark, 8)),
                "isolatedWallet": "0", "updateTime": pos.update_time}

    def account_update(self, symbol: str, now: int, t: int) -> dict:
        pos = self.positions[symbol]
        balances = [{"a": a, "wb": fmt(w), "cw": fmt(w), "bc": "0"} for a, w in self.wallet.items()]
        position = {"s": symbol, "pa": fmt(pos.amt), "ep": fmt(round(pos.entry, 8)), "cr": fmt(pos.realized),
                    "up": fmt(round(self.unrealized(symbol), 8)), "mt": "cross", "iw": "0", "ps": "BOTH"}
        return {"e": "ACCOUNT_UPDATE", "E": now, "T": t, "a": {"m": "ORDER", "B": balances, "P": [position]}}

    def balance_rows(self, open_orders: list[Order], now: int) -> list:
        """The body of GET /fapi/v2/balance."""
        upnl = self.total_unrealized()
        return [{"accountAlias": "SimAccount", "asset": a, "balance": fmt(w), "crossWalletBalance": fmt(w),
                 "crossUnPnl": fmt(round(upnl if a == "USDT" else ZERO, 8)),
                 "availableBalance": fmt(round(self.asset_available(a, open_orders), 8)),
                 "maxWithdrawAmount": fmt(round(self.asset_available(a, open_orders), 8)),
                 "marginAvailable": True, "updateTime": now} for a, w in self.wallet.items()]

    def account_body(self, open_orders: list[Order], now: int) -> dict:
        """The body of GET /fapi/v4/account."""
        upnl = self.total_unrealized()
        wallet = sum(self.wallet.values(), ZERO)
        pos_margin, order_margin = self.position_margin(), self.order_margin(open_orders)
        avail = round(max(ZERO, self.available(open_orders)), 8)
        assets = [{"asset": a, "walletBalance": fmt(w),
                   "unrealizedProfit": fmt(round(upnl if a == "USDT" else ZERO, 8)),
                   "marginBalance": fmt(round(w + (upnl if a == "USDT" else ZERO), 8)),
                   "maintMargin": "0", "initialMargin": "0", "positionInitialMargin": "0",
                   "openOrderInitialMargin": "0", "crossWalletBalance": fmt(w), "crossUnPnl": "0",
                   "availableBalance": fmt(round(self.asset_available(a, open_orders), 8)),
                   "maxWithdrawAmount": fmt(round(self.asset_available(a, open_orders), 8)),
                   "marginAvailable": True, "updateTime": now} for a, w in self.wallet.items()]
        positions = [{"symbol": s, "initialMargin": "0", "maintMargin": "0",
                      "unrealizedProfit": d["unRealizedProfit"], "positionInitialMargin": "0",
                      "openOrderInitialMargin": "0", "leverage": d["leverage"], "isolated": False,
                      "entryPrice": d["entryPrice"], "maxNotional": d["maxNotionalValue"],
                      "positionSide": "BOTH", "positionAmt": d["positionAmt"], "notional": d["notional"],
                      "updateTime": d["updateTime"]}
                     for s in self.symbols for d in [self.position_dict(s)]]
        return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
                "totalInitialMargin": fmt(round(pos_margin + order_margin, 8)), "totalMaintMargin": "0",
                "totalWalletBalance": fmt(wallet), "totalUnrealizedProfit": fmt(round(upnl, 8)),
                "totalMarginBalance": fmt(round(wallet + upnl, 8)),
                "totalPositionInitialMargin": fmt(round(pos_margin, 8)),
                "totalOpenOrderInitialMargin": fmt(round(order_margin, 8)),
                "totalCrossWalletBalance": fmt(wallet), "totalCrossUnPnl": fmt(round(upnl, 8)),
                "availableBalance": fmt(avail), "maxWithdrawAmount": fmt(avail),
                "assets": assets, "positions": positions}
