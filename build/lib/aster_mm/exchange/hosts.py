"""Where the exchange is: its hosts per network, the V3 signing chain id of each, and the V3 path of each
endpoint the client calls."""

from __future__ import annotations

from aster_mm.exchange.signing import MAINNET_CHAIN_ID, TESTNET_CHAIN_ID

DEFAULT_REST_URL = "https://fapi.asterdex.com"
DEFAULT_WS_URL = "wss://fstream.asterdex.com"

# network -> (REST host, WebSocket host, V3 signing chain id); V3 mainnet and testnet docs, "General Info"
NETWORKS = {
    "mainnet": (DEFAULT_REST_URL, DEFAULT_WS_URL, MAINNET_CHAIN_ID),
    "testnet": ("https://fapi.asterdex-testnet.com", "wss://fstream.asterdex-testnet.com", TESTNET_CHAIN_ID),
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
}
