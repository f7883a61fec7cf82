"""The account states a real user has, checked rather than assumed.

Position mode (hedge mode cannot be traded by this bot), margin mode and the balance usable for new
margin, the symbol's leverage and margin type (set when flat, confirmed before every opening order),
and the symbol's rules and status (a symbol that leaves TRADING makes the bot close-only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aster_mm.core import codes
from aster_mm.core.config import Config, Timings
from aster_mm.core.rules import SymbolRules
from aster_mm.core.state import LIQUIDATION, StrategyState
from aster_mm.exchange.client import AsterClient, ExchangeError

log = logging.getLogger("mm")

HEDGE_MODE_HELP = (
    "the account is in hedge mode (dual-side LONG/SHORT positions), which this bot does not "
    "trade: switch it to one-way mode (Aster futures: Settings > Position mode > One-way, or "
    "POST /fapi/v1/positionSide/dual with dualSidePosition=false) while flat, then restart"
)
SYMBOL_CAUSE = "symbol"


class AccountGuard:
    def __init__(
        self, client: AsterClient, cfg: Config, state: StrategyState, timings: Timings, now: Callable[[], float]
    ):
        self.client, self.cfg, self.state, self.t, self.now = client, cfg, state, timings, now
        self.symbol = cfg.symbol
        self.rules: SymbolRules | None = None
        self.next_rules = 0.0
        self._settings_failed = ""  # why the configured leverage or margin type is not in force
        self.next_settings_try = 0.0

    # ----- modes and balance -----
    async def read_modes(self) -> None:
        """Position mode and margin mode. An exchange without these endpoints (404) is taken as one-way,
        single-asset."""
        try:
            self.state.hedge_mode = self.state.hedge_mode or await self.client.hedge_mode()
            self.state.multi_assets = await self.client.multi_assets_mode()
        except ExchangeError as err:
            if err.status != 404:
                raise
            log.warning("position or margin mode unknown (%s): assuming one-way, single-asset", err)

    async def refresh_available(self) -> None:
        """The balance new orders may use, as the exchange says; logged with the mode it came from."""
        before = self.state.available
        self.state.available = await self.client.available_balance(self.state.multi_assets)
        self.state.wallet_dirty = False
        if self.state.available != before:
            mode = (
                "multi-assets (account availableBalance)"
                if self.state.multi_assets
                else "single-asset (USDT availableBalance)"
            )
            log.info("sizing from %s margin mode: available %s", mode, self.state.available)

    # ----- leverage and margin type -----
    async def apply_settings(self) -> None:
        """Set the configured leverage and margin type (only while flat: the exchange may refuse
        changes with a position open). Remembers why, if either could not be set."""
        self._settings_failed = ""
        try:
            if self.cfg.margin_type and self.state.margin_type != self.cfg.margin_type:
                await self.client.set_margin_type(self.symbol, self.cfg.margin_type)
                self.state.margin_type = self.cfg.margin_type
            if self.state.leverage != self.cfg.leverage:
                await self.client.set_leverage(self.symbol, self.cfg.leverage)
                self.state.leverage = self.cfg.leverage
        except ExchangeError as err:
            self.next_settings_try = self.now() + self.t.settings_retry
            self._settings_failed = (
                f"cannot set leverage {self.cfg.leverage}"
                + (f" / margin type {self.cfg.margin_type}" if self.cfg.margin_type else "")
                + f": {err}"
            )
            log.warning("%s", self._settings_failed)

    def settings_wrong(self) -> str:
        """Why an opening order must not go out now ("" when leverage and margin type are as configured)."""
        st = self.state
        if st.leverage is not None and st.leverage != self.cfg.leverage:
            return f"leverage is {st.leverage}, configured {self.cfg.leverage}"
        if self.cfg.margin_type and st.margin_type not in (None, self.cfg.margin_type):
            return f"margin type is {st.margin_type}, configured {self.cfg.margin_type}"
        return self._settings_failed

    def on_leverage_event(self, symbol: str, leverage: int) -> None:
        if symbol == self.symbol and leverage != self.state.leverage:
            log.warning("leverage of %s changed to %d (configured %d)", symbol, leverage, self.cfg.leverage)
            self.state.leverage = leverage

    # ----- rules and status -----
    @property
    def known_rules(self) -> SymbolRules:
        """The rules, once read: start-up reads them first, so the quoting loop always has them."""
        if self.rules is None:
            raise RuntimeError(f"the rules of {self.symbol} have not been read yet")
        return self.rules

    async def refresh_rules(self) -> SymbolRules:
        """Re-read the symbol's rules; a symbol out of TRADING makes the bot close-only, back in clears it."""
        self.rules = await self.client.symbol_rules(self.symbol)
        self.next_rules = self.now() + self.t.rules_every
        self.state.rules_stale = False
        if self.rules.trading:
            if self.state.close_only.pop(SYMBOL_CAUSE, None):
                log.warning("symbol %s is TRADING again: opening orders resume", self.symbol)
        elif SYMBOL_CAUSE not in self.state.close_only:
            self.state.go_close_only(SYMBOL_CAUSE, f"symbol status {self.rules.status}")
        return self.rules

    def rules_due(self) -> bool:
        return self.state.rules_stale or self.now() >= self.next_rules

    def on_rejection(self, err: ExchangeError) -> None:
        """What a refused order says about the account and the symbol. (Refusals that block orders for a while,
        -4088, -4141 and -4022, are aster_mm.live.protection's; the symbol's status is re-read for the last two.)"""
        if err.code in codes.FILTER or err.code in codes.SYMBOL_STATUS or err.code in codes.MARKET_CLOSED:
            self.state.rules_stale = True  # at once: a filter may have changed (-4004, -4023, -4016, ...)
        elif err.code in codes.POSITION_MODE:
            self.state.modes_stale = True
        elif err.code in codes.REDUCE_ONLY_ACCOUNT:
            self.state.go_close_only(SYMBOL_CAUSE, f"the exchange accepts only reduce-only orders ({err.code})")
        elif err.code in codes.LIQUIDATING:
            self.state.go_close_only(LIQUIDATION, f"the exchange is liquidating the account ({err.code} {err.msg})")
        elif err.code in codes.TOO_MANY_OPEN:
            log.warning("%s: orders the bot does not know are open; looking for them", err)
            self.state.need_reconcile = True
