"""The account's endpoints the client offers beside the order ones: positions, balances and modes; income and
trade history (the ledger's reconciliation); commission rates; and the exchange's own safety features for a
market maker, Market Maker Protection and self-trade prevention (V3 only). A base of `AsterClient`, which
sends them (authentication, paths, rate limits, retries)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from aster_mm.core.config import MmpConfig


class CommissionRates(NamedTuple):
    maker: Decimal  # a negative rate is a rebate
    taker: Decimal


class AccountEndpoints:
    async def _request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        *,
        signed: bool = False,
        auth: bool = True,
        idempotent: bool = True,
    ) -> Any:
        raise NotImplementedError  # AsterClient sends

    def path(self, v1_path: str) -> str:
        raise NotImplementedError  # AsterClient knows the family

    async def position_rows(self, symbol: str) -> list[dict]:
        """Every positionRisk row of `symbol`: one BOTH row in one-way mode, LONG and SHORT in hedge mode."""
        return [
            r
            for r in await self._request("GET", self.path("/fapi/v2/positionRisk"), {"symbol": symbol}, signed=True)
            if r.get("symbol") == symbol
        ]

    async def wallet_balances(self) -> dict[str, Decimal]:
        rows = await self._request("GET", self.path("/fapi/v2/balance"), signed=True)
        return {r["asset"]: Decimal(r["balance"]) for r in rows}

    async def available_balance(self, multi_assets: bool) -> Decimal:
        """What the exchange says is usable for new margin: the account's availableBalance in multi-assets
        mode (other collateral counted with haircuts), USDT's availableBalance in single-asset mode."""
        if multi_assets:
            return Decimal((await self._request("GET", self.path("/fapi/v4/account"), signed=True))["availableBalance"])
        rows = await self._request("GET", self.path("/fapi/v2/balance"), signed=True)
        return next((Decimal(r["availableBalance"]) for r in rows if r["asset"] == "USDT"), Decimal(0))

    async def hedge_mode(self) -> bool:
        """True when the account holds dual-side (LONG/SHORT) positions instead of one-way."""
        answer = await self._request("GET", self.path("/fapi/v1/positionSide/dual"), signed=True)
        return str(answer.get("dualSidePosition")).lower() == "true"

    async def multi_assets_mode(self) -> bool:
        answer = await self._request("GET", self.path("/fapi/v1/multiAssetsMargin"), signed=True)
        return str(answer.get("multiAssetsMargin")).lower() == "true"

    # ----- history --------------------------------------------------------------------------
    async def income(self, symbol: str, income_type: str, start_ms: int, end_ms: int, limit: int = 1000) -> list[dict]:
        """Income history rows (REALIZED_PNL, COMMISSION, FUNDING_FEE, ...) with start <= time <= end, oldest
        first, at most `limit` (1000): the caller pages on by time."""
        params = {"symbol": symbol, "incomeType": income_type, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        return await self._request("GET", self.path("/fapi/v1/income"), params, signed=True)

    async def user_trades(self, symbol: str, start_ms: int, end_ms: int, limit: int = 1000) -> list[dict]:
        """Our trades with start <= time <= end (at most 7 days apart), oldest first, at most `limit`."""
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        return await self._request("GET", self.path("/fapi/v1/userTrades"), params, signed=True)

    # ----- fees and the exchange's safety features -------------------------------------------------
    async def commission_rates(self, symbol: str) -> CommissionRates:
        """GET /fapi/v3/commissionRate (V1: /fapi/v1/commissionRate), weight 20: the account's rates for the symbol."""
        answer = await self._request("GET", self.path("/fapi/v1/commissionRate"), {"symbol": symbol}, signed=True)
        return CommissionRates(Decimal(answer["makerCommissionRate"]), Decimal(answer["takerCommissionRate"]))

    async def set_mmp(self, symbol: str, mmp: MmpConfig) -> None:
        """POST /fapi/v3/mmp (V3 mainnet doc only; the answer is `true`); a limit left None is not sent."""
        params = {
            "symbol": symbol,
            "windowTimeInMilliseconds": mmp.window_ms,
            "frozenTimeInMilliseconds": mmp.frozen_ms,
            "qtyLimit": mmp.qty_limit,
            "valueLimit": mmp.value_limit,
            "deltaLimit": mmp.delta_limit,
        }
        await self._request("POST", "/fapi/v3/mmp", params, signed=True)

    async def reset_mmp(self, symbol: str) -> None:
        """POST /fapi/v3/mmpReset, "Reset User MMP": what it does beyond its title the docs do not say."""
        await self._request("POST", "/fapi/v3/mmpReset", {"symbol": symbol}, signed=True)

    async def set_stp_mode(self, mode: str) -> None:
        """POST /fapi/v3/stpMode: the account's self-trade prevention "on EVERY symbol" (EXPIRE_TAKER,
        EXPIRE_MAKER, EXPIRE_BOTH; the docs have no mode that turns it off)."""
        await self._request("POST", "/fapi/v3/stpMode", {"stpMode": mode}, signed=True)
