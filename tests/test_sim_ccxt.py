"""Contract test with a real third-party client: ccxt's `aster` class (ccxt 4.5.64: the newest release whose
requirements fit ours; it signs V3 requests with EIP-712) and ccxt.pro's streams, against the simulator on
127.0.0.1. It pins the simulator's wire format (paths, parameters, signatures, answers, WebSocket frames)
to what an independent implementation of the Aster API sends and parses, with ccxt's defaults (its builder
sign-in included) and only its URLs pointed at the simulator (the recipe in docs/simulator.md).

ccxt signs as the main wallet for itself (user == signer == the address of `privateKey`): the simulator
accepts that once the wallet is registered as its own agent (docs/simulator.md, A2).
"""

from __future__ import annotations

import asyncio
import decimal
from decimal import Decimal as D

import pytest
from eth_account import Account

from aster_mm.simulator import SimExchange

ccxt = pytest.importorskip("ccxt", minversion="4.5.52")  # 4.5.52: the first release signing V3 with EIP-712
import ccxt.pro as ccxtpro  # noqa: E402

SYMBOL, UNIFIED = "ETHUSDT", "ETH/USDT:USDT"
BIDS = [(D("2499.90"), D(1)), (D("2499.80"), D(2))]
ASKS = [(D("2500.10"), D("1.5")), (D("2500.20"), D(3))]
CCXT_BUILDER = "0x1F5877C19e3777Cfd15F9d57253eA4aA5254Ec39"  # ccxt's options["builder"]


def client_for(sim: SimExchange, private_key: str) -> ccxtpro.aster:
    """ccxt's aster pointed at the simulator: its URLs, `defaultType` swap (else some calls go to the spot
    API), and no client-side rate limiting (333 ms per call would make this test slow)."""
    base, ws = sim.rest_url, sim.ws_url
    ex = ccxtpro.aster({"privateKey": private_key, "enableRateLimit": False, "options": {"defaultType": "swap"}})
    ex.urls["api"].update(
        {
            "fapiPublic": f"{base}/fapi",
            "fapiPrivate": f"{base}/fapi",
            "sapiPublic": f"{base}/api",
            "sapiPrivate": f"{base}/api",
        }
    )
    ex.urls["api"]["ws"] = {
        "public": {"spot": f"{ws}/stream", "swap": f"{ws}/stream"},
        "private": {"spot": f"{ws}/ws", "swap": f"{ws}/ws"},
    }
    return ex


@pytest.fixture(autouse=True)
def decimal_context_kept():
    """ccxt changes the current decimal context each time it formats a number (ccxt/base/decimal_to_precision.py:
    rounding ROUND_HALF_UP, Underflow trapped), and that context is shared with every later test in this
    process: put it back as it was."""
    context = decimal.getcontext()
    saved = context.copy()
    yield
    for name in ("prec", "rounding", "Emin", "Emax", "capitals", "clamp"):
        setattr(context, name, getattr(saved, name))
    context.traps = dict(saved.traps)
    context.clear_flags()


@pytest.fixture
async def sim():
    async with SimExchange(balances={"USDT": D(10000)}) as s:
        await s.set_book(SYMBOL, bids=BIDS, asks=ASKS)
        yield s


@pytest.fixture
async def wallet(sim):
    account = Account.create()
    sim.add_agent(account.address, account.address)  # `--agent W:W`: the main wallet signs for itself
    return account


@pytest.fixture
async def ex(sim, wallet):
    client = client_for(sim, wallet.key.hex())
    yield client
    await client.close()


def signed(sim: SimExchange, method: str | None = None, path: str | None = None) -> list[dict]:
    return [r for r in sim.requests(method, path) if "signature" in r["params"]]


# ------------------------------------------------------------------ signing and sign-in
async def test_builder_sign_in_and_v3_signature(sim, wallet, ex):
    """ccxt signs in on its first private call: GET /fapi/v3/builder, then POST /fapi/v3/approveBuilder signed
    by the main wallet (typed data ApproveBuilder); every call carries nonce (µs), user and signer."""
    await ex.fetch_balance()
    assert [r["path"] for r in signed(sim)] == ["/fapi/v3/builder", "/fapi/v3/approveBuilder", "/fapi/v3/balance"]
    assert all(r["status"] == 200 for r in signed(sim))
    assert [b["builderAddress"] for b in sim.builders()] == [CCXT_BUILDER]
    p = signed(sim, "GET", "/fapi/v3/balance")[0]["params"]
    assert p["user"] == p["signer"] == wallet.address.lower() and len(p["nonce"]) == 16
    await ex.fetch_balance()  # signed in: no second approval
    assert len(sim.requests("POST", "/fapi/v3/approveBuilder")) == 1


async def test_unregistered_wallet_is_refused(sim):
    client = client_for(sim, Account.create().key.hex())
    try:
        with pytest.raises(ccxt.AuthenticationError):  # -2015
            await client.fetch_balance()
    finally:
        await client.close()


# ------------------------------------------------------------------ market data
async def test_load_markets_time_book_ticker_funding(sim, ex):
    market = (await ex.load_markets())[UNIFIED]
    assert (market["id"], market["type"], market["settle"], market["linear"]) == (SYMBOL, "swap", "USDT", True)
    assert (market["precision"]["price"], market["precision"]["amount"], market["limits"]["amount"]["min"]) == (
        0.01,
        0.001,
        0.001,
    )
    # spot first, as ccxt reads it; then the builder sign-in a private key brings
    assert {r["path"] for r in sim.requests()} == {
        "/api/v3/exchangeInfo",
        "/fapi/v3/exchangeInfo",
        "/fapi/v3/builder",
        "/fapi/v3/approveBuilder",
    }
    assert abs(await ex.fetch_time() - sim.now_ms()) < 1000
    book = await ex.fetch_order_book(UNIFIED, 20)
    assert (book["bids"][0], book["asks"][0]) == ([2499.9, 1.0], [2500.1, 1.5])
    assert sim.requests("GET", "/fapi/v3/depth")[-1]["params"] == {"symbol": SYMBOL, "limit": "20"}
    await sim.trade(SYMBOL, "BUY", "2500.10", "0.5")
    ticker = await ex.fetch_ticker(UNIFIED)
    assert (ticker["symbol"], ticker["last"], ticker["baseVolume"]) == (UNIFIED, 2500.1, 0.5)
    sim.set_funding_rate(SYMBOL, "0.0001")
    rate = await ex.fetch_funding_rate(UNIFIED)
    assert (rate["markPrice"], rate["fundingRate"]) == (2500.0, 0.0001) and rate["nextFundingTimestamp"] > sim.now_ms()
    [trade] = await ex.fetch_trades(UNIFIED)
    assert (trade["price"], trade["amount"], trade["side"]) == (2500.1, 0.5, "buy")
    [candle] = await ex.fetch_ohlcv(UNIFIED, "1m")
    assert candle[1:] == [2500.1, 2500.1, 2500.1, 2500.1, 0.5]


# ------------------------------------------------------------------ account
async def test_balance_leverage_fees_and_positions(sim, ex):
    balance = await ex.fetch_balance()
    assert (balance["USDT"]["total"], balance["USDT"]["free"]) == (10000, 10000)
    await ex.set_leverage(5, UNIFIED)
    assert sim.requests("POST", "/fapi/v3/leverage")[-1]["params"]["leverage"] == "5"
    assert (await ex.fetch_positions([UNIFIED])) == []  # flat
    fee = await ex.fetch_trading_fee(UNIFIED)
    assert (fee["maker"], fee["taker"]) == (0.0001, 0.00035)
    order = await ex.create_order(UNIFIED, "limit", "buy", 0.01, 2500.10, {"clientOrderId": "ccxt-taker"})
    assert order["status"] == "open"  # the documented default answer, ACK: before matching
    await sim.wait_for(lambda: sim.position(SYMBOL) == D("0.01"), 2)
    [pos] = await ex.fetch_positions([UNIFIED])
    assert (pos["contracts"], pos["entryPrice"], pos["leverage"], pos["marginMode"]) == (0.01, 2500.1, 5, "cross")
    # ccxt takes the side from `notional`, which the docs' positionRisk example (and so the simulator) lacks
    assert pos["side"] is None and pos["info"]["positionAmt"] == "0.01"
    [mine] = await ex.fetch_my_trades(UNIFIED)
    assert (mine["order"], mine["takerOrMaker"], mine["price"]) == (order["id"], "taker", 2500.1)
    assert mine["fee"]["cost"] == pytest.approx(2500.1 * 0.01 * 0.00035)


# ------------------------------------------------------------------ orders
async def test_post_only_order_with_client_id_query_and_cancel(sim, ex):
    a = await ex.create_order(UNIFIED, "limit", "buy", 0.01, 2400, {"postOnly": True, "clientOrderId": "ccxt-1"})
    b = await ex.create_order(UNIFIED, "limit", "buy", 0.01, 2401, {"clientOrderId": "ccxt-2"})
    sent = signed(sim, "POST", "/fapi/v3/order")[0]["params"]
    assert (sent["timeInForce"], sent["newClientOrderId"], sent["builder"]) == ("GTX", "ccxt-1", CCXT_BUILDER)
    assert {o["clientOrderId"]: o["timeInForce"] for o in sim.open_orders(SYMBOL)} == {"ccxt-1": "GTX", "ccxt-2": "GTC"}
    assert {o["id"] for o in await ex.fetch_open_orders(UNIFIED)} == {a["id"], b["id"]}
    assert (await ex.fetch_order(a["id"], UNIFIED))["clientOrderId"] == "ccxt-1"
    assert (await ex.fetch_order(None, UNIFIED, {"clientOrderId": "ccxt-2"}))["price"] == 2401
    assert (await ex.fetch_open_order(b["id"], UNIFIED))["status"] == "open"
    assert (await ex.cancel_order(a["id"], UNIFIED))["status"] == "canceled"
    [info] = [o["info"] for o in await ex.cancel_all_orders(UNIFIED)]
    assert info["code"] == "200" and sim.open_orders(SYMBOL) == []
    orders = await ex.fetch_orders(UNIFIED)
    assert [(o["clientOrderId"], o["status"]) for o in orders] == [("ccxt-1", "canceled"), ("ccxt-2", "canceled")]


async def test_post_only_that_would_cross_expires(sim, ex):
    order = await ex.create_order(
        UNIFIED, "limit", "buy", 0.01, 2500.10, {"postOnly": True, "newOrderRespType": "RESULT"}
    )
    assert order["info"]["status"] == "EXPIRED" and order["status"] in ("canceled", "expired")
    assert sim.open_orders(SYMBOL) == []


# ------------------------------------------------------------------ income
async def test_funding_history_and_ledger(sim, ex):
    await ex.create_order(UNIFIED, "limit", "buy", 0.01, 2500.10, {"newOrderRespType": "RESULT"})
    await sim.pay_funding(SYMBOL, "0.0001")
    [funding] = await ex.fetch_funding_history(UNIFIED)
    assert (funding["symbol"], funding["code"]) == (UNIFIED, "USDT") and funding["amount"] < 0
    assert signed(sim, "GET", "/fapi/v3/income")[-1]["params"]["incomeType"] == "FUNDING_FEE"
    ledger = await ex.fetch_ledger("USDT")
    assert sorted(e["type"] for e in ledger) == ["commission", "fee"]  # COMMISSION, FUNDING_FEE
    assert [r["incomeType"] for r in sim.income()] == ["COMMISSION", "FUNDING_FEE"]
    [history] = await ex.fetch_funding_rate_history(UNIFIED)
    assert history["fundingRate"] == 0.0001


# ------------------------------------------------------------------ ccxt.pro
async def test_watch_order_book(sim, ex):
    """ccxt.pro subscribes <symbol>@depth20 on a bare /stream, with no `id` (answered "id": null)."""
    book = await asyncio.wait_for(ex.watch_order_book(UNIFIED), 5)
    assert book["bids"][0] == [2499.9, 1.0]
    await sim.set_book(SYMBOL, bids=[(D("2499.95"), D(4))], asks=ASKS)
    book = await asyncio.wait_for(ex.watch_order_book(UNIFIED), 5)
    assert book["bids"] == [[2499.95, 4.0]]
    assert sim.market_stream_connections == 1


async def test_watch_orders(sim, ex):
    task = asyncio.ensure_future(ex.watch_orders(UNIFIED))  # POST /fapi/v3/listenKey, then /ws/<listenKey>
    await sim.wait_for(lambda: sim.user_stream_connections == 1, 5)
    await sim.place_order_direct(SYMBOL, "BUY", D("2300"), D("0.01"), client_order_id="ccxt-ws-1")
    [order] = await asyncio.wait_for(task, 5)
    assert (order["clientOrderId"], order["status"], order["price"], order["symbol"]) == (
        "ccxt-ws-1",
        "open",
        2300.0,
        UNIFIED,
    )
    assert signed(sim, "POST", "/fapi/v3/listenKey")
