"""A minimal client of the simulator's wire API for its own tests, independent of the bot: V1 (API key and
HMAC) and V3 (an agent's EIP-712 signature of the parameter string as sent, the V3 doc's "Example of POST
/fapi/v3/order") over plain aiohttp."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from urllib.parse import urlencode

import aiohttp
import yarl
from eth_account import Account
from eth_account.messages import encode_typed_data

from aster_mm.simulator import SimExchange

_nonces = itertools.count()


def typed_message(msg: str, chain_id: int = 1666) -> dict:
    """The typed data a V3 signature signs, exactly as the docs' Python demo writes it (1666: mainnet)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Message": [{"name": "msg", "type": "string"}],
        },
        "primaryType": "Message",
        "domain": {
            "name": "AsterSignTransaction",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0x0000000000000000000000000000000000000000",
        },
        "message": {"msg": msg},
    }


def sign_v3(key: str, msg: str, prefix: bool = True) -> str:
    signature = Account.sign_message(encode_typed_data(full_message=typed_message(msg)), private_key=key).signature
    return ("0x" if prefix else "") + bytes(signature).hex()


class WireClient:
    """`v3` signs as the agent `signer` (key `key`) of `user`; `send_user` False leaves `user` out, as the
    newest doc example does; `prefix` False sends the signature without "0x"."""

    def __init__(self, sim: SimExchange, session: aiohttp.ClientSession, **v3: object):
        self.sim, self.session = sim, session
        self.key = str(v3.get("key", sim.v3_signer_key))
        self.signer = str(v3.get("signer", sim.v3_signer))
        self.user = str(v3.get("user", sim.v3_user))
        self.send_user, self.prefix = bool(v3.get("send_user", True)), bool(v3.get("prefix", True))

    def nonce(self) -> int:
        return self.sim.now_ms() * 1000 + next(_nonces) % 1000  # the server's clock: offsets apply

    async def raw(self, method: str, path: str, query: str = "", body: str = "", headers: dict | None = None):
        url = self.sim.rest_url + path + (f"?{query}" if query else "")
        kwargs: dict = {"headers": dict(headers or {})}
        if body:
            kwargs["data"] = body.encode()
            kwargs["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.session.request(method, yarl.URL(url, encoded=True), **kwargs) as resp:
            text = await resp.text()
            payload = await resp.json(content_type=None) if text else None
            return resp.status, payload, resp.headers

    async def public(self, method: str, path: str, params: dict | None = None):
        return await self.raw(method, path, urlencode(params or {}))

    async def v3(self, method: str, path: str, params: dict | None = None, nonce: int | None = None):
        fields = dict(params or {}) | {"nonce": nonce if nonce is not None else self.nonce()}
        if self.send_user:
            fields["user"] = self.user
        fields["signer"] = self.signer
        msg = urlencode(fields)
        signed = f"{msg}&signature={sign_v3(self.key, msg, self.prefix)}"
        if method == "GET":
            return await self.raw(method, path, query=signed)
        return await self.raw(method, path, body=signed)

    async def v1(self, method: str, path: str, params: dict | None = None, signed: bool = True):
        fields = dict(params or {})
        headers = {"X-MBX-APIKEY": self.sim.api_key}
        if not signed:
            return await self.raw(method, path, urlencode(fields), headers=headers)
        fields["timestamp"] = self.sim.now_ms()
        query = urlencode(fields)
        query += "&signature=" + hmac.new(self.sim.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        return await self.raw(method, path, query, headers=headers)

    async def order(self, price: str, side: str = "BUY", qty: str = "0.01", tif: str = "GTC", **extra: str):
        """A V3 LIMIT order on ETHUSDT, answered after matching (RESULT) unless `extra` says otherwise."""
        params = {
            "symbol": "ETHUSDT",
            "side": side,
            "type": "LIMIT",
            "timeInForce": tif,
            "quantity": qty,
            "price": price,
        }
        return await self.v3("POST", "/fapi/v3/order", params | {"newOrderRespType": "RESULT"} | extra)
