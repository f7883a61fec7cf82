"""Where the exchange is: its hosts per network (REST, market streams, user stream), the V3 signing chain id of
each, and the V3 path of each endpoint the client calls."""

from __future__ import annotations

from typing import NamedTuple

from aster_mm.exchange.signing import MAINNET_CHAIN_ID, TESTNET_CHAIN_ID

DEFAULT_REST_URL = "https://fapi.asterdex.com"
DEFAULT_WS_URL = "wss://fstream.asterdex.com"


class Network(NamedTuple):
    rest: str
    market_ws: str  # the market streams
    user_ws: str  # the listenKey user stream
    chain_id: int  # V3 signing


NETWORKS = {
    # V3 doc, "General API Information": "The base endpoint is: https://fapi.asterdex.com"; "Websocket Market
    # Streams" and "User Data Streams": "The baseurl for websocket is wss://fstream.asterdex.com"
    "mainnet": Network(DEFAULT_REST_URL, DEFAULT_WS_URL, DEFAULT_WS_URL, MAINNET_CHAIN_ID),
    # V3 testnet doc: "The base endpoint is: https://fapi.asterdex-testnet.com"; "Websocket Market Streams":
    # "The baseurl for websocket is wss://fstream5.asterdex-testnet.com"; "User Data Streams": "The baseurl for
    # websocket is wss://fstream.asterdex-testnet.com" (its order-book how-to names fstream. for a market
    # stream once: ASTER_MARKET_WS_URL picks that one if fstream5. fails)
    "testnet": Network(
        "https://fapi.asterdex-testnet.com",
        "wss://fstream5.asterdex-testnet.com",
        "wss://fstream.asterdex-testnet.com",
        TESTNET_CHAIN_ID,
    ),
}

# V3 path of each endpoint the client calls, by its V1 path (the official V3 futures doc: docs/exchange.md links it).
V3_PATHS = {
    "/fapi/v1/time": "/fapi/v3/time",
    "/fapi/v1/exchangeInfo": "/fapi/v3/exchangeInfo",
    "/fapi/v1/order": "/fapi/v3/order",
    "/fapi/v1/allOpenOrders": "/fapi/v3/allOpenOrders",
    "/fapi/v1/openOrders": "/fapi/v3/openOrders",
    "/fapi/v1/countdownCancelAll": "/fapi/v3/countdownCancelAll",
    "/fapi/v2/positionRisk": "/fapi/v3/positionRisk",
    "/fapi/v2/balance": "/fapi/v3/balance",
    "/fapi/v4/account": "/fapi/v3/accountWithJoinMargin",  # there is no /fapi/v3/account
    "/fapi/v1/positionSide/dual": "/fapi/v3/positionSide/dual",
    "/fapi/v1/multiAssetsMargin": "/fapi/v3/multiAssetsMargin",
    "/fapi/v1/marginType": "/fapi/v3/marginType",
    "/fapi/v1/leverage": "/fapi/v3/leverage",
    "/fapi/v1/listenKey": "/fapi/v3/listenKey",
    "/fapi/v1/income": "/fapi/v3/income",
    "/fapi/v1/userTrades": "/fapi/v3/userTrades",
    "/fapi/v1/commissionRate": "/fapi/v3/commissionRate",
}
