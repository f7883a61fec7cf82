"""Aster futures REST client: authentication (V1 HMAC or V3 EIP-712, through `aster_mm.exchange.signing`), the
path family each uses, clock sync, errors, rate limits, retries, symbol rules.

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
from aster_mm.exchange.errors import (  # noqa: F401 (the errors are part of this API)
    BannedError,
    ExchangeError,
    HostNotFoundError,
    RateLimitError,
    UnknownOutcomeError,
    WafLimitError,
)
from aster_mm.exchange.hosts import DEFAULT_REST_URL, V3_PATHS
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


class AsterClient:
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
        self.used_weight_1m: int | None = None
        self._blocked_until = 0.0  # 429 back-off or 418 ban, in clock() seconds
        self._banned = False
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
        return max(0.0, self._blocked_until - self._clock())

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
        if self.blocked_for() > 0:
            cls = BannedError if self._banned else RateLimitError
            raise cls(429 if not self._banned else 418, None, "back-off in force, not sent", path, self.blocked_for())
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
            weight = resp.headers.get("X-MBX-USED-WEIGHT-1M")
            if weight and weight.isdigit():
                self.used_weight_1m = int(weight)
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            if resp.status < 400:
                if not isinstance(data, (dict, list)):  # e.g. a proxy's HTML page: what happened?
                    raise UnknownOutcomeError(resp.status, None, "answer is not JSON", path)
                return data
            return self._raise_for(resp.status, resp.headers.get("Retry-After"), data, path)

    def _raise_for(self, status: int, retry_after: str | None, data: Any, path: str):
        code = data.get("code") if isinstance(data, dict) else None
        msg = str(data.get("msg", "")) if isinstance(data, dict) else f"non-JSON answer (HTTP {status})"
        if status == 403:
            wait = self._retry_after(retry_after, 5.0)
            self._blocked_until = max(self._blocked_until, self._clock() + wait)
            log.warning("HTTP 403 on %s (the exchange's firewall limit): backing off %.1f s", path, wait)
            raise WafLimitError(status, code, msg, path, wait)
        if status in (418, 429):
            wait = self._retry_after(retry_after, 120.0 if status == 418 else 1.0)
            self._blocked_until = max(self._blocked_until, self._clock() + wait)
            self._banned = status == 418
            if status == 418:
                log.critical("IP BANNED by the exchange for %.0f s (HTTP 418): sending nothing until then", wait)
                raise BannedError(status, code, msg, path, wait)
            log.warning("rate limited (HTTP 429) on %s: backing off %.1f s", path, wait)
            raise RateLimitError(status, code, msg, path, wait)
        if status >= 500 or code in codes.UNKNOWN:
            raise UnknownOutcomeError(status, code, msg, path)
        raise ExchangeError(status, code, msg, path)

    @staticmethod
    def _retry_after(header: str | None, default: float) -> float:
        return float(header) if header and header.replace(".", "", 1).isdigit() else default  # "7", "0.5"

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
        info = await self._request("GET", self.path("/fapi/v1/exchangeInfo"), auth=False)
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
    ) -> dict:
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
        }
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

    # ----- account ----------------------------------------------------------------------------
    async def position_rows(self, symbol: str) -> list[dict]:
        """Every positionRisk row of `symbol`: one BOTH row in one-way mode, LONG and SHORT in hedge mode."""
        return [
            r
            for r in await self._request("GET", self.path("/fapi/v2/positionRisk"), {"symbol": symbol}, signed=True)
            if r.get("symbol") == symbol
        ]

    async def wallet_balances(self) -> dict[str, Decimal]:
        rows = await self._request("GET", self.path("/fapi/v2/balance"), signed=True)
        return {r["asset"]: Decimal(r["balance"]) for r in rows}

    async def available_balance(self, multi_assets: bool) -> Decimal:
        """What the exchange says is usable for new margin: the account's availableBalance in multi-assets
        mode (other collateral counted with haircuts), USDT's availableBalance in single-asset mode."""
        if multi_assets:
            return Decimal((await self._request("GET", self.path("/fapi/v4/account"), signed=True))["availableBalance"])
        rows = await self._request("GET", self.path("/fapi/v2/balance"), signed=True)
        return next((Decimal(r["availableBalance"]) for r in rows if r["asset"] == "USDT"), Decimal(0))

    async def income(self, symbol: str, income_type: str, start_ms: int, end_ms: int, limit: int = 1000) -> list[dict]:
        """Income history rows (REALIZED_PNL, COMMISSION, FUNDING_FEE, ...) with start <= time <= end, oldest
        first, at most `limit` (1000): the caller pages on by time."""
        params = {"symbol": symbol, "incomeType": income_type, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        return await self._request("GET", self.path("/fapi/v1/income"), params, signed=True)

    async def user_trades(self, symbol: str, start_ms: int, end_ms: int, limit: int = 1000) -> list[dict]:
        """Our trades with start <= time <= end (at most 7 days apart), oldest first, at most `limit`."""
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        return await self._request("GET", self.path("/fapi/v1/userTrades"), params, signed=True)

    async def hedge_mode(self) -> bool:
        """True when the account holds dual-side (LONG/SHORT) positions instead of one-way."""
        answer = await self._request("GET", self.path("/fapi/v1/positionSide/dual"), signed=True)
        return str(answer.get("dualSidePosition")).lower() == "true"

    async def multi_assets_mode(self) -> bool:
        answer = await self._request("GET", self.path("/fapi/v1/multiAssetsMargin"), signed=True)
        return str(answer.get("multiAssetsMargin")).lower() == "true"

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
