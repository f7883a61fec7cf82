"""The WebSocket endpoints and what a client may send on them (V3 doc, "Websocket Market Streams" and "Live
Subscribing/Unsubscribing to streams"):

  raw streams at /ws/<streamName>, the user stream at /ws/<listenKey>, combined streams at
  /stream?streams=<a>/<b>; /ws and /stream alone open a connection with no stream, to SUBSCRIBE on.
  {"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": n} -> {"result": null, "id": n};
  LIST_SUBSCRIPTIONS -> {"result": [names], "id": n}; SET_PROPERTY ["combined", bool] and GET_PROPERTY
  ["combined"]; errors as the docs' "Error Messages" table gives them.

Limits (options.WsLimits): incoming messages per second (over: disconnected, A38), streams per connection
(over: an error reply, nothing subscribed, A37), the 24-hour disconnect (A39), the server's ping every 5
minutes and the disconnect after 15 minutes without a pong (A41). A control message without an `id` is
answered with "id": null, as ccxt sends them (A35); a stream the simulator does not serve is an error reply
(A36), and an unknown name in the URL an HTTP 400 with a JSON body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .faults import Faults
from .options import DOCUMENTED_WS_LIMITS, WsLimits
from .streams import Conn, Streams, Sub, parse_stream

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def error(code: int, msg: str, request_id: Any = None) -> dict:
    return {"code": code, "msg": msg, "id": request_id}


class WebSockets:
    def __init__(self, streams: Streams, faults: Faults, symbols: dict, limits: WsLimits = DOCUMENTED_WS_LIMITS):
        self._streams, self._faults, self.limits = streams, faults, limits
        self._engine_symbols = symbols
        self._closing: set[asyncio.Task] = set()

    # ---------------------------------------------------------------- endpoints
    async def bare(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "market", [], combined=False)

    async def single(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == self._streams.listen_key and name is not None:
            return await self._serve(request, "user", [], combined=False)
        sub = parse_stream(name, self._engine_symbols)
        if sub is None:
            body = {"code": -1125, "msg": f"Invalid stream or listenKey: {name!r} (not a stream the simulator serves)"}
            return web.json_response(body, status=400)
        return await self._serve(request, "market", [sub], combined=False)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        subs = [parse_stream(n, self._engine_symbols) for n in names]
        bad = [n for n, s in zip(names, subs) if s is None]
        if bad or len(subs) > self.limits.max_streams:
            what = f"streams not simulated: {', '.join(bad)}" if bad else f"more than {self.limits.max_streams} streams"
            return web.json_response({"code": -1121, "msg": f"Invalid stream: {what}"}, status=400)
        return await self._serve(request, "market", [s for s in subs if s is not None], combined=True)

    async def _serve(self, request: web.Request, kind: str, subs: list[Sub], combined: bool) -> web.StreamResponse:
        streams, faults = self._streams, self._faults
        if kind in faults.refused or faults.is_down() or not streams.accepting:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0, autoping=False)  # pings are answered and sent here
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        conn = Conn(ws, kind, combined=combined, last_pong=loop.time())
        streams.conns.append(conn)
        streams.opened[kind] += 1
        streams.notify()
        aged = loop.call_later(self.limits.max_age_s, self._expire, conn)
        pinger = loop.create_task(self._ping(conn))
        try:
            for sub in subs:
                await streams.subscribe(conn, sub)
            await self._receive(conn)
        finally:
            aged.cancel()
            pinger.cancel()
            streams.unsubscribe_all(conn)
            streams.conns.remove(conn)
            streams.notify()
        return ws

    def _expire(self, conn: Conn) -> None:
        """Close at the age limit: "A single connection is only valid for 24 hours" (A39)."""
        task = asyncio.get_running_loop().create_task(self._streams.close(conn, reason="24 hours"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _receive(self, conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        async for msg in conn.ws:
            if msg.type == WSMsgType.PING:
                await conn.ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:  # "Unsolicited pong frames are allowed."
                conn.last_pong = loop.time()
            elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                if self._over_rate(conn, loop.time()):
                    await self._streams.close(conn, WSCloseCode.POLICY_VIOLATION, "too many messages")
                    return
                text = msg.data if isinstance(msg.data, str) else msg.data.decode(errors="replace")
                await self._control(conn, text)

    def _over_rate(self, conn: Conn, now: float) -> bool:
        """The docs: "WebSocket connections have a limit of 10 incoming messages per second." Pings and pongs are not
        counted (A38)."""
        conn.received.append(now)
        while conn.received and conn.received[0] <= now - 1.0:
            conn.received.popleft()
        return len(conn.received) > self.limits.messages_per_second

    async def _ping(self, conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        while not conn.ws.closed:
            await asyncio.sleep(min(self.limits.ping_every_s, self.limits.pong_timeout_s))
            if loop.time() - conn.last_pong > self.limits.pong_timeout_s:
                await self._streams.close(conn, WSCloseCode.GOING_AWAY, "no pong")
                return
            try:
                await conn.ws.ping()
            except (ConnectionError, RuntimeError):
                return

    # ---------------------------------------------------------------- control messages
    async def _control(self, conn: Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as err:
            await self._streams.reply(
                conn, error(3, f"Invalid JSON: expected value at line {err.lineno} column {err.colno}")
            )
            return
        if not isinstance(msg, dict) or "method" not in msg:
            await self._streams.reply(
                conn, error(2, f"Invalid request: missing field `method` at line 1 column {len(text)}")
            )
            return
        request_id = msg.get("id")
        if request_id is not None and (
            not isinstance(request_id, int) or isinstance(request_id, bool) or request_id < 0
        ):
            await self._streams.reply(conn, error(2, "Invalid request: request ID must be an unsigned integer"))
            return
        reply, new = self._answer(conn, msg.get("method"), msg.get("params"))
        await self._streams.reply(conn, reply | {"id": request_id})
        for sub in new:  # after the answer, as a subscription's first frames would follow it
            await self._streams.subscribe(conn, sub)

    def _answer(self, conn: Conn, method: Any, params: Any) -> tuple[dict, list[Sub]]:
        """The reply to one control message, and the streams it subscribes."""
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return error(2, "Invalid request: params must be a list of stream names"), []
            if method == "UNSUBSCRIBE":
                for name in params:
                    self._streams.unsubscribe(conn, name)
                return {"result": None}, []
            subs = [parse_stream(name, self._engine_symbols) for name in params]
            if bad := [name for name, sub in zip(params, subs) if sub is None]:
                return error(2, f"Invalid request: stream not simulated: {', '.join(bad)}"), []
            if len(conn.subs.keys() | set(params)) > self.limits.max_streams:
                return error(
                    2, f"Invalid request: a connection can listen to at most {self.limits.max_streams} streams"
                ), []
            return {"result": None}, [s for s in subs if s is not None]
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.subs)}, []
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return self._property(conn, method, params), []
        expected = ", ".join(f"`{m}`" for m in METHODS)
        return error(
            2, f"Invalid request: unknown variant `{method}`, expected one of {expected} at line 1 column 28"
        ), []

    @staticmethod
    def _property(conn: Conn, method: str, params: Any) -> dict:
        """SET/GET_PROPERTY: "Currently, the only property can be set is to set whether combined stream
        payloads are enabled"."""
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return error(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            return error(0, "Unknown property")
        if method == "GET_PROPERTY":
            return {"result": conn.combined}
        if len(params) != 2 or not isinstance(params[1], bool):
            return error(1, "Invalid value type: expected Boolean")
        conn.combined = params[1]
        return {"result": None}
