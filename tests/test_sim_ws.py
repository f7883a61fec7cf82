"""The simulator's WebSocket side as the docs describe it: raw, combined and bare connections, live
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY with their replies and error
messages, the connection limits, and the depth, diff-depth and book-ticker streams."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp
import pytest
from helpers import SYMBOL
from simclient import WireClient

from aster_mm.simulator import SimExchange, WsLimits

BOOK = ([("2499.99", "5"), ("2499.98", "3")], [("2500.01", "4"), ("2500.02", "6")])


@pytest.fixture
async def sim():
    async with SimExchange(rate_limits=None) as s:
        await s.set_book(SYMBOL, *BOOK)
        yield s


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def next_json(ws, timeout: float = 2.0) -> dict:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.json()


async def test_bare_stream_subscribe_list_unsubscribe(sim, session):
    """V3 doc, "Live Subscribing/Unsubscribing to streams": replies {"result": ..., "id": n}; a missing id
    (ccxt sends none) is answered with "id": null (A35). /stream is combined: frames come wrapped."""
    async with session.ws_connect(f"{sim.ws_url}/stream") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth5", "ethusdt@aggTrade"], "id": 1})
        assert await next_json(ws) == {"result": None, "id": 1}
        snapshot = await next_json(ws)
        assert snapshot["stream"] == "ethusdt@depth5" and snapshot["data"]["b"][0] == ["2499.99", "5.000"]
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS"})
        assert await next_json(ws) == {"result": ["ethusdt@depth5", "ethusdt@aggTrade"], "id": None}
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["ethusdt@depth5"], "id": 312})
        assert await next_json(ws) == {"result": None, "id": 312}
        await sim.set_book(SYMBOL, [("2499.95", "1")], BOOK[1])  # no depth frame any more
        await sim.trade(SYMBOL, "BUY", "2500.01", "1")
        trade = await next_json(ws)
        assert trade["stream"] == "ethusdt@aggTrade" and trade["data"]["p"] == "2500.01"


async def test_properties_and_error_messages(sim, session):
    async with session.ws_connect(f"{sim.ws_url}/ws") as ws:  # raw: combined is false
        await ws.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 2})
        assert await next_json(ws) == {"result": False, "id": 2}
        await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        assert await next_json(ws) == {"result": None, "id": 5}
        await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 6})
        assert (await next_json(ws))["code"] == 1  # "Invalid value type: expected Boolean"
        await ws.send_json({"method": "GET_PROPERTY", "params": ["other"], "id": 7})
        assert (await next_json(ws))["msg"] == "Unknown property"
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth5"], "id": -1})
        assert (await next_json(ws))["msg"] == "Invalid request: request ID must be an unsigned integer"
        await ws.send_json({"method": "SUBSRIBE", "params": [], "id": 8})
        assert (await next_json(ws))["msg"].startswith("Invalid request: unknown variant `SUBSRIBE`")
        await ws.send_json({"params": [], "id": 9})
        assert (await next_json(ws))["msg"].startswith("Invalid request: missing field `method`")
        await ws.send_str("{not json")
        assert (await next_json(ws))["code"] == 3
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m", "btcusdt@depth5"], "id": 10})
        reply = await next_json(ws)
        assert reply["code"] == 2 and "not simulated" in reply["msg"] and reply["id"] == 10  # A36
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth5"], "id": 11})
        assert await next_json(ws) == {"result": None, "id": 11}
        assert (await next_json(ws))["stream"] == "ethusdt@depth5"  # combined switched on above


async def test_unknown_stream_in_the_url_is_a_json_400(sim, session):
    for url in (f"{sim.ws_url}/ws/ethusdt@kline_1m", f"{sim.ws_url}/stream?streams=ethusdt@depth5/nope"):
        async with session.get(url.replace("ws://", "http://")) as resp:
            body = await resp.json()
            assert resp.status == 400 and "not" in body["msg"]


async def test_stream_limit_per_connection(session):
    async with SimExchange(rate_limits=None, ws_limits=WsLimits(max_streams=2)) as sim:
        async with session.ws_connect(f"{sim.ws_url}/stream") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade", "bnbusdt@aggTrade"], "id": 1})
            assert await next_json(ws) == {"result": None, "id": 1}
            await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@markPrice"], "id": 2})
            reply = await next_json(ws)
            assert reply["code"] == 2 and reply["id"] == 2  # A37: refused, nothing added
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
            assert (await next_json(ws))["result"] == ["ethusdt@aggTrade", "bnbusdt@aggTrade"]
        three = "/".join(f"{s}@aggTrade" for s in ("ethusdt", "bnbusdt", "asterusdt"))
        async with session.get(f"{sim.rest_url}/stream?streams={three}") as resp:
            assert resp.status == 400


async def test_too_many_messages_per_second_disconnects(session):
    async with SimExchange(rate_limits=None, ws_limits=WsLimits(messages_per_second=3)) as sim:
        async with session.ws_connect(f"{sim.ws_url}/stream") as ws:
            for n in range(3):
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": n})
                assert (await next_json(ws))["id"] == n
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 4})
            msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_connection_age_limit_applies_to_every_stream(session):
    """ "A single connection is only valid for 24 hours": configurable, here a fraction of a second."""
    async with SimExchange(rate_limits=None, ws_limits=WsLimits(max_age_s=0.3)) as sim:
        async with aiohttp.ClientSession() as http:
            _, key, _ = await WireClient(sim, http).v3("POST", "/fapi/v3/listenKey")
        for url in (f"{sim.ws_url}/ws/ethusdt@aggTrade", f"{sim.ws_url}/ws/{key['listenKey']}"):
            async with session.ws_connect(url) as ws:
                msg = await asyncio.wait_for(ws.receive(), 3)
                assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == aiohttp.WSCloseCode.GOING_AWAY


async def test_server_pings_and_drops_a_silent_peer(session):
    """ "The websocket server will send a ping frame every 5 minutes. If the websocket server does not
    receive a pong frame back ... within a 15 minute period, the connection will be disconnected.\""""
    limits = WsLimits(ping_every_s=0.05, pong_timeout_s=0.3)
    async with SimExchange(rate_limits=None, ws_limits=limits) as sim:
        async with session.ws_connect(f"{sim.ws_url}/ws", autoping=False) as silent:
            msg = await asyncio.wait_for(silent.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.PING  # not answered
            while msg.type == aiohttp.WSMsgType.PING:
                msg = await asyncio.wait_for(silent.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.CLOSE
        async with session.ws_connect(f"{sim.ws_url}/ws") as polite:  # aiohttp answers pings while it reads
            for n in range(5):  # 0.75 s: more than the pong timeout
                await asyncio.sleep(0.15)
                await polite.send_json({"method": "LIST_SUBSCRIPTIONS", "id": n})
                assert await next_json(polite) == {"result": [], "id": n}


async def test_diff_depth_follows_the_local_order_book_recipe(sim, session):
    """Diff. Book Depth: the first event (on subscribing) carries the whole book with u = the REST
    snapshot's lastUpdateId; each next event's pu is the previous u; a removed level has quantity 0."""
    async with session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth") as ws:
        first = await next_json(ws)
        async with session.get(f"{sim.rest_url}/fapi/v3/depth?symbol=ETHUSDT&limit=1000") as resp:
            snapshot = await resp.json()
        assert first["U"] <= snapshot["lastUpdateId"] <= first["u"]
        await sim.set_book(SYMBOL, [("2499.99", "7")], BOOK[1])
        event = await next_json(ws)
        assert event["pu"] == first["u"] and event["U"] == event["u"] == first["u"] + 1
        assert event["b"] == [["2499.99", "7.000"], ["2499.98", "0.000"]] and event["a"] == []
        book = {p: q for p, q in snapshot["bids"]} | {p: q for p, q in event["b"]}
        assert {p: q for p, q in book.items() if D(q)} == {"2499.99": "7.000"}
        await sim.set_book(SYMBOL, [("2499.99", "7")], BOOK[1])  # nothing changed: no event
        await sim.set_book(SYMBOL, [("2499.99", "8")], BOOK[1])
        last = await next_json(ws)
        assert last["pu"] == event["u"] and last["u"] == event["u"] + 2 and last["b"] == [["2499.99", "8.000"]]


async def test_book_ticker_pushes_changes_of_the_best_levels(sim, session):
    async with session.ws_connect(f"{sim.ws_url}/stream?streams=ethusdt@bookTicker") as ws:
        first = (await next_json(ws))["data"]
        assert (first["e"], first["b"], first["B"], first["a"], first["A"]) == (
            "bookTicker",
            "2499.99",
            "5.000",
            "2500.01",
            "4.000",
        )
        await sim.set_book(SYMBOL, [("2499.99", "5"), ("2499.90", "1")], BOOK[1])  # best unchanged: nothing
        await sim.set_book(SYMBOL, BOOK[0], [("2500.00", "2")])
        second = (await next_json(ws))["data"]
        assert (second["a"], second["A"], second["u"]) == ("2500.00", "2.000", first["u"] + 2)
