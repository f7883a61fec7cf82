"""The streams: the open WebSocket connections, what each one is subscribed to, and writing frames to them
(ws.py accepts the connections and reads what clients send).

Market streams (V3 doc, "Websocket Market Streams"): `<symbol>@depth<5|10|20>[@100ms|@500ms]` (Partial Book
Depth), `<symbol>@depth[@100ms|@500ms]` (Diff. Book Depth), `<symbol>@aggTrade`, `<symbol>@markPrice[@1s]`
and `<symbol>@bookTicker`; symbols are lowercase. A depth or book-ticker stream pushes when the book changes
(the speed suffixes do not throttle here; recorded Aster data shows a healthy symbol silent for 7 minutes),
and once on subscribing: partial depth and book ticker their current state, diff depth the whole visible
book as one event whose `u` is the book's current update id, so a client that then reads the REST snapshot
finds the event "U <= lastUpdateId AND u >= lastUpdateId" the docs' local-book recipe asks for (A40). The
mark price stream ticks at a fixed period (`mark_every`: 1 s, or 3 s without the @1s suffix, as the docs'
"Mark Price Stream" says; tests may shorten it). A combined connection wraps each frame as {"stream": name,
"data": frame}. Frozen stream kinds drop frames silently; refused ones answer 503.

`feed_latency` (seconds of event-loop time) delays every depth and trade frame after its event: the frame is
made at the event (the book as it was then) and written that much later, in order. The frames sent on
subscribing and the user stream are not delayed.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import WSCloseCode, web

from .engine import Engine
from .faults import Faults, stream_kinds
from .journal import Journal
from .wire import fmt_unit

STREAM_PATTERNS = (
    (re.compile(r"^([a-z0-9]+)@depth(5|10|20)(?:@100ms|@500ms)?$"), "depth"),
    (re.compile(r"^([a-z0-9]+)@depth(?:@100ms|@500ms)?$"), "diff"),
    (re.compile(r"^([a-z0-9]+)@aggTrade$"), "aggTrade"),
    (re.compile(r"^([a-z0-9]+)@markPrice(?:@1s)?$"), "markPrice"),
    (re.compile(r"^([a-z0-9]+)@bookTicker$"), "bookTicker"),
)
BOOK_TYPES = ("depth", "diff", "bookTicker")  # streams a book change reaches


@dataclass(eq=False)
class Sub:
    """One stream of a connection. `last` is what a diff or book-ticker stream sent last, to compare with."""

    name: str
    symbol: str
    typ: str  # "depth" | "diff" | "aggTrade" | "markPrice" | "bookTicker"
    levels: int = 0
    last: object = None
    last_u: int = 0
    ticker: asyncio.Task | None = None


def parse_stream(name: str, symbols: dict) -> Sub | None:
    """The stream `name` names, or None when the simulator does not serve it (or knows no such symbol)."""
    for pattern, typ in STREAM_PATTERNS:
        if m := pattern.match(name):
            symbol = m.group(1).upper()
            if symbol not in symbols:
                return None
            return Sub(name, symbol, typ, int(m.group(2)) if typ == "depth" else 0)
    return None


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    kind: str  # "market" | "user"
    subs: dict[str, Sub] = field(default_factory=dict)
    combined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    received: deque = field(default_factory=deque)  # loop times of the last second's incoming messages
    last_pong: float = 0.0


class Streams:
    def __init__(self, engine: Engine, faults: Faults, journal: Journal, mark_every: float = 1.0):
        self._engine, self._faults, self._journal = engine, faults, journal
        self.mark_every = mark_every
        self.conns: list[Conn] = []
        self.opened = {"market": 0, "user": 0}  # connections accepted so far: reconnects show here
        self.listen_key: str | None = None
        self.accepting = False  # False once the server stops
        self.on_market_frame: list[Callable[[], None]] = []  # called after each market frame is written
        self.feed_latency = 0.0
        self._delayed: set[asyncio.TimerHandle | asyncio.Task] = set()

    def notify(self) -> None:
        self._journal.notify()

    def count(self, kind: str) -> int:
        return sum(1 for c in self.conns if c.kind == kind)

    def new_listen_key(self) -> str:
        if self.listen_key is None:
            self.listen_key = secrets.token_hex(32)
        return self.listen_key

    # ---------------------------------------------------------------- subscriptions
    async def subscribe(self, conn: Conn, sub: Sub) -> None:
        if sub.name in conn.subs:
            return
        conn.subs[sub.name] = sub
        if sub.typ == "markPrice":
            sub.ticker = asyncio.get_running_loop().create_task(self._tick_mark_price(conn, sub))
        await self._send_frame(conn, sub, self._book_frame(sub))

    def unsubscribe(self, conn: Conn, name: str) -> None:
        sub = conn.subs.pop(name, None)
        if sub is not None and sub.ticker is not None:
            sub.ticker.cancel()

    def unsubscribe_all(self, conn: Conn) -> None:
        for name in list(conn.subs):
            self.unsubscribe(conn, name)

    # ---------------------------------------------------------------- writing frames
    async def send(self, conn: Conn, payload: dict | str) -> None:
        await self._write(conn, payload)
        if conn.kind == "market":
            for observer in self.on_market_frame:
                observer()

    async def _write(self, conn: Conn, payload: dict | str) -> None:
        if conn.kind in self._faults.frozen:
            return  # frozen feeds drop frames silently, nothing is buffered
        await self.reply(conn, payload)

    async def reply(self, conn: Conn, payload: dict | str) -> None:
        """Write to one connection (answers to control messages are not frames: a freeze does not hold them)."""
        if conn.ws.closed:
            return
        try:
            async with conn.lock:
                await conn.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))
        except (ConnectionError, RuntimeError):
            pass

    async def send_user(self, payload: dict) -> None:
        for conn in [c for c in self.conns if c.kind == "user"]:
            await self.send(conn, payload)

    async def send_market(self, symbol: str, typ: str, payload: dict | None = None) -> None:
        """A market event: "depth" (the book changed) or "aggTrade" (with its frame)."""
        wanted = BOOK_TYPES if typ == "depth" else (typ,)
        for conn in list(self.conns):
            for sub in list(conn.subs.values()):
                if sub.symbol != symbol or sub.typ not in wanted:
                    continue
                frame = payload if typ == "aggTrade" else self._book_frame(sub)
                if self.feed_latency > 0:
                    self._send_later(conn, sub, frame)
                else:
                    await self._send_frame(conn, sub, frame)

    def _send_later(self, conn: Conn, sub: Sub, frame: dict | None) -> None:
        # A fixed delay keeps the frames in order: timers fire, and the tasks queue on conn.lock, in order.
        def start() -> None:
            self._delayed.discard(handle)
            task = asyncio.get_running_loop().create_task(self._send_frame(conn, sub, frame))
            self._delayed.add(task)
            task.add_done_callback(self._delayed.discard)

        handle = asyncio.get_running_loop().call_later(self.feed_latency, start)
        self._delayed.add(handle)

    def cancel_delayed(self) -> None:
        for pending in list(self._delayed):
            pending.cancel()
        self._delayed.clear()

    async def _send_frame(self, conn: Conn, sub: Sub, frame: dict | None) -> None:
        if frame is not None:
            await self.send(conn, {"stream": sub.name, "data": frame} if conn.combined else frame)

    # ---------------------------------------------------------------- frames of the book
    def _book_frame(self, sub: Sub) -> dict | None:
        book = self._engine.books[sub.symbol]
        if sub.typ == "depth":
            return self._engine.depth_frame(sub.symbol, sub.levels) if book.bids or book.asks else None
        if sub.typ == "diff":
            return self._diff_frame(sub)
        if sub.typ == "bookTicker":
            return self._book_ticker(sub)
        return None

    def _diff_frame(self, sub: Sub) -> dict | None:
        """Diff. Book Depth: the levels whose quantity changed since this stream's last event, removed ones
        with quantity 0 ("If the quantity is 0, remove the price level")."""
        spec, book = self._engine.symbols[sub.symbol], self._engine.books[sub.symbol]
        now = {"b": dict(book.bids), "a": dict(book.asks)}
        was: dict = sub.last if isinstance(sub.last, dict) else {"b": {}, "a": {}}
        first = sub.last is None
        sub.last = now
        changes = {
            side: sorted(
                (
                    (p, now[side].get(p, Decimal(0)))
                    for p in now[side].keys() | was[side].keys()
                    if now[side].get(p) != was[side].get(p)
                ),
                reverse=side == "b",
            )
            for side in ("b", "a")
        }
        if not first and not changes["b"] and not changes["a"]:
            return None
        t = self._engine.clock.now_ms()
        previous, sub.last_u = (sub.last_u if not first else book.update_id - 1), book.update_id
        frame = {
            "e": "depthUpdate",
            "E": t,
            "T": t,
            "s": sub.symbol,
            "U": book.update_id,
            "u": book.update_id,
            "pu": previous,
        }
        for side in ("b", "a"):
            frame[side] = [[fmt_unit(p, spec.tick), fmt_unit(q, spec.step)] for p, q in changes[side]]
        return frame

    def _book_ticker(self, sub: Sub) -> dict | None:
        """Book ticker: "Pushes any update to the best bid or ask's price or quantity in real-time"."""
        spec, book = self._engine.symbols[sub.symbol], self._engine.books[sub.symbol]
        best = (book.bids[0] if book.bids else None, book.asks[0] if book.asks else None)
        if best == sub.last or best == (None, None):
            return None
        sub.last, t = best, self._engine.clock.now_ms()
        (bid, bid_qty), (ask, ask_qty) = best[0] or (0, 0), best[1] or (0, 0)
        return {
            "e": "bookTicker",
            "u": book.update_id,
            "E": t,
            "T": t,
            "s": sub.symbol,
            "b": fmt_unit(bid, spec.tick),
            "B": fmt_unit(bid_qty, spec.step),
            "a": fmt_unit(ask, spec.tick),
            "A": fmt_unit(ask_qty, spec.step),
        }

    async def _tick_mark_price(self, conn: Conn, sub: Sub) -> None:
        period = self.mark_every if sub.name.endswith("@1s") else 3 * self.mark_every
        while not conn.ws.closed:
            await asyncio.sleep(period)
            await self._send_frame(conn, sub, self._engine.mark_price_frame(sub.symbol))

    # ---------------------------------------------------------------- faults
    async def send_raw(self, kind: str, text: str) -> None:
        kinds = stream_kinds(kind)
        self._journal.log({"kind": "event", "stream": kind, "payload": {"raw": text}})
        for conn in [c for c in self.conns if c.kind in kinds]:
            await self.send(conn, text)

    async def drop(self, kind: str = "all") -> None:
        kinds = stream_kinds(kind)
        await asyncio.gather(*(self.close(c) for c in list(self.conns) if c.kind in kinds))

    @staticmethod
    async def close(conn: Conn, code: int = WSCloseCode.GOING_AWAY, reason: str = "sim: stream dropped") -> None:
        try:
            await conn.ws.close(code=code, message=reason.encode())
        except Exception:  # noqa: BLE001 - a dying connection may fail in many ways; it is gone anyway
            pass
