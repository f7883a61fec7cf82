"""The exchange's safety features and limits as the simulator models them from the docs: self-trade prevention,
Market Maker Protection, commission rates and rebates, the REQUEST_WEIGHT and ORDERS rate limits with their
429/418 answers, and announcements on the user stream. Real HTTP on 127.0.0.1."""

from __future__ import annotations

from decimal import Decimal as D

import aiohttp
import pytest
from helpers import SYMBOL
from simclient import WireClient

from aster_mm.simulator import RateLimits, Readings, SimExchange

BOOK = ([("2499.90", "5")], [("2500.10", "5")])


def user_events(sim: SimExchange, since: int = 0, kind: str = "ORDER_TRADE_UPDATE") -> list[dict]:
    return [e["payload"] for e in sim.journal[since:] if e["kind"] == "event" and e.get("payload", {}).get("e") == kind]


async def started(**kw) -> SimExchange:
    sim = await SimExchange(rate_limits=kw.pop("rate_limits", None), **kw).start()
    await sim.set_book(SYMBOL, *BOOK)
    return sim


@pytest.fixture
async def sim():
    s = await started()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim):
    async with aiohttp.ClientSession() as session:
        yield WireClient(sim, session)


# ------------------------------------------------------------------ self-trade prevention
@pytest.mark.parametrize(
    "mode, taker, maker",
    [("EXPIRE_TAKER", "EXPIRED", "NEW"), ("EXPIRE_MAKER", "NEW", "EXPIRED"), ("EXPIRE_BOTH", "EXPIRED", "EXPIRED")],
)
async def test_stp_mode_on_the_order(client, sim, mode, taker, maker):
    """The bot's SELL rests inside the spread; the same account buys through it by hand: no trade, the
    order's stpMode decides which side ends (EXPIRED, A23). EXPIRE_MAKER's taker then rests at its price."""
    await client.order("2500.00", side="SELL", newClientOrderId="bot")
    hand = await sim.trade_by_hand(SYMBOL, "BUY", "2500.00", "0.01", stp_mode=mode, client_order_id="hand")
    assert (hand["status"], sim.order(SYMBOL, "bot")["status"]) == (taker, maker)
    assert sim.position(SYMBOL) == 0 and sim.summary(SYMBOL)["fills"] == 0
    expired = [e["o"] for e in user_events(sim) if e["o"]["x"] == "EXPIRED"]
    assert {o["c"] for o in expired} == {c for c, s in (("hand", taker), ("bot", maker)) if s == "EXPIRED"}


async def test_stp_account_mode_and_its_endpoints(client, sim):
    """POST /fapi/v3/stpMode sets the account's default "on EVERY symbol"; before that EXPIRE_TAKER (A22)."""
    assert (await client.v3("GET", "/fapi/v3/stpMode"))[1] == {"stpMode": "EXPIRE_TAKER"}
    status, body, _ = await client.v3("POST", "/fapi/v3/stpMode", {"stpMode": "EXPIRE_MAKER"})
    assert (status, body) == (200, {"code": 200, "msg": "success"})
    assert (await client.v3("GET", "/fapi/v3/stpMode"))[1] == {"stpMode": "EXPIRE_MAKER"}
    assert (await client.v3("POST", "/fapi/v3/stpMode", {"stpMode": "NONE"}))[1]["code"] == -1130
    await client.order("2500.00", side="SELL", newClientOrderId="bot")
    status, body, _ = await client.order("2500.00", newClientOrderId="api-taker")  # an API order self-trades too
    assert body["status"] == "NEW" and sim.order(SYMBOL, "bot")["status"] == "EXPIRED"


async def test_stp_report_may_be_canceled():
    sim = await started(readings=Readings(stp_report="CANCELED"))
    try:
        await sim.place_order_direct(SYMBOL, "SELL", "2500.00", "0.01", client_order_id="bot")
        hand = await sim.trade_by_hand(SYMBOL, "BUY", "2500.00", "0.01")
        assert hand["status"] == "CANCELED" and [e["o"]["x"] for e in user_events(sim)][-1] == "CANCELED"
    finally:
        await sim.stop()


async def test_a_second_party_trades_against_our_order(client, sim):
    """Another account is not "self": its taker order fills ours as maker, best price first."""
    await client.order("2500.00", side="SELL", newClientOrderId="a")
    await client.order("2500.05", side="SELL", newClientOrderId="b")
    filled = await sim.party_trade(SYMBOL, "BUY", "0.015", "2500.05")
    assert filled == D("0.015") and sim.position(SYMBOL) == D("-0.015")
    assert (sim.order(SYMBOL, "a")["status"], sim.order(SYMBOL, "b")["executedQty"]) == ("FILLED", "0.005")
    fills = [e["o"] for e in user_events(sim) if e["o"]["x"] == "TRADE"]
    assert [(o["c"], o["m"], o["L"]) for o in fills] == [("a", True, "2500.00"), ("b", True, "2500.05")]
    _, trades, _ = await client.public("GET", "/fapi/v3/trades", {"symbol": SYMBOL})
    assert [(t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
        ("2500", "0.01", False),
        ("2500.05", "0.005", False),
    ]


async def test_a_crossing_post_only_order_expires_on_our_own_resting_order(client, sim):
    await client.order("2500.00", side="SELL")
    status, body, _ = await client.order("2500.00", tif="GTX")
    assert body["status"] == "EXPIRED"


# ------------------------------------------------------------------ Market Maker Protection
async def set_mmp(client: WireClient, **limits: int):
    params = {"symbol": SYMBOL, "windowTimeInMilliseconds": 60_000, "frozenTimeInMilliseconds": 60_000} | limits
    return await client.v3("POST", "/fapi/v3/mmp", params)


async def test_mmp_configuration_endpoints(client):
    assert (await set_mmp(client, qtyLimit=1))[1:2] == (True,)
    _, rows, _ = await client.v3("GET", "/fapi/v3/mmp", {"symbol": SYMBOL})
    assert rows == [
        {
            "symbol": SYMBOL,
            "windowTimeInMilliseconds": 60000,
            "frozenTimeInMilliseconds": 60000,
            "qtyLimit": 1,
            "valueLimit": None,
            "deltaLimit": None,
        }
    ]
    assert (await set_mmp(client, qtyLimit="0.5"))[1]["code"] == -1130  # LONG: whole numbers
    assert (await set_mmp(client))[1]["code"] == -1102  # no limit at all
    assert (await client.v3("DELETE", "/fapi/v3/mmp", {"symbol": SYMBOL}))[1] is True
    assert (await client.v3("GET", "/fapi/v3/mmp"))[1] == []


@pytest.mark.parametrize("freeze", ["cancel", "refuse"])
async def test_mmp_freeze_after_the_quantity_limit(freeze):
    """Fills reaching qtyLimit within the window freeze the symbol: new orders refused with -4088 (A28), and,
    by default, the open orders cancelled; "refuse" leaves them. mmpReset ends the freeze at once (A29)."""
    sim = await started(readings=Readings(mmp_freeze=freeze))
    try:
        async with aiohttp.ClientSession() as session:
            client = WireClient(sim, session)
            await set_mmp(client, qtyLimit=1)
            await client.order("2499.00", qty="0.6", newClientOrderId="bid")
            await client.order("2501.00", side="SELL", qty="0.5", newClientOrderId="ask")
            await client.order("2498.00", qty="0.1", newClientOrderId="deep")
            await sim.party_trade(SYMBOL, "SELL", "0.6", "2499.00")
            assert not sim.mmp_frozen(SYMBOL)  # 0.6 of 1
            await sim.party_trade(SYMBOL, "BUY", "0.5", "2501.00")  # 1.1: reached
            assert sim.mmp_frozen(SYMBOL)
            open_now = {o["clientOrderId"] for o in sim.open_orders(SYMBOL)}
            assert open_now == (set() if freeze == "cancel" else {"deep"})
            status, body, _ = await client.order("2400.00")
            assert (status, body["code"]) == (400, -4088)
            assert (await client.v3("POST", "/fapi/v3/mmpReset", {"symbol": SYMBOL}))[1] is True
            assert (await client.order("2400.00"))[0] == 200
    finally:
        await sim.stop()


async def test_mmp_delta_limit_and_the_end_of_the_freeze(client, sim):
    """deltaLimit: "Maximum cumulative net position change (buys minus sells)": a buy and a sell cancel out;
    the freeze ends by itself after frozenTimeInMilliseconds (A29)."""
    await set_mmp(client, deltaLimit=1, frozenTimeInMilliseconds=1000)
    await client.order("2499.00", qty="0.8", newClientOrderId="b1")
    await client.order("2501.00", side="SELL", qty="0.8", newClientOrderId="s1")
    await sim.party_trade(SYMBOL, "SELL", "0.8", "2499.00")
    await sim.party_trade(SYMBOL, "BUY", "0.8", "2501.00")
    assert not sim.mmp_frozen(SYMBOL)  # net 0
    await client.order("2499.00", qty="1", newClientOrderId="b2")
    await sim.party_trade(SYMBOL, "SELL", "1", "2499.00")
    assert sim.mmp_frozen(SYMBOL)
    sim.set_clock_offset(1.001)
    assert not sim.mmp_frozen(SYMBOL) and (await client.order("2400.00"))[0] == 200


# ------------------------------------------------------------------ commission and rebates
async def test_negative_maker_rate_is_a_rebate_on_the_fill(client, sim):
    """Default (A30): the rate GET /fapi/v3/commissionRate shows is what the fill pays; negative: credited."""
    sim.set_commission("-0.000015", "0.00027")
    await client.order("2500.00", side="SELL", qty="1", newClientOrderId="m")
    await sim.party_trade(SYMBOL, "BUY", "1", "2500.00")
    [fill] = [e["o"] for e in user_events(sim) if e["o"]["x"] == "TRADE"]
    assert (fill["n"], fill["N"]) == ("-0.0375", "USDT")
    assert sim.balances()["USDT"] == D("10000.0375")
    _, [trade], _ = await client.v3("GET", "/fapi/v3/userTrades", {"symbol": SYMBOL})
    assert trade["commission"] == "0.0375" and trade["maker"] is True  # userTrades: a fee is negative (doc example)
    assert [(r["incomeType"], r["income"]) for r in sim.income()] == [("COMMISSION", "0.0375")]


async def test_rebate_paid_later_as_market_merchant_return_reward():
    sim = await started(readings=Readings(rebates="reward"), maker_fee=D("-0.000015"))
    try:
        await sim.place_order_direct(SYMBOL, "SELL", "2500.00", "1", client_order_id="m")
        await sim.party_trade(SYMBOL, "BUY", "1", "2500.00")
        [fill] = [e["o"] for e in user_events(sim) if e["o"]["x"] == "TRADE"]
        assert "n" not in fill and sim.income() == []  # "will not push if no commission"
        assert await sim.pay_rewards() == [(SYMBOL, D("0.0375"))]
        [row] = sim.income()
        assert (row["incomeType"], row["income"], row["symbol"]) == ("MARKET_MERCHANT_RETURN_REWARD", "0.0375", SYMBOL)
        [update] = user_events(sim, kind="ACCOUNT_UPDATE")[-1:]
        assert update["a"]["m"] == "ADJUSTMENT" and update["a"]["B"][0]["bc"] == "0.0375"
    finally:
        await sim.stop()


# ------------------------------------------------------------------ rate limits
class FakeClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0  # on a minute boundary

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("retry_after", [False, True])
async def test_weight_limit_429_then_418_ban(retry_after):
    """Over REQUEST_WEIGHT: 429 -1003 (the request not run); repeated 429s: an IP ban, 418 with its end
    time; bans double for repeat offenders (A32, A33). X-MBX-USED-WEIGHT-1M on every answer."""
    clock = FakeClock()
    limits = RateLimits(weight_per_minute=10, ban_after=2, first_ban_s=120, retry_after=retry_after)
    sim = await SimExchange(clock=clock, rate_limits=limits).start()
    try:
        async with aiohttp.ClientSession() as session:
            client = WireClient(sim, session)
            for used in range(1, 11):
                status, _, headers = await client.public("GET", "/fapi/v3/time")
                assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, str(used))
            status, body, headers = await client.public("GET", "/fapi/v3/time")
            assert (status, body["code"], headers["X-MBX-USED-WEIGHT-1M"]) == (429, -1003, "11")
            assert headers.get("Retry-After") == ("60" if retry_after else None)
            assert (await client.public("GET", "/fapi/v3/time"))[0] == 429  # the second: banned from now on
            clock.t += 60  # a new minute does not lift a ban
            status, body, headers = await client.public("GET", "/fapi/v3/time")
            assert (status, body["code"]) == (418, -1003) and str(int((clock.t + 60) * 1000)) in body["msg"]
            assert headers.get("Retry-After") == ("60" if retry_after else None)
            clock.t += 61
            assert (await client.public("GET", "/fapi/v3/time"))[0] == 200
            for _ in range(11):
                await client.public("GET", "/fapi/v3/time")
            await client.public("GET", "/fapi/v3/time")
            clock.t += 200  # the second ban lasts 240 s
            assert (await client.public("GET", "/fapi/v3/time"))[0] == 418
            clock.t += 41
            assert (await client.public("GET", "/fapi/v3/time"))[0] == 200
    finally:
        await sim.stop()


async def test_orders_limit_per_account():
    """ORDERS: new orders per minute per account, X-MBX-ORDER-COUNT-1M on order answers, 429 -1015 over it.
    Cancels do not count; modifications only if selected (A34)."""
    sim = await started(rate_limits=RateLimits(orders_per_minute=2, count_modifications=True))
    try:
        async with aiohttp.ClientSession() as session:
            client = WireClient(sim, session)
            status, _, headers = await client.order("2400", newClientOrderId="a")
            assert (status, headers["X-MBX-ORDER-COUNT-1M"]) == (200, "1")
            await client.v3("DELETE", "/fapi/v3/order", {"symbol": SYMBOL, "origClientOrderId": "a"})
            status, _, headers = await client.order("2400", newClientOrderId="b")
            assert (status, headers["X-MBX-ORDER-COUNT-1M"]) == (200, "2")
            params = {"symbol": SYMBOL, "origClientOrderId": "b", "quantity": "0.01", "price": "2401"}
            status, body, _ = await client.v3("PUT", "/fapi/v3/order", params)
            assert (status, body["code"]) == (429, -1015)
            assert [o["price"] for o in sim.open_orders(SYMBOL)] == ["2400.00"]  # refused: not run
    finally:
        await sim.stop()


async def test_documented_limits_are_the_default():
    sim = SimExchange()
    assert sim._server.limiter.limits == RateLimits(weight_per_minute=2400, orders_per_minute=1200)


# ------------------------------------------------------------------ announcements
async def test_announcement_reaches_the_user_stream(client, sim):
    _, key, _ = await client.v3("POST", "/fapi/v3/listenKey")
    ws = await client.session.ws_connect(f"{sim.ws_url}/ws/{key['listenKey']}")
    await sim.wait_for(lambda: sim.user_stream_connections == 1)
    await sim.announce("Maintenance", "<p>at 02:00</p>", category="DIRECT", link="https://example.invalid")
    event = await ws.receive_json(timeout=2)
    assert set(event) == {"e", "en", "zh"} and event["e"] == "announcement"  # no E
    assert {k: event["en"][k] for k in ("t", "c", "S", "j", "C")} == {
        "t": "Maintenance",
        "c": "DIRECT",
        "S": False,
        "j": "https://example.invalid",
        "C": "<p>at 02:00</p>",
    }
    await ws.close()
