"""Market data endpoints (V3 doc, "Market Data Endpoints"; V1 the same on /fapi/v1), and the one spot
endpoint ccxt reads while loading markets. Answers follow the docs' examples field for field."""

from __future__ import annotations

from .orders import TIME_IN_FORCE, SymbolSpec
from .resource import Resource
from .wire import ApiError, decimals, fmt, fmt_unit, int_param

ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
DEPTH_LIMITS = (
    5,
    10,
    20,
    50,
    100,
    500,
    1000,
)  # Order Book: "Default 500; Valid limits:[5, 10, 20, 50, 100, 500, 1000]"


def rate_limits(weight: int = 2400, orders: int = 1200) -> list[dict]:
    """exchangeInfo's `rateLimits` (the V3 doc's example), with the limits the simulator enforces."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders},
    ]


RATE_LIMITS = rate_limits()


def symbol_info(s: SymbolSpec) -> dict:
    """One symbol of GET /fapi/v3/exchangeInfo, with the keys of the doc's example (`OrderType`, not
    Binance's `orderTypes`; `multiplierDecimal` a number)."""
    lot = {"minQty": fmt(s.min_qty), "maxQty": fmt(s.max_qty), "stepSize": fmt(s.step)}
    price = {"minPrice": fmt(s.lowest_price), "maxPrice": fmt(s.max_price), "tickSize": fmt(s.tick)}
    percent = {"multiplierUp": fmt(s.multiplier_up), "multiplierDown": fmt(s.multiplier_down), "multiplierDecimal": 4}
    return {
        "symbol": s.symbol,
        "pair": s.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1598252400000,
        "status": s.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": s.base_asset,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": decimals(s.tick),
        "quantityPrecision": decimals(s.step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.15",
        "filters": [
            {"filterType": "PRICE_FILTER", **price},
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "MARKET_LOT_SIZE", **lot},
            {"filterType": "MAX_NUM_ORDERS", "limit": s.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 100},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(s.min_notional)},
            {"filterType": "PERCENT_PRICE", **percent},
        ],
        "OrderType": ORDER_TYPES,
        "timeInForce": list(TIME_IN_FORCE),
        "liquidationFee": "0.010000",
        "marketTakeBound": "0.30",
    }


class MarketApi(Resource):
    rate_limits = RATE_LIMITS  # what exchangeInfo publishes: the limits enforced (SimExchange sets them)

    async def ping(self, params: dict) -> dict:
        return {}

    async def time(self, params: dict) -> dict:
        return {"serverTime": self._now()}

    async def exchange_info(self, params: dict) -> dict:
        return {
            "exchangeFilters": [],
            "rateLimits": self.rate_limits,
            "serverTime": self._now(),
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": 0} for a in self._accounts.wallet],
            "symbols": [symbol_info(s) for s in self._engine.symbols.values()],
            "timezone": "UTC",
        }

    async def spot_exchange_info(self, params: dict) -> dict:
        """GET /api/v3/exchangeInfo (spot V3 doc): the simulator has no spot market, so no symbols."""
        return {
            "timezone": "UTC",
            "serverTime": self._now(),
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "assets": [{"asset": a} for a in self._accounts.wallet],
            "symbols": [],
        }

    async def depth(self, params: dict) -> dict:
        symbol, limit = self._symbol(params), int_param(params, "limit") or 500
        if limit not in DEPTH_LIMITS:
            raise ApiError(-4021, f"'{limit}' is not valid depth limit.")
        frame = self._engine.depth_frame(symbol, limit)
        return {"lastUpdateId": frame["u"], "E": frame["E"], "T": frame["T"], "bids": frame["b"], "asks": frame["a"]}

    async def trades(self, params: dict) -> list:
        """Recent Trades List; Old Trades Lookup (the same with `fromId`)."""
        return self._engine.tape.trades(self._symbol(params), params)

    async def agg_trades(self, params: dict) -> list:
        return self._engine.tape.agg_trades(self._symbol(params), params)

    async def klines(self, params: dict) -> list:
        return self._engine.tape.klines(self._symbol(params), params)

    def _one_or_all(self, params: dict, rows: list) -> dict | list:
        """The docs: "If the symbol is not sent, ... for all symbols will be returned in an array."."""
        return rows[0] if params.get("symbol") else rows

    async def ticker_24hr(self, params: dict) -> dict | list:
        now, tape = self._now(), self._engine.tape
        rows = [tape.ticker_24h(s, now, self._accounts.mark(s)) for s in self._symbols(params)]
        return self._one_or_all(params, rows)

    async def ticker_price(self, params: dict) -> dict | list:
        """Symbol Price Ticker, "Latest price for a symbol": the last trade, or the mid while there is none (A45)."""
        rows = []
        for s in self._symbols(params):
            last = self._engine.tape.last(s)
            price = last.price if last else self._accounts.mark(s)
            rows.append({"symbol": s, "price": fmt(price), "time": last.time if last else self._now()})
        return self._one_or_all(params, rows)

    async def book_ticker(self, params: dict) -> dict | list:
        rows = []
        for s in self._symbols(params):
            book, spec = self._engine.books[s], self._engine.symbols[s]
            bid, ask = book.bids[:1] or [(None, None)], book.asks[:1] or [(None, None)]
            rows.append(
                {
                    "symbol": s,
                    "bidPrice": fmt_unit(bid[0][0] or 0, spec.tick),
                    "bidQty": fmt_unit(bid[0][1] or 0, spec.step),
                    "askPrice": fmt_unit(ask[0][0] or 0, spec.tick),
                    "askQty": fmt_unit(ask[0][1] or 0, spec.step),
                    "time": self._now(),
                }
            )
        return self._one_or_all(params, rows)

    async def premium_index(self, params: dict) -> dict | list:
        """Mark Price: mark = index = estimated settle price = the mid; the funding rate is the last settled or
        set one; no interest rate is modelled (A45)."""
        rows = []
        for s in self._symbols(params):
            frame = self._engine.mark_price_frame(s)
            rows.append(
                {
                    "symbol": s,
                    "markPrice": frame["p"],
                    "indexPrice": frame["i"],
                    "estimatedSettlePrice": frame["P"],
                    "lastFundingRate": frame["r"],
                    "nextFundingTime": frame["T"],
                    "interestRate": "0",
                    "time": frame["E"],
                }
            )
        return self._one_or_all(params, rows)

    async def funding_rate(self, params: dict) -> list:
        if params.get("symbol"):
            self._symbol(params)
        return self._engine.tape.funding_history(params)
