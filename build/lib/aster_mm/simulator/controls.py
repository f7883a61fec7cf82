"""What a test drives the simulator with, beyond the API a client calls: market events, other parties,
account states set from outside, the exchange's own actions (liquidation, announcements, payments), and
fault injection. A base of `SimExchange` (exchange.py), which builds the parts declared here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import account_views as views
from .accounts import Accounts
from .auth import Eip712Auth
from .engine import Engine
from .faults import Faults
from .journal import Journal
from .rest import RestApi
from .streams import Streams
from .wire import to_dec


class SimControls:
    _engine: Engine
    _accounts: Accounts
    _streams: Streams
    _faults: Faults
    _rest: RestApi
    _journal: Journal
    _v3: Eip712Auth

    def now_ms(self) -> int:
        return self._engine.clock.now_ms()

    # ---------------------------------------------------------------- market events
    async def set_book(self, symbol: str, bids: list, asks: list) -> None:
        await self._engine.set_book(symbol, bids, asks)

    async def trade(self, symbol: str, aggressor_side: str, price: Any, qty: Any) -> None:
        await self._engine.trade(symbol, aggressor_side, price, qty)

    async def fill_order(self, symbol: str, client_order_id: str | None = None, qty: Any = None) -> dict:
        candidates = [o for o in self._engine.open(symbol) if client_order_id in (None, o.client_id)]
        if len(candidates) != 1:
            raise ValueError(f"fill_order: {len(candidates)} matching open orders on {symbol}")
        order = candidates[0]
        await self._engine.fill(order, order.remaining if qty is None else to_dec(qty), order.price, maker=True)
        return order.to_dict()

    async def party_trade(self, symbol: str, aggressor_side: str, qty: Any, price: Any) -> Decimal:
        """Another account sends a taker order: it trades against our resting orders that `price` reaches
        (best price first, then time), never against the displayed book, and what is left of it is dropped.
        A trade, not a self-trade: STP does not apply. Returns the quantity our orders gave."""
        return await self._engine.party_trade(
            self._engine.spec(symbol).symbol, aggressor_side.upper(), to_dec(qty), to_dec(price)
        )

    async def trade_by_hand(
        self,
        symbol: str,
        side: str,
        price: Any,
        qty: Any,
        tif: str = "GTC",
        stp_mode: str | None = None,
        client_order_id: str | None = None,
    ) -> dict:
        """The account trades by hand (the web page): a LIMIT order checked and matched as an API order is,
        so it can self-trade with the bot's orders and meet self-trade prevention. Returns the order after
        matching (RESULT)."""
        params = {
            "symbol": symbol,
            "side": side,
            "type": "LIMIT",
            "timeInForce": tif,
            "quantity": str(qty),
            "price": str(price),
        }
        params |= {"stpMode": stp_mode} if stp_mode else {}
        params |= {"newClientOrderId": client_order_id} if client_order_id else {}
        return (await self._engine.place(params)).to_dict()

    async def pay_funding(self, symbol: str, rate: Any) -> Decimal:
        """A funding settlement at `rate` on the position's notional at the mark price (a long pays a
        positive rate); pushes ACCOUNT_UPDATE with reason FUNDING_FEE. Returns what the wallet got."""
        return await self._engine.pay_funding(symbol, to_dec(rate))

    def set_funding_rate(self, symbol: str, rate: Any) -> None:
        """The funding rate premiumIndex and the mark price stream show until the next settlement."""
        self._engine.tape.rates[self._engine.spec(symbol).symbol] = to_dec(rate)

    async def pay_rewards(self) -> list[tuple[str, Decimal]]:
        """Pay the maker rebates held back under `Readings.rebates` "reward" (A30): one income row of type
        MARKET_MERCHANT_RETURN_REWARD per symbol and an ACCOUNT_UPDATE (reason ADJUSTMENT, A50) each."""
        now = self.now_ms()
        paid = self._accounts.pay_rewards(now)
        for symbol, amount in paid:
            await self._engine.push_user(views.balance_update(self._accounts, "ADJUSTMENT", symbol, amount, now))
        return paid

    async def announce(
        self, title: str, content: str = "", category: str = "NEW_LISTING", link: str = "", announcement_id: int = 1
    ) -> None:
        """An announcement on every open user stream, as the V3 doc's "Event: Public Announcement" / "Event:
        Direct Announcement" show it ({"e": "announcement", "en": {...}, "zh": {...}}, no `E`). Category
        NEW_LISTING for a public one, DIRECT for a personal message; delivered without a subscription (A42)."""
        body = {
            "i": announcement_id,
            "t": title,
            "s": "",
            "c": category,
            "d": self.now_ms(),
            "S": False,
            "j": link,
            "C": content,
        }
        await self._engine.push_user({"e": "announcement", "en": body, "zh": dict(body)})

    # ---------------------------------------------------------------- test setup
    def set_position(self, symbol: str, amount: Any, entry_price: Any) -> None:
        pos = self._accounts.positions[symbol]
        pos.amt, pos.entry, pos.update_time = to_dec(amount), to_dec(entry_price), self.now_ms()
        self._journal.notify()

    async def place_order_direct(
        self,
        symbol: str,
        side: str,
        price: Any,
        qty: Any,
        client_order_id: str | None = None,
        reduce_only: bool = False,
    ) -> dict:
        """A resting order put straight into the book: no checks, no matching."""
        spec = self._engine.spec(symbol)
        order = await self._engine.create(spec, side, to_dec(price), to_dec(qty), "GTC", reduce_only, client_order_id)
        return order.to_dict()

    async def _cancel_all(self, symbol: str) -> None:
        await self._engine.cancel_all(symbol)

    def add_agent(self, user: str, agent: str) -> None:
        """Approve an agent (API wallet) for the main wallet `user` (what the Pro API page does); `user` itself
        to let the main wallet sign for itself (A2)."""
        self._v3.register(user, agent)

    def set_commission(self, maker: Any, taker: Any) -> None:
        """The account's commission rates (GET /fapi/v3/commissionRate); a negative maker rate is a rebate."""
        self._accounts.maker_fee, self._accounts.taker_fee = to_dec(maker), to_dec(taker)

    def mmp_frozen(self, symbol: str) -> bool:
        return self._engine.mmp.frozen(symbol, self.now_ms())

    # ---------------------------------------------------------------- account states
    @property
    def accounts(self) -> Accounts:
        """Account switches a test may set: multi_assets, dual_side (use set_modes to push the event),
        stamp_positions (False: positionRisk updateTime 0), reduce_only_only (-4087), leverage_locked,
        stp_mode, builders."""
        return self._accounts

    async def set_modes(self, dual_side: bool | None = None, multi_assets: bool | None = None) -> None:
        """The user switches position or margin mode elsewhere (the exchange's own checks skipped)."""
        await self._rest.switch_modes(dual_side, multi_assets)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """The user changes the symbol's leverage elsewhere: ACCOUNT_CONFIG_UPDATE `ac` is pushed."""
        await self._rest.change_leverage(symbol, leverage)

    def set_symbol(self, symbol: str, **changes: Any) -> None:
        """Change a symbol's status or filters (status, tick, step, min_qty, min_notional, max_qty, min_price,
        max_price, multiplier_up, multiplier_down, max_num_orders)."""
        spec = self._engine.spec(symbol)
        for name, value in changes.items():
            setattr(spec, name, value if name in ("status", "max_num_orders") else to_dec(value))
        self._journal.notify()

    async def liquidate(self, symbol: str, price: Any, adl: bool = False) -> None:
        """The exchange closes the position itself: our open orders are cancelled, then its own order
        (client id `autoclose-…`, or `adl_autoclose` for auto-deleveraging) fills with execution type
        CALCULATED, as the user stream reports liquidations (ORDER_TRADE_UPDATE `x`)."""
        amount = self._accounts.positions[symbol].amt
        if amount == 0:
            return
        await self._engine.cancel_all(symbol)
        side, client_id = "SELL" if amount > 0 else "BUY", "adl_autoclose" if adl else f"autoclose-{self.now_ms()}"
        order = await self._engine.create(
            self._engine.spec(symbol), side, to_dec(price), abs(amount), "IOC", True, client_id
        )
        await self._engine.fill(order, abs(amount), to_dec(price), maker=False, exec_type="CALCULATED")

    async def margin_call(self, symbol: str) -> None:
        pos, acc = self._accounts.positions[symbol], self._accounts
        position = {
            "s": symbol,
            "ps": "BOTH",
            "pa": str(pos.amt),
            "mt": "CROSSED",
            "iw": "0",
            "mp": str(acc.mark(symbol)),
            "up": str(acc.unrealized(symbol)),
            "mm": "0",
        }
        await self._engine.push_user({"e": "MARGIN_CALL", "E": self.now_ms(), "cw": "0", "p": [position]})

    # ---------------------------------------------------------------- fault injection
    def fail_next(
        self,
        method: str,
        path: str,
        count: int = 1,
        status: int = 503,
        body: dict | None = None,
        retry_after: float | None = None,
        execute: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `count` (method, path) requests with `status`; see faults.Fault."""
        self._faults.fail_next(method, path, count, status, body, retry_after, execute, delay)

    def clear_faults(self) -> None:
        self._faults.clear()

    async def drop_streams(self, kind: str = "all") -> None:
        await self._streams.drop(kind)

    def refuse_streams(self, kind: str = "all", refuse: bool = True) -> None:
        self._faults.refuse(kind, refuse)

    def freeze_streams(self, kind: str = "all", frozen: bool = True) -> None:
        self._faults.freeze(kind, frozen)

    async def expire_listen_key(self) -> None:
        """The listenKey expires: "Event: User Data Stream Expired" ({"e": "listenKeyExpired", "E": ...}),
        then the stream closes."""
        if self._streams.listen_key is None:
            return
        await self._engine.push_user({"e": "listenKeyExpired", "E": self.now_ms()})
        self._streams.listen_key = None
        await self._streams.drop("user")

    async def restart(self, down_seconds: float = 2.0) -> None:
        """Exchange restart: returns at once; REST answers 503 and websockets are refused meanwhile."""
        self._faults.go_down(down_seconds)
        await self._streams.drop("all")
        self._journal.notify()

    async def send_raw(self, kind: str, text: str) -> None:
        """Send a raw text frame (e.g. malformed JSON) on every stream of that kind."""
        await self._streams.send_raw(kind, text)
