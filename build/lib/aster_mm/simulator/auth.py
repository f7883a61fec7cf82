"""Request authentication: who may call an endpoint, checked once per request before its handler.

Each route has a security level: "none", "key" (the X-MBX-APIKEY header), "signed" (key, plus an
HMAC-SHA256 signature of query + body and a timestamp inside recvWindow) or "v3" (an agent wallet's
EIP-712 signature and a fresh nonce). `HmacAuth` is the V1 scheme ("SIGNED (TRADE and USER_DATA)
Endpoint security" in asterdex/api-docs aster-finance-futures-api.md), `Eip712Auth` the V3 one
(aster-finance-futures-api-v3.md), and `Schemes` hands each request to the scheme of its route.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import coincurve
from eth_hash.auto import keccak

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
        if window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        server = self._now_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


V3_SIGNATURE_RE = re.compile(r"&signature=(0x[0-9a-fA-F]{130})$")
_DOMAIN_TYPE = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_MESSAGE_TYPE = keccak(b"Message(string msg)")
NONCE_WINDOW_US = 10_000_000
NONCES_KEPT = 100


def address_of(public_key: coincurve.PublicKey) -> str:
    """The lowercase 0x address of a secp256k1 public key: the last 20 bytes of keccak(x || y)."""
    return "0x" + keccak(public_key.format(compressed=False)[1:])[-20:].hex()


class Eip712Auth:
    """V3 ("API authentication type" and "V3 Nonce Mechanism" in aster-finance-futures-api-v3.md):
    TRADE, USER_DATA and USER_STREAM need `user`, `signer`, `nonce` and `signature`, where signature is
    the EIP-712 signature (domain AsterSignTransaction/1/chainId/zero address, type Message(string msg))
    of msg = the parameter string as received, up to `&signature=`. The signer recovered from it must be
    the `signer` sent and an agent registered for `user`.

    Nonces, quoted: "the difference from server time must not exceed 10 seconds ... If the nonce has
    already been used -> rejected as a duplicate request ... each user maintains only the most recent
    100 nonces: If the list is full and the new nonce is smaller than the current minimum -> rejected as
    expired. Otherwise, the oldest nonce is removed and the new one is added."
    Error codes: the docs list none for any of this. The only nonce answer they show is
    {"code":-4225,"msg":"Nonce Expired"} (Noop example), used here for all three nonce refusals; a bad
    signature is -1022 and an unknown agent -2015, the codes Binance (and Aster V1) use for those."""

    def __init__(self, chain_id: int, now_ms: Callable[[], int]):
        domain = keccak(
            _DOMAIN_TYPE + keccak(b"AsterSignTransaction") + keccak(b"1") + chain_id.to_bytes(32, "big") + bytes(32)
        )
        self._prefix = b"\x19\x01" + domain
        self._now_ms = now_ms
        self.agents: dict[str, set[str]] = {}  # user -> agent addresses, all lowercase
        self._nonces: dict[str, list[int]] = {}  # user -> its most recent nonces, sorted

    def __repr__(self) -> str:
        return f"Eip712Auth({sum(map(len, self.agents.values()))} agents)"

    def register(self, user: str, agent: str) -> None:
        self.agents.setdefault(user.lower(), set()).add(agent.lower())

    def check(self, security: str, request: SignedRequest) -> None:
        if security == "none":
            return
        signed, other = (request.query, request.body) if request.query else (request.body, request.query)
        m = V3_SIGNATURE_RE.search(signed)
        if m is None or other:  # everything in one place, signature last
            raise ApiError(-1022, "Signature for this request is not valid.")
        msg, params = signed[: m.start()], request.params
        user, signer = params.get("user", "").lower(), params.get("signer", "").lower()
        if self.recover(msg, m.group(1)) != signer:
            raise ApiError(-1022, "Signature for this request is not valid.")
        if signer not in self.agents.get(user, ()):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        self.use_nonce(user, params.get("nonce", ""))

    def recover(self, msg: str, signature: str) -> str:
        digest = keccak(self._prefix + keccak(_MESSAGE_TYPE + keccak(msg.encode())))
        rsv = bytes.fromhex(signature[2:])
        if rsv[64] not in (27, 28):
            return ""
        try:
            return address_of(
                coincurve.PublicKey.from_signature_and_message(rsv[:64] + bytes([rsv[64] - 27]), digest, hasher=None)
            )
        except ValueError:
            return ""

    def use_nonce(self, user: str, text: str) -> None:
        if not text.isdigit():
            raise ApiError(-1102, "Mandatory parameter 'nonce' was not sent, was empty/null, or malformed.")
        nonce, kept = int(text), self._nonces.setdefault(user, [])
        if abs(nonce - self._now_ms() * 1000) > NONCE_WINDOW_US:
            raise ApiError(-4225, "Nonce Expired")  # outside the server's 10 s window
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
        (self.v3 if security == "v3" else self.v1).check(security, request)
