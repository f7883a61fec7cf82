"""The REST endpoints: the route table (method, path -> handler, weight, security) and the handlers,
each turning request parameters into engine and account calls and the answer into the exchange's JSON.

Endpoint shapes follow the Aster futures API docs (`asterdex/api-docs`, aster-finance-futures-api.md).
Every endpoint also answers on its /fapi/v3 path (aster-finance-futures-api-v3.md) with V3 security,
the same handler and the same answer; `ENDPOINT` maps each path to its V1 name, what tests ask for.
"""

from __future__ import annotations

import json

from .accounts import MAX_NOTIONAL, Accounts
from .engine import Engine
from .orders import SymbolSpec
from .streams import Streams
from .wire import ApiError, decimals, fmt, mandatory

# (method, path) -> (handler name, weight, security: "none" | "key" | "signed")
ROUTES = {
    ("GET", "/fapi/v1/ping"): ("h_ping", 1, "none"),
    ("GET", "/fapi/v1/time"): ("h_time", 1, "none"),
    ("GET", "/fapi/v1/exchangeInfo"): ("h_exchange_info", 1, "none"),
    ("GET", "/fapi/v1/depth"): ("h_depth", 2, "none"),
    ("POST", "/fapi/v1/order"): ("h_new_order", 1, "signed"),
    ("DELETE", "/fapi/v1/order"): ("h_cancel_order", 1, "signed"),
    ("GET", "/fapi/v1/order"): ("h_query_order", 1, "signed"),
    ("POST", "/fapi/v1/batchOrders"): ("h_batch_orders", 5, "signed"),
    ("DELETE", "/fapi/v1/batchOrders"): ("h_batch_cancel", 1, "signed"),
    ("DELETE", "/fapi/v1/allOpenOrders"): ("h_cancel_all", 1, "signed"),
    ("GET", "/fapi/v1/openOrders"): ("h_open_orders", 1, "signed"),
    ("POST", "/fapi/v1/countdownCancelAll"): ("h_countdown", 10, "signed"),
    ("GET", "/fapi/v2/positionRisk"): ("h_position_risk", 5, "signed"),
    ("GET", "/fapi/v2/balance"): ("h_balance", 5, "signed"),
    ("GET", "/fapi/v4/account"): ("h_account", 5, "signed"),
    ("GET", "/fapi/v1/income"): ("h_income", 30, "signed"),
    ("GET", "/fapi/v1/userTrades"): ("h_user_trades", 5, "signed"),
    ("POST", "/fapi/v1/leverage"): ("h_leverage", 1, "signed"),
    ("POST", "/fapi/v1/marginType"): ("h_margin_type", 1, "signed"),
    ("GET", "/fapi/v1/positionSide/dual"): ("h_position_mode", 30, "signed"),
    ("POST", "/fapi/v1/positionSide/dual"): ("h_set_position_mode", 1, "signed"),
    ("GET", "/fapi/v1/multiAssetsMargin"): ("h_multi_assets", 30, "signed"),
    ("POST", "/fapi/v1/multiAssetsMargin"): ("h_set_multi_assets", 1, "signed"),
    ("POST", "/fapi/v1/listenKey"): ("h_listen_key_new", 1, "key"),
    ("PUT", "/fapi/v1/listenKey"): ("h_listen_key_keepalive", 1, "key"),
    ("DELETE", "/fapi/v1/listenKey"): ("h_listen_key_close", 1, "key"),
}

# V1 path -> V3 path of the same endpoint (V3 doc; account is "Account Information v3")
V3_PATHS = {
    "/fapi/v1/ping": "/fapi/v3/ping",
    "/fapi/v1/time": "/fapi/v3/time",
    "/fapi/v1/exchangeInfo": "/fapi/v3/exchangeInfo",
    "/fapi/v1/depth": "/fapi/v3/depth",
    "/fapi/v1/order": "/fapi/v3/order",
    "/fapi/v1/batchOrders": "/fapi/v3/batchOrders",
    "/fapi/v1/allOpenOrders": "/fapi/v3/allOpenOrders",
    "/fapi/v1/openOrders": "/fapi/v3/openOrders",
    "/fapi/v1/countdownCancelAll": "/fapi/v3/countdownCancelAll",
    "/fapi/v2/positionRisk": "/fapi/v3/positionRisk",
    "/fapi/v2/balance": "/fapi/v3/balance",
    "/fapi/v4/account": "/fapi/v3/accountWithJoinMargin",
    "/fapi/v1/leverage": "/fapi/v3/leverage",
    "/fapi/v1/marginType": "/fapi/v3/marginType",
    "/fapi/v1/positionSide/dual": "/fapi/v3/positionSide/dual",
    "/fapi/v1/multiAssetsMargin": "/fapi/v3/multiAssetsMargin",
    "/fapi/v1/listenKey": "/fapi/v3/listenKey",
    "/fapi/v1/income": "/fapi/v3/income",
    "/fapi/v1/userTrades": "/fapi/v3/userTrades",
}
ENDPOINT = {V3_PATHS[path]: path for _, path in ROUTES if path in V3_PATHS}
ROUTES.update(
    {
        (method, V3_PATHS[path]): (name, weight, "none" if security == "none" else "v3")
        for (method, path), (name, weight, security) in list(ROUTES.items())
        if path in V3_PATHS
    }
)
# Modify Order exists on V3 only ("Modify Order (TRADE)", PUT /fapi/v3/order, weight 1)
ROUTES[("PUT", "/fapi/v3/order")] = ("h_modify_order", 1, "v3")


def symbol_info(s: SymbolSpec) -> dict:
    """One symbol of GET /fapi/v1/exchangeInfo."""
    lot = {"minQty": fmt(s.min_qty), "maxQty": fmt(s.max_qty), "stepSize": fmt(s.step)}
    return {
        "symbol": s.symbol,
        "pair": s.symbol,
        "contractType": "PERPETUAL",
        "status": s.status,
        "baseAsset": s.base_asset,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": decimals(s.tick),
        "quantityPrecision": decimals(s.step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick), "maxPrice": "1000000", "tickSize": fmt(s.tick)},
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "MARKET_LOT_SIZE", **lot},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(s.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


class RestApi:
    def __init__(self, engine: Engine, accounts: Accounts, streams: Streams):
        self._engine, self._accounts, self._streams = engine, accounts, streams

    def _now(self) -> int:
        return self._engine.clock.now_ms()

    def _symbol(self, params: dict) -> str:
        return self._engine.spec(mandatory(params, "symbol")).symbol

    async def h_ping(self, params: dict) -> dict:
        return {}

    async def h_time(self, params: dict) -> dict:
        return {"serverTime": self._now()}

    async def h_exchange_info(self, params: dict) -> dict:
        return {
            "timezone": "UTC",
            "serverTime": self._now(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in self._accounts.wallet],
            "symbols": [symbol_info(s) for s in self._engine.symbols.values()],
        }

    async def h_depth(self, params: dict) -> dict:
        frame = self._engine.depth_frame(self._symbol(params), int(params.get("limit") or 20))
        return {"lastUpdateId": frame["u"], "E": frame["E"], "T": frame["T"], "bids": frame["b"], "asks": frame["a"]}

    # ---------------------------------------------------------------- orders
    async def h_new_order(self, params: dict) -> dict:
        # newOrderRespType ACK answers at once, before matching: the order as accepted, status NEW. The
        # final state (an expired post-only order, a fill) is only on the user stream. RESULT (the
        # default here) answers the state after matching.
        if params.get("newOrderRespType") == "ACK":
            return (await self._engine.place(params, ack=True)).accepted_dict()
        return (await self._engine.place(params)).to_dict()

    async def h_modify_order(self, params: dict) -> dict:
        return (await self._engine.modify(params)).to_dict()

    async def h_batch_orders(self, params: dict) -> list:
        try:
            batch = json.loads(mandatory(params, "batchOrders"))
        except ValueError:
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(batch, list) or not 1 <= len(batch) <= 5:
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        results = []
        for item in batch:
            try:
                results.append((await self._engine.place({k: str(v) for k, v in item.items()})).to_dict())
            except ApiError as err:
                results.append(err.body())
        return results

    async def h_cancel_order(self, params: dict) -> dict:
        order = self._engine.find_order(params, ApiError(-2011, "Unknown order sent."))
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        await self._engine.finish(order, "CANCELED")
        return order.to_dict()

    async def h_batch_cancel(self, params: dict) -> list:
        symbol = mandatory(params, "symbol")
        ids = json.loads(params.get("orderIdList") or "[]")
        cids = json.loads(params.get("origClientOrderIdList") or "[]")
        results = []
        for key, value in [("orderId", str(i)) for i in ids] + [("origClientOrderId", c) for c in cids]:
            try:
                results.append(await self.h_cancel_order({"symbol": symbol, key: value}))
            except ApiError as err:
                results.append(err.body())
        return results

    async def h_query_order(self, params: dict) -> dict:
        return self._engine.find_order(params, ApiError(-2013, "Order does not exist.")).to_dict()

    async def h_cancel_all(self, params: dict) -> dict:
        await self._engine.cancel_all(self._symbol(params))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def h_open_orders(self, params: dict) -> list:
        symbol = self._engine.spec(params["symbol"]).symbol if params.get("symbol") else None
        return [o.to_dict() for o in self._engine.open(symbol)]

    async def h_countdown(self, params: dict) -> dict:
        symbol = self._symbol(params)
        countdown = int(mandatory(params, "countdownTime"))
        self._engine.countdown(symbol, countdown)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    # ---------------------------------------------------------------- account
    async def h_position_risk(self, params: dict) -> list:
        symbols = [self._engine.spec(params["symbol"]).symbol] if params.get("symbol") else self._engine.symbols
        return [row for s in symbols for row in self._accounts.position_rows(s)]

    async def h_balance(self, params: dict) -> list:
        return self._accounts.balance_rows(self._engine.open(), self._now())

    async def h_account(self, params: dict) -> dict:
        return self._accounts.account_body(self._engine.open(), self._now())

    async def h_income(self, params: dict) -> list:
        if params.get("symbol"):
            self._symbol(params)
        return self._accounts.history.income_rows(params, self._now())

    async def h_user_trades(self, params: dict) -> list:
        return self._accounts.history.user_trades(self._symbol(params), params, self._now())

    async def h_leverage(self, params: dict) -> dict:
        symbol = self._symbol(params)
        try:
            leverage = int(mandatory(params, "leverage"))
        except ValueError:
            leverage = 0
        if not 1 <= leverage <= 125:
            raise ApiError(-4028, "Leverage is not valid")
        if self._accounts.leverage_locked:
            raise ApiError(-4161, "Leverage reduction is not supported in Isolated Margin Mode with open positions")
        await self.change_leverage(symbol, leverage)
        return {"leverage": leverage, "maxNotionalValue": fmt(MAX_NOTIONAL), "symbol": symbol}

    async def change_leverage(self, symbol: str, leverage: int) -> None:
        """Set the leverage and push ACCOUNT_CONFIG_UPDATE `ac` (also when the user changes it elsewhere)."""
        self._accounts.positions[symbol].leverage = leverage
        now = self._now()
        await self._engine.push_user(
            {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now, "ac": {"s": symbol, "l": leverage}}
        )

    async def h_margin_type(self, params: dict) -> dict:
        symbol, kind = self._symbol(params), mandatory(params, "marginType")
        if kind not in ("ISOLATED", "CROSSED"):
            raise ApiError(-1116, "Invalid marginType.")
        pos = self._accounts.positions[symbol]
        wanted = "isolated" if kind == "ISOLATED" else "cross"
        if pos.margin_type == wanted:
            raise ApiError(-4046, "No need to change margin type.")
        if pos.amt:
            raise ApiError(-4048, "Margin type cannot be changed if there exists position.")
        pos.margin_type = wanted
        return {"code": 200, "msg": "success"}

    async def h_position_mode(self, params: dict) -> dict:
        return {"dualSidePosition": self._accounts.dual_side}

    async def h_set_position_mode(self, params: dict) -> dict:
        dual = mandatory(params, "dualSidePosition").lower() == "true"
        if dual == self._accounts.dual_side:
            raise ApiError(-4059, "No need to change position side.")
        if self._engine.open():
            raise ApiError(-4062, "Position side cannot be changed if there exists open orders.")
        if any(p.amt for p in self._accounts.positions.values()):
            raise ApiError(-4068, "Position side cannot be changed if there exists position.")
        await self.switch_modes(dual_side=dual)
        return {"code": 200, "msg": "success"}

    async def h_multi_assets(self, params: dict) -> dict:
        return {"multiAssetsMargin": self._accounts.multi_assets}

    async def h_set_multi_assets(self, params: dict) -> dict:
        await self.switch_modes(multi_assets=mandatory(params, "multiAssetsMargin").lower() == "true")
        return {"code": 200, "msg": "success"}

    async def switch_modes(self, dual_side: bool | None = None, multi_assets: bool | None = None) -> None:
        """Change the account's position or margin mode and push ACCOUNT_CONFIG_UPDATE `ai` (the V1
        doc: `j` multi-assets mode, `d` dual-side position mode)."""
        acc = self._accounts
        acc.dual_side = acc.dual_side if dual_side is None else dual_side
        acc.multi_assets = acc.multi_assets if multi_assets is None else multi_assets
        now = self._now()
        await self._engine.push_user(
            {
                "e": "ACCOUNT_CONFIG_UPDATE",
                "E": now,
                "T": now,
                "ai": {"j": acc.multi_assets, "f": False, "d": acc.dual_side},
            }
        )

    # ---------------------------------------------------------------- user stream
    async def h_listen_key_new(self, params: dict) -> dict:
        return {"listenKey": self._streams.new_listen_key()}

    async def h_listen_key_keepalive(self, params: dict) -> dict:
        key = params.get("listenKey")
        if self._streams.listen_key is None or key not in (None, "", self._streams.listen_key):
            raise ApiError(-1125, "This listenKey does not exist.")
        return {}

    async def h_listen_key_close(self, params: dict) -> dict:
        self._streams.listen_key = None
        await self._streams.drop("user")
        return {}
