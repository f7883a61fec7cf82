"""What must hold before the quoting loop decides anything, as an ordered table of (due, run) pairs.

Each step of the loop runs the first item that is due and ends there (its `run` says whether to step
again at once); only when none is due does the bot decide (aster_mm.core.actions). The order is the
point: a hedge-mode account is refused before anything is sent, a back-off before any request, the
exchange's truth is re-read before an order is judged, an order of unknown fate is resolved before
anything else is placed, a block on our orders lifts for one attempt when its retry time comes, and no
order rests while the bot cannot see the market.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aster_mm.core.errors import FatalError
from aster_mm.core.orders import Order, OrderState
from aster_mm.core.state import StrategyState
from aster_mm.exchange.client import AsterClient
from aster_mm.live.account import HEDGE_MODE_HELP, AccountGuard
from aster_mm.live.execution import CancelOutcome, OrderDesk
from aster_mm.live.protection import Protection
from aster_mm.live.reconcile import Reconciler

log = logging.getLogger("mm")

Due = Callable[[], object]  # truthy when the item must run now
Run = Callable[[], Awaitable[bool]]  # True: step again at once


class Housekeeping:
    def __init__(
        self,
        *,
        state: StrategyState,
        client: AsterClient,
        desk: OrderDesk,
        sync: Reconciler,
        guard: AccountGuard,
        protection: Protection,
        not_ready: Callable[[], str],
        describe: Callable[[], str],
    ):
        """`not_ready()` says why the bot cannot see the market ("" when it can); `describe()` is the
        status line logged after a reconciliation."""
        self.state, self.client, self.desk, self.sync, self.guard = state, client, desk, sync, guard
        self.protection, self.not_ready, self.describe = protection, not_ready, describe
        st = state
        self.table: tuple[tuple[Due, Run], ...] = (
            (lambda: st.hedge_mode, self.refuse_hedge_mode),
            (lambda: self.client.blocked_for() > 0, self.wait_out_back_off),
            (lambda: st.need_reconcile and st.user_up, self.reconcile),
            (lambda: st.strays, self.cancel_strays),
            (lambda: st.position_dirty, self.refresh_position),
            (lambda: st.live is not None and st.live.state == OrderState.UNKNOWN, self.resolve_unknown),
            (lambda: st.live is not None and st.live.amend_unknown, self.resolve_amend),
            (lambda: self.sync.sweep_due() and st.user_up, self.sweep),
            (lambda: st.modes_stale, self.read_modes),
            (lambda: self.guard.rules_due(), self.refresh_rules),
            (lambda: self.protection.lift_due(), self.protection.lift),
            (lambda: self.not_ready(), self.pull_quote),
        )

    def due(self) -> Run | None:
        """The first item that must run now, if any."""
        return next((run for due, run in self.table if due()), None)

    async def refuse_hedge_mode(self) -> bool:
        log.critical("%s", HEDGE_MODE_HELP)
        raise FatalError(HEDGE_MODE_HELP)  # the shutdown path cancels everything

    async def wait_out_back_off(self) -> bool:
        self.desk.hold_off(self.client.blocked_for())
        return False

    async def reconcile(self) -> bool:
        await self.sync.reconcile()
        log.info("reconciled: %s", self.describe())
        return True

    async def cancel_strays(self) -> bool:
        await self.desk.cancel_strays()
        return True

    async def refresh_position(self) -> bool:
        await self.sync.refresh_position()
        return True

    async def resolve_unknown(self) -> bool:
        return await self.desk.resolve_unknown(self._live())

    async def resolve_amend(self) -> bool:
        return await self.desk.resolve_amend(self._live())

    async def sweep(self) -> bool:
        await self.sync.sweep()
        return True  # cancel what it found before placing anything

    async def read_modes(self) -> bool:
        self.state.modes_stale = False
        await self.guard.read_modes()
        self.state.wallet_dirty = True
        return True

    async def refresh_rules(self) -> bool:
        """Re-read the rules; when they changed (a filter rejection is the usual reason to read them), the
        order the new rules give goes out at once rather than after the rejection's back-off."""
        before = self.guard.rules
        if await self.guard.refresh_rules() != before and before is not None:
            log.warning("rules of %s changed: %s", self.guard.symbol, self.guard.rules)
            if not self.protection.blocks:  # a block keeps its own retry time
                self.desk.end_backoff()
        return True

    async def pull_quote(self) -> bool:
        """The bot cannot see the market: no order of ours may rest blind."""
        live = self.state.live
        if live is None:
            return False
        log.warning("%s: pulling the quote", self.not_ready())
        return await self.desk.cancel(live) is CancelOutcome.FINISHED

    def _live(self) -> Order:
        live = self.state.live
        assert live is not None  # its row was due: there is one
        return live
