"""The REST client (aster_mm/exchange/client.py) against aioresponses-mocked endpoints: signing, parameters as sent,
errors, retries, rate limits, the clock; a refused connection told from a name that does not resolve, and a
clock drift resynced against the simulator."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses
from helpers import BASE, NO_HOST, NOW, SYMBOL, BotRun, assert_invariants, free_port, open_orders, set_mid, wait_open
from yarl import URL

from aster_mm.exchange.client import (
    AsterClient,
    BannedError,
    ExchangeError,
    RateLimitError,
    RetryPolicy,
    SymbolRules,
    UnknownOutcomeError,
    WafLimitError,
    decimal_str,
    parse_symbol_rules,
    sign,
)
from aster_mm.exchange.errors import HostNotFoundError

KEY = "ak-0123456789abcdefFULLKEY"
SECRET = "sk-TOPSECRET-9f8e7d6c5b4a"


class Clock:
    def __init__(self, t: float = NOW):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Sleeps(list):
    """An instant asyncio.sleep that records the delays it was asked for."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@dataclass
class Sent:
    method: str
    url: URL
    headers: dict

    @property
    def path(self) -> str:
        return self.url.path

    @property
    def params(self) -> list[tuple[str, str]]:
        return list(self.url.query.items())  # in the order they were sent


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def sent(monkeypatch) -> list[Sent]:
    """Every request that left the client, with its URL exactly as sent (aioresponses sorts queries)."""
    calls: list[Sent] = []
    original = aiohttp.ClientSession.request

    def spy(self, method, url, **kwargs):
        calls.append(Sent(method, URL(url), dict(kwargs.get("headers") or {})))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "request", spy)
    return calls


@pytest.fixture
def mock():
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client(clock, sleeps):
    c = AsterClient(KEY, SECRET, BASE, clock=clock, sleep=sleeps)
    yield c
    await c.close()


def at(path: str) -> re.Pattern:
    """Match `path` with any query string."""
    return re.compile(re.escape(BASE + path) + r"(\?.*)?$")


ORDER = at("/fapi/v1/order")


def refused() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("fapi.test", 443, True, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


async def place(client: AsterClient, **kw) -> dict:
    args = dict(
        symbol="ETHUSDT",
        side="BUY",
        quantity=Decimal("0.010"),
        price=Decimal("2500.10"),
        client_order_id="amm-abc123-1",
    )
    args.update(kw)
    return await client.place_limit(
        args.pop("symbol"),
        args.pop("side"),
        args.pop("quantity"),
        args.pop("price"),
        args.pop("client_order_id"),
        **args,
    )


# ============================================================================ signing and parameters
def test_signature_matches_the_docs_test_vector():
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert sign(secret, total) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


async def test_signed_request_orders_params_and_signs_them(client, mock, sent):
    mock.get(ORDER, payload={"orderId": 1, "status": "NEW"})
    await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    (req,) = sent
    assert req.method == "GET" and req.path == "/fapi/v1/order"
    assert [k for k, _ in req.params] == ["symbol", "origClientOrderId", "recvWindow", "timestamp", "signature"]
    assert dict(req.params)["recvWindow"] == "5000"
    assert dict(req.params)["timestamp"] == str(int(NOW * 1000))
    unsigned, signature = req.url.raw_query_string.rsplit("&signature=", 1)
    assert signature == sign(SECRET, unsigned)
    assert req.headers == {"X-MBX-APIKEY": KEY}


async def test_public_endpoint_is_not_signed(client, mock, sent):
    mock.get(at("/fapi/v1/exchangeInfo"), payload=exchange_info())
    await client.symbol_rules("ETHUSDT")
    assert sent[0].params == [] and "X-MBX-APIKEY" not in sent[0].headers


async def test_listen_key_calls_send_the_key_header_unsigned(client, mock, sent):
    mock.post(at("/fapi/v1/listenKey"), payload={"listenKey": "lk-123"})
    mock.put(at("/fapi/v1/listenKey"), payload={})
    assert await client.new_listen_key() == "lk-123"
    await client.keepalive_listen_key()
    assert [(r.method, r.params, r.headers) for r in sent] == [
        ("POST", [], {"X-MBX-APIKEY": KEY}),
        ("PUT", [], {"X-MBX-APIKEY": KEY}),
    ]


@pytest.mark.parametrize(
    "value, text",
    [
        (Decimal("0.10"), "0.1"),
        (Decimal("1E+1"), "10"),
        (Decimal("2500.10"), "2500.1"),
        (Decimal("0.00000100"), "0.000001"),
        (Decimal("1.0E+5"), "100000"),
        (Decimal("3"), "3"),
    ],
)
def test_decimal_str_is_plain(value, text):
    assert decimal_str(value) == text


@pytest.mark.parametrize(
    "qty, price, qty_text, price_text",
    [
        (Decimal("0.10"), Decimal("2500.10"), "0.1", "2500.1"),
        (Decimal("1E+1"), Decimal("1E+3"), "10", "1000"),
        (Decimal("0.001"), Decimal("0.00012340"), "0.001", "0.0001234"),
    ],
)
async def test_place_limit_sends_exact_decimal_strings(client, mock, sent, qty, price, qty_text, price_text):
    mock.post(ORDER, payload={"orderId": 7, "status": "NEW"})
    await place(client, side="SELL", quantity=qty, price=price)
    (req,) = sent
    assert req.method == "POST" and req.path == "/fapi/v1/order"
    params = dict(req.params)
    assert {
        k: params[k] for k in ("symbol", "side", "type", "timeInForce", "quantity", "price", "newClientOrderId")
    } == {
        "symbol": "ETHUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTX",
        "quantity": qty_text,
        "price": price_text,
        "newClientOrderId": "amm-abc123-1",
    }
    assert "reduceOnly" not in params
    assert req.params[-1][0] == "signature"


async def test_place_limit_reduce_only(client, mock, sent):
    mock.post(ORDER, payload={"orderId": 7, "status": "NEW"})
    await place(client, side="SELL", reduce_only=True)
    assert dict(sent[0].params)["reduceOnly"] == "true"


# ============================================================================ error mapping
async def test_exchange_error_carries_status_code_msg_and_no_secret(client, mock):
    mock.post(ORDER, status=400, payload={"code": -2019, "msg": "Margin is insufficient."})
    with pytest.raises(ExchangeError) as info:
        await place(client)
    err = info.value
    assert type(err) is ExchangeError
    assert (err.status, err.code, err.msg) == (400, -2019, "Margin is insufficient.")
    for text in (str(err), repr(err), repr(client), str(client)):
        assert SECRET not in text and KEY not in text


@pytest.mark.parametrize(
    "status, payload",
    [
        (503, {"code": -1099, "msg": "Service Unavailable"}),
        (503, None),  # a gateway page, not JSON
        (200, None),  # a proxy's page with a success status
        (500, {"code": -1000, "msg": "Internal error"}),
        (400, {"code": -1006, "msg": "Unexpected response"}),
        (400, {"code": -1007, "msg": "Timeout waiting for response from backend server"}),
    ],
)
async def test_doubtful_placement_is_unknown_and_not_repeated(client, mock, sent, sleeps, status, payload):
    kw = {"payload": payload} if payload else {"body": "<html>503</html>", "content_type": "text/html"}
    mock.post(ORDER, status=status, repeat=True, **kw)
    with pytest.raises(UnknownOutcomeError) as info:
        await place(client)
    assert info.value.status == status
    assert len(sent) == 1 and sleeps == []


@pytest.mark.parametrize("exc", [TimeoutError(), aiohttp.ServerDisconnectedError()])
async def test_network_failure_on_placement_is_unknown_and_not_repeated(client, mock, sent, sleeps, exc):
    mock.post(ORDER, exception=exc, repeat=True)
    with pytest.raises(UnknownOutcomeError) as info:
        await place(client)
    assert len(sent) == 1 and sleeps == []
    err = info.value  # no HTTP answer: status 0, no exchange code
    assert (err.status, err.code, err.path) == (0, None, "/fapi/v1/order")
    assert str(err) == f"/fapi/v1/order HTTP 0 code=None network error: {type(exc).__name__}"


async def test_connection_refused_on_placement_is_a_plain_failure(client, mock, sent):
    mock.post(ORDER, exception=refused(), repeat=True)
    with pytest.raises(ExchangeError) as info:
        await place(client)
    assert not isinstance(info.value, UnknownOutcomeError)
    assert len(sent) == 1
    err = info.value
    assert (err.status, err.code, err.path) == (0, None, "/fapi/v1/order")
    assert "cannot connect to fapi.test:443: ClientConnectorError" in str(err)


async def test_a_read_that_fails_on_every_attempt_is_a_plain_failure_naming_the_cause(client, mock, sleeps):
    mock.get(ORDER, exception=TimeoutError(), repeat=True)
    with pytest.raises(ExchangeError) as info:
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    err = info.value
    assert not isinstance(err, UnknownOutcomeError)
    assert (err.status, err.code, err.path, str(err)) == (
        0,
        None,
        "/fapi/v1/order",
        "/fapi/v1/order HTTP 0 code=None network error: TimeoutError",
    )


# ============================================================================ retries
async def test_reads_are_retried_on_5xx_and_network_errors_with_capped_backoff(clock, sleeps, mock, sent):
    async with AsterClient(
        KEY, SECRET, BASE, clock=clock, sleep=sleeps, retry=RetryPolicy(attempts=6, base_delay=0.5, max_delay=1.5)
    ) as client:
        url = at("/fapi/v1/openOrders")
        mock.get(url, status=502, body="bad gateway", content_type="text/plain")
        mock.get(url, exception=aiohttp.ServerDisconnectedError())
        mock.get(url, exception=TimeoutError())
        mock.get(url, exception=refused())
        mock.get(url, status=503, payload={"code": -1099, "msg": "busy"})
        mock.get(url, payload=[{"clientOrderId": "amm-x-1"}])
        assert await client.open_orders("ETHUSDT") == [{"clientOrderId": "amm-x-1"}]
    assert len(sent) == 6
    assert sleeps == [0.5, 1.0, 1.5, 1.5, 1.5]
    for req in sent:  # every attempt is signed afresh
        unsigned, signature = req.url.raw_query_string.rsplit("&signature=", 1)
        assert signature == sign(SECRET, unsigned)


async def test_cancel_is_retried_on_5xx(client, mock, sent, sleeps):
    mock.delete(ORDER, status=503, payload={"code": -1099, "msg": "busy"})
    mock.delete(ORDER, payload={"orderId": 5, "status": "CANCELED"})
    assert (await client.cancel_order("ETHUSDT", client_order_id="amm-x-1"))["status"] == "CANCELED"
    assert [r.method for r in sent] == ["DELETE", "DELETE"] and sleeps == [0.2]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "payload": {"code": -1000, "msg": "Internal error"}},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": refused()},
    ],
)
async def test_reads_give_up_after_the_policy_attempts(client, mock, sent, sleeps, failure):
    mock.get(ORDER, repeat=True, **failure)
    with pytest.raises(ExchangeError):
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert len(sent) == RetryPolicy().attempts == 3
    assert sleeps == [0.2, 0.4]


async def test_client_errors_are_not_retried(client, mock, sent):
    mock.get(ORDER, status=400, payload={"code": -1102, "msg": "Mandatory parameter"}, repeat=True)
    with pytest.raises(ExchangeError):
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert len(sent) == 1


# ============================================================================ rate limits and bans
async def test_429_sets_retry_after_and_blocks_locally_until_it_passes(client, clock, mock, sent):
    mock.get(ORDER, status=429, headers={"Retry-After": "7"}, payload={"code": -1003, "msg": "Too many"})
    with pytest.raises(RateLimitError) as info:
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert info.value.retry_after == 7.0 and info.value.status == 429
    assert client.blocked_for() == pytest.approx(7.0)
    assert len(sent) == 1  # a 429 is not retried

    clock.t += 6.9
    with pytest.raises(RateLimitError) as info:
        await place(client)
    assert len(sent) == 1  # refused locally, nothing sent
    local = info.value
    assert type(local) is RateLimitError and (local.status, local.code, local.path) == (429, None, "/fapi/v1/order")
    assert local.retry_after == pytest.approx(0.1) and "back-off in force, not sent" in str(local)

    clock.t += 0.2
    assert client.blocked_for() == 0
    mock.post(ORDER, payload={"orderId": 1, "status": "NEW"})
    await place(client)
    assert [r.method for r in sent] == ["GET", "POST"]


# NOW is 20 s into its minute: a 429 without Retry-After waits for the minute to turn (40 s and a margin).
@pytest.mark.parametrize("status, exc, wait", [(429, RateLimitError, 40.25), (418, BannedError, 120.0)])
async def test_back_off_without_retry_after_uses_a_default(client, mock, sent, status, exc, wait):
    mock.get(ORDER, status=status, payload={"code": -1003, "msg": "slow down"})
    with pytest.raises(exc) as info:
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert info.value.retry_after == pytest.approx(wait) and client.blocked_for() == pytest.approx(wait)


@pytest.mark.parametrize(
    "header, seconds",
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("1.2.3", None),
        ("-1", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_and_nothing_else(header, seconds):
    assert AsterClient._retry_after(header) == seconds


async def test_repeated_429s_without_retry_after_back_off_exponentially(client, clock, mock, sent):
    """10 s doubling per 429 of the last ten minutes, and never less than what is left of the minute."""
    waits = []
    for _ in range(6):
        clock.t = (clock.t // 60 + 1) * 60 + 59  # 59 s into a minute: the doubling shows
        mock.get(ORDER, status=429, payload={"code": -1003, "msg": "Too many requests"})
        with pytest.raises(RateLimitError) as info:
            await client.query_order("ETHUSDT", client_order_id="amm-x-1")
        waits.append(info.value.retry_after)
        clock.t += info.value.retry_after
    assert waits == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0]
    clock.t += 3600  # an hour of quiet: the count starts again
    clock.t = (clock.t // 60 + 1) * 60 + 59
    mock.get(ORDER, status=429, payload={"code": -1003, "msg": "Too many requests"})
    with pytest.raises(RateLimitError) as info:
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert info.value.retry_after == 10.0 and len(sent) == 7


async def test_418_waits_until_the_end_the_message_gives(client, clock, mock, sent):
    """ "Way too many requests; IP banned until %s." (V3 doc, -1003): the exchange's time in ms."""
    until = int(NOW * 1000) + 1234 + 300_000  # the exchange's clock runs 1.234 s ahead of ours
    client.time_offset_ms = 1234
    msg = f"Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
    mock.get(ORDER, status=418, payload={"code": -1003, "msg": msg})
    with pytest.raises(BannedError) as info:
        await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert info.value.retry_after == pytest.approx(300.25) and client.banned_for() == pytest.approx(300.25)
    clock.t += 300
    with pytest.raises(BannedError):
        await place(client)
    assert len(sent) == 1
    clock.t += 0.3
    assert client.blocked_for() == client.banned_for() == 0


async def test_a_rate_limit_code_on_another_status_is_a_rate_limit(client, clock, mock, sent):
    """-1015 "Too many new orders" comes with a 429 on Binance; the docs do not tie codes to statuses."""
    mock.post(ORDER, status=400, payload={"code": -1015, "msg": "Too many new orders; current limit is 1200"})
    with pytest.raises(RateLimitError):
        await place(client)
    assert client.blocked_for() > 0


async def test_used_weight_and_order_count_pace_order_requests(client, clock, mock, sent):
    """Half a minute's budget at once, the rest no faster than the minute passes; a new minute starts again."""
    clock.t = (NOW // 60) * 60 + 30  # half-way through a minute: 75 % of the budget may be used by now
    client.limits.weight_budget = 1000  # x 0.9 kept for orders: 900, of which 675 by now
    mock.get(ORDER, payload={"orderId": 1, "status": "NEW"}, headers={"X-MBX-USED-WEIGHT-1M": "600"})
    await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert client.used_weight_1m == 600 and client.order_wait() == 0
    mock.get(ORDER, payload={"orderId": 1, "status": "NEW"}, headers={"X-MBX-USED-WEIGHT-1M": "720"})
    await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert client.order_wait() == pytest.approx(((721 / 900 - 0.5) / 0.5 - 0.5) * 60)
    mock.get(ORDER, payload={"orderId": 1, "status": "NEW"}, headers={"X-MBX-USED-WEIGHT-1M": "900"})
    await client.query_order("ETHUSDT", client_order_id="amm-x-1")
    assert client.order_wait() == pytest.approx(30.25)  # nothing left this minute: the next one
    clock.t += 30.25
    assert client.order_wait() == 0 and client.used_weight_1m == 0
    mock.post(ORDER, payload={"orderId": 2, "status": "NEW"}, headers={"X-MBX-ORDER-COUNT-1M": "1100"})
    await place(client)  # 1100 of 1200 orders (1140 kept for orders): the next one waits
    assert client.order_wait() > 0 and client.order_wait(counts_order=False) == 0


async def test_418_ban_sends_nothing_until_it_ends(client, clock, mock, sent):
    mock.post(ORDER, status=418, headers={"Retry-After": "120"}, payload={"code": -1003, "msg": "banned"})
    with pytest.raises(BannedError) as info:
        await place(client)
    assert info.value.retry_after == 120.0
    for _ in range(2):
        clock.t += 59
        with pytest.raises(BannedError) as info:
            await client.open_orders("ETHUSDT")
        assert info.value.status == 418 and info.value.retry_after == pytest.approx(client.blocked_for())
        with pytest.raises(BannedError):
            await place(client)
    assert len(sent) == 1
    clock.t += 2.1
    mock.get(at("/fapi/v1/openOrders"), payload=[])
    assert await client.open_orders("ETHUSDT") == []
    assert len(sent) == 2


# ============================================================================ clock
async def test_sync_time_sets_the_offset_used_by_signed_requests(client, mock, sent):
    mock.get(at("/fapi/v1/time"), payload={"serverTime": int(NOW * 1000) + 1234})
    assert await client.sync_time() == 1234 and client.time_offset_ms == 1234
    mock.post(ORDER, payload={"orderId": 1, "status": "NEW"})
    await place(client)
    assert dict(sent[-1].params)["timestamp"] == str(int(NOW * 1000) + 1234)


async def test_minus_1021_resyncs_once_and_retries(client, mock, sent):
    mock.post(ORDER, status=400, payload={"code": -1021, "msg": "Timestamp outside recvWindow"})
    mock.get(at("/fapi/v1/time"), payload={"serverTime": int(NOW * 1000) - 3000})
    mock.post(ORDER, payload={"orderId": 9, "status": "NEW"})
    assert (await place(client))["orderId"] == 9
    assert [(r.method, r.path) for r in sent] == [
        ("POST", "/fapi/v1/order"),
        ("GET", "/fapi/v1/time"),
        ("POST", "/fapi/v1/order"),
    ]
    assert client.time_offset_ms == -3000
    assert dict(sent[-1].params)["timestamp"] == str(int(NOW * 1000) - 3000)


async def test_second_minus_1021_raises(client, mock, sent):
    mock.post(ORDER, status=400, payload={"code": -1021, "msg": "Timestamp outside recvWindow"}, repeat=True)
    mock.get(at("/fapi/v1/time"), payload={"serverTime": int(NOW * 1000) + 500}, repeat=True)
    with pytest.raises(ExchangeError) as info:
        await place(client)
    assert info.value.code == -1021
    assert [r.path for r in sent].count("/fapi/v1/order") == 2
    assert [r.path for r in sent].count("/fapi/v1/time") == 1


# ============================================================================ gone orders
@pytest.mark.parametrize("code", [-2011, -2013])
async def test_cancel_of_a_gone_order_is_none(client, mock, code):
    mock.delete(ORDER, status=400, payload={"code": code, "msg": "Unknown order sent."})
    assert await client.cancel_order("ETHUSDT", client_order_id="amm-x-1") is None


async def test_cancel_other_errors_raise(client, mock):
    mock.delete(ORDER, status=400, payload={"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(ExchangeError):
        await client.cancel_order("ETHUSDT", client_order_id="amm-x-1")


async def test_query_of_an_unknown_order_is_none(client, mock):
    mock.get(ORDER, status=400, payload={"code": -2013, "msg": "Order does not exist."})
    assert await client.query_order("ETHUSDT", client_order_id="amm-x-1") is None


# ============================================================================ symbol rules
def exchange_info(
    symbol="ETHUSDT", status="TRADING", tick="0.01000000", step="0.00100000", min_qty="0.001", notional="5"
) -> dict:
    return {
        "symbols": [
            {"symbol": "BTCUSDT", "status": "TRADING", "filters": []},
            {
                "symbol": symbol,
                "status": status,
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": tick, "minPrice": "0.01", "maxPrice": "1000000"},
                    {"filterType": "LOT_SIZE", "stepSize": step, "minQty": min_qty, "maxQty": "10000"},
                    {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"},
                    {"filterType": "MIN_NOTIONAL", "notional": notional},
                ],
            },
        ]
    }


async def test_symbol_rules_are_parsed_as_decimals(client, mock):
    mock.get(at("/fapi/v1/exchangeInfo"), payload=exchange_info())
    rules = await client.symbol_rules("ETHUSDT")
    assert rules == SymbolRules(
        "ETHUSDT",
        "TRADING",
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("5"),
        max_qty=Decimal("10000"),
        market_max_qty=Decimal("1000"),
    )
    assert all(isinstance(v, Decimal) for v in (rules.tick, rules.step, rules.min_qty, rules.min_notional))


def test_unknown_symbol_raises_naming_it():
    with pytest.raises(ValueError, match="DOGEUSDT"):
        parse_symbol_rules(exchange_info(), "DOGEUSDT")


@pytest.mark.parametrize("status", ["SETTLING", "PENDING_TRADING", "CLOSE"])
def test_non_trading_symbol_is_parsed_with_its_status(status):
    # The bot still cancels and adopts before it decides what a non-trading symbol means.
    rules = parse_symbol_rules(exchange_info(status=status), "ETHUSDT")
    assert rules.status == status and not rules.trading


def rules(tick="0.01", step="0.001") -> SymbolRules:
    return SymbolRules("ETHUSDT", "TRADING", Decimal(tick), Decimal(step), Decimal(step), Decimal("5"))


@pytest.mark.parametrize(
    "tick, price, down, up",
    [
        ("0.01", "2500.10", "2500.10", "2500.10"),  # exact multiples are unchanged
        ("0.01", "2500.123", "2500.12", "2500.13"),
        ("0.01", "2500.1299999", "2500.12", "2500.13"),
        ("0.0001", "0.12345", "0.1234", "0.1235"),
        ("0.0001", "0.1234", "0.1234", "0.1234"),
        ("0.1", "99999999.95", "99999999.9", "100000000.0"),
        ("0.01", "123456789012.345", "123456789012.34", "123456789012.35"),
        ("10", "2509", "2500", "2510"),
    ],
)
def test_price_rounding(tick, price, down, up):
    r = rules(tick=tick)
    assert r.price_down(Decimal(price)) == Decimal(down)
    assert r.price_up(Decimal(price)) == Decimal(up)
    assert r.price_down(Decimal(price)) <= Decimal(price) <= r.price_up(Decimal(price))


@pytest.mark.parametrize(
    "step, qty, down",
    [
        ("0.001", "1.000", "1.000"),
        ("0.001", "1.9999", "1.999"),
        ("0.001", "0.0009", "0"),
        ("0.001", "123456789.1234", "123456789.123"),
        ("1", "12.7", "12"),
        ("0.1", "0.3", "0.3"),
    ],
)
def test_qty_rounding(step, qty, down):
    assert rules(step=step).qty_down(Decimal(qty)) == Decimal(down)


# ============================================================================ account
async def test_wallet_balances(client, mock):
    mock.get(
        at("/fapi/v2/balance"),
        payload=[
            {"accountAlias": "x", "asset": "USDT", "balance": "100.50", "availableBalance": "90"},
            {"accountAlias": "x", "asset": "USDF", "balance": "20.25", "availableBalance": "20"},
            {"accountAlias": "x", "asset": "BNB", "balance": "0", "availableBalance": "0"},
        ],
    )
    balances = await client.wallet_balances()
    assert balances["USDT"] == Decimal("100.50") and balances["USDF"] == Decimal("20.25")


async def test_position_rows_of_the_symbol(client, mock):
    row = {
        "symbol": "ETHUSDT",
        "positionAmt": "0.030",
        "entryPrice": "2500",
        "positionSide": "BOTH",
        "updateTime": 1700000000000,
    }
    mock.get(at("/fapi/v2/positionRisk"), payload=[row, {"symbol": "BTCUSDT", "positionAmt": "1"}])
    assert await client.position_rows("ETHUSDT") == [row]


async def test_hedge_mode_position_rows_are_all_returned(client, mock):
    rows = [
        {"symbol": "ETHUSDT", "positionAmt": "0.1", "positionSide": "LONG"},
        {"symbol": "ETHUSDT", "positionAmt": "0", "positionSide": "SHORT"},
    ]
    mock.get(at("/fapi/v2/positionRisk"), payload=rows)
    assert await client.position_rows("ETHUSDT") == rows


async def test_used_weight_is_read_from_the_header(client, mock):
    mock.get(at("/fapi/v1/openOrders"), payload=[], headers={"X-MBX-USED-WEIGHT-1M": "37"})
    assert client.used_weight_1m is None
    await client.open_orders("ETHUSDT")
    assert client.used_weight_1m == 37


# ============================================================================ the clock, as of half the round trip
async def test_sync_time_takes_the_server_time_as_of_half_the_round_trip():
    """Bug: the offset measured from the send time (or the answer time) alone, off by half the round trip."""
    now = [NOW]
    with aioresponses() as mock:

        def takes_400_ms(url, **kwargs):
            now[0] += 0.4

        mock.get("https://fapi.test/fapi/v1/time", payload={"serverTime": int(NOW * 1000) + 200}, callback=takes_400_ms)
        client = AsterClient("key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: now[0])
        try:
            assert await client.sync_time() == 0  # stamped 200 ms after sending: our clock is right
        finally:
            await client.close()


# ============================================================================ margin type, and what every error carries
async def test_margin_type_already_set_is_success_and_any_other_refusal_is_not():
    """Bug: the -4046 test inverted: every refusal to set the margin type is swallowed (the bot then
    trades believing it is ISOLATED) and 'already so' raises."""
    client = AsterClient("key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: NOW)
    url = re.compile(r"^https://fapi\.test/fapi/v1/marginType")
    try:
        with aioresponses() as mock:
            mock.post(url, status=400, payload={"code": -4046, "msg": "No need to change margin type."})
            await client.set_margin_type(SYMBOL, "ISOLATED")
            mock.post(
                url,
                status=400,
                payload={"code": -4048, "msg": "Margin type cannot be changed if there exists position."},
            )
            with pytest.raises(ExchangeError) as refused:
                await client.set_margin_type(SYMBOL, "ISOLATED")
            assert refused.value.code == -4048
    finally:
        await client.close()


@pytest.mark.parametrize(
    "status, body, headers, kind, retry_after, blocked",
    [
        (403, {"code": -1, "msg": "waf"}, {"Retry-After": "5"}, WafLimitError, 5.0, 5.0),
        (403, {"code": -1, "msg": "waf"}, {}, WafLimitError, 5.0, 5.0),  # the default back-off
        (418, {"code": -1003, "msg": "banned"}, {"Retry-After": "120"}, BannedError, 120.0, 120.0),
        (429, {"code": -1003, "msg": "too many"}, {"Retry-After": "2"}, RateLimitError, 2.0, 2.0),
        (503, {"code": -1001, "msg": "busy"}, {}, UnknownOutcomeError, None, 0.0),
        (400, {"code": -1102}, {}, ExchangeError, None, 0.0),  # no msg: an empty one
    ],
)
async def test_every_error_carries_what_the_exchange_said(status, body, headers, kind, retry_after, blocked):
    """Bugs: an error that drops the exchange's code, message or path, a 403 that does not block sending."""
    client = AsterClient(
        "key-0123456789", "secret-0123456789", "https://fapi.test", clock=lambda: NOW, retry=RetryPolicy(attempts=1)
    )
    try:
        with aioresponses() as mock:
            mock.get(
                re.compile(r"^https://fapi\.test/fapi/v1/openOrders"), status=status, payload=body, headers=headers
            )
            with pytest.raises(ExchangeError) as caught:
                await client.open_orders(SYMBOL)
    finally:
        await client.close()
    err = caught.value
    assert type(err) is kind
    assert (err.status, err.code, err.msg, err.path) == (
        status,
        body["code"],
        body.get("msg", ""),
        "/fapi/v1/openOrders",
    )
    assert getattr(err, "retry_after", None) == retry_after
    assert client.blocked_for() == blocked


# ============================================================================ a refused connection is no missing name
async def test_a_refused_connection_is_not_a_missing_name():
    """A host that resolves and refuses (a proxy or the exchange restarting) is retried for --start-timeout."""
    from aster_mm.exchange.client import AsterClient
    from aster_mm.exchange.signing import HmacSigner

    for url, kind in ((f"http://127.0.0.1:{free_port()}", ExchangeError), (f"http://{NO_HOST}", HostNotFoundError)):
        async with AsterClient(signer=HmacSigner("k", "s"), rest_url=url) as client:
            with pytest.raises(ExchangeError) as caught:
                await asyncio.wait_for(client.symbol_rules("ETHUSDT"), 30)
        assert type(caught.value) is kind, url


# ============================================================================ clock drift, against the simulator
async def test_clock_drift_resyncs_and_continues(sim):
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        syncs = len(sim.requests("GET", "/fapi/v1/time"))
        sim.set_clock_offset(62.0)  # outside V1's recvWindow (5 s) and V3's nonce window (±60 s, PR #157)
        await set_mid(sim, "2520")  # requote to 2520 * 0.994
        await sim.wait_for(lambda: [o["price"] for o in open_orders(sim)] == ["2504.88"], 5)
        assert len(sim.requests("GET", "/fapi/v1/time")) > syncs
        refused = [r["response"]["code"] for r in sim.order_requests() if r["status"] == 400]
        assert refused == [-4225 if sim.scheme == "v3" else -1021]
        assert_invariants(sim, bot)
