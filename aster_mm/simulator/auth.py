"""Request authentication: who may call an endpoint, checked once per request before its handler.

Each route has a security level: "none", "key" (the X-MBX-APIKEY header), "signed" (key, plus an
HMAC-SHA256 signature of query + body and a timestamp inside recvWindow), "v3" (an agent wallet's
EIP-712 signature and a fresh nonce) or "main" (a main wallet's typed-data signature). `HmacAuth` is the V1
scheme ("SIGNED (TRADE and USER_DATA) Endpoint security" in asterdex/api-docs aster-finance-futures-api.md),
`Eip712Auth` the V3 one (aster-finance-futures-api-v3.md), and `Schemes` hands each request to the scheme
of its route.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from . import eip712
from .options import DEFAULT_READINGS, Readings
from .wire import ApiError, invalid, mandatory

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
            sig, body = m.group(1), body[: m.start()]
        elif m := SIGNATURE_RE.search(query):
            sig, query = m.group(1), query[: m.start()]
        expected = hmac.new(self._secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig.lower(), expected):
            raise ApiError(-1022, "Signature for this request is not valid.")

    def check_timestamp(self, params: dict) -> None:
        try:
            ts = int(mandatory(params, "timestamp"))
            window = int(params.get("recvWindow") or 5000)
        except ValueError:
            raise ApiError(-1100, "Illegal characters found in parameter 'timestamp'.") from None
        if window > 60000:  # V1 doc: "It must not exceed 60 seconds!" (no code given: A7)
            raise invalid("recvWindow")
        server = self._now_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


V3_SIGNATURE_RE = re.compile(r"&signature=((?:0x)?[0-9a-fA-F]{130})$")
NONCES_KEPT = 100


def denied() -> ApiError:
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def bad_signature() -> ApiError:
    return ApiError(-1022, "Signature for this request is not valid.")


class Eip712Auth:
    """V3 ("API authentication type", "Authentication signature payload" and "V3 Nonce Mechanism" in
    aster-finance-futures-api-v3.md). TRADE, USER_DATA and USER_STREAM calls carry `signer`, `nonce` and
    `signature`: the EIP-712 signature (eip712.MESSAGE) of msg = the parameter string as received, up to
    `&signature=`, which must recover to the `signer` sent, an agent (API wallet) registered for a main wallet.
    `user` may be sent or not: "If API_WALLET authentication is required, a signer should be included in the
    request body." (commit bfeefea, 2026-04-28, which also removed `user` from the examples); when sent it
    must be the signer's main wallet (A1). A main wallet signs for itself only once registered as its own
    agent, `register(W, W)` (A2: the docs call the signer the "API wallet address").

    Nonces, quoted: "If the nonce has already been used -> rejected as a duplicate request ... each user
    maintains only the most recent 100 nonces: If the list is full and the new nonce is smaller than the
    current minimum -> rejected as expired. Otherwise, the oldest nonce is removed and the new one is
    added." The window and the key follow PR #157 (2026-07-16), known from its description only (the mirror
    of the docs stops at 2026-06-30, where the text still says 10 seconds and "each user"): "nonce is now
    valid within 60s before/after server time ... nonce tracking (recent-nonce cache, dedup/expiry checks)
    is maintained per-signer, not per-account/user." Both are `Readings` (A3). Error codes: the docs list
    none; the only nonce answer they show is {"code":-4225,"msg":"Nonce Expired"} (Noop example), used for
    all three refusals (A4); a bad signature is -1022, an unknown agent -2015.

    `check_main` is the other documented signature, a main wallet's typed data (approveBuilder, A49)."""

    def __init__(self, chain_id: int, now_ms: Callable[[], int], readings: Readings = DEFAULT_READINGS):
        self._domain = eip712.domain_separator(chain_id)
        self._now_ms = now_ms
        self._window_us = int(readings.nonce_window_s * 1_000_000)
        self._nonce_key = readings.nonce_key
        self.agents: dict[str, str] = {}  # agent address -> its main wallet, all lowercase
        self._nonces: dict[str, list[int]] = {}  # signer (or user) -> its most recent nonces, sorted

    def __repr__(self) -> str:
        return f"Eip712Auth({len(self.agents)} agents)"

    def register(self, user: str, agent: str) -> None:
        user, agent = user.lower(), agent.lower()
        if self.agents.setdefault(agent, user) != user:
            raise ValueError(f"agent {agent} is already registered for {self.agents[agent]}")

    @property
    def users(self) -> set[str]:
        return set(self.agents.values())

    def check(self, security: str, request: SignedRequest) -> None:
        if security == "none":
            return
        if security == "main":
            return self.check_main(request.params)
        signed, other = (request.query, request.body) if request.query else (request.body, request.query)
        m = V3_SIGNATURE_RE.search(signed)
        if m is None or other:  # everything in one place, signature last (A5)
            raise bad_signature()
        params, msg = request.params, signed[: m.start()]
        signer = params.get("signer", "").lower()
        if eip712.recover(eip712.digest(self._domain, eip712.MESSAGE, {"msg": msg}), m.group(1)) != signer:
            raise bad_signature()
        user = self.agents.get(signer)
        if user is None or params.get("user", user).lower() != user:
            raise denied()
        self.use_nonce(signer if self._nonce_key == "signer" else user, params.get("nonce", ""))

    def check_main(self, params: dict) -> None:
        """A main wallet's own signature of eip712.APPROVE_BUILDER over the request's parameters, in the
        domain of chainId `signatureChainId` (demo/aster-code.py). The wallet must be one the exchange knows."""
        user, chain = params.get("user", ""), params.get("signatureChainId", "")
        nonce = params.get("nonce", "")
        if not chain.isdigit() or not nonce.isdigit():
            raise bad_signature()
        values = {field: params.get(field[0].lower() + field[1:], "") for field, _ in eip712.APPROVE_BUILDER[1]}
        digest = eip712.digest(eip712.domain_separator(int(chain)), eip712.APPROVE_BUILDER, values)
        if not user or eip712.recover(digest, params.get("signature", "")) != user.lower():
            raise bad_signature()
        if user.lower() not in self.users:
            raise denied()
        self.use_nonce(user.lower(), nonce)

    def use_nonce(self, key: str, text: str) -> None:
        if not text.isdigit():
            raise ApiError(-1102, "Mandatory parameter 'nonce' was not sent, was empty/null, or malformed.")
        nonce, kept = int(text), self._nonces.setdefault(key, [])
        if abs(nonce - self._now_ms() * 1000) > self._window_us:
            raise ApiError(-4225, "Nonce Expired")  # outside the server's window
        at = bisect.bisect_left(kept, nonce)
        if at < len(kept) and kept[at] == nonce:
            raise ApiError(-4225, "Nonce Expired")  # duplicate: a replayed request
        if len(kept) >= NONCES_KEPT:
            if nonce < kept[0]:
                raise ApiError(-4225, "Nonce Expired")  # older than every nonce kept
            kept.pop(0)
            at -= 1
        kept.insert(at, nonce)


class Schemes:
    """V1 routes are checked by HMAC, V3 routes ("v3") by EIP-712: the exchange accepts both."""

    def __init__(self, v1: HmacAuth, v3: Eip712Auth):
        self.v1, self.v3 = v1, v3

    def check(self, security: str, request: SignedRequest) -> None:
        (self.v3 if security in ("v3", "main") else self.v1).check(security, request)
