"""Request authentication for the Aster futures REST API: V1 (API key + HMAC) and V3 (Pro API agent
wallet + EIP-712), behind one interface the REST client calls once per request.

The client hands over the business parameters (already strings, in the order it wants them sent) and
the synced server time; it gets back the final url-encoded parameter string and the headers to send.
It sends that string unchanged: as the query string of a GET, as the form body (Content-Type
application/x-www-form-urlencoded) of a POST/PUT/DELETE. V1 paths are /fapi/v1|v2|v4/..., V3 paths
/fapi/v3/... (`version` says which family); the path table is `V3_PATHS` in aster_mm/exchange/hosts.py,
and docs/exchange.md links the official docs for both.

Secrets (the V1 secret, the agent's private key, the full V1 key) never appear in repr, str,
exceptions or logs; `hint` and `mask` give enough to tell credentials apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlencode

import coincurve
from eth_hash.auto import keccak
from eth_utils import is_checksum_address, to_checksum_address

MAINNET_CHAIN_ID = 1666  # V3 doc, "Example of POST /fapi/v3/order": domain.chainId
TESTNET_CHAIN_ID = 714  # V3 testnet doc, same section

# Names the signers add themselves; a business parameter with one of these names is a caller bug.
_RESERVED = frozenset({"recvWindow", "timestamp", "signature", "nonce", "user", "signer"})
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")

Params = Mapping[str, str] | Iterable[tuple[str, str]]


class Signed(NamedTuple):
    """What to send: `params` is the complete encoded parameter string, `headers` the auth headers."""

    params: str
    headers: Mapping[str, str]


class Signer(Protocol):
    version: int  # 1: /fapi/v1 paths with HMAC; 3: /fapi/v3 paths with EIP-712

    @property
    def hint(self) -> str: ...

    def sign(self, params: Params, now_ms: float) -> Signed:
        """TRADE and USER_DATA endpoints. `now_ms` is the synced server time in milliseconds."""

    def sign_stream(self, params: Params, now_ms: float) -> Signed:
        """USER_STREAM endpoints (listenKey POST/PUT/DELETE)."""


def mask(value: str, head: int = 6, tail: int = 4) -> str:
    """Enough of an identifier to tell two apart in a log: mask('0x63DD…') -> '0x63DD…7C4e'.
    Short values are masked entirely, since head + tail would be most of them."""
    if len(value) < head + tail + 8:
        return "…"
    return f"{value[:head]}…{value[-tail:]}"


def _encode(params: Params) -> str:
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"parameter {name!r} must be a str name with a str value")
        if name in _RESERVED:
            raise ValueError(f"parameter {name!r} is added by the signer, do not pass it")
    return urlencode(pairs)


class HmacSigner:
    """V1: `X-MBX-APIKEY` header; signed calls end with recvWindow, timestamp (ms) and signature =
    hex HMAC-SHA256(secret, the parameter string before it)."""

    version = 1
    __slots__ = ("_key", "_mac", "recv_window")

    def __init__(self, api_key: str, api_secret: str, recv_window: int = 5000):
        if not api_key:
            raise ValueError("ASTER_API_KEY is empty")
        if not api_secret:
            raise ValueError("ASTER_API_SECRET is empty")
        if not 0 < recv_window <= 60000:
            raise ValueError(f"recvWindow must be in 1..60000 ms, not {recv_window}")
        self._key = api_key
        self._mac = hmac.new(api_secret.encode(), digestmod=hashlib.sha256)  # copied per request
        self.recv_window = recv_window

    def __repr__(self) -> str:
        return f"HmacSigner({self.hint})"

    __str__ = __repr__

    @property
    def hint(self) -> str:
        return f"V1 key {mask(self._key, 4, 4)}"

    def signature(self, total_params: str) -> str:
        mac = self._mac.copy()
        mac.update(total_params.encode())
        return mac.hexdigest()

    def sign(self, params: Params, now_ms: float) -> Signed:
        query = _encode(params)
        tail = f"recvWindow={self.recv_window}&timestamp={int(now_ms)}"
        total = f"{query}&{tail}" if query else tail
        return Signed(f"{total}&signature={self.signature(total)}", {"X-MBX-APIKEY": self._key})

    def sign_stream(self, params: Params, now_ms: float) -> Signed:
        return Signed(_encode(params), {"X-MBX-APIKEY": self._key})


class NonceClock:
    """V3 nonces: the synced time in microseconds, but always at least one more than the last one
    handed out, so they strictly increase across threads and tasks even when the clock stands
    still or steps back (the exchange refuses a repeated nonce)."""

    __slots__ = ("_last", "_lock")

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self, now_ms: float) -> int:
        now_us = int(now_ms * 1000)
        with self._lock:
            self._last = now_us if now_us > self._last else self._last + 1
            return self._last


def _domain_separator(chain_id: int) -> bytes:
    type_hash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak(
        type_hash + keccak(b"AsterSignTransaction") + keccak(b"1") + chain_id.to_bytes(32, "big") + bytes(32)
    )  # verifyingContract: the zero address


_MESSAGE_TYPE_HASH = keccak(b"Message(string msg)")


class Eip712Signer:
    """V3 (Pro API): every signed call carries nonce, user (unless `send_user` is False), signer and signature,
    where signature is the agent key's EIP-712 signature of typed data Message(string msg) whose msg is the
    url-encoded parameter string exactly as sent, up to (not including) `&signature=`.

    `user` with an agent's signature: the docs disagree with themselves. The newest text says "If API_WALLET
    authentication is required, a signer should be included in the request body" and its order example (and
    the STP tables) send nonce and signer only (commit bfeefea, 2026-04-28); the "Authentication signature
    payload" table, the Noop example and the demo scripts (one changed after bfeefea) still send `user`, and
    nothing says either form is refused. So `user` is sent by default, as this bot always has, and
    --v3-user omit leaves it out should the exchange come to refuse it."""

    version = 3
    __slots__ = ("user", "signer", "chain_id", "send_user", "_key", "_prefix", "_suffix", "_nonces")

    def __init__(
        self, user: str, signer: str, private_key: str, chain_id: int = MAINNET_CHAIN_ID, send_user: bool = True
    ):
        self.user = _checksum(user, "ASTER_USER")
        self.signer = _checksum(signer, "ASTER_SIGNER")
        self._key = _load_key(private_key)
        derived = _address_of(self._key)
        if derived != self.signer:
            raise ValueError(
                f"ASTER_SIGNER {mask(self.signer)} is not the address of ASTER_SIGNER_KEY "
                f"(that key belongs to {mask(derived)}): use the agent wallet's own address"
            )
        self.chain_id, self.send_user = chain_id, send_user
        self._prefix = b"\x19\x01" + _domain_separator(chain_id)
        self._suffix = f"&user={self.user}&signer={self.signer}" if send_user else f"&signer={self.signer}"
        self._nonces = NonceClock()

    def __repr__(self) -> str:
        return f"Eip712Signer({self.hint}, chain {self.chain_id})"

    __str__ = __repr__

    def __reduce__(self):  # pickling would carry the key into files and other processes
        raise TypeError("Eip712Signer holds a private key and cannot be pickled")

    @property
    def hint(self) -> str:
        return f"V3 user {mask(self.user)} signer {mask(self.signer)}"

    def signature(self, msg: str) -> str:
        """0x-prefixed r‖s‖v hex (v = 27 + recovery id), as eth_account's sign_message produces."""
        struct_hash = keccak(_MESSAGE_TYPE_HASH + keccak(msg.encode()))
        rsv = self._key.sign_recoverable(keccak(self._prefix + struct_hash), hasher=None)
        return "0x" + rsv[:64].hex() + format(rsv[64] + 27, "02x")

    def sign(self, params: Params, now_ms: float) -> Signed:
        query = _encode(params)
        nonce = f"nonce={self._nonces.next(now_ms)}{self._suffix}"
        msg = f"{query}&{nonce}" if query else nonce
        return Signed(f"{msg}&signature={self.signature(msg)}", {})

    sign_stream = sign  # V3 USER_STREAM calls need the same signature as TRADE and USER_DATA


def _checksum(address: str, env_name: str) -> str:
    address = address.strip()
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"{env_name} must be a 0x-prefixed 40-hex-digit wallet address")
    mixed_case = address[2:] not in (address[2:].lower(), address[2:].upper())
    if mixed_case and not is_checksum_address(address):
        raise ValueError(f"{env_name} {mask(address)} fails its EIP-55 checksum: is it mistyped?")
    return to_checksum_address(address)


def _address_of(key: coincurve.PrivateKey) -> str:
    """The Ethereum address of a key: the last 20 bytes of the keccak of its uncompressed public key (eth-account
    gives the same over 300 random keys in the tests; the bot never imports it: its cost at start-up is in
    docs/performance.md)."""
    return to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:])


def _load_key(private_key: str) -> coincurve.PrivateKey:
    private_key = private_key.strip()
    if not _KEY.fullmatch(private_key):
        raise ValueError("ASTER_SIGNER_KEY must be 64 hex digits (optionally 0x-prefixed)")
    try:
        return coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
    except Exception:
        raise ValueError("ASTER_SIGNER_KEY is not a valid secp256k1 private key") from None
