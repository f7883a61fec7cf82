"""Account endpoints (V3 doc, "Account/Trades Endpoints" and "User Data Streams"): balance, account,
positions, income, trades, leverage, margin type, position and multi-assets modes, commission rate, leverage
brackets, and the listenKey of the user stream."""

from __future__ import annotations

from . import account_views as views
from .accounts import MAX_NOTIONAL
from .resource import Resource
from .wire import ApiError, fmt, invalid, mandatory

MAX_LEVERAGE = 125  # Change Initial Leverage: "target initial leverage: int from 1 to 125"


class AccountApi(Resource):
    async def position_risk(self, params: dict) -> list:
        return [row for s in self._symbols(params) for row in views.position_rows(self._accounts, s)]

    async def balance(self, params: dict) -> list:
        return views.balance_rows(self._accounts, self._engine.open(), self._now())

    async def account(self, params: dict) -> dict:
        return views.account_body(self._accounts, self._engine.open(), self._now())

    async def income(self, params: dict) -> list:
        if params.get("symbol"):
            self._symbol(params)
        return self._accounts.history.income_rows(params, self._now())

    async def user_trades(self, params: dict) -> list:
        return self._accounts.history.user_trades(self._symbol(params), params, self._now())

    async def commission_rate(self, params: dict) -> dict:
        """User Commission Rate: {"symbol", "makerCommissionRate", "takerCommissionRate"} (a negative maker
        rate is a rebate, A30)."""
        acc = self._accounts
        return {
            "symbol": self._symbol(params),
            "makerCommissionRate": fmt(acc.maker_fee),
            "takerCommissionRate": fmt(acc.taker_fee),
        }

    async def leverage_bracket(self, params: dict) -> dict | list:
        """Notional and Leverage Brackets: one bracket per symbol here (A48); "the single object when symbol
        is sent"."""
        rows = [
            {
                "symbol": s,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": MAX_LEVERAGE,
                        "notionalCap": int(MAX_NOTIONAL),
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0,
                    }
                ],
            }
            for s in self._symbols(params)
        ]
        return rows[0] if params.get("symbol") else rows

    async def leverage(self, params: dict) -> dict:
        symbol, text = self._symbol(params), mandatory(params, "leverage")
        leverage = int(text) if text.isdigit() else 0
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise ApiError(-4028, f"Leverage {text} is not valid")
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

    async def margin_type(self, params: dict) -> dict:
        symbol, kind = self._symbol(params), mandatory(params, "marginType")
        if kind not in ("ISOLATED", "CROSSED"):
            raise invalid("marginType")
        pos = self._accounts.positions[symbol]
        wanted = "isolated" if kind == "ISOLATED" else "cross"
        if pos.margin_type == wanted:
            raise ApiError(-4046, "No need to change margin type.")
        if self._engine.open(symbol):
            raise ApiError(-4047, "Margin type cannot be changed if there exists open orders.")
        if pos.amt:
            raise ApiError(-4048, "Margin type cannot be changed if there exists position.")
        pos.margin_type = wanted
        return {"code": 200, "msg": "success"}

    async def position_mode(self, params: dict) -> dict:
        return {"dualSidePosition": self._accounts.dual_side}

    async def set_position_mode(self, params: dict) -> dict:
        dual = mandatory(params, "dualSidePosition").lower() == "true"
        if dual == self._accounts.dual_side:
            raise ApiError(-4059, "No need to change position side.")
        if self._engine.open():
            raise ApiError(-4067, "Position side cannot be changed if there exists open orders.")
        if any(p.amt for p in self._accounts.positions.values()):
            raise ApiError(-4068, "Position side cannot be changed if there exists position.")
        await self.switch_modes(dual_side=dual)
        return {"code": 200, "msg": "success"}

    async def multi_assets(self, params: dict) -> dict:
        return {"multiAssetsMargin": self._accounts.multi_assets}

    async def set_multi_assets(self, params: dict) -> dict:
        await self.switch_modes(multi_assets=mandatory(params, "multiAssetsMargin").lower() == "true")
        return {"code": 200, "msg": "success"}

    async def switch_modes(self, dual_side: bool | None = None, multi_assets: bool | None = None) -> None:
        """Change the account's position or margin mode and push ACCOUNT_CONFIG_UPDATE `ai` (`j` multi-assets
        mode, `d` dual-side position mode)."""
        acc = self._accounts
        acc.dual_side = acc.dual_side if dual_side is None else dual_side
        acc.multi_assets = acc.multi_assets if multi_assets is None else multi_assets
        now = self._now()
        config = {"j": acc.multi_assets, "f": False, "d": acc.dual_side}
        await self._engine.push_user({"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now, "ai": config})

    # ---------------------------------------------------------------- user stream
    async def listen_key_new(self, params: dict) -> dict:
        """Start a user stream: "If the account has an active listenKey, that listenKey will be returned".
        The key never expires by itself here (A43)."""
        return {"listenKey": self._streams.new_listen_key()}

    async def listen_key_keepalive(self, params: dict) -> dict:
        key = params.get("listenKey")
        if self._streams.listen_key is None or key not in (None, "", self._streams.listen_key):
            raise ApiError(-1125, "This listenKey does not exist.")
        return {}

    async def listen_key_close(self, params: dict) -> dict:
        self._streams.listen_key = None
        await self._streams.drop("user")
        return {}
