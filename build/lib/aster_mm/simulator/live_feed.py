"""`LiveFeed`: a market source that drives the simulator from a real exchange's public streams, for paper
trading: every partial-depth frame becomes `set_book` (its top levels) and every aggregate trade becomes
`trade`, so orders resting in the simulator meet real prices and real prints.

One combined connection to `<feed>/stream?streams=<sym>@depth10@100ms/<sym>@aggTrade` (public: no key).
V1 doc, "Partial Book Depth Streams": `b`/`a` are the top bids and asks as [price, qty]; "Aggregate
Trade Streams": `m` "Is the buyer the market maker?", so `m` true means the aggressor sold. A dropped or
refused connection is retried with a doubling back-off (reset once a connection stayed up `stable_after`
seconds); the gap is logged when the stream is lost and again, with its length, when it is back.

The simulator's own market streams are up only while the feed is: they refuse connections until it
connects, and are dropped and refused while it is lost, so the bot sees the outage as it would live
(its market stream down) rather than a book that stands still while the mark price keeps ticking.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from .exchange import SimExchange

log = logging.getLogger("feed")


def feed_url(base: str, symbol: str) -> str:
    s = symbol.lower()
    return f"{base.rstrip('/')}/stream?streams={s}@depth10@100ms/{s}@aggTrade"


def parse_feed_frame(text: str) -> tuple | None:
    """("book", bids, asks) or ("trade", aggressor side, price, qty) from a combined or raw frame; None for a
    frame that carries neither. ValueError for market data that is malformed."""
    try:
        msg = json.loads(text)
        data = msg.get("data", msg)
        kind = data.get("e")
        if kind == "depthUpdate":
            return "book", _levels(data["b"]), _levels(data["a"])
        if kind == "aggTrade":
            if not isinstance(data["m"], bool):
                raise TypeError(f"m is {data['m']!r}, not a boolean")
            return "trade", "SELL" if data["m"] else "BUY", Decimal(data["p"]), Decimal(data["q"])
        return None
    except (AttributeError, KeyError, TypeError, IndexError, InvalidOperation, ValueError) as err:
        raise ValueError(f"malformed feed frame ({type(err).__name__}: {err}): {text[:200]}") from None


def _levels(rows: list) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in rows]


class LiveFeed:
    """Keeps one public market-data connection open and applies every frame to a simulator. Counters
    (connections, books, trades, gaps, bad_frames) are for logs and tests."""

    def __init__(
        self,
        symbol: str,
        base_url: str,
        reconnect_first: float = 0.5,
        reconnect_max: float = 30.0,
        stable_after: float = 10.0,
    ):
        self.symbol, self.url = symbol, feed_url(base_url, symbol)
        self.reconnect_first, self.reconnect_max, self.stable_after = reconnect_first, reconnect_max, stable_after
        self.connections = self.books = self.trades = self.gaps = self.bad_frames = 0
        self._lost_at: float | None = None

    async def run(self, sim: SimExchange) -> None:
        """Feed `sim` until cancelled."""
        loop = asyncio.get_running_loop()
        delay = self.reconnect_first
        log.info("paper feed: %s", self.url)
        sim.refuse_streams("market")
        async with aiohttp.ClientSession() as session:
            while True:
                opened = None
                try:
                    async with session.ws_connect(
                        self.url, heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=1), max_msg_size=2**22
                    ) as ws:
                        opened = loop.time()
                        self._on_connected(loop.time())
                        sim.refuse_streams("market", False)
                        async for message in ws:
                            if message.type == aiohttp.WSMsgType.TEXT:
                                await self._apply(sim, message.data)
                            elif message.type == aiohttp.WSMsgType.ERROR:
                                break
                    reason = f"closed by the exchange (code {ws.close_code})"
                except aiohttp.WSServerHandshakeError as err:
                    reason = f"handshake refused with HTTP {err.status}"
                except (OSError, aiohttp.ClientError, TimeoutError) as err:
                    reason = str(err) or type(err).__name__
                if opened is not None and loop.time() - opened >= self.stable_after:
                    delay = self.reconnect_first
                if opened is not None:
                    sim.refuse_streams("market")
                    await sim.drop_streams("market")
                self._on_lost(reason, delay, loop.time())
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max)

    def _on_connected(self, now: float) -> None:
        self.connections += 1
        if self._lost_at is not None:
            self.gaps += 1
            log.warning(
                "paper feed back after a gap of %.1f s (gap %d): no market data was applied meanwhile",
                now - self._lost_at,
                self.gaps,
            )
            self._lost_at = None
        else:
            log.info("paper feed connected")

    def _on_lost(self, reason: str, retry_in: float, now: float) -> None:
        if self.connections and self._lost_at is None:
            self._lost_at = now
            log.warning(
                "paper feed lost: %s; the simulator's market streams are down until it is back, reconnecting in %.2f s",
                reason,
                retry_in,
            )
        else:
            log.warning("paper feed: cannot connect: %s; retrying in %.2f s", reason, retry_in)

    async def _apply(self, sim: SimExchange, text: str) -> None:
        try:
            event = parse_feed_frame(text)
        except ValueError as err:
            self.bad_frames += 1
            log.warning("skipped a %s", err)
            return
        if event is None:
            return
        if event[0] == "book":
            await sim.set_book(self.symbol, event[1], event[2])
            self.books += 1
        else:
            await sim.trade(self.symbol, *event[1:])
            self.trades += 1

    def counters(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "books": self.books,
            "trades": self.trades,
            "gaps": self.gaps,
            "bad_frames": self.bad_frames,
        }
