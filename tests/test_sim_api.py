"""The simulator's REST API as the official docs describe it: answers, weights, parameters and errors of the
market data, order and account endpoints (V3 paths and their V1 twins). Real HTTP on 127.0.0.1."""

from __future__ import annotations

from decimal import Decimal as D

import aiohttp
import pytest
from helpers import SYMBOL, agent, send, set_mid
from simclient import WireClient

from aster_mm.simulator import Readings, SimExchange

BOOK = ([("2499.99", "5"), ("2499.98", "3")], [("2500.01", "4"), ("2500.02", "6")])


@pytest.fixture
async def sim():
    async with SimExchange(rate_limits=None) as s:
        await s.set_book(SYMBOL, *BOOK)
        yield s


@pytest.fixture
async def client(sim):
    async with aiohttp.ClientSession() as session:
        yield WireClient(sim, session)


async def weight_of(client: WireClient, method: str, path: str, params: dict | None = None) -> int:
    """The X-MBX-USED-WEIGHT-1M this one public request adds."""
    _, _, before = await client.public("GET", "/fapi/v3/ping")
    _, _, after = await client.public(method, path, params)
    return int(after["X-MBX-USED-WEIGHT-1M"]) - int(before["X-MBX-USED-WEIGHT-1M"])


# ------------------------------------------------------------------ orders
async def test_new_order_answers_ack_by_default(client, sim):
    """New Order: "newOrderRespType | ENUM | NO | "ACK", "RESULT", default "ACK"": the answer is the order as
    accepted (A8); a post-only order that would cross is seen EXPIRED only afterwards."""
    params = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.01"}
    status, body, _ = await client.v3("POST", "/fapi/v3/order", params | {"price": "2500.01", "newClientOrderId": "x"})
    assert (status, body["status"], body["executedQty"]) == (200, "NEW", "0.000")
    await sim.wait_for(lambda: sim.order(SYMBOL, "x")["status"] == "EXPIRED", 2)
    status, body, _ = await client.order("2500.01", tif="GTX", newClientOrderId="y")  # RESULT
    assert (status, body["status"]) == (200, "EXPIRED")


async def test_hidden_time_in_force_is_accepted(client):
    status, body, _ = await client.order("2400", tif="HIDDEN")
    assert (status, body["timeInForce"], body["status"]) == (200, "HIDDEN", "NEW")


async def test_max_num_orders(client, sim):
    sim.set_symbol(SYMBOL, max_num_orders=2)
    for price in ("2400", "2401"):
        assert (await client.order(price))[0] == 200
    status, body, _ = await client.order("2402")
    assert (status, body["code"]) == (400, -2025)


async def test_batch_orders_take_the_docs_demo_encoding_and_answer_each_item(client, sim):
    """The doc's demo sends batchOrders single-quoted ("[{'symbol':'ASTERUSDT',...}]"); max 5 orders."""
    item = "{'symbol':'ETHUSDT','side':'BUY','type':'LIMIT','timeInForce':'GTC','quantity':'0.01','price':'%s'}"
    batch = f"[{item % '2400'},{item % '2400.005'}]"
    status, body, headers = await client.v3("POST", "/fapi/v3/batchOrders", {"batchOrders": batch})
    assert status == 200 and body[0]["status"] == "NEW" and body[1]["code"] == -4014
    assert headers["X-MBX-ORDER-COUNT-1M"] == "2"
    six = "[" + ",".join([item % "2400"] * 6) + "]"
    status, body, _ = await client.v3("POST", "/fapi/v3/batchOrders", {"batchOrders": six})
    assert (status, body["code"]) == (400, -4082)
    ids = "[" + ",".join(str(n) for n in range(11)) + "]"
    status, body, _ = await client.v3("DELETE", "/fapi/v3/batchOrders", {"symbol": SYMBOL, "orderIdList": ids})
    assert (status, body["code"]) == (400, -4032)  # "max length 10"


async def test_open_order_all_orders_and_the_seven_day_rule(client, sim):
    await client.order("2400", newClientOrderId="open")
    await client.order("2401", newClientOrderId="gone")
    await client.v3("DELETE", "/fapi/v3/order", {"symbol": SYMBOL, "origClientOrderId": "gone"})
    _, body, _ = await client.v3("GET", "/fapi/v3/openOrder", {"symbol": SYMBOL, "origClientOrderId": "open"})
    assert body["clientOrderId"] == "open"
    status, body, _ = await client.v3("GET", "/fapi/v3/openOrder", {"symbol": SYMBOL, "origClientOrderId": "gone"})
    assert (status, body["code"]) == (400, -2013)  # "Order does not exist."
    _, body, _ = await client.v3("GET", "/fapi/v3/allOrders", {"symbol": SYMBOL})
    assert [(o["clientOrderId"], o["status"]) for o in body] == [("open", "NEW"), ("gone", "CANCELED")]
    first = body[0]["orderId"]
    _, body, _ = await client.v3("GET", "/fapi/v3/allOrders", {"symbol": SYMBOL, "orderId": first + 1})
    assert [o["clientOrderId"] for o in body] == ["gone"]  # "orders >= that orderId"
    sim.set_clock_offset(8 * 86400)  # "CANCELED or EXPIRED, AND NO filled trade, AND created time + 7 days < now"
    _, body, _ = await client.v3("GET", "/fapi/v3/allOrders", {"symbol": SYMBOL, "orderId": first})
    assert [o["clientOrderId"] for o in body] == ["open"]
    status, body, _ = await client.v3("GET", "/fapi/v3/order", {"symbol": SYMBOL, "origClientOrderId": "gone"})
    assert body["code"] == -2013


async def test_v1_twins_answer_the_same(client):
    status, body, _ = await client.v1("GET", "/fapi/v1/commissionRate", {"symbol": SYMBOL})
    assert (status, body) == (
        200,
        {"symbol": SYMBOL, "makerCommissionRate": "0.0001", "takerCommissionRate": "0.00035"},
    )
    status, body, _ = await client.v1("GET", "/fapi/v1/allOrders", {"symbol": SYMBOL})
    assert (status, body) == (200, [])
    status, body, _ = await client.v1("GET", "/fapi/v1/leverageBracket", {"symbol": SYMBOL})
    assert body["symbol"] == SYMBOL and body["brackets"][0]["initialLeverage"] == 125


# ------------------------------------------------------------------ account
async def test_commission_rate_and_leverage_brackets(client, sim):
    sim.set_commission("-0.000015", "0.00027")  # market maker tier MM1
    _, body, _ = await client.v3("GET", "/fapi/v3/commissionRate", {"symbol": SYMBOL})
    assert body == {"symbol": SYMBOL, "makerCommissionRate": "-0.000015", "takerCommissionRate": "0.00027"}
    _, one, _ = await client.v3("GET", "/fapi/v3/leverageBracket", {"symbol": SYMBOL})
    _, every, _ = await client.v3("GET", "/fapi/v3/leverageBracket")
    assert one["symbol"] == SYMBOL and {b["symbol"] for b in every} == set(sim.symbols)
    assert set(one["brackets"][0]) == {
        "bracket",
        "initialLeverage",
        "notionalCap",
        "notionalFloor",
        "maintMarginRatio",
        "cum",
    }


async def test_position_risk_has_the_docs_fields_only(client):
    _, body, _ = await client.v3("GET", "/fapi/v3/positionRisk", {"symbol": SYMBOL})
    assert set(body[0]) == {
        "entryPrice", "marginType", "isAutoAddMargin", "isolatedMargin", "leverage", "liquidationPrice",
        "markPrice", "maxNotionalValue", "positionAmt", "symbol", "unRealizedProfit", "positionSide", "updateTime",
    }  # fmt: skip


async def test_margin_type_change_refused_with_open_orders(client):
    await client.order("2400")
    status, body, _ = await client.v3("POST", "/fapi/v3/marginType", {"symbol": SYMBOL, "marginType": "ISOLATED"})
    assert (status, body["code"]) == (400, -4047)


# ------------------------------------------------------------------ market data
async def test_exchange_info_has_the_docs_shape(client):
    _, info, _ = await client.public("GET", "/fapi/v3/exchangeInfo")
    eth = next(s for s in info["symbols"] if s["symbol"] == SYMBOL)
    assert "OrderType" in eth and "orderTypes" not in eth and "HIDDEN" in eth["timeInForce"]
    filters = {f["filterType"]: f for f in eth["filters"]}
    assert filters["PERCENT_PRICE"]["multiplierDecimal"] == 4 and "MAX_NUM_ALGO_ORDERS" in filters
    assert info["assets"][0]["autoAssetExchange"] == 0


async def test_spot_exchange_info_for_clients_that_read_it_first(client):
    status, body, _ = await client.public("GET", "/api/v3/exchangeInfo")
    assert status == 200 and body["symbols"] == [] and {a["asset"] for a in body["assets"]} >= {"USDT"}
    assert body["timezone"] == "UTC" and body["rateLimits"]


async def test_depth_limits_and_weights(client):
    """Order Book: "Default 500; Valid limits:[5, 10, 20, 50, 100, 500, 1000]"; weight 2/5/10/20 by limit."""
    status, body, _ = await client.public("GET", "/fapi/v3/depth", {"symbol": SYMBOL, "limit": 7})
    assert (status, body["code"]) == (400, -4021)
    assert await weight_of(client, "GET", "/fapi/v3/depth", {"symbol": SYMBOL}) == 10  # default 500
    assert await weight_of(client, "GET", "/fapi/v3/depth", {"symbol": SYMBOL, "limit": 1000}) == 20
    assert await weight_of(client, "GET", "/fapi/v3/depth", {"symbol": SYMBOL, "limit": 5}) == 2


@pytest.mark.parametrize(
    "path, params, weight",
    [
        ("/fapi/v3/ticker/24hr", {}, 40),
        ("/fapi/v3/ticker/24hr", {"symbol": SYMBOL}, 1),
        ("/fapi/v3/ticker/price", {}, 2),
        ("/fapi/v3/ticker/bookTicker", {}, 2),
        ("/fapi/v3/aggTrades", {"symbol": SYMBOL}, 20),
        ("/fapi/v3/klines", {"symbol": SYMBOL, "interval": "1m", "limit": 1500}, 10),
        ("/fapi/v3/klines", {"symbol": SYMBOL, "interval": "1m", "limit": 99}, 1),
        ("/fapi/v3/historicalTrades", {"symbol": SYMBOL}, 20),
    ],
)
async def test_documented_weights(client, path, params, weight):
    assert await weight_of(client, "GET", path, params) == weight


async def test_trades_klines_and_tickers_from_the_tape(client, sim):
    await sim.trade(SYMBOL, "BUY", "2500.01", "1")
    await sim.trade(SYMBOL, "SELL", "2499.99", "2")
    _, trades, _ = await client.public("GET", "/fapi/v3/trades", {"symbol": SYMBOL})
    assert [(t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
        ("2500.01", "1", False),
        ("2499.99", "2", True),
    ]
    _, agg, _ = await client.public("GET", "/fapi/v3/aggTrades", {"symbol": SYMBOL, "fromId": trades[1]["id"]})
    assert [(a["p"], a["q"], a["m"], a["f"] == a["l"] == a["a"]) for a in agg] == [("2499.99", "2", True, True)]
    _, klines, _ = await client.public("GET", "/fapi/v3/klines", {"symbol": SYMBOL, "interval": "1h"})
    [k] = klines
    assert k[1:6] == ["2500.01", "2500.01", "2499.99", "2499.99", "3"] and k[8] == 2 and k[9] == "1"
    assert k[6] - k[0] == 3_600_000 - 1
    _, ticker, _ = await client.public("GET", "/fapi/v3/ticker/24hr", {"symbol": SYMBOL})
    assert (ticker["lastPrice"], ticker["openPrice"], ticker["volume"], ticker["count"]) == (
        "2499.99",
        "2500.01",
        "3",
        2,
    )
    _, price, _ = await client.public("GET", "/fapi/v3/ticker/price", {"symbol": SYMBOL})
    assert price["price"] == "2499.99"
    _, book, _ = await client.public("GET", "/fapi/v3/ticker/bookTicker", {"symbol": SYMBOL})
    assert (book["bidPrice"], book["bidQty"], book["askPrice"], book["askQty"]) == (
        "2499.99",
        "5.000",
        "2500.01",
        "4.000",
    )
    _, every, _ = await client.public("GET", "/fapi/v3/ticker/price")
    assert isinstance(every, list) and {p["symbol"] for p in every} == set(sim.symbols)
    status, body, _ = await client.public("GET", "/fapi/v3/klines", {"symbol": SYMBOL, "interval": "2m"})
    assert (status, body["code"]) == (400, -1120)


async def test_premium_index_and_funding_rate_history(client, sim):
    sim.set_position(SYMBOL, "1", "2500")
    await sim.pay_funding(SYMBOL, "0.0001")
    _, mark, _ = await client.public("GET", "/fapi/v3/premiumIndex", {"symbol": SYMBOL})
    assert (mark["markPrice"], mark["lastFundingRate"]) == ("2500.00", "0.0001")
    assert mark["nextFundingTime"] % 28_800_000 == 0 and mark["nextFundingTime"] > sim.now_ms()
    _, history, _ = await client.public("GET", "/fapi/v3/fundingRate", {"symbol": SYMBOL})
    assert [(r["symbol"], r["fundingRate"]) for r in history] == [(SYMBOL, "0.0001")]
    sim.set_funding_rate(SYMBOL, "-0.0002")
    _, every, _ = await client.public("GET", "/fapi/v3/premiumIndex")
    assert next(r for r in every if r["symbol"] == SYMBOL)["lastFundingRate"] == "-0.0002"


# ------------------------------------------------------------------ what is not simulated
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/fapi/v3/fundingInfo"),  # documented, not simulated
        ("PUT", "/fapi/v3/batchOrders"),  # batch modify: PR #163, not in the mirrored docs
        ("GET", "/api/v3/depth"),  # spot
        ("GET", "/nothing/here"),
    ],
)
async def test_what_is_not_simulated_says_so_in_json(client, method, path):
    status, body, _ = await client.raw(method, path)
    assert status == 404 and body["code"] == -1020 and "not simulated" in body["msg"] and path in body["msg"]


# ------------------------------------------------------------------ Modify Order readings
async def modify(client: WireClient, cid: str, qty: str, price: str):
    params = {"symbol": SYMBOL, "origClientOrderId": cid, "quantity": qty, "price": price}
    return await client.v3("PUT", "/fapi/v3/order", params)


@pytest.mark.parametrize("event", ["NEW", "AMENDMENT", "none"])
async def test_modify_reports_itself_as_selected(event):
    """The doc's execution types are NEW, CANCELED, CALCULATED, EXPIRED, TRADE: a modification is reported
    as NEW by default (A20); Binance's AMENDMENT, or nothing, can be selected."""
    async with SimExchange(readings=Readings(modify_event=event)) as sim, aiohttp.ClientSession() as session:
        await sim.set_book(SYMBOL, *BOOK)
        client = WireClient(sim, session)
        await client.order("2400", newClientOrderId="m")
        before = len(sim.journal)
        status, body, _ = await modify(client, "m", "0.02", "2401")
        assert (status, body["price"], body["origQty"]) == (200, "2401.00", "0.020")
        events = [e["payload"] for e in sim.journal[before:] if e["kind"] == "event" and e["stream"] == "user"]
        assert [e["o"]["x"] for e in events] == ([] if event == "none" else [event])
        assert all((e["o"]["p"], e["o"]["q"], e["o"]["X"]) == ("2401.00", "0.020", "NEW") for e in events)


async def test_modify_readings_for_silent_cases(client, sim):
    """Quantity is the new total: not above what is executed (A14); a filled or cancelled order is -2013;
    a GTC modification that would cross takes (A17)."""
    await client.order("2400", qty="0.02", newClientOrderId="p")
    await sim.fill_order(SYMBOL, "p", D("0.01"))
    assert (await modify(client, "p", "0.01", "2400"))[1]["code"] == -1130
    status, body, _ = await modify(client, "p", "0.03", "2400")
    assert (status, body["origQty"], body["executedQty"], body["status"]) == (200, "0.030", "0.010", "PARTIALLY_FILLED")
    status, body, _ = await modify(client, "p", "0.03", "2500.01")  # through the ask: takes the rest
    assert (status, body["status"], body["executedQty"]) == (200, "FILLED", "0.030")
    assert (await modify(client, "p", "0.03", "2400"))[1]["code"] == -2013


async def test_modify_that_changes_nothing_may_be_refused():
    readings = Readings(modify_same="reject")
    async with SimExchange(readings=readings) as sim, aiohttp.ClientSession() as session:
        await sim.set_book(SYMBOL, *BOOK)
        client = WireClient(sim, session)
        await client.order("2400", newClientOrderId="m")
        status, body, _ = await modify(client, "m", "0.01", "2400")
        assert (status, body["code"]) == (400, readings.modify_same_error[0])


# ------------------------------------------------------------------ small documented details
async def test_noop_uses_up_its_nonce(client):
    """Noop: "(Nonce should be equal to this request ...)": the request it races for the nonce loses."""
    nonce = client.nonce()
    assert (await client.v3("POST", "/fapi/v3/noop", nonce=nonce))[1] == {"code": 200, "msg": "success"}
    status, body, _ = await client.v3("GET", "/fapi/v3/openOrders", {"symbol": SYMBOL}, nonce=nonce)
    assert (status, body) == (400, {"code": -4225, "msg": "Nonce Expired"})


async def test_position_mode_change_with_open_orders_is_4067(client):
    await client.order("2400")
    status, body, _ = await client.v3("POST", "/fapi/v3/positionSide/dual", {"dualSidePosition": "true"})
    assert (status, body["code"]) == (400, -4067)  # POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS


async def test_v1_recv_window_over_60_seconds(client):
    """V1 doc: "It must not exceed 60 seconds!" (no code given: -1130, A7)."""
    status, body, _ = await client.v1("GET", "/fapi/v1/openOrders", {"symbol": SYMBOL, "recvWindow": 60001})
    assert (status, body["code"]) == (400, -1130)
    assert (await client.v1("GET", "/fapi/v1/openOrders", {"symbol": SYMBOL, "recvWindow": 60000}))[0] == 200


async def test_limits_off_still_count(client):
    """rate_limits=None (`--no-rate-limits`): the headers count, nothing is refused."""
    for _ in range(3):
        status, _, headers = await client.public("GET", "/fapi/v3/depth", {"symbol": SYMBOL, "limit": 1000})
    assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, "60")


# ------------------------------------------------------------------ Modify Order at the exchange
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
