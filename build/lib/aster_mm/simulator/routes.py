"""Every REST endpoint the simulator serves: its handler, its weight and its security, as the docs give them.

V1 paths (aster-finance-futures-api.md) are signed with the API key and HMAC ("key": the API key only, as
V1's USER_STREAM and MARKET_DATA endpoints). Their V3 twins (aster-finance-futures-api-v3.md) run the same
handler and answer the same, with V3 security: "v3" is an agent wallet's EIP-712 signature (TRADE,
USER_DATA, USER_STREAM), "main" the main wallet's own typed-data signature (approveBuilder), "none" is
public. `ENDPOINT` maps each V3 path to its V1 name, what tests ask for. Anything not in `ROUTES` is
answered "not simulated" (wire.not_simulated).

A weight is a number, or a function of the parameters where the docs make it depend on them.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass

Weight = int | Callable[[dict], int]


@dataclass(frozen=True)
class Route:
    handler: str  # "<resource>.<method>" of the RestApi
    weight: Weight
    security: str  # "none" | "key" | "signed" | "v3" | "main"
    orders: Weight = 0  # how many orders it places: counted on the ORDERS limiter

    def weight_of(self, params: dict) -> int:
        return self.weight(params) if callable(self.weight) else self.weight

    def orders_of(self, params: dict) -> int:
        return self.orders(params) if callable(self.orders) else self.orders


def per_symbol(single: int, every: int) -> Weight:
    """A weight by symbol: "1 for a single symbol; 40 when the symbol parameter is omitted" and the like."""
    return lambda params: single if params.get("symbol") else every


def depth_weight(params: dict) -> int:
    """Order Book: "Weight by limit: 5, 10, 20, 50 -> 2; 100 -> 5; 500 -> 10; 1000 -> 20", default 500."""
    limit = str(params.get("limit") or 500)
    return {"100": 5, "500": 10, "1000": 20}.get(limit, 2)


def kline_weight(params: dict) -> int:
    """Klines: "[1,100) 1; [100, 500) 2; [500, 1000] 5; > 1000 10", default limit 500."""
    limit = int(params.get("limit") or 500) if str(params.get("limit") or 500).isdigit() else 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def parse_list(text: str) -> list:
    """A LIST parameter: JSON, or the single-quoted Python literal the docs' own demo sends
    ("[{'symbol':'ASTERUSDT','type':'LIMIT',...}]", V3 doc, "Place Multiple Orders")."""
    try:
        value = json.loads(text)
    except ValueError:
        value = ast.literal_eval(text)
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def batch_size(params: dict) -> int:
    try:
        return len(parse_list(params.get("batchOrders") or "[]"))
    except (ValueError, SyntaxError):
        return 0


V1 = {
    ("GET", "/fapi/v1/ping"): Route("market.ping", 1, "none"),
    ("GET", "/fapi/v1/time"): Route("market.time", 1, "none"),
    ("GET", "/fapi/v1/exchangeInfo"): Route("market.exchange_info", 1, "none"),
    ("GET", "/fapi/v1/depth"): Route("market.depth", depth_weight, "none"),
    ("GET", "/fapi/v1/trades"): Route("market.trades", 1, "none"),
    ("GET", "/fapi/v1/historicalTrades"): Route("market.trades", 20, "key"),
    ("GET", "/fapi/v1/aggTrades"): Route("market.agg_trades", 20, "none"),
    ("GET", "/fapi/v1/klines"): Route("market.klines", kline_weight, "none"),
    ("GET", "/fapi/v1/ticker/24hr"): Route("market.ticker_24hr", per_symbol(1, 40), "none"),
    ("GET", "/fapi/v1/ticker/price"): Route("market.ticker_price", per_symbol(1, 2), "none"),
    ("GET", "/fapi/v1/ticker/bookTicker"): Route("market.book_ticker", per_symbol(1, 2), "none"),
    ("GET", "/fapi/v1/premiumIndex"): Route("market.premium_index", 1, "none"),
    ("GET", "/fapi/v1/fundingRate"): Route("market.funding_rate", 1, "none"),
    ("POST", "/fapi/v1/order"): Route("orders.new_order", 1, "signed", orders=1),
    ("DELETE", "/fapi/v1/order"): Route("orders.cancel_order", 1, "signed"),
    ("GET", "/fapi/v1/order"): Route("orders.query_order", 1, "signed"),
    ("GET", "/fapi/v1/openOrder"): Route("orders.open_order", 1, "signed"),
    ("GET", "/fapi/v1/openOrders"): Route("orders.open_orders", per_symbol(1, 40), "signed"),
    ("GET", "/fapi/v1/allOrders"): Route("orders.all_orders", 5, "signed"),
    ("POST", "/fapi/v1/batchOrders"): Route("orders.batch_orders", 5, "signed", orders=batch_size),
    ("DELETE", "/fapi/v1/batchOrders"): Route("orders.batch_cancel", 1, "signed"),
    ("DELETE", "/fapi/v1/allOpenOrders"): Route("orders.cancel_all", 1, "signed"),
    ("POST", "/fapi/v1/countdownCancelAll"): Route("orders.countdown", 10, "signed"),
    ("GET", "/fapi/v2/positionRisk"): Route("account.position_risk", 5, "signed"),
    ("GET", "/fapi/v2/balance"): Route("account.balance", 5, "signed"),
    ("GET", "/fapi/v4/account"): Route("account.account", 5, "signed"),
    ("GET", "/fapi/v1/income"): Route("account.income", 30, "signed"),
    ("GET", "/fapi/v1/userTrades"): Route("account.user_trades", 5, "signed"),
    ("POST", "/fapi/v1/leverage"): Route("account.leverage", 1, "signed"),
    ("POST", "/fapi/v1/marginType"): Route("account.margin_type", 1, "signed"),
    ("GET", "/fapi/v1/positionSide/dual"): Route("account.position_mode", 30, "signed"),
    ("POST", "/fapi/v1/positionSide/dual"): Route("account.set_position_mode", 1, "signed"),
    ("GET", "/fapi/v1/multiAssetsMargin"): Route("account.multi_assets", 30, "signed"),
    ("POST", "/fapi/v1/multiAssetsMargin"): Route("account.set_multi_assets", 1, "signed"),
    ("GET", "/fapi/v1/commissionRate"): Route("account.commission_rate", 20, "signed"),
    ("GET", "/fapi/v1/leverageBracket"): Route("account.leverage_bracket", 1, "signed"),
    ("POST", "/fapi/v1/listenKey"): Route("account.listen_key_new", 1, "key"),
    ("PUT", "/fapi/v1/listenKey"): Route("account.listen_key_keepalive", 1, "key"),
    ("DELETE", "/fapi/v1/listenKey"): Route("account.listen_key_close", 1, "key"),
}

# V1 path -> V3 path of the same endpoint (the V3 doc; the account is "Account Information v3")
V3_PATHS = {
    path: path.replace("/fapi/v1/", "/fapi/v3/").replace("/fapi/v2/", "/fapi/v3/")
    for _, path in V1
    if path != "/fapi/v4/account"
} | {"/fapi/v4/account": "/fapi/v3/accountWithJoinMargin"}

V3_ONLY = {
    # "Modify Order (TRADE)", weight 1 (counts on ORDERS only when RateLimits.count_modifications, A34)
    ("PUT", "/fapi/v3/order"): Route("orders.modify_order", 1, "v3"),
    ("POST", "/fapi/v3/stpMode"): Route("protection.set_stp_mode", 1, "v3"),
    ("GET", "/fapi/v3/stpMode"): Route("protection.stp_mode", 30, "v3"),
    ("POST", "/fapi/v3/mmp"): Route("protection.set_mmp", 1, "v3"),
    ("GET", "/fapi/v3/mmp"): Route("protection.mmp", 1, "v3"),
    ("DELETE", "/fapi/v3/mmp"): Route("protection.delete_mmp", 1, "v3"),
    ("POST", "/fapi/v3/mmpReset"): Route("protection.reset_mmp", 1, "v3"),
    ("POST", "/fapi/v3/noop"): Route("protection.noop", 1, "v3"),
    # not in the doc's tables; the official demo (demo/aster-code.py) and ccxt call them. Weights unknown.
    ("GET", "/fapi/v3/builder"): Route("protection.builders", 1, "v3"),
    ("POST", "/fapi/v3/approveBuilder"): Route("protection.approve_builder", 1, "main"),
    # spot: ccxt's load_markets reads it first (spot V3 doc, "Exchange information", weight 1)
    ("GET", "/api/v3/exchangeInfo"): Route("market.spot_exchange_info", 1, "none"),
}

ROUTES: dict[tuple[str, str], Route] = dict(V1)
ROUTES.update(
    {
        (method, V3_PATHS[path]): Route(
            r.handler, r.weight, "none" if r.security in ("none", "key") and "listenKey" not in path else "v3", r.orders
        )
        for (method, path), r in V1.items()
    }
)
ROUTES.update(V3_ONLY)
ENDPOINT = {v3: v1 for v1, v3 in V3_PATHS.items()}
