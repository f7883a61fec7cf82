"""The simulator's V3 authentication (aster_mm/simulator/auth.py) over real HTTP: a good agent signature accepted,
a wrong signature, signer or chain refused, and its nonces: the window, replays, kept per signer, the last 100,
and the mirrored docs' variant."""

from __future__ import annotations

import aiohttp
import pytest
from eth_account import Account
from helpers import SYMBOL, agent, send

from aster_mm.simulator import Readings, SimExchange


# ============================================================================ the simulator's V3 checks
@pytest.fixture
async def exchange():
    async with SimExchange() as sim, aiohttp.ClientSession() as session:
        sim.session = session
        yield sim


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
