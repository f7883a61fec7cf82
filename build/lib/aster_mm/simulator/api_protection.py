"""The exchange's safety features and the V3-only account calls: self-trade prevention mode ("Change STP Mode",
"Get Current STP Mode"), Market Maker Protection ("Update/Get/Delete/Reset User MMP"), builders (the official
demo's approveBuilder and GET builder: recorded only, they change no fee, A49) and Noop."""

from __future__ import annotations

from .options import STP_MODES
from .resource import Resource
from .wire import invalid, mandatory

SUCCESS = {"code": 200, "msg": "success"}


class ProtectionApi(Resource):
    async def set_stp_mode(self, params: dict) -> dict:
        """Change STP Mode: "Change user's Self-Trade Prevention (STP) mode on EVERY symbol"."""
        mode = mandatory(params, "stpMode")
        if mode not in STP_MODES:
            raise invalid("stpMode")
        self._accounts.stp_mode = mode
        return SUCCESS

    async def stp_mode(self, params: dict) -> dict:
        return {"stpMode": self._accounts.stp_mode}

    async def set_mmp(self, params: dict) -> bool:
        self._engine.mmp.configure(self._symbol(params), params)
        return True

    async def mmp(self, params: dict) -> list:
        symbol = self._symbol(params) if params.get("symbol") else None
        return self._engine.mmp.rows(symbol)

    async def delete_mmp(self, params: dict) -> bool:
        self._engine.mmp.delete(self._symbol(params))
        return True

    async def reset_mmp(self, params: dict) -> bool:
        self._engine.mmp.reset(self._symbol(params))
        return True

    async def builders(self, params: dict) -> list:
        return list(self._accounts.builders.values())

    async def approve_builder(self, params: dict) -> dict:
        """demo/aster-code.py: builder, maxFeeRate, builderName, signed by the main wallet ("main": True)."""
        builder = mandatory(params, "builder")
        self._accounts.builders[builder.lower()] = {
            "userAddress": mandatory(params, "user"),
            "builderAddress": builder,
            "maxFeeRate": mandatory(params, "maxFeeRate"),
            "builderName": params.get("builderName", ""),
        }
        return SUCCESS

    async def noop(self, params: dict) -> dict:
        """Noop: "it is possible to efficiently cancel previously sent transactions that are still in the queue
        ... (Nonce should be equal to this request)". Requests here never queue: it only uses up its nonce."""
        return SUCCESS
