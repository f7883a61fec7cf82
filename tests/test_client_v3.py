"""The REST client on the Pro API (V3) paths (aster_mm/exchange/client.py with the EIP-712 signer), against
aioresponses: a placement's form body exactly as signed, signed GETs and listenKey calls, the nonce resync,
Modify Order sent once and never by a V1 client."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qsl

import aiohttp
import pytest
import yarl
from aioresponses import aioresponses
from eth_account import Account
from eth_account.messages import encode_typed_data
from helpers import BASE, DEMO_KEY, DEMO_SIGNER, DEMO_USER, NOW, SYMBOL
from simclient import typed_message

from aster_mm.exchange.client import AsterClient, ExchangeError, UnknownOutcomeError
from aster_mm.exchange.signing import MAINNET_CHAIN_ID, Eip712Signer


def recover(msg: str, signature: str, chain_id: int = MAINNET_CHAIN_ID) -> str:
    """The signer of `msg`, recovered with eth_account (independent of the code under test)."""
    typed = typed_message(msg, chain_id)
    return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)


# ============================================================================ the client's V3 requests
@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    original = aiohttp.ClientSession.request

    def spy(self, method, url, **kwargs):
        calls.append({"method": method, "url": yarl.URL(url) if isinstance(url, str) else url, **kwargs})
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "request", spy)
    return calls


@pytest.fixture
async def v3client():
    client = AsterClient(signer=Eip712Signer(DEMO_USER, DEMO_SIGNER, DEMO_KEY), rest_url=BASE, clock=lambda: NOW)
    yield client
    await client.close()


async def test_v3_post_is_a_form_body_exactly_as_signed_to_the_v3_path(v3client, sent):
    with aioresponses() as mock:
        mock.post(f"{BASE}/fapi/v3/order", payload={"orderId": 1, "status": "NEW"})
        await v3client.place_limit(SYMBOL, "BUY", Decimal("0.010"), Decimal("2500.10"), "amm-abc-1")
    [req] = sent
    assert req["method"] == "POST" and req["url"].path == "/fapi/v3/order" and req["url"].query_string == ""
    assert req["headers"] == {"Content-Type": "application/x-www-form-urlencoded"}
    body = req["data"].decode()
    msg, signature = body.rsplit("&signature=", 1)
    params = dict(parse_qsl(msg))
    assert list(params) == [
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "price",
        "newClientOrderId",
        "newOrderRespType",
        "nonce",
        "user",
        "signer",
    ]
    assert "timestamp" not in params and "recvWindow" not in params
    assert params["nonce"] == str(int(NOW * 1_000_000)) and params["quantity"] == "0.01"
    assert recover(msg, signature) == DEMO_SIGNER  # the string signed is the string sent


async def test_v3_get_and_listen_key_are_signed_on_v3_paths(v3client, sent):
    with aioresponses() as mock:
        mock.get(
            re.compile(re.escape(f"{BASE}/fapi/v3/accountWithJoinMargin") + r"\?.*"), payload={"availableBalance": "5"}
        )
        mock.post(f"{BASE}/fapi/v3/listenKey", payload={"listenKey": "lk"})
        assert await v3client.available_balance(multi_assets=True) == Decimal(5)
        assert await v3client.new_listen_key() == "lk"
    get, post = sent
    msg, signature = get["url"].raw_query_string.rsplit("&signature=", 1)
    assert [k for k, _ in parse_qsl(msg)] == ["nonce", "user", "signer"]
    assert recover(msg, signature) == DEMO_SIGNER
    msg, signature = post["data"].decode().rsplit("&signature=", 1)
    assert recover(msg, signature) == DEMO_SIGNER  # USER_STREAM is signed on V3
    assert int(dict(parse_qsl(msg))["nonce"]) > int(dict(parse_qsl(get["url"].raw_query_string))["nonce"])


async def test_a_nonce_refusal_resyncs_once_and_retries_even_a_placement(v3client, sent):
    refusal = {"code": -4225, "msg": "Nonce Expired"}
    with aioresponses() as mock:
        mock.post(f"{BASE}/fapi/v3/order", status=400, payload=refusal)
        mock.get(f"{BASE}/fapi/v3/time", payload={"serverTime": int(NOW * 1000) + 20_000})
        mock.post(f"{BASE}/fapi/v3/order", payload={"orderId": 1, "status": "NEW"})
        mock.post(f"{BASE}/fapi/v3/order", status=400, payload=refusal, repeat=True)
        mock.get(f"{BASE}/fapi/v3/time", payload={"serverTime": int(NOW * 1000)}, repeat=True)
        await v3client.place_limit(SYMBOL, "BUY", Decimal("1"), Decimal("2"), "amm-a-1")
        assert v3client.time_offset_ms == 20_000
        with pytest.raises(ExchangeError) as info:
            await v3client.place_limit(SYMBOL, "BUY", Decimal("1"), Decimal("2"), "amm-a-2")
    assert info.value.code == -4225
    posts = [dict(parse_qsl(r["data"].decode())) for r in sent if r["method"] == "POST"]
    assert len(posts) == 4  # 1 refused + 1 retried; then 1 + 1 and no more
    assert int(posts[1]["nonce"]) >= int(posts[0]["nonce"]) + 20_000_000 - 1000  # the synced clock


async def test_modify_is_one_put_never_repeated_and_v1_cannot_modify(v3client, sent):
    with aioresponses() as mock:
        mock.put(f"{BASE}/fapi/v3/order", status=503, payload={"code": -1001, "msg": "busy"})
        with pytest.raises(UnknownOutcomeError):
            await v3client.modify_order(SYMBOL, "amm-a-1", Decimal("0.5"), Decimal("2490.5"))
    [put] = sent
    assert [(k, v) for k, v in parse_qsl(put["data"].decode())][:4] == [
        ("symbol", SYMBOL),
        ("origClientOrderId", "amm-a-1"),
        ("quantity", "0.5"),
        ("price", "2490.5"),
    ]
    v1 = AsterClient("key-0123456789", "secret-0123456789", BASE)
    assert not v1.can_modify and v3client.can_modify
    with pytest.raises(RuntimeError):
        await v1.modify_order(SYMBOL, "amm-a-1", Decimal("0.5"), Decimal("2490.5"))
    assert len(sent) == 1
    assert DEMO_KEY[2:] not in repr(v3client) + str(v3client.signer) and "0x21cF" in repr(v3client)
