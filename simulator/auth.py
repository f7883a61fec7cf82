"""Request authentication: who may call an endpoint, checked once per request before its handler.

Each route has a security level: "none", "key" (the X-MBX-APIKEY header) or "signed" (key, plus an
HMAC-SHA256 signature of query + body and a timestamp inside recvWindow). `HmacAuth` is the V1 scheme
("SIGNED (TRADE and USER_DATA) Endpoint security" in asterdex/api-docs aster-finance-futures-api.md);
another scheme (V3, EIP-712) is one more object with the same `check(security, request)`.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .wire import ApiError, mandatory

SIGNATURE_RE = re.compile(r"(?:^|&)signature=([0-9a-fA-F]*)$")


@dataclass(frozen=True)
class SignedRequest:
    """What authentication sees of a request: headers, the raw query and body, and their parameters."""
    headers: Mapping[str, str]
    query: str
    body: str
    params: dict


class Authenticator(Protocol):
    def check(self, security: str, request: SignedRequest) -> None:
        """Raise ApiError when the request may not call an endpoint of this security level."""


class HmacAuth:
    def __init__(self, api_key: str, api_secret: str, now_ms: Callable[[], int]):
        self._key, self._secret, self._now_ms = api_key, api_secret, now_ms

    def __repr__(self) -> str:
        return "HmacAuth(<key and secret hidden>)"

    def check(self, security: str, request: SignedRequest) -> None:
        if security == "none":
            return
        if request.headers.get("X-MBX-APIKEY") != self._key:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        if security == "signed":
            self.check_signature(request.query, request.body)
            self.check_timestamp(request.params)

    def check_signature(self, query: str, body: str) -> None:
        # signature is the last parameter of query + body: strip it from whichever part carries it
        sig = None
        if m := SIGNATURE_RE.search(body):
            sig, body = m.group(1), body[:m.start()]
        elif m := SIGNATURE_RE.search(query):
            sig, query = m.group(1), query[:m.start()]
        expected = hmac.new(self._secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig.lower(), expected):
            raise ApiError(-1022, "Signature for this request is not valid.")

    def check_timestamp(self, params: dict) -> None:
        try:
            ts = int(mandatory(params, "timestamp"))
            window = int(params.get("recvWindow") or 5000)
        except ValueError:
            raise ApiError(-1100, "Illegal characters found in parameter 'timestamp'.") from None
        if window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        server = self._now_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
