"""The aiohttp server: one port on 127.0.0.1 serving the REST API (`/fapi/...`, and `/api/v3/exchangeInfo`)
and the WebSocket streams (`/ws`, `/ws/<name>`, `/stream`), a thin layer over the engine. Any other path is
answered with a JSON error that says it is not simulated.

A REST request is journaled on arrival (status None until answered), counted against its IP's weight
(X-MBX-USED-WEIGHT-1M on every answer; 429, then 418, over the limit: ratelimit.py), answered 503 while the
exchange is down, passed through any injected fault, authenticated for its route's security level, counted
against the account's ORDERS limit if it places orders (X-MBX-ORDER-COUNT-1M), and handed to its handler. An
order request (placing, modifying or cancelling orders) reaches the engine `order_latency` seconds
(event-loop time) after it arrived; its answer is sent as soon as the engine has acted on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .auth import Authenticator, SignedRequest
from .engine import Engine
from .faults import Faults
from .journal import Clock, Journal
from .ratelimit import RateLimiter
from .rest import ENDPOINT, ROUTES, RestApi
from .streams import Streams
from .wire import DOWN_BODY, ApiError, not_simulated
from .ws import WebSockets

# Called with (method, path) as a REST request's handler is entered, before its body is read; a callable
# it returns is called once the answer is ready.
RequestObserver = Callable[[str, str], Callable[[], None] | None]


ORDER_ENDPOINTS = ("order", "batchOrders", "allOpenOrders")


def is_order_request(method: str, path: str) -> bool:
    """Placing, modifying or cancelling orders, in any API version."""
    return method in ("POST", "PUT", "DELETE") and path.rsplit("/", 1)[-1] in ORDER_ENDPOINTS


class Server:
    def __init__(
        self,
        engine: Engine,
        api: RestApi,
        streams: Streams,
        websockets: WebSockets,
        auth: Authenticator,
        faults: Faults,
        journal: Journal,
        clock: Clock,
        limiter: RateLimiter,
    ):
        self._engine, self._api, self._streams, self.auth = engine, api, streams, auth
        self._websockets = websockets
        self._faults, self._journal, self._clock, self.limiter = faults, journal, clock, limiter
        self.on_request: list[RequestObserver] = []
        self.order_latency = 0.0
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._websockets.bare)
        app.router.add_get("/ws/{name}", self._websockets.single)
        app.router.add_get("/stream", self._websockets.combined)
        app.router.add_route("*", "/{tail:.*}", self._rest)  # the REST API, and "not simulated" for the rest
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        self._streams.accepting = True

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._streams.accepting = False
        self._stopping.set()  # releases requests sleeping on a fault delay
        self._engine.stop()
        self._streams.cancel_delayed()
        await self._streams.drop("all")
        await runner.cleanup()

    async def _rest(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        answered = [done for observe in self.on_request if (done := observe(method, path)) is not None]
        try:
            return await self._answer(request, method, path)
        finally:
            for done in answered:
                done()

    async def _answer(self, request: web.Request, method: str, path: str) -> web.Response:
        query, body = request.rel_url.raw_query_string, await request.text()
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        entry = {
            "t": self._clock(),
            "kind": "request",
            "method": method,
            "path": path,
            "endpoint": ENDPOINT.get(path, path),
            "params": params,
            "status": None,
            "response": None,
        }
        self._journal.log(entry)
        ip = request.remote or "127.0.0.1"
        status, payload, headers = await self._dispatch(
            method, path, SignedRequest(request.headers, query, body, params), ip
        )
        entry.update(status=status, response=payload)
        self._journal.answered(entry)
        headers |= self.limiter.headers(ip)
        return web.json_response(payload, status=status, headers=headers)

    async def _dispatch(self, method: str, path: str, request: SignedRequest, ip: str) -> tuple[int, Any, dict]:
        route, params = ROUTES.get((method, path)), request.params
        if refusal := self.limiter.admit(ip, route.weight_of(params) if route else 1):
            return refusal
        if self._faults.is_down():
            return 503, DOWN_BODY, {}
        fault = self._faults.take(method, path, ENDPOINT.get(path, path))
        if fault and not fault.execute:
            return await fault.answer(self._stopping)
        if route is None:
            err = not_simulated(method, path)
            return err.status, err.body(), {}
        headers: dict = {}
        try:
            self.auth.check(route.security, request)
            orders = route.orders_of(params) + self._modification(method, path)
            if refusal := self.limiter.admit_orders(ip, orders):
                return refusal
            headers = self.limiter.order_headers() if orders else {}
            if self.order_latency > 0 and is_order_request(method, path):
                await asyncio.sleep(self.order_latency)
            status, payload = 200, await self._api.handler(route)(params)
        except ApiError as err:
            status, payload = err.status, err.body()
        except (ValueError, TypeError, AttributeError):  # malformed numbers or JSON in some parameter
            status, payload = 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if fault:
            return await fault.answer(self._stopping)
        return status, payload, headers

    def _modification(self, method: str, path: str) -> int:
        """A Modify Order counts on the ORDERS limiter only if selected (A34)."""
        limits = self.limiter.limits
        return int(method == "PUT" and path == "/fapi/v3/order" and limits is not None and limits.count_modifications)
