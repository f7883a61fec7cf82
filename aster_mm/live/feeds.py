"""The two streams in: the market connection (depth + mark price, and trades for the models that read them)
and the listenKey user stream.

Frames are parsed at the edge (`aster_mm.core.events`) and applied to the state, the order desk and the
account guard; every applied frame that changes what the strategy reads wakes the quoting loop. Each
connection reconnects on its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from decimal import Decimal

from aster_mm.accounting.books import Books
from aster_mm.core.config import Timings
from aster_mm.core.errors import FatalError
from aster_mm.core.events import (
    MALFORMED,
    depth_levels,
    market_frame,
    parse_account_update,
    parse_order_update,
    top_of_book,
)
from aster_mm.core.kinds import Side
from aster_mm.core.signals import SignalState, without_order
from aster_mm.core.spreads import AdaptiveSpreads
from aster_mm.core.state import LIQUIDATION, Book, StrategyState
from aster_mm.exchange.client import AsterClient
from aster_mm.exchange.streams import run_stream
from aster_mm.live.account import AccountGuard
from aster_mm.live.execution import OrderDesk
from aster_mm.ops.metrics import Metrics

stream_log = logging.getLogger("stream")


class Feeds:
    def __init__(
        self,
        *,
        client: AsterClient,
        ws_url: str,
        user_ws_url: str | None = None,
        symbol: str,
        state: StrategyState,
        desk: OrderDesk,
        guard: AccountGuard,
        books: Books,
        timings: Timings,
        now: Callable[[], float],
        wake: Callable[[], None],
        start_timeout: float,
        spreads: AdaptiveSpreads | None,
        metrics: Metrics,
        signal: SignalState | None = None,
    ):
        """Frames go to `state`, `desk` (order reports), `guard` (leverage events), `books` (the ledger),
        `spreads` (mids and trades, when the spreads adapt) and `signal` (ten levels of depth and trades,
        for the signal model); `wake` tells the quoting loop."""
        self.client, self.ws_url, self.symbol, self.state = client, ws_url.rstrip("/"), symbol, state
        self.user_ws_url = (user_ws_url or ws_url).rstrip("/")  # the docs name another host on the testnet
        self.desk, self.guard, self.books, self.spreads, self.signal = desk, guard, books, spreads, signal
        self.t, self.now, self.wake, self.start_timeout, self.metrics = timings, now, wake, start_timeout, metrics
        self.listen_key: str | None = None
        self._user_ws = None
        self.reconnect_user = False  # set by a handler: leave the user stream and reconnect
        self.seen = {"market": asyncio.Event(), "user": asyncio.Event()}  # connected at least once
        self.attempted_at = {"market": now(), "user": now()}  # the last connection attempt: the loop lives
        self.announced: set = set()  # announcement ids already logged

    def on_market_message(self, raw: str | bytes) -> None:
        """A depth, trade or mark-price frame. Any frame proves the connection alive; only a changed top
        of the book, or a changed signal, wakes the quoting loop."""
        try:
            kind, data = market_frame(json.loads(raw))
            now = self.now()
            if kind == "markPriceUpdate":
                self.state.mark_price, self.state.market_seen_at = Decimal(data["p"]), now
                return
            if kind == "aggTrade":
                self._on_trade(data, now)
                return
            raw_top = top_of_book(data)
            if raw_top is None:
                return
            self.state.market_seen_at = now
            moved = self.signal is not None and self._on_depth(data, now)  # levels parsed only for the signal
            book = self.state.book
            if book is not None and book.raw == raw_top:
                book.seen_at = now
                if moved:
                    self.wake()
                return
            bid, ask = Decimal(raw_top[0]), Decimal(raw_top[1])
            if not (bid > 0 and ask > 0):
                raise ValueError(f"non-positive price in {raw_top}")
            self.state.book = Book(bid, ask, now, raw_top)
            if self.spreads is not None:
                self.spreads.on_mid(now, float(self.state.book.mid))
        except MALFORMED as err:
            stream_log.warning("market: skipped a malformed message (%s): %.200r", type(err).__name__, raw)
            return
        self.wake()

    def _on_trade(self, data: dict, now: float) -> None:
        self.state.market_seen_at = now
        if self.spreads is not None and self.state.book is not None:
            self.spreads.on_trade(now, float(data["p"]), float(self.state.book.mid))
        if self.signal is not None:  # m: the buyer is the maker, so the seller took
            self.signal.on_trade(now, float(data["q"]), not data["m"])

    def _on_depth(self, data: dict, now: float) -> bool:
        """Feed the signal the market's book: the frame's levels without our own resting order. True when
        the signal changed."""
        assert self.signal is not None
        bids, asks = depth_levels(data)
        live = self.state.live
        if live is not None and live.live:
            price, qty = float(live.quote.price), float(live.remaining)
            if live.quote.side == Side.BUY:
                bids = without_order(bids, price, qty)
            else:
                asks = without_order(asks, price, qty)
        return self.signal.on_depth(now, bids, asks)

    def on_user_message(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            handler = self._user_handlers.get(msg.get("e"))
            if handler is None:
                stream_log.warning("user: ignored unknown event %.200r", raw)
                return
            handler(self, msg)
        except MALFORMED as err:
            stream_log.warning("user: skipped a malformed message (%s): %.300r", type(err).__name__, raw)
            return
        self.wake()

    def _on_order_update(self, msg: dict) -> None:
        report = parse_order_update(msg, self.symbol)
        if report is None:
            return
        self.desk.on_report(report)
        self.books.on_report(report)
        if report.forced and report.trade is not None:
            self.state.go_close_only(
                LIQUIDATION,
                f"liquidation/ADL fill {report.side} {report.trade.qty}@"
                f"{report.trade.price} ({report.client_id}), position now "
                f"{self.state.position.amount}",
            )

    def _on_account_update(self, msg: dict) -> None:
        update = parse_account_update(msg, self.symbol)
        self.state.apply_account_update(update)
        self.books.on_account_update(update)

    def _on_listen_key_expired(self, msg: dict) -> None:
        stream_log.warning("user: listenKey expired; reconnecting with a new key")
        self.reconnect_user = True

    def _on_config(self, msg: dict) -> None:
        stream_log.info("user: %s %.300s", msg.get("e"), json.dumps(msg))
        if "ac" in msg:
            self.guard.on_leverage_event(msg["ac"]["s"], int(msg["ac"]["l"]))
        if "ai" in msg:  # V1 doc: `j` multi-assets mode, `d` dual-side position mode
            self.state.hedge_mode = self.state.hedge_mode or bool(msg["ai"].get("d"))
            self.state.modes_stale = True

    def _on_margin_call(self, msg: dict) -> None:
        self.state.go_close_only(LIQUIDATION, f"margin call: {json.dumps(msg)[:300]}")

    def _on_announcement(self, msg: dict) -> None:
        """V3 doc, "Event: Public Announcement" / "Event: Direct Announcement" ({"e": "announcement", "en":
        {"i" id, "t" title, "c" category, "j" link, ...}, "zh": {...}}, no `E`): logged once per id, at INFO."""
        text = msg.get("en") or msg.get("zh") or {}
        key = text.get("i", json.dumps(text, sort_keys=True))
        if key in self.announced:
            return
        self.announced.add(key)
        link = f" {text['j']}" if text.get("j") else ""
        stream_log.info("announcement (%s): %.300s%s", text.get("c", "?"), text.get("t", ""), link)

    _user_handlers = {
        "ORDER_TRADE_UPDATE": _on_order_update,
        "ACCOUNT_UPDATE": _on_account_update,
        "listenKeyExpired": _on_listen_key_expired,
        "ACCOUNT_CONFIG_UPDATE": _on_config,
        "MARGIN_CALL": _on_margin_call,
        "announcement": _on_announcement,
    }

    async def market_stream(self) -> None:
        async def url() -> str:
            # The book pushes only when it changes (a quiet symbol may be silent for minutes); the mark
            # price ticks every second, so silence on this connection really means it is dead.
            name = self.symbol.lower()
            self.attempted_at["market"] = self.now()
            trades = f"/{name}@aggTrade" if self.spreads is not None or self.signal is not None else ""
            depth = "depth10" if self.signal is not None else "depth5"
            return f"{self.ws_url}/stream?streams={name}@{depth}@100ms/{name}@markPrice@1s{trades}"

        def up(ws) -> None:
            self.state.market_up = True
            self.metrics.connected("market")
            self.seen["market"].set()

        def down() -> None:
            self.state.market_up = False
            self.wake()

        await run_stream("market", url, self.on_market_message, up, down, self.t.stale_after, self.t, self.now)

    async def user_stream(self) -> None:
        async def url() -> str:
            # POST answers the live key, or a new one if it expired: ask on every (re)connect.
            self.attempted_at["user"] = self.now()
            self.listen_key = await self.client.new_listen_key()
            self.reconnect_user = False
            return f"{self.user_ws_url}/ws/{self.listen_key}"

        def up(ws) -> None:
            self._user_ws = ws
            self.metrics.connected("user")
            self.seen["user"].set()
            self.state.user_up = True
            self.state.need_reconcile = True  # whatever happened while we were away
            self.books.income.poke()
            self.wake()

        def down() -> None:
            self._user_ws = None
            self.state.user_up = False
            self.wake()

        await run_stream(
            "user", url, self.on_user_message, up, down, None, self.t, self.now, lambda: self.reconnect_user
        )

    async def first_contact(self) -> None:
        """An unreachable WebSocket host at start is as fatal as an unreachable REST host."""
        try:
            async with asyncio.timeout(self.start_timeout):
                for seen in self.seen.values():
                    await seen.wait()
        except TimeoutError:
            down = [name for name, seen in self.seen.items() if not seen.is_set()]
            raise FatalError(
                f"no {' and '.join(down)} stream from the WebSocket host "
                f"{' or '.join(sorted({self.ws_url, self.user_ws_url}))} within "
                f"{self.start_timeout:.0f} s of start"
            ) from None

    async def renew_user_stream(self) -> None:
        self.reconnect_user = True
        if self._user_ws is not None:
            await self._user_ws.close()
