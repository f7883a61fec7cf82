"""The simulated account: wallets (USDT, USDF), one-way positions, margin, realized PnL, fees, statistics.
How it looks on the wire (positionRisk, balance, account, ACCOUNT_UPDATE) is in account_views.py.

The simulator has one account (docs/simulator.md, A47): every credential it accepts trades it.

Collateral is pooled in cross margin. The mark price is the book's mid (else the last trade, else the
entry price). What is "available" is collateral + unrealized PnL - position margin - open-order margin,
where collateral is the USDT wallet in single-asset mode and, in multi-assets mode, also USDF at a
haircut ("Multi-Assets Mode ... on Every symbol", GET/POST /fapi/v1/multiAssetsMargin; the real
haircut is the exchange's per asset, USDF_HAIRCUT is this simulator's own choice).

Position mode: one-way by default. In hedge mode (GET/POST /fapi/v1/positionSide/dual) positionRisk
shows LONG and SHORT rows, and orders must name a positionSide and may not send reduceOnly (-4061,
-1106). The simulator keeps one net position underneath; it only needs to refuse what hedge mode
refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .history import History, funding_amount
from .options import DEFAULT_READINGS, Readings
from .orders import Book, Order, SymbolSpec
from .wire import ZERO, to_dec

DEFAULT_LEVERAGE = 20
MAX_NOTIONAL = Decimal("1000000")
USDF_HAIRCUT = Decimal("0.9")


@dataclass
class Position:
    amt: Decimal = ZERO
    entry: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    realized: Decimal = ZERO  # cumulative, before fees ("cr" in ACCOUNT_UPDATE)
    update_time: int = 0
    margin_type: str = "cross"  # "cross" | "isolated", as positionRisk shows it

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
    funding: Decimal = ZERO  # funding fees received (negative: paid)
    max_abs_position: Decimal = ZERO

    def record_fill(
        self, side: str, qty: Decimal, price: Decimal, realized: Decimal, fee: Decimal, position: Decimal
    ) -> None:
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
    def __init__(
        self,
        symbols: dict[str, SymbolSpec],
        books: dict[str, Book],
        balances: dict[str, Any] | None,
        maker_fee: Decimal,
        taker_fee: Decimal,
        readings: Readings = DEFAULT_READINGS,
    ):
        start = balances if balances is not None else {"USDT": Decimal("10000"), "USDF": ZERO}
        self.wallet = {"USDT": ZERO, "USDF": ZERO} | {a: to_dec(v) for a, v in start.items()}
        self.maker_fee, self.taker_fee = to_dec(maker_fee), to_dec(taker_fee)
        self.symbols, self._books = symbols, books
        self.positions = {s: Position() for s in symbols}
        self.stats = {s: Stats() for s in symbols}
        self.history = History()
        self.multi_assets = False
        self.dual_side = False  # hedge mode
        self.stamp_positions = True  # False: positionRisk updateTime is 0, as in the docs' example
        self.reduce_only_only = False  # the account may place reduce-only orders only (-4087)
        self.leverage_locked = False  # leverage changes refused (-4161), as with an isolated position
        self.stp_mode = readings.stp_mode  # POST /fapi/v3/stpMode sets it (A22)
        self.rebates = readings.rebates  # A30
        self.pending_rewards: dict[str, Decimal] = {}  # rebates not paid yet (rebates "reward")
        self.builders: dict[str, dict] = {}  # approved builders (approveBuilder), by lowercase address

    def settle_fill(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        maker: bool,
        now: int,
        trade_id: int = 0,
        order_id: int = 0,
    ) -> tuple[Decimal, Decimal]:
        """Book a fill on the position, the USDT wallet, the statistics and the account's history;
        returns (realized, fee). A negative maker rate is a rebate (A30): a negative fee on the fill, or, with
        `rebates` "reward", no fee now and a MARKET_MERCHANT_RETURN_REWARD payment at `pay_rewards`."""
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        if fee < 0 and self.rebates == "reward":
            self.pending_rewards[symbol] = self.pending_rewards.get(symbol, ZERO) - fee
            fee = ZERO
        pos = self.positions[symbol]
        realized = pos.apply_fill(side, qty, price, now)
        self.wallet["USDT"] += realized - fee
        self.stats[symbol].record_fill(side, qty, price, realized, fee, pos.amt)
        self.history.record_trade(symbol, trade_id, order_id, side, qty, price, maker, fee, realized, now)
        return realized, fee

    def pay_funding(self, symbol: str, rate: Decimal, now: int) -> Decimal:
        """Settle one funding payment on the position at the mark price; returns what the wallet got."""
        amount = funding_amount(self.positions[symbol].amt, self.mark(symbol), rate)
        if amount:
            self.wallet["USDT"] += amount
            self.stats[symbol].funding += amount
            self.history.add_income(symbol, "FUNDING_FEE", amount, now)
        return amount

    def pay_rewards(self, now: int) -> list[tuple[str, Decimal]]:
        """Pay the rebates held back ("reward"), one MARKET_MERCHANT_RETURN_REWARD income row per symbol."""
        paid = [(s, round(a, 8)) for s, a in self.pending_rewards.items() if round(a, 8) > 0]
        self.pending_rewards.clear()
        for symbol, amount in paid:
            self.wallet["USDT"] += amount
            self.history.add_income(symbol, "MARKET_MERCHANT_RETURN_REWARD", amount, now)
        return paid

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
        return sum(
            (o.price * o.remaining / self.positions[o.symbol].leverage for o in open_orders if not o.reduce_only), ZERO
        )

    def collateral(self) -> Decimal:
        usdf = self.wallet["USDF"] * USDF_HAIRCUT if self.multi_assets else ZERO
        return self.wallet["USDT"] + usdf

    def available(self, open_orders: Iterable[Order]) -> Decimal:
        return self.collateral() + self.total_unrealized() - self.position_margin() - self.order_margin(open_orders)

    def asset_available(self, asset: str, open_orders: Iterable[Order]) -> Decimal:
        """USDT shows what is available for margin; USDF, what of it is free (usable as margin only in
        multi-assets mode)."""
        avail = max(ZERO, self.available(open_orders))
        if asset != "USDF":
            return avail
        return min(self.wallet["USDF"], avail) if self.multi_assets else self.wallet["USDF"]
