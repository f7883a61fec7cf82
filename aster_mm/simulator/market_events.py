"""How the market moves our resting orders: a displayed book or a trade print, under the queue model
or the optimistic one. A mixin of the matching engine (engine.py), which owns the books, the orders and
`fill`; this part only decides which of our orders a market event reaches, and for how much.

The displayed book (set by a test, the synthetic market or a replay of recorded data) is the market
*without us* (docs/simulator.md, A46): our orders are not in it, and other participants' prints are not
changed by our presence. So a print that fills us leaves the recorded market as it was (our impact on the
queue and on other participants is not modelled), and the size displayed at our price is always other
people's orders.

Fill rule, `fill_model="queue"` (the default): each resting order knows the size ahead of it at its
price (simulator/queue.py holds the rules):
  * joining a level (placing, or `requeue` after a price change) puts it behind everything displayed at
    that price when it arrives, plus our own earlier orders there; nothing ahead if it improves the
    best price or the level is empty; unknown if the price is beyond the visible levels, until the
    level first shows (then all of its displayed size counts as ahead: the cautious assumption);
  * a trade printing at its price (a SELL aggressor for a BUY, a BUY aggressor for a SELL) consumes the
    size ahead first; what is left of the print fills it, as maker at its own price (partially:
    PARTIALLY_FILLED with `l`/`z`, as the exchange reports it); an unknown queue is never reached;
  * a book update showing less at its price than the size ahead shrinks the size ahead to it
    (cancellations are assumed to come from behind us first: the cautious assumption);
  * a trade printing through its price (a SELL aggressor below a BUY, a BUY aggressor above a SELL),
    or a displayed book that moved through it (best ask <= BUY price, best bid >= SELL price), fills it
    fully at its own price: the market traded past the whole level (as hftbacktest's exchange models
    do; generous for a small print through a price where we alone were quoting).
  What it cannot know: hidden liquidity, the queue beyond the visible levels, orders that join and
  cancel between two snapshots, and other participants' latency.

`partial_fills=False` (queue model only) fills the whole order as soon as a print at its price reaches
it, whatever of the print is left: the rule of hftbacktest's NoPartialFillExchange ("Your order is at
the front of the queue and your order price == sell trade price" is a condition for full execution,
hftbacktest/src/backtest/proc/nopartialfillexchange.rs), which the backtester uses; it exists so the
two engines can be compared like for like (tests/test_agreement.py). The exchange fills partially.

`fill_model="optimistic"` (the old rule, as if always first in the queue): a resting order is filled as
maker, at its own price, when a market trade prints at or through its price, for min(remaining, trade
qty); one print's qty is shared among our orders, best price first; the book moving through it fills it
fully.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from . import queue
from .journal import Journal
from .orders import Book, Order, SymbolSpec
from .wire import ZERO, to_dec


class MarketEvents:
    """Market data in: `set_book` and `trade`. The engine provides what is declared here."""

    books: dict[str, Book]
    journal: Journal
    on_market: Callable[[str, str, dict | None], Awaitable[None]]
    fill_model: str
    partial_fills: bool
    _next_priority: int
    _trade_ids: dict[str, int]

    def spec(self, symbol: str) -> SymbolSpec:
        raise NotImplementedError

    def open(self, symbol: str | None = None) -> list[Order]:
        raise NotImplementedError

    def depth_frame(self, symbol: str, levels: int) -> dict:
        raise NotImplementedError

    async def fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool, exec_type: str = "TRADE") -> Decimal:
        raise NotImplementedError

    async def public_print(self, symbol: str, aggressor: str, price: Decimal, qty: Decimal) -> int:
        raise NotImplementedError

    async def set_book(self, symbol: str, bids: list, asks: list) -> None:
        self.spec(symbol)
        book = self.books[symbol]
        book.bids = [(to_dec(p), to_dec(q)) for p, q in bids]
        book.asks = [(to_dec(p), to_dec(q)) for p, q in asks]
        book.update_id += 1
        self.journal.log({"kind": "event", "stream": "market", "payload": self.depth_frame(symbol, 20)})
        await self.on_market(symbol, "depth", None)
        bid, ask = book.best()
        for order in self.open(symbol):
            if order.is_open and (
                (order.side == "BUY" and ask is not None and ask <= order.price)
                or (order.side == "SELL" and bid is not None and bid >= order.price)
            ):
                await self.fill(order, order.remaining, order.price, maker=True)
        for order in self.open(symbol):
            order.ahead = queue.on_book(order.ahead, self._shown(order), self._ours_ahead(order))

    async def trade(self, symbol: str, aggressor_side: str, price: Any, qty: Any) -> None:
        side, price, left = aggressor_side.upper(), to_dec(price), to_dec(qty)
        await self.public_print(symbol, side, price, left)
        hit = "BUY" if side == "SELL" else "SELL"
        reached = [
            o for o in self.open(symbol) if o.side == hit and (o.price >= price if hit == "BUY" else o.price <= price)
        ]
        reached.sort(key=lambda o: (-o.price if hit == "BUY" else o.price, o.priority))
        if self.fill_model == "optimistic":
            for order in reached:
                if left <= 0:
                    break
                left -= await self.fill(order, min(order.remaining, left), order.price, maker=True)
            return
        fills = []
        for order in reached:  # decide every order's share of this print before any fill is pushed
            if order.price != price:
                fills.append((order, order.remaining))
            else:
                reach, order.ahead = queue.on_trade(order.ahead, left)
                if reach > 0 and not self.partial_fills:
                    reach = order.remaining
                fills.append((order, min(order.remaining, reach)))
        for order, qty in fills:
            if qty > 0:
                await self.fill(order, qty, order.price, maker=True)

    # ---------------------------------------------------------------- queue position
    def requeue(self, order: Order) -> None:
        """Put order at the back of the queue at its (current) price, as an order arriving now: on
        placement, and after a modify that changes the price."""
        self._next_priority += 1
        order.priority = self._next_priority
        order.ahead = queue.on_join(self._shown(order), self._ours_ahead(order))

    def _shown(self, order: Order) -> Decimal | None:
        book = self.books[order.symbol]
        return queue.displayed(book.bids if order.side == "BUY" else book.asks, order.side, order.price)

    def _ours_ahead(self, order: Order) -> Decimal:
        """Our own open orders queued before this one at its price (the displayed book lacks them)."""
        return sum(
            (
                o.remaining
                for o in self.open(order.symbol)
                if o is not order and o.side == order.side and o.price == order.price and o.priority < order.priority
            ),
            ZERO,
        )

    def _next_trade_id(self, symbol: str) -> int:
        self._trade_ids[symbol] += 1
        return self._trade_ids[symbol]
