"""The exchange's hosts per network, and the V3 signing chain id of each."""

from __future__ import annotations

from aster_mm.exchange.signing import MAINNET_CHAIN_ID, TESTNET_CHAIN_ID

DEFAULT_REST_URL = "https://fapi.asterdex.com"
DEFAULT_WS_URL = "wss://fstream.asterdex.com"

# network -> (REST host, WebSocket host, V3 signing chain id); V3 mainnet and testnet docs, "General Info"
NETWORKS = {
    "mainnet": (DEFAULT_REST_URL, DEFAULT_WS_URL, MAINNET_CHAIN_ID),
    "testnet": ("https://fapi.asterdex-testnet.com", "wss://fstream.asterdex-testnet.com", TESTNET_CHAIN_ID),
}
