"""Issue 9, Pro API (V3): the client's V3 requests as sent, the simulator's V3 authentication (signature,
agent, nonce window, replay), Modify Order at the exchange, and the bot's modify-in-place requote with
its fall-backs. The e2e and fault suites already run on both schemes (see conftest)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from decimal import Decimal
from urllib.parse import parse_qsl

import aiohttp
import pytest
import yarl
from aioresponses import aioresponses
from conftest import ROOT, SYMBOL, BotRun, assert_invariants, open_orders, order_posts, set_mid, wait_open
from eth_account import Account
from eth_account.messages import encode_typed_data

from aster_mm.core.decisions import MAX_MODIFICATIONS
from aster_mm.exchange.client import AsterClient, ExchangeError, UnknownOutcomeError
from aster_mm.exchange.signing import MAINNET_CHAIN_ID, Eip712Signer
from aster_mm.simulator import Readings, SimExchange

# The docs' demo agent (V3 doc, "Example of POST /fapi/v3/order"): a public test key, never a real one.
DEMO_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
DEMO_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
DEMO_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
BASE = "https://fapi.test"
NOW = 1_700_000_000.0


def recover(msg: str, signature: str, chain_id: int = MAINNET_CHAIN_ID) -> str:
    """The signer of `msg`, recovered with eth_account (independent of the code under test)."""
    typed = {
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


# ============================================================================ the simulator's V3 checks
@pytest.fixture
async def exchange():
    async with SimExchange() as sim, aiohttp.ClientSession() as session:
        sim.session = session
        yield sim


def agent(sim: SimExchange, key: str | None = None, address: str | None = None, **kw) -> Eip712Signer:
    if key is None:
        return Eip712Signer(sim.v3_user, sim.v3_signer, sim.v3_signer_key, **kw)
    return Eip712Signer(sim.v3_user, address, key, **kw)


async def send(sim: SimExchange, method: str, path: str, payload: str) -> tuple[int, dict]:
    url = sim.rest_url + path
    kwargs = {}
    if method == "GET":
        url = yarl.URL(f"{url}?{payload}", encoded=True)
    else:
        kwargs = {"data": payload.encode(), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    async with sim.session.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_sim_accepts_a_good_v3_request_and_refuses_v1_on_v3_paths(exchange):
    sim = exchange
    status, body = await send(
        sim, "GET", "/fapi/v3/openOrders", agent(sim).sign({"symbol": SYMBOL}, sim.now_ms()).params
    )
    assert (status, body) == (200, [])
    status, body = await send(sim, "POST", "/fapi/v3/listenKey", agent(sim).sign({}, sim.now_ms()).params)
    assert status == 200 and body["listenKey"]
    status, body = await send(sim, "GET", "/fapi/v3/openOrders", "symbol=ETHUSDT&timestamp=1&signature=00")
    assert body["code"] == -1022


async def test_sim_refuses_a_wrong_signature_and_a_wrong_signer(exchange):
    sim = exchange
    good = agent(sim).sign({"symbol": SYMBOL}, sim.now_ms()).params
    tampered = good[:-3] + ("0" if good[-3] != "0" else "1") + good[-2:]
    status, body = await send(sim, "GET", "/fapi/v3/openOrders", tampered)
    assert (status, body["code"]) == (400, -1022)
    other = good.replace("symbol=ETHUSDT", "symbol=BTCUSDT")  # signed for another request
    assert (await send(sim, "GET", "/fapi/v3/openOrders", other))[1]["code"] == -1022
    stranger = Account.create()  # signs correctly, but no agent of the user
    params = agent(sim, stranger.key.hex(), stranger.address).sign({"symbol": SYMBOL}, sim.now_ms()).params
    status, body = await send(sim, "GET", "/fapi/v3/openOrders", params)
    assert (status, body["code"]) == (401, -2015)
    sim.add_agent(sim.v3_user, stranger.address)  # approved on the Pro API page: accepted
    params = agent(sim, stranger.key.hex(), stranger.address).sign({"symbol": SYMBOL}, sim.now_ms()).params
    assert (await send(sim, "GET", "/fapi/v3/openOrders", params))[0] == 200
    wrong_chain = agent(sim, chain_id=714).sign({"symbol": SYMBOL}, sim.now_ms()).params
    assert (await send(sim, "GET", "/fapi/v3/openOrders", wrong_chain))[1]["code"] == -1022


async def test_sim_refuses_a_replayed_and_a_stale_nonce(exchange):
    sim = exchange
    signer = agent(sim)
    order = {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTX",
        "quantity": "0.01",
        "price": "2400",
        "newClientOrderId": "v3-replay-1",
    }
    payload = signer.sign(order, sim.now_ms()).params
    assert (await send(sim, "POST", "/fapi/v3/order", payload))[0] == 200
    status, body = await send(sim, "POST", "/fapi/v3/order", payload)  # the same bytes again
    assert (status, body["code"]) == (400, -4225)
    assert len(sim.open_orders(SYMBOL)) == 1
    for skew_ms in (-61_000, 61_000):  # outside the ±60 s window (PR #157; docs/simulator.md A3)
        stale = agent(sim).sign({"symbol": SYMBOL}, sim.now_ms() + skew_ms).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", stale))[1]["code"] == -4225
    for skew_ms in (-59_000, 59_000):
        fresh = agent(sim).sign({"symbol": SYMBOL}, sim.now_ms() + skew_ms).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", fresh))[0] == 200


async def test_sim_nonce_window_of_the_mirrored_docs_is_selectable():
    """The mirrored doc (2026-06-30) said 10 seconds and "each user": Readings(nonce_window_s=10, nonce_key="user")."""
    async with SimExchange(readings=Readings(nonce_window_s=10, nonce_key="user")) as sim, aiohttp.ClientSession() as s:
        sim.session = s
        stale = agent(sim).sign({"symbol": SYMBOL}, sim.now_ms() - 11_000).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", stale))[1]["code"] == -4225
        other = Account.create()
        sim.add_agent(sim.v3_user, other.address)
        nonce_ms = sim.now_ms()
        first = agent(sim).sign({"symbol": SYMBOL}, nonce_ms).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", first))[0] == 200
        # the same nonce from another agent of the same user: a duplicate when kept per user
        again = agent(sim, other.key.hex(), other.address).sign({"symbol": SYMBOL}, nonce_ms).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", again))[1]["code"] == -4225


async def test_sim_nonces_are_kept_per_signer():
    """PR #157: "nonce tracking ... is maintained per-signer, not per-account/user": two agents of one user
    may use the same nonce; one agent may not use it twice."""
    async with SimExchange() as sim, aiohttp.ClientSession() as s:
        sim.session = s
        other = Account.create()
        sim.add_agent(sim.v3_user, other.address)
        nonce_ms = sim.now_ms()
        first = agent(sim).sign({"symbol": SYMBOL}, nonce_ms).params
        again = agent(sim, other.key.hex(), other.address).sign({"symbol": SYMBOL}, nonce_ms).params
        assert (await send(sim, "GET", "/fapi/v3/openOrders", first))[0] == 200
        assert (await send(sim, "GET", "/fapi/v3/openOrders", again))[0] == 200
        assert (await send(sim, "GET", "/fapi/v3/openOrders", first))[1]["code"] == -4225


async def test_sim_keeps_the_last_100_nonces_and_refuses_older_ones(exchange):
    sim = exchange
    base = sim.now_ms()
    old = agent(sim).sign({"symbol": SYMBOL}, base - 5000).params  # signed first, sent last
    signer = agent(sim)
    for i in range(100):
        assert (await send(sim, "GET", "/fapi/v3/openOrders", signer.sign({"symbol": SYMBOL}, base + i).params))[
            0
        ] == 200
    status, body = await send(sim, "GET", "/fapi/v3/openOrders", old)
    assert (status, body["code"]) == (400, -4225)


# ============================================================================ Modify Order at the exchange
@pytest.fixture
async def first_in_queue():
    """Time priority among our own orders at a price the book does not show: the optimistic fill model
    (the queue model does not fill orders beyond the visible levels)."""
    async with SimExchange(fill_model="optimistic") as sim, aiohttp.ClientSession() as session:
        sim.session = session
        yield sim


async def test_sim_modify_order_semantics(first_in_queue):
    sim = first_in_queue
    await set_mid(sim, "2500")
    signer = agent(sim)

    async def modify(cid, qty, price):
        params = {"symbol": SYMBOL, "origClientOrderId": cid, "quantity": qty, "price": price}
        return await send(sim, "PUT", "/fapi/v3/order", signer.sign(params, sim.now_ms()).params)

    first = await sim.place_order_direct(SYMBOL, "BUY", "2400", "0.1", client_order_id="a")
    await sim.place_order_direct(SYMBOL, "BUY", "2400", "0.1", client_order_id="b")
    status, body = await modify("a", "0.1", "2400.5")
    assert status == 200 and body["orderId"] == first["orderId"] and body["price"] == "2400.50"
    assert (await modify("a", "0.1", "2400"))[0] == 200  # back: now behind "b"
    await sim.trade(SYMBOL, "SELL", "2400", "0.1")
    assert {o["clientOrderId"]: o["status"] for o in sim.open_orders(SYMBOL)} == {"a": "NEW"}  # "b" filled first
    status, body = await modify("a", "0.1", "2400")  # nothing to change: answered with the order (A18)
    assert (status, body["price"], body["status"]) == (200, "2400.00", "NEW")
    assert (await modify("a", "0.1", "2400.001"))[1]["code"] == -4014  # off tick: refused, kept
    assert (await modify("zz", "0.1", "2400"))[1]["code"] == -2013
    await sim.place_order_direct(SYMBOL, "SELL", "2600", "0.1", client_order_id="s")
    assert sim.open_orders(SYMBOL)[0]["price"] == "2400.00"


@pytest.mark.parametrize("cross", ["expire", "reject"])
async def test_sim_modify_of_a_post_only_order_that_would_cross(cross):
    """Docs silent (A16): by default the post-only order expires at its new price, as a crossing post-only
    placement does; Readings(modify_cross="reject") refuses the modification and the order stays."""
    readings = Readings(modify_cross=cross)
    async with SimExchange(max_modifications=1, readings=readings) as sim, aiohttp.ClientSession() as session:
        sim.session = session
        await set_mid(sim, "2500")
        signer = agent(sim)
        payload = signer.sign(
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTX",
                "quantity": "0.1",
                "price": "2400",
                "newClientOrderId": "p",
            },
            sim.now_ms(),
        ).params
        assert (await send(sim, "POST", "/fapi/v3/order", payload))[0] == 200

        async def modify(price):
            params = {"symbol": SYMBOL, "origClientOrderId": "p", "quantity": "0.1", "price": price}
            return await send(sim, "PUT", "/fapi/v3/order", signer.sign(params, sim.now_ms()).params)

        status, body = await modify("2510")  # through the ask (2500.01)
        if cross == "expire":
            assert (status, body["status"], body["price"]) == (200, "EXPIRED", "2510.00")
            assert sim.open_orders(SYMBOL) == []
            return
        assert (status, body["code"]) == (400, readings.post_only_error[0])
        assert [o["price"] for o in sim.open_orders(SYMBOL)] == ["2400.00"]
        assert (await modify("2401"))[0] == 200
        assert (await modify("2402"))[1]["code"] == readings.modify_limit_error[0]  # over the limit (1 here)


# ============================================================================ the bot's requote on V3
@pytest.fixture
async def v3sim():
    async with SimExchange() as exchange:
        exchange.scheme = "v3"
        await set_mid(exchange, "2500")
        yield exchange


async def test_refused_modification_falls_back_to_cancel_then_place(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        sim.fail_next("PUT", "/fapi/v3/order", status=400, body={"code": -5022, "msg": "would cross"})
        before = len(sim.order_requests())
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert [r["method"] for r in sim.order_requests()[before:]] == ["PUT", "DELETE", "POST"]
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


async def test_a_modification_is_counted_as_modified_not_as_a_new_order(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert (bot.metrics.orders["sent"], bot.metrics.orders["modified"]) == (1, 1)


async def test_no_modify_requotes_by_cancel_then_place_on_v3(v3sim):
    sim = v3sim
    async with BotRun(sim, modify=False) as bot:
        first = await wait_open(sim, "BUY")
        before = len(sim.order_requests())
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert [r["method"] for r in sim.order_requests()[before:]] == ["DELETE", "POST"]
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


async def test_modification_of_unknown_outcome_is_resolved_by_query_not_resent(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        sim.fail_next("PUT", "/fapi/v3/order", status=503, execute=True)  # executed, answered 503
        queries = len(sim.requests("GET", "/fapi/v3/order"))
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: len(sim.requests("GET", "/fapi/v3/order")) > queries, 5)
        await sim.wait_for(lambda: bot.state.live is not None and not bot.state.live.amend_unknown, 5)
        assert len(sim.requests("PUT", "/fapi/v3/order")) == 1 and order_posts(sim) == [order_posts(sim)[0]]
        assert bot.state.live.client_id == first["clientOrderId"]
        assert bot.state.live.quote.price == Decimal("2494.94")  # learnt from the query
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        assert_invariants(sim, bot)


async def test_order_near_the_modification_limit_is_replaced(v3sim):
    sim = v3sim
    async with BotRun(sim) as bot:
        first = await wait_open(sim, "BUY")
        bot.state.live.modifications = MAX_MODIFICATIONS - 1
        await set_mid(sim, "2510")
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2494.94"], 5)
        assert not sim.requests("PUT", "/fapi/v3/order")
        assert open_orders(sim)[0]["clientOrderId"] != first["clientOrderId"]
        assert_invariants(sim, bot)


async def test_sim_option_trades_on_v3_end_to_end(tmp_path):
    """`market_maker.py --sim` signs with throwaway V3 wallets and places an order through the simulator."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "market_maker.py"),
        "--symbol",
        SYMBOL,
        "--sim",
        "--log-file",
        str(tmp_path / "mm.log"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = []
        async with asyncio.timeout(20):
            while not any(" place BUY " in line for line in lines):
                lines.append((await proc.stdout.readline()).decode())
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0
    started = next(line for line in lines if " started ETHUSDT" in line)
    assert " on the built-in simulator (--sim: " in started and "user 0x" not in started  # no account of yours


# ============================================================================ credentials and networks
ALL_VARS = (
    "ASTER_USER",
    "ASTER_SIGNER",
    "ASTER_SIGNER_KEY",
    "ASTER_API_KEY",
    "ASTER_API_SECRET",
    "ASTER_REST_URL",
    "ASTER_WS_URL",
    "ASTER_MARKET_WS_URL",
    "ASTER_USER_WS_URL",
)
V3_ENV = {"ASTER_USER": DEMO_USER, "ASTER_SIGNER": DEMO_SIGNER, "ASTER_SIGNER_KEY": DEMO_KEY}
V1_ENV = {"ASTER_API_KEY": "key-0123456789abcdef", "ASTER_API_SECRET": "secret-0123456789abcdef"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env unless a test writes one

    def set_env(values: dict) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_v3_credentials_pick_the_network_hosts_and_chain(env):
    from aster_mm.live.credentials import read_credentials

    env(V3_ENV)
    signer, rest, ws, user_ws = read_credentials("testnet")
    assert (signer.version, signer.chain_id) == (3, 714)
    # the testnet doc: market streams on fstream5., the user stream on fstream.
    assert (rest, ws, user_ws) == (
        "https://fapi.asterdex-testnet.com",
        "wss://fstream5.asterdex-testnet.com",
        "wss://fstream.asterdex-testnet.com",
    )
    signer, rest, ws, user_ws = read_credentials("mainnet")
    assert (signer.chain_id, rest, ws, user_ws) == (
        1666,
        "https://fapi.asterdex.com",
        "wss://fstream.asterdex.com",
        "wss://fstream.asterdex.com",
    )
    env({"ASTER_REST_URL": "http://127.0.0.1:1", "ASTER_WS_URL": "ws://127.0.0.1:1"})
    assert read_credentials("testnet")[1:] == ("http://127.0.0.1:1", "ws://127.0.0.1:1", "ws://127.0.0.1:1")
    env({"ASTER_USER_WS_URL": "ws://127.0.0.1:2/"})  # one stream's own host wins over ASTER_WS_URL
    assert read_credentials("testnet")[2:] == ("ws://127.0.0.1:1", "ws://127.0.0.1:2")
    env({"ASTER_MARKET_WS_URL": "http://127.0.0.1:3"})
    with pytest.raises(ValueError, match="ASTER_MARKET_WS_URL must start with ws:// or wss://"):
        read_credentials("testnet")


def test_v3_credentials_from_dotenv_the_environment_wins(env, tmp_path):
    from aster_mm.live.credentials import read_credentials

    stranger = Account.create()
    (tmp_path / ".env").write_text(
        f"ASTER_USER={DEMO_USER}\nASTER_SIGNER={stranger.address}\nASTER_SIGNER_KEY={stranger.key.hex()}\n"
    )
    env({"ASTER_SIGNER": DEMO_SIGNER, "ASTER_SIGNER_KEY": DEMO_KEY})
    try:
        signer = read_credentials().signer
    finally:
        import os

        os.environ.pop("ASTER_USER", None)
    assert signer.signer == DEMO_SIGNER and signer.user == DEMO_USER


@pytest.mark.parametrize(
    "values, args, needles",
    [
        ({}, [], ["ASTER_USER", "ASTER_API_KEY"]),  # none
        ({"ASTER_USER": DEMO_USER, "ASTER_SIGNER": DEMO_SIGNER}, [], ["ASTER_SIGNER_KEY"]),  # partial V3
        ({"ASTER_SIGNER_KEY": DEMO_KEY}, [], ["ASTER_USER and ASTER_SIGNER"]),
        ({"ASTER_API_KEY": "key-0123456789abcdef"}, [], ["ASTER_API_SECRET"]),  # partial V1
        (V3_ENV | V1_ENV, [], ["ASTER_SIGNER_KEY", "ASTER_API_SECRET", "not both"]),  # both sets
        (V3_ENV | {"ASTER_API_SECRET": "secret-0123456789abcdef"}, [], ["not both"]),
        (V3_ENV | {"ASTER_SIGNER": "0x" + "ab" * 20}, [], ["ASTER_SIGNER", "not the address"]),  # wrong signer
        (V3_ENV | {"ASTER_SIGNER_KEY": "0x1234"}, [], ["ASTER_SIGNER_KEY"]),  # malformed key
        (V3_ENV | {"ASTER_USER": "alice"}, [], ["ASTER_USER"]),
        (V1_ENV, ["--network", "testnet"], ["testnet", "V3"]),  # testnet is V3-only
    ],
)
def test_bad_credentials_exit_2_naming_the_variable_and_never_the_key(env, capsys, tmp_path, values, args, needles):
    import market_maker as mm

    env(values)
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", SYMBOL, *args])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    for needle in needles:
        assert needle in err
    for secret in (DEMO_KEY[2:], DEMO_KEY[2:].upper(), V1_ENV["ASTER_API_SECRET"]):
        assert secret not in out + err
    assert not (tmp_path / "market_maker.log").exists()


def test_every_variable_is_documented_in_env_example_and_readme():
    from aster_mm.live.credentials import V1_VARS, V3_VARS

    example, readme = (ROOT / ".env.example").read_text(), (ROOT / "README.md").read_text()
    for name in (*V3_VARS, *V1_VARS, "ASTER_REST_URL", "ASTER_WS_URL"):
        assert f"\n{name}=\n" in example and f"`{name}`" in readme
