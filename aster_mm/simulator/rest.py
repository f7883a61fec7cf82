"""The REST API: the route table (routes.py) bound to its handlers, one group per resource (api_market,
api_orders, api_account, api_protection). A handler takes the request's parameters and returns the answer's
body, or raises ApiError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .accounts import Accounts
from .api_account import AccountApi
from .api_market import MarketApi
from .api_orders import OrderApi
from .api_protection import ProtectionApi
from .engine import Engine
from .routes import ENDPOINT, ROUTES, V3_PATHS, Route

if TYPE_CHECKING:
    from .streams import Streams

__all__ = ["ENDPOINT", "ROUTES", "V3_PATHS", "RestApi", "Route"]

Handler = Callable[[dict], Awaitable[Any]]


class RestApi:
    def __init__(self, engine: Engine, accounts: Accounts, streams: Streams):
        self.market = MarketApi(engine, accounts, streams)
        self.orders = OrderApi(engine, accounts, streams)
        self.account = AccountApi(engine, accounts, streams)
        self.protection = ProtectionApi(engine, accounts, streams)

    def handler(self, route: Route) -> Handler:
        group, name = route.handler.split(".")
        handler: Handler = getattr(getattr(self, group), name)
        return handler

    async def switch_modes(self, dual_side: bool | None = None, multi_assets: bool | None = None) -> None:
        await self.account.switch_modes(dual_side, multi_assets)

    async def change_leverage(self, symbol: str, leverage: int) -> None:
        await self.account.change_leverage(symbol, leverage)
