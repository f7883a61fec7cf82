"""Aster futures REST client: authentication (V1 HMAC or V3 EIP-712, through `aster_mm.exchange.signing`), the
path family each uses, clock sync, errors, rate limits (`aster_mm.exchange.pacing`), retries, symbol rules.

No strategy knowledge lives here. Prices and quantities go out as exact decimal strings. Callers name
endpoints by their V1 path; on V3 the client sends to the /fapi/v3 path of the same endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from aster_mm.core import codes
from aster_mm.core.codes import ErrorCode
from aster_mm.core.kinds import Side, TimeInForce
from aster_mm.core.rules import SymbolRules, parse_symbol_rules  # noqa: F401 (SymbolRules is part of this API)
from aster_mm.exchange.account_api import AccountEndpoints
from aster_mm.exchange.errors import (  # noqa: F401 (the errors are part of this API)
    BannedError,
    ExchangeError,
    HostNotFoundError,
    RateLimitError,
    UnknownOutcomeError,
    WafLimitError,
)
from aster_mm.exchange.hosts import DEFAULT_REST_URL, V3_PATHS
from aster_mm.exchange.pacing import RateGate
from aster_mm.exchange.signing import HmacSigner, Signed, Signer

log = logging.getLogger("api")


def sign(secret: str, total_params: str) -> str:
    """Hex HMAC-SHA256 of the query string (+ body) with the API secret, as the docs define it."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def decimal_str(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros: Decimal('1E+1') -> '10'."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # total tries for requests that are safe to repeat
    base_delay: float = 0.2  # doubled after each failure ...
    max_delay: float = 2.0  # ... up to this


class AsterClient(AccountEndpoints):
    """One aiohttp session to the Aster futures REST API. Authentication is `signer`'s (V1 or V3); given
    only `api_key`/`api_secret`, it is V1 HMAC."""

    def __init__(
        self,
        api_key: str = "",
        api_secret: str = "",
        rest_url: str = DEFAULT_REST_URL,
        *,
        signer: Signer | None = None,
        recv_window: int = 5000,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        self.signer: Signer = signer if signer is not None else HmacSigner(api_key, api_secret, recv_window)
        self.rest_url = rest_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry = retry
        self._clock, self._sleep = clock, sleep
        self._session: aiohttp.ClientSession | None = None
        self.time_offset_ms = 0
        self.limits = RateGate()  # what the exchange's rate limits allow now
        self.on_latency: Callable[[str, float], None] | None = None  # (endpoint, seconds) of each round trip

    def __repr__(self) -> str:  # never show the secret, even in a debugger or traceback locals
        return f"AsterClient({self.rest_url}, {self.key_hint})"

    @property
    def key_hint(self) -> str:
        return self.signer.hint

    @property
    def can_modify(self) -> bool:
        """Modify Order (PUT /fapi/v3/order) exists on V3 only."""
        return self.signer.version == 3

    def path(self, v1_path: str) -> str:
        return V3_PATHS[v1_path] if self.signer.version == 3 else v1_path

    async def __aenter__(self) -> AsterClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ----- plumbing -------------------------------------------------------------------------
    def blocked_for(self) -> float:
        """Seconds left in a 429 back-off or 418 ban (0 when free to send)."""
        return self.limits.blocked_for(self._clock())

    def banned_for(self) -> float:
        """Seconds left in a 418 IP ban (0 when not banned)."""
        return self.limits.banned_for(self._clock())

    @property
    def used_weight_1m(self) -> int | None:
        """The IP's request weight this minute, as the exchange's last answer said (None before any)."""
        return self.limits.used_weight(self._now_ms())

    def order_wait(self, counts_order: bool = True) -> float:
        """Seconds before an order request may go out without pressing on a rate limit (0: now)."""
        return self.limits.order_wait(self._now_ms(), counts_order)

    def _now_ms(self) -> float:
        """The synced exchange time; the fraction feeds V3's microsecond nonces."""
        return self._clock() * 1000 + self.time_offset_ms

    def _encode(self, params: dict[str, Any], signed: bool, auth: bool) -> Signed:
        """The parameter string to send, exactly as signed, and the auth headers."""
        clean = [(k, decimal_str(v) if isinstance(v, Decimal) else str(v)) for k, v in params.items() if v is not None]
        if signed:
            return self.signer.sign(clean, self._now_ms())
        if auth:
            return self.signer.sign_stream(clean, self._now_ms())
        return Signed(urlencode(clean), {})

    async def sync_time(self) -> int:
        """Measure the offset between the exchange clock and ours (half the round trip assumed)."""
        before = self._clock()
        data = await self._request("GET", self.path("/fapi/v1/time"), auth=False)
        after = self._clock()
        self.time_offset_ms = int(data["serverTime"] - (before + after) / 2 * 1000)
        log.debug("clock offset %d ms", self.time_offset_ms)
        return self.time_offset_ms

    async def _send_once(self, method: str, path: str, params: dict, signed: bool, auth: bool) -> Any:
        if self.blocked_for() > 0:  # invariant 7: nothing is sent during a 429 back-off or a 418 ban
            banned = self.banned_for() > 0
            cls = BannedError if banned else RateLimitError
            raise cls(418 if banned else 429, None, "back-off in force, not sent", path, self.blocked_for())
        query, headers = self._encode(params, signed, auth)
        url: str | URL = f"{self.rest_url}{path}"
        body = None
        if method != "GET" and self.signer.version == 3:  # V3: a form body, the string exactly as signed
            body, headers = query.encode(), {**headers, **FORM}
        elif query:  # V1 sends everything in the query string
            url = f"{url}?{query}"
            if self.signer.version == 3:  # exactly as signed: yarl must not re-quote it
                url = URL(url, encoded=True)
        started = time.perf_counter()
        try:
            return await self._exchange(method, path, url, headers, body)
        finally:
            if self.on_latency is not None:
                self.on_latency(f"{method} {path}", time.perf_counter() - started)

    async def _exchange(
        self, method: str, path: str, url: str | URL, headers: Mapping[str, str], body: bytes | None
    ) -> Any:
        async with self.session.request(method, url, headers=headers, data=body) as resp:
            self.limits.on_answer(
                self._now_ms(), resp.headers.get("X-MBX-USED-WEIGHT-1M"), resp.headers.get("X-MBX-ORDER-COUNT-1M")
            )
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            if resp.status < 400:
                if not isinstance(data, (dict, list, bool)):  # e.g. a proxy's HTML page (MMP answers `true`)
                    raise UnknownOutcomeError(resp.status, None, "answer is not JSON", path)
                return data
            return self._raise_for(resp.status, resp.headers.get("Retry-After"), data, path)

    def _raise_for(self, status: int, retry_after: str | None, data: Any, path: str):
        code = data.get("code") if isinstance(data, dict) else None
        msg = str(data.get("msg", "")) if isinstance(data, dict) else f"non-JSON answer (HTTP {status})"
        if status == 403:
            wait = self._retry_after(retry_after) or 5.0
            self.limits.on_waf(self._clock(), wait)
            log.warning("HTTP 403 on %s (the exchange's firewall limit): backing off %.1f s", path, wait)
            raise WafLimitError(status, code, msg, path, wait)
        if status == 418 or (code in codes.RATE_LIMIT and "banned until" in msg):
            wait = self.limits.on_418(self._clock(), self._now_ms(), msg, self._retry_after(retry_after))
            log.critical(
                "IP BANNED by the exchange for %.0f s (HTTP %d: %s): sending nothing until then", wait, status, msg
            )
            raise BannedError(status, code, msg, path, wait)
        if status == 429 or code in codes.RATE_LIMIT:
            wait = self.limits.on_429(self._clock(), self._now_ms(), self._retry_after(retry_after))
            log.warning("rate limited (HTTP %d, %s) on %s: sending nothing for %.1f s", status, code, path, wait)
            raise RateLimitError(status, code, msg, path, wait)
        if status >= 500 or code in codes.UNKNOWN:
            raise UnknownOutcomeError(status, code, msg, path)
        raise ExchangeError(status, code, msg, path)

    @staticmethod
    def _retry_after(header: str | None) -> float | None:
        return float(header) if header and header.replace(".", "", 1).isdigit() else None  # "7", "0.5"

    async def _request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        *,
        signed: bool = False,
        auth: bool = True,
        idempotent: bool = True,
    ) -> Any:
        """Send a request. Reads and cancels (idempotent) are retried on network errors and 5xx;
        a placement is never repeated: any doubt about its fate becomes UnknownOutcomeError."""
        params = params or {}
        resynced = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send_once(method, path, params, signed, auth)
            except ExchangeError as err:
                if (
                    err.code in codes.NONCE
                    and err.status < 500
                    and (signed or self.signer.version == 3)
                    and not resynced
                ):
                    # a definite refusal (nothing executed), so even a placement may be sent again
                    log.warning("timestamp/nonce refused (%s): resyncing clock and retrying once", err.code)
                    resynced = True
                    await self.sync_time()
                    attempt -= 1
                    continue
                retryable = idempotent and err.status >= 500 and not isinstance(err, RateLimitError)
                if not retryable or attempt >= self.retry.attempts:
                    raise
                log.warning("%s %s failed (%s), retry %d", method, path, err, attempt)
            except aiohttp.ClientConnectorError as err:
                # Never reached the exchange: safe to treat as "not executed", even for a placement.
                if attempt >= self.retry.attempts or not idempotent:
                    if HostNotFoundError.behind(err):
                        raise HostNotFoundError(err.host, path) from None
                    raise ExchangeError(
                        0, None, f"cannot connect to {err.host}:{err.port}: {type(err).__name__}", path
                    ) from None
                log.warning("%s %s: cannot connect to %s:%s, retry %d", method, path, err.host, err.port, attempt)
            except (TimeoutError, aiohttp.ClientError) as err:
                reason = f"network error: {type(err).__name__}"
                if not idempotent:
                    raise UnknownOutcomeError(0, None, reason, path) from None
                if attempt >= self.retry.attempts:
                    raise ExchangeError(0, None, reason, path) from None
                log.warning("%s %s: %s, retry %d", method, path, reason, attempt)
            await self._sleep(min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1)))

    # ----- market data and rules ------------------------------------------------------------
    async def symbol_rules(self, symbol: str) -> SymbolRules:
        """The symbol's rules; the rate limits exchangeInfo publishes are taken on the way."""
        info = await self._request("GET", self.path("/fapi/v1/exchangeInfo"), auth=False)
        self.limits.read_limits(info)
        return parse_symbol_rules(info, symbol)

    # ----- orders ---------------------------------------------------------------------------
    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        client_order_id: str,
        *,
        reduce_only: bool = False,
        time_in_force: TimeInForce = TimeInForce.GTX,
        stp_mode: str | None = None,
    ) -> dict:
        """A LIMIT order; `stp_mode` (V3 only: EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH) overrides the account's
        self-trade prevention for it (V3 doc, "New Order (TRADE)": "Overrides the account-level default")."""
        params = {
            "symbol": symbol,
            "side": side,
            "type": "LIMIT",
            "timeInForce": time_in_force,
            "quantity": quantity,
            "price": price,
            "newClientOrderId": client_order_id,
            "reduceOnly": "true" if reduce_only else None,
            "newOrderRespType": "ACK",
            "stpMode": stp_mode,
        }
        self.limits.count_order(self._now_ms())
        return await self._request("POST", self.path("/fapi/v1/order"), params, signed=True, idempotent=False)

    async def modify_order(self, symbol: str, client_order_id: str, quantity: Decimal, price: Decimal) -> dict:
        """V3 Modify Order: the resting LIMIT order gets `price` and `quantity` (both must be sent; the
        order's total quantity). One attempt only: any doubt becomes UnknownOutcomeError, and the caller
        queries the order rather than sending the modification again."""
        if not self.can_modify:
            raise RuntimeError("Modify Order needs V3 (Pro API) credentials: check can_modify first")
        params = {"symbol": symbol, "origClientOrderId": client_order_id, "quantity": quantity, "price": price}
        return await self._request("PUT", "/fapi/v3/order", params, idempotent=False)  # V3 signs every call

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict | None:
        """The cancelled order, or None when it is no longer open (-2011/-2013): already filled,
        cancelled or expired. The caller queries it to learn which."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        try:
            return await self._request("DELETE", self.path("/fapi/v1/order"), params, signed=True)
        except ExchangeError as err:
            if err.code in codes.GONE:
                return None
            raise

    async def cancel_all(self, symbol: str) -> None:
        await self._request("DELETE", self.path("/fapi/v1/allOpenOrders"), {"symbol": symbol}, signed=True)

    async def query_order(self, symbol: str, *, client_order_id: str) -> dict | None:
        """The order, or None when the exchange does not know it (-2013)."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        try:
            return await self._request("GET", self.path("/fapi/v1/order"), params, signed=True)
        except ExchangeError as err:
            if err.code == ErrorCode.NO_SUCH_ORDER:
                return None
            raise

    async def open_orders(self, symbol: str) -> list[dict]:
        return await self._request("GET", self.path("/fapi/v1/openOrders"), {"symbol": symbol}, signed=True)

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> dict:
        params = {"symbol": symbol, "countdownTime": countdown_ms}
        return await self._request("POST", self.path("/fapi/v1/countdownCancelAll"), params, signed=True)

    # ----- account (the reads and the safety features are in AccountEndpoints) ----------------
    async def set_margin_type(self, symbol: str, margin_type: str) -> None:
        """ISOLATED or CROSSED; already so (-4046) is success."""
        try:
            await self._request(
                "POST", self.path("/fapi/v1/marginType"), {"symbol": symbol, "marginType": margin_type}, signed=True
            )
        except ExchangeError as err:
            if err.code != ErrorCode.NO_NEED_TO_CHANGE_MARGIN_TYPE:
                raise

    async def set_leverage(self, symbol: str, leverage: int) -> dict:
        return await self._request(
            "POST", self.path("/fapi/v1/leverage"), {"symbol": symbol, "leverage": leverage}, signed=True
        )

    # ----- user data stream -------------------------------------------------------------------
    async def new_listen_key(self) -> str:
        return (await self._request("POST", self.path("/fapi/v1/listenKey")))["listenKey"]

    async def keepalive_listen_key(self) -> None:
        await self._request("PUT", self.path("/fapi/v1/listenKey"))

    async def close_listen_key(self) -> None:
        await self._request("DELETE", self.path("/fapi/v1/listenKey"))
