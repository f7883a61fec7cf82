"""Tests of the local exchange simulator, over real HTTP and WebSocket connections."""

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal as D

import aiohttp
import pytest
from helpers import DATA_DIR, Client, recv

from aster_mm.simulator import ReplayMarket, SimExchange, SymbolSpec, SyntheticMarket


def is_otu(m):
    return m.get("e") == "ORDER_TRADE_UPDATE"


ETH_BOOK = ([("2499.99", "5"), ("2499.98", "3")], [("2500.01", "4"), ("2500.02", "6")])


@pytest.fixture
async def sim(request):
    """The simulator with ETH_BOOK; parametrize it indirectly with a fill model to change that."""
    async with SimExchange(fill_model=getattr(request, "param", "queue")) as s:
        await s.set_book("ETHUSDT", *ETH_BOOK)
        yield s


@pytest.fixture
async def client(sim):
    async with aiohttp.ClientSession() as session:
        yield Client(sim, session)


# ------------------------------------------------------------------ auth
def test_docs_signature_vector():
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    sig = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    assert hmac.new(secret.encode(), total.encode(), hashlib.sha256).hexdigest() == sig
    sim = SimExchange(api_secret=secret)
    sim._check_signature(total + "&signature=" + sig, "")  # all in the query string
    sim._check_signature("", total + "&signature=" + sig)  # all in the body
    split = total.index("&quantity")  # query + body concatenated with no "&" between
    sim._check_signature(total[:split], total[split:] + "&signature=" + sig)


async def test_signature_ok_bad_and_api_key(client):
    status, body, headers = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"})
    assert (status, body) == (200, [])
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    status, body, _ = await client.call(
        "GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"}, in_body=False, secret="wrong"
    )
    assert (status, body["code"]) == (400, -1022)
    status, body, _ = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"}, key="nope")
    assert (status, body["code"]) == (401, -2015)
    status, body, _ = await client.call(
        "POST",
        "/fapi/v1/order",
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": "2490.00",
        },
        in_body=True,
    )
    assert status == 200 and body["status"] == "NEW"


async def test_timestamp_window(client, sim):
    now = int(time.time() * 1000)
    status, body, _ = await client.call("GET", "/fapi/v2/balance", timestamp=now - 6000)
    assert (status, body["code"]) == (400, -1021)
    status, body, _ = await client.call("GET", "/fapi/v2/balance", timestamp=now + 2000)
    assert body["code"] == -1021
    status, _, _ = await client.call("GET", "/fapi/v2/balance", {"recvWindow": 10000}, timestamp=now - 6000)
    assert status == 200
    sim.set_clock_offset(-3.0)  # server clock 3 s behind: our timestamps look like the future
    status, body, _ = await client.call("GET", "/fapi/v2/balance")
    assert body["code"] == -1021
    _, body, _ = await client.call("GET", "/fapi/v1/time", signed=False)
    assert abs(body["serverTime"] - (time.time() - 3) * 1000) < 500


async def test_exchange_info_shape(client):
    status, info, _ = await client.call("GET", "/fapi/v1/exchangeInfo", signed=False)
    assert status == 200 and info["rateLimits"][0]["limit"] == 2400
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert symbols["OLDUSDT"]["status"] == "SETTLING"
    filters = {f["filterType"]: f for f in symbols["ASTERUSDT"]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.0001"
    assert filters["LOT_SIZE"]["stepSize"] == "0.01" and filters["MIN_NOTIONAL"]["notional"] == "5"
    assert symbols["ETHUSDT"]["pricePrecision"] == 2 and symbols["ETHUSDT"]["quantityPrecision"] == 3


# ------------------------------------------------------------------ orders
async def test_gtx_order_and_stream_new(client, sim):
    ws = await client.user_ws()
    status, order, _ = await client.order(newClientOrderId="mm-b-1")
    assert status == 200 and order["status"] == "NEW" and order["price"] == "2490.00"
    assert order["origQty"] == "0.010" and order["clientOrderId"] == "mm-b-1" and order["timeInForce"] == "GTX"
    event = await recv(ws, is_otu)
    assert event["o"]["x"] == "NEW" and event["o"]["X"] == "NEW" and event["o"]["c"] == "mm-b-1"
    assert event["o"]["i"] == order["orderId"] and event["o"]["t"] == 0
    _, got, _ = await client.call("GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "origClientOrderId": "mm-b-1"})
    assert got["orderId"] == order["orderId"]
    assert sim.open_orders("ETHUSDT")[0]["clientOrderId"] == "mm-b-1"
    await ws.close()


async def test_crossing_gtx_expires(client, sim):
    ws = await client.user_ws()
    status, order, _ = await client.order(price="2500.01", newClientOrderId="cross")
    assert status == 200 and order["status"] == "EXPIRED"
    assert [(await recv(ws, is_otu))["o"]["X"] for _ in range(2)] == ["NEW", "EXPIRED"]
    assert sim.open_orders("ETHUSDT") == [] and sim.summary("ETHUSDT")["expired"] == 1
    await ws.close()


async def test_crossing_gtx_rejected_variant():
    async with SimExchange(gtx_reject=True) as sim, aiohttp.ClientSession() as session:
        await sim.set_book("ETHUSDT", *ETH_BOOK)
        status, body, _ = await Client(sim, session).order(side="SELL", price="2499.99")
        assert (status, body["code"]) == (400, -5022)
        assert sim.summary("ETHUSDT")["orders_sent"] == 0


@pytest.mark.parametrize("sim", ["optimistic"], indirect=True)  # first in the queue: tests/test_sim_queue.py
async def test_trade_through_partial_then_full_fill(client, sim):
    ws = await client.user_ws()
    await client.order(price="2490.00", qty="1.000", newClientOrderId="bid1")
    await recv(ws, is_otu)
    await sim.trade("ETHUSDT", "SELL", "2491", "0.4")  # prints above our bid: no fill
    await sim.trade("ETHUSDT", "BUY", "2489", "5")  # wrong side: no fill
    assert sim.position("ETHUSDT") == 0
    await sim.trade("ETHUSDT", "SELL", "2490.00", "0.4")
    otu = await recv(ws, lambda m: m.get("e") in ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"))
    acc = await recv(ws, lambda m: m.get("e") in ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"))
    assert otu["e"] == "ORDER_TRADE_UPDATE" and acc["e"] == "ACCOUNT_UPDATE"
    o = otu["o"]
    assert (o["x"], o["X"], o["l"], o["z"], o["L"], o["m"]) == (
        "TRADE",
        "PARTIALLY_FILLED",
        "0.400",
        "0.400",
        "2490.00",
        True,
    )
    assert o["n"] == "0.0996" and o["N"] == "USDT" and o["t"] > 0 and o["ap"] == "2490"
    assert acc["T"] == otu["T"] == o["T"] and acc["a"]["m"] == "ORDER"
    assert acc["a"]["P"][0] == {
        "s": "ETHUSDT",
        "pa": "0.4",
        "ep": "2490",
        "cr": "0",
        "up": acc["a"]["P"][0]["up"],
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
    }
    assert {b["a"] for b in acc["a"]["B"]} == {"USDT", "USDF"}
    await sim.trade("ETHUSDT", "SELL", "2480", "10")  # through: the rest (0.6) fills at our price
    o = (await recv(ws, is_otu))["o"]
    assert (o["X"], o["l"], o["z"]) == ("FILLED", "0.600", "1.000")
    assert sim.position("ETHUSDT") == D("1") and sim.open_orders("ETHUSDT") == []
    # close at 2510 as maker: realized 20, fees 2490*1*0.0001 + 2510*1*0.0001
    await client.order(side="SELL", price="2510.00", qty="1.000", newClientOrderId="ask1")
    await sim.trade("ETHUSDT", "BUY", "2510.00", "3")
    o = (await recv(ws, lambda m: is_otu(m) and m["o"]["x"] == "TRADE"))["o"]
    assert o["rp"] == "20" and sim.position("ETHUSDT") == 0
    summary = sim.summary("ETHUSDT")
    assert summary["realized_pnl"] == D("20") and summary["fees"] == D("0.5")
    assert summary["buy_volume"] == summary["sell_volume"] == D("1") and summary["fills"] == 3
    assert summary["max_abs_position"] == D("1")
    assert sim.balances()["USDT"] == D("10019.5")
    _, risk, _ = await client.call("GET", "/fapi/v2/positionRisk", {"symbol": "ETHUSDT"})
    assert risk[0]["positionAmt"] == "0" and risk[0]["entryPrice"] == "0"
    await ws.close()


async def test_book_move_fills_resting_order_and_entry_average(client, sim):
    await client.order(price="2490.00", qty="1.000")
    await client.order(price="2480.00", qty="1.000")
    await sim.set_book("ETHUSDT", [("2484", "1")], [("2485", "1")])  # moved through the 2490 bid only
    assert sim.position("ETHUSDT") == 1 and len(sim.open_orders("ETHUSDT")) == 1
    await sim.set_book("ETHUSDT", [("2470", "1")], [("2480", "1")])
    assert sim.position("ETHUSDT") == 2
    _, risk, _ = await client.call("GET", "/fapi/v2/positionRisk", {"symbol": "ETHUSDT"})
    assert risk[0]["entryPrice"] == "2485" and risk[0]["markPrice"] == "2475"
    assert risk[0]["unRealizedProfit"] == "-20"


async def test_gtc_crossing_is_taker_and_ioc_expires_rest(client, sim):
    _, order, _ = await client.order(price="2501.00", qty="1.000", tif="GTC")
    assert order["status"] == "FILLED" and order["avgPrice"] == "2500.01"
    assert sim.summary("ETHUSDT")["fees"] == D("2500.01") * D("0.00035")
    _, order, _ = await client.order(side="SELL", price="2499.00", qty="7.000", tif="IOC")
    assert order["status"] == "EXPIRED" and order["executedQty"] == "5.000"  # best bid level holds 5
    assert sim.position("ETHUSDT") == D("-4")


async def test_reduce_only(client, sim):
    status, body, _ = await client.order(side="SELL", reduceOnly="true")
    assert (status, body["code"]) == (400, -2022)
    sim.set_position("ETHUSDT", D("0.5"), D("2400"))
    status, body, _ = await client.order(side="BUY", reduceOnly="true")
    assert body["code"] == -2022  # same direction as the position
    _, order, _ = await client.order(side="SELL", price="2510.00", qty="2.000", reduceOnly="true")
    assert order["reduceOnly"] is True
    await sim.trade("ETHUSDT", "BUY", "2520", "10")
    assert sim.position("ETHUSDT") == 0  # capped to the position, never flips
    _, got, _ = await client.call("GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": order["orderId"]})
    assert got["executedQty"] == "0.500" and got["status"] == "EXPIRED"


@pytest.mark.parametrize(
    "override, code",
    [  # the V3 doc's codes for its filters (docs/simulator.md, "Filters")
        ({"price": "2490.005"}, -4014),
        ({"price": "0.001"}, -4013),
        ({"price": "2000000", "side": "SELL"}, -4002),
        ({"quantity": "0.0105"}, -4023),
        ({"symbol": "BNBUSDT", "quantity": "0.001"}, -4004),
        ({"quantity": "2000000"}, -4005),
        ({"price": "2626.00"}, -4016),  # BUY above markPrice (2500) * multiplierUp (1.05)
        ({"price": "2374.00", "side": "SELL"}, -4024),  # SELL below markPrice * multiplierDown (0.95)
        ({"newOrderRespType": "FULL"}, -1136),
        ({"stpMode": "NONE"}, -1130),  # the docs' enum has no NONE
        ({"quantity": "0.001", "price": "100.00"}, -4164),
        ({"type": "MARKET"}, -1116),
        ({"symbol": "XYZUSDT"}, -1121),
        ({"symbol": "OLDUSDT"}, -4140),
        ({"newClientOrderId": "bad id!"}, -1100),
        ({"quantity": "100.000"}, -2019),
        ({"leverage": None, "quantity": None}, -1102),
    ],
)
async def test_order_validation_errors(client, override, code):
    params = {
        "symbol": "ETHUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTX",
        "quantity": "0.010",
        "price": "2490.00",
    }
    params.update({k: v for k, v in override.items() if v is not None})
    for k in [k for k, v in override.items() if v is None]:
        params.pop(k, None)
    status, body, _ = await client.call("POST", "/fapi/v1/order", params)
    assert (status, body["code"]) == (400, code), body


async def test_duplicate_client_order_id_only_among_open(client, sim):
    """ "A unique id among open orders" (no code given: -4015 "Client order id is not valid.", A10)."""
    await client.order(newClientOrderId="dup")
    status, body, _ = await client.order(newClientOrderId="dup")
    assert (status, body["code"]) == (400, -4015)
    await client.call("DELETE", "/fapi/v1/order", {"symbol": "ETHUSDT", "origClientOrderId": "dup"})
    status, _, _ = await client.order(newClientOrderId="dup")
    assert status == 200


async def test_cancel_query_and_errors(client, sim):
    ws = await client.user_ws()
    _, order, _ = await client.order()
    status, body, _ = await client.call("DELETE", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": order["orderId"]})
    assert status == 200 and body["status"] == "CANCELED"
    assert [(await recv(ws, is_otu))["o"]["x"] for _ in range(2)] == ["NEW", "CANCELED"]
    status, body, _ = await client.call("DELETE", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": order["orderId"]})
    assert (status, body["code"]) == (400, -2011)
    _, body, _ = await client.call("GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": order["orderId"]})
    assert body["status"] == "CANCELED"
    _, body, _ = await client.call("GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "origClientOrderId": "nope"})
    assert body["code"] == -2013
    await client.order(newClientOrderId="a")
    await client.order(side="SELL", price="2510.00", newClientOrderId="b")
    _, body, _ = await client.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "ETHUSDT"})
    assert body == {"code": "200", "msg": "The operation of cancel all open order is done."}  # a string, as documented
    assert sim.open_orders("ETHUSDT") == [] and sim.summary("ETHUSDT")["cancelled"] == 3
    assert len(sim.order_requests()) == 6
    await ws.close()


async def test_batch_orders(client, sim):
    batch = [
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": "2490.00",
            "newClientOrderId": "b1",
        },
        {
            "symbol": "ETHUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": "2510.001",
        },
    ]
    _, body, _ = await client.call("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps(batch)})
    assert body[0]["status"] == "NEW" and body[1]["code"] == -4014
    _, body, _ = await client.call(
        "DELETE", "/fapi/v1/batchOrders", {"symbol": "ETHUSDT", "origClientOrderIdList": json.dumps(["b1", "zz"])}
    )
    assert body[0]["status"] == "CANCELED" and body[1]["code"] == -2011


async def test_peak_open_orders(client, sim):
    for i in range(3):
        await client.order(price=f"248{i}.00", newClientOrderId=f"p{i}")
    await client.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "ETHUSDT"})
    await client.order(newClientOrderId="p9")
    assert sim.peak_open_orders["ETHUSDT"] == 3 and len(sim.open_orders("ETHUSDT")) == 1


async def test_leverage_and_account(client, sim):
    ws = await client.user_ws()
    _, body, _ = await client.call("POST", "/fapi/v1/leverage", {"symbol": "ETHUSDT", "leverage": 5})
    assert body["leverage"] == 5
    assert (await recv(ws, lambda m: m.get("e") == "ACCOUNT_CONFIG_UPDATE"))["ac"] == {"s": "ETHUSDT", "l": 5}
    _, body, _ = await client.call("POST", "/fapi/v1/leverage", {"symbol": "ETHUSDT", "leverage": 200})
    assert body["code"] == -4028
    _, account, _ = await client.call("GET", "/fapi/v4/account")
    assert account["totalWalletBalance"] == "10000" and account["assets"][0]["asset"] == "USDT"
    _, balance, _ = await client.call("GET", "/fapi/v2/balance")
    assert [b["asset"] for b in balance] == ["USDT", "USDF"] and balance[0]["availableBalance"] == "10000"
    await ws.close()


async def test_journal_and_wait_for(client, sim):
    _, order, _ = await client.order(newClientOrderId="j1")
    request = sim.requests("POST", "/fapi/v1/order")[-1]
    assert request["status"] == 200 and request["params"]["newClientOrderId"] == "j1"
    assert request["params"]["quantity"] == "0.010" and request["response"]["orderId"] == order["orderId"]
    assert isinstance(request["t"], float)
    events = [e["payload"]["e"] for e in sim.journal if e["kind"] == "event" and e["stream"] == "user"]
    assert events == ["ORDER_TRADE_UPDATE"]
    waiter = asyncio.create_task(sim.wait_for(lambda: sim.position("ETHUSDT") != 0, timeout=2))
    await asyncio.sleep(0)
    await sim.fill_order("ETHUSDT", "j1", qty="0.004")
    assert await asyncio.wait_for(waiter, 1) and sim.open_orders("ETHUSDT")[0]["executedQty"] == "0.004"
    with pytest.raises(TimeoutError):
        await sim.wait_for(lambda: False, timeout=0.05)


# ------------------------------------------------------------------ faults
async def test_fail_next_without_execution(client, sim):
    sim.fail_next("POST", "/fapi/v1/order", status=503)
    status, body, _ = await client.order(newClientOrderId="f1")
    assert (status, body["code"]) == (503, -1006)
    assert sim.open_orders("ETHUSDT") == []
    assert sim.requests("POST", "/fapi/v1/order")[-1]["status"] == 503
    status, _, _ = await client.order(newClientOrderId="f1")
    assert status == 200


async def test_fail_next_with_execution_and_retry_after(client, sim):
    sim.fail_next("POST", "/fapi/v1/order", status=503, execute=True)
    status, _, _ = await client.order(newClientOrderId="unknown1")
    assert status == 503 and [o["clientOrderId"] for o in sim.open_orders("ETHUSDT")] == ["unknown1"]
    sim.fail_next("GET", "/fapi/v1/openOrders", count=2, status=429, retry_after=7)
    for _ in range(2):
        status, body, headers = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"})
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "7")
    status, _, _ = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"})
    assert status == 200


async def test_fail_next_delay_hangs_but_executes(client, sim):
    sim.fail_next("DELETE", "/fapi/v1/order", execute=True, delay=30)
    await client.order(newClientOrderId="h1")
    with pytest.raises(asyncio.TimeoutError):
        await client.call("DELETE", "/fapi/v1/order", {"symbol": "ETHUSDT", "origClientOrderId": "h1"}, timeout=0.3)
    assert sim.open_orders("ETHUSDT") == []  # the cancel did happen; only the answer is missing


async def test_restart(client, sim):
    await client.order(newClientOrderId="keep")
    ws = await client.user_ws()
    await sim.restart(down_seconds=0.3)
    assert (await asyncio.wait_for(ws.receive(), 2)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    status, body, _ = await client.call("GET", "/fapi/v1/time", signed=False)
    assert (status, body["code"]) == (503, -1001)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth5")
    await asyncio.sleep(0.35)  # time-based behaviour: the downtime ends
    status, _, _ = await client.call("GET", "/fapi/v1/time", signed=False)
    assert status == 200 and sim.open_orders("ETHUSDT")[0]["clientOrderId"] == "keep"


async def test_countdown_cancel_all(client, sim):
    await client.order(newClientOrderId="c1")
    _, body, _ = await client.call("POST", "/fapi/v1/countdownCancelAll", {"symbol": "ETHUSDT", "countdownTime": 200})
    assert body == {"symbol": "ETHUSDT", "countdownTime": "200"}
    await asyncio.sleep(0.1)  # renewal before expiry keeps the orders
    await client.call("POST", "/fapi/v1/countdownCancelAll", {"symbol": "ETHUSDT", "countdownTime": 200})
    await asyncio.sleep(0.15)
    assert len(sim.open_orders("ETHUSDT")) == 1
    await sim.wait_for(lambda: not sim.open_orders("ETHUSDT"), timeout=1.0)
    await client.order(newClientOrderId="c2")
    await client.call("POST", "/fapi/v1/countdownCancelAll", {"symbol": "ETHUSDT", "countdownTime": 100})
    await client.call("POST", "/fapi/v1/countdownCancelAll", {"symbol": "ETHUSDT", "countdownTime": 0})
    await asyncio.sleep(0.2)
    assert len(sim.open_orders("ETHUSDT")) == 1


# ------------------------------------------------------------------ streams
async def test_listen_key_expiry(client, sim):
    ws = await client.user_ws()
    _, first, _ = await client.call("POST", "/fapi/v1/listenKey", signed=False)
    status, _, _ = await client.call("PUT", "/fapi/v1/listenKey", signed=False)
    assert status == 200
    await sim.expire_listen_key()
    event = await recv(ws)
    assert event == {"e": "listenKeyExpired", "E": event["E"]}  # the doc's event: no listenKey in it
    assert (await recv(ws)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    status, body, _ = await client.call("PUT", "/fapi/v1/listenKey", signed=False)
    assert (status, body["code"]) == (400, -1125)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.session.ws_connect(f"{sim.ws_url}/ws/{first['listenKey']}")
    _, second, _ = await client.call("POST", "/fapi/v1/listenKey", signed=False)
    assert second["listenKey"] != first["listenKey"] and len(second["listenKey"]) == 64


async def test_depth_stream_snapshot_and_updates(client, sim):
    ws = await client.session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth5@100ms")
    frame = await recv(ws)
    assert frame["e"] == "depthUpdate" and frame["s"] == "ETHUSDT"
    assert frame["b"] == [["2499.99", "5.000"], ["2499.98", "3.000"]] and frame["a"][0] == ["2500.01", "4.000"]
    await sim.set_book("ETHUSDT", [("2500.00", "1")], [("2500.02", "2")])
    nxt = await recv(ws)
    assert nxt["pu"] == frame["u"] and nxt["u"] > frame["u"] and nxt["b"] == [["2500.00", "1.000"]]
    await ws.close()


async def test_combined_stream_framing(client, sim):
    await sim.set_book("BNBUSDT", [("1019.80", "2.82")], [("1019.90", "1")])
    url = f"{sim.ws_url}/stream?streams=ethusdt@depth5@100ms/bnbusdt@depth20/ethusdt@depth10@500ms"
    ws = await client.session.ws_connect(url)
    frames = [await recv(ws) for _ in range(3)]  # one snapshot per stream on connect
    assert {f["stream"] for f in frames} == {"ethusdt@depth5@100ms", "bnbusdt@depth20", "ethusdt@depth10@500ms"}
    eth = next(f["data"] for f in frames if f["stream"] == "ethusdt@depth10@500ms")
    assert eth["e"] == "depthUpdate" and (eth["b"][0][0], eth["a"][0][0]) == ("2499.99", "2500.01")
    await sim.set_book("BNBUSDT", [("1019.70", "1")], [("1019.80", "1")])
    frame = await recv(ws)
    assert frame["stream"] == "bnbusdt@depth20" and frame["data"]["a"] == [["1019.80", "1.00"]]
    await ws.close()


async def test_drop_refuse_and_freeze_streams(client, sim):
    market = await client.session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth5")
    await recv(market)
    user = await client.user_ws()
    await sim.wait_for(lambda: sim.market_stream_connections == 1)
    sim.freeze_streams("market")
    await sim.set_book("ETHUSDT", [("2400.00", "1")], [("2400.01", "1")])
    await client.order(price="2390.00", qty="0.010")
    assert (await recv(user, is_otu))["o"]["X"] == "NEW"  # user stream still live
    with pytest.raises(asyncio.TimeoutError):
        await recv(market, timeout=0.1)
    sim.freeze_streams("market", frozen=False)
    await sim.set_book("ETHUSDT", [("2401.00", "1")], [("2401.01", "1")])
    assert (await recv(market))["b"][0][0] == "2401.00"  # frozen frames were dropped, not buffered

    sim.refuse_streams("market")
    await sim.drop_streams("market")
    assert (await recv(market)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await sim.wait_for(lambda: sim.market_stream_connections == 0)
    assert sim.user_stream_connections == 1
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth5")
    assert err.value.status == 503
    sim.refuse_streams("market", refuse=False)
    again = await client.session.ws_connect(f"{sim.ws_url}/ws/ethusdt@depth5")
    assert (await recv(again))["s"] == "ETHUSDT"
    await sim.drop_streams("all")
    await sim.wait_for(lambda: sim.user_stream_connections == sim.market_stream_connections == 0)
    for ws in (market, user, again):
        await ws.close()


async def test_send_raw_and_idempotent_stop():
    async with SimExchange() as sim, aiohttp.ClientSession() as session:
        client = Client(sim, session)
        user = await client.user_ws()
        await sim.send_raw("user", "not json")
        msg = await asyncio.wait_for(user.receive(), 2)
        assert msg.data == "not json"
        await user.close()
        await sim.stop()
    await sim.stop()  # second stop (and the context exit) are no-ops


# ------------------------------------------------------------------ markets
def test_synthetic_market_is_deterministic():
    a = list(SyntheticMarket(seed=7).steps(50))
    b = list(SyntheticMarket(seed=7).steps(50))
    c = list(SyntheticMarket(seed=8).steps(50))
    assert a == b and a != c
    bids, asks, _ = a[0]
    assert len(bids) == len(asks) == 5 and asks[0][0] - bids[0][0] == D("0.01")
    assert all(p % D("0.01") == 0 for p, _ in bids + asks)


async def test_synthetic_quotes_fill_both_sides():
    """Calibration: quotes re-centred 0.6% from mid each second get hit on both sides within ~30 s."""
    async with SimExchange(symbols={"ETHUSDT": SymbolSpec("ETHUSDT")}) as sim:
        market = SyntheticMarket(seed=1)
        first_fill = {}
        for n, (bids, asks, trades) in enumerate(market.steps(300)):  # 30 s of simulated time
            if n % 10 == 0:
                await sim._cancel_all("ETHUSDT")
                mid = (bids[0][0] + asks[0][0]) / 2
                await sim.place_order_direct("ETHUSDT", "BUY", (mid * D("0.994")).quantize(D("0.01")), "0.01")
                await sim.place_order_direct("ETHUSDT", "SELL", (mid * D("1.006")).quantize(D("0.01")), "0.01")
            await sim.set_book("ETHUSDT", bids, asks)
            for trade in trades:
                await sim.trade("ETHUSDT", *trade)
            for side, volume in (("BUY", "buy_volume"), ("SELL", "sell_volume")):
                if sim.summary("ETHUSDT")[volume] and side not in first_fill:
                    first_fill[side] = n / 10
        assert set(first_fill) == {"BUY", "SELL"}, first_fill


async def test_synthetic_market_run_drives_sim():
    async with SimExchange() as sim:
        await SyntheticMarket(seed=3, speed=0).run(sim, duration=2.0)
        assert len(sim.book("ETHUSDT")[0]) == 5
        assert sum(1 for e in sim.journal if e["payload"].get("e") == "depthUpdate") == 20


@pytest.mark.skipif(not (DATA_DIR / "orderbook_BNBUSDT.csv").exists(), reason=f"recorded data not found in {DATA_DIR}")
async def test_replay_market():
    async with SimExchange() as sim:
        market = ReplayMarket(DATA_DIR, symbol="BNBUSDT", speed=0)
        await sim.place_order_direct("BNBUSDT", "BUY", "1000.00", "0.01", client_order_id="deep")
        count = await market.run(sim)
        assert count == 1315 + 647  # book rows, and the trades from the first book row on (100 are earlier)
        bids, asks = sim.book("BNBUSDT")
        assert len(bids) == len(asks) == 5 and bids[0][0] < asks[0][0]
        assert D("1000") < bids[0][0] < D("1050")
        trades = [e for e in sim.journal if e["payload"].get("e") == "aggTrade"]
        assert len(trades) == 647


async def test_journal_limit_keeps_the_newest_entries():
    async with SimExchange(journal_limit=10) as sim:
        for i in range(50):
            await sim.set_book("ETHUSDT", bids=[(D(2500 - i), D(1))], asks=[(D(2501), D(1))])
        assert 10 <= len(sim.journal) <= 20
        assert sim.journal[-1]["payload"]["b"][0][0] == "2451.00"
