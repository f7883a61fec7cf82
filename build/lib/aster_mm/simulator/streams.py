"""The WebSocket side of the server: market streams (`/ws/<stream>`, `/stream?streams=a/b`), the
listenKey user stream, the open connections, and writing frames to them.

Market streams are `<symbol>@depth5|10|20[@100ms|@500ms]`, `<symbol>@aggTrade` and
`<symbol>@markPrice[@1s]`. A depth stream pushes only when the book changes (the @100ms / @500ms
suffixes do not throttle here), as real partial-depth streams do: recorded Aster data shows a healthy
symbol silent for 7 minutes. The mark price stream ticks at a fixed period (`mark_every`: 1 s, or 3 s
without the @1s suffix, as the docs' "Mark Price Stream" says; tests may shorten it), whatever the
book does. A combined stream wraps each frame as {"stream": name, "data": frame}. Frozen stream kinds
drop frames silently; refused ones answer 503.

`feed_latency` (seconds of event-loop time) delays every depth and trade frame after its event: the frame
is made at the event (the book as it was then) and written that much later, in order. The first
snapshot on connecting and the user stream are not delayed.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from .engine import Engine
from .faults import Faults, stream_kinds
from .journal import Journal

STREAM_RE = re.compile(r"^([a-z0-9]+)@(depth(5|10|20)|aggTrade|markPrice)(@\d+ms|@1s)?$")


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    kind: str  # "market" | "user"
    streams: list = field(default_factory=list)  # market: (name, symbol, type, levels)
    combined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def parse_stream(name: str) -> tuple | None:
    m = STREAM_RE.match(name)
    if not m:
        return None
    symbol, typ = m.group(1).upper(), m.group(2)
    if typ.startswith("depth"):
        return (name, symbol, "depth", int(m.group(3)))
    return (name, symbol, typ, 0)


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

    def count(self, kind: str) -> int:
        return sum(1 for c in self.conns if c.kind == kind)

    def new_listen_key(self) -> str:
        if self.listen_key is None:
            self.listen_key = secrets.token_hex(32)
        return self.listen_key

    # ---------------------------------------------------------------- writing frames
    async def send(self, conn: Conn, payload: dict | str) -> None:
        await self._write(conn, payload)
        if conn.kind == "market":
            for observer in self.on_market_frame:
                observer()

    async def _write(self, conn: Conn, payload: dict | str) -> None:
        if conn.kind in self._faults.frozen or conn.ws.closed:
            return  # frozen feeds drop frames silently, nothing is buffered
        try:
            async with conn.lock:
                await conn.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))
        except (ConnectionError, RuntimeError):
            pass

    async def send_user(self, payload: dict) -> None:
        for conn in [c for c in self.conns if c.kind == "user"]:
            await self.send(conn, payload)

    async def send_market(self, symbol: str, typ: str, payload: dict | None = None) -> None:
        for conn in [c for c in self.conns if c.kind == "market"]:
            for stream in conn.streams:
                if stream[1] == symbol and stream[2] == typ:
                    frame = payload if payload is not None else self._snapshot(stream)
                    if self.feed_latency > 0:
                        self._send_later(conn, stream, frame)
                    else:
                        await self._send_frame(conn, stream, frame)

    def _send_later(self, conn: Conn, stream: tuple, frame: dict | None) -> None:
        # A fixed delay keeps the frames in order: timers fire, and the tasks queue on conn.lock, in order.
        def start() -> None:
            self._delayed.discard(handle)
            task = asyncio.get_running_loop().create_task(self._send_frame(conn, stream, frame))
            self._delayed.add(task)
            task.add_done_callback(self._delayed.discard)

        handle = asyncio.get_running_loop().call_later(self.feed_latency, start)
        self._delayed.add(handle)

    def cancel_delayed(self) -> None:
        for pending in list(self._delayed):
            pending.cancel()
        self._delayed.clear()

    async def _send_frame(self, conn: Conn, stream: tuple, frame: dict | None) -> None:
        if frame is not None:
            await self.send(conn, {"stream": stream[0], "data": frame} if conn.combined else frame)

    def _snapshot(self, stream: tuple) -> dict | None:
        _, symbol, typ, levels = stream
        book = self._engine.books[symbol]
        return self._engine.depth_frame(symbol, levels) if typ == "depth" and (book.bids or book.asks) else None

    async def send_raw(self, kind: str, text: str) -> None:
        kinds = stream_kinds(kind)
        self._journal.log({"kind": "event", "stream": kind, "payload": {"raw": text}})
        for conn in [c for c in self.conns if c.kind in kinds]:
            await self.send(conn, text)

    async def drop(self, kind: str = "all") -> None:
        kinds = stream_kinds(kind)
        await asyncio.gather(*(self._close(c) for c in list(self.conns) if c.kind in kinds))

    @staticmethod
    async def _close(conn: Conn) -> None:
        try:
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"sim: stream dropped")
        except Exception:  # noqa: BLE001 - a dying connection may fail in many ways; it is gone anyway
            pass

    # ---------------------------------------------------------------- endpoints
    async def ws_single(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == self.listen_key and name is not None:
            return await self._serve(request, "user", [], combined=False)
        stream = parse_stream(name)
        if stream is None or stream[1] not in self._engine.symbols:
            return web.json_response({"code": -1125, "msg": "Invalid stream or listenKey."}, status=400)
        return await self._serve(request, "market", [stream], combined=False)

    async def ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        streams = [parse_stream(n) for n in names]
        if not streams or any(s is None or s[1] not in self._engine.symbols for s in streams):
            return web.json_response({"code": -1121, "msg": "Invalid stream."}, status=400)
        return await self._serve(request, "market", streams, combined=True)

    async def _serve(self, request: web.Request, kind: str, streams: list, combined: bool):
        if kind in self._faults.refused or self._faults.is_down() or not self.accepting:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0)  # bounds how long a drop waits for the peer's close
        await ws.prepare(request)
        conn = Conn(ws, kind, list(streams), combined)
        self.conns.append(conn)
        self.opened[kind] += 1
        self._journal.notify()
        tickers = [asyncio.create_task(self._tick_mark_price(conn, s)) for s in conn.streams if s[2] == "markPrice"]
        try:
            for stream in conn.streams:
                await self._send_frame(conn, stream, self._snapshot(stream))
            async for _ in ws:  # incoming frames (e.g. SUBSCRIBE) are ignored; pings are answered by aiohttp
                pass
        finally:
            for ticker in tickers:
                ticker.cancel()
            self.conns.remove(conn)
            self._journal.notify()
        return ws

    async def _tick_mark_price(self, conn: Conn, stream: tuple) -> None:
        period = self.mark_every if stream[0].endswith("@1s") else 3 * self.mark_every
        while not conn.ws.closed:
            await asyncio.sleep(period)
            await self._send_frame(conn, stream, self._engine.mark_price_frame(stream[1]))
