"""Reconciliation: adopt the exchange's truth (position, wallet, our order, strays) from REST.

Run after every user-stream reconnect and as a periodic sweep, so nothing that happened while a
stream was down is forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aster_mm.core.config import Timings
from aster_mm.core.orders import OrderState
from aster_mm.core.state import StrategyState
from aster_mm.exchange.client import AsterClient
from aster_mm.live.execution import OrderDesk, is_ours

log = logging.getLogger("mm")


def margin_type_of(row: dict) -> str | None:
    """CROSSED or ISOLATED from a positionRisk row ("cross"/"isolated", or the `isolated` flag)."""
    kind = str(row.get("marginType", "")).lower()
    if kind in ("cross", "crossed", "isolated"):
        return "ISOLATED" if kind == "isolated" else "CROSSED"
    return None


class Reconciler:
    def __init__(
        self,
        client: AsterClient,
        symbol: str,
        state: StrategyState,
        desk: OrderDesk,
        timings: Timings,
        now: Callable[[], float],
    ):
        self.client, self.symbol, self.state, self.desk, self.t, self.now = client, symbol, state, desk, timings, now
        self.next_sweep = 0.0

    async def refresh_position(self) -> None:
        """Read the position rows from REST: the amount, and the leverage and margin type in force."""
        seen = [(order, order.filled) for order in self.state.orders.values()]
        sent_ms = int(time.time() * 1000) + self.client.time_offset_ms
        rows = await self.client.position_rows(self.symbol)
        self.state.position_dirty = False
        if any(r.get("positionSide", "BOTH") != "BOTH" for r in rows):
            self.state.hedge_mode = True
            return
        row: dict[str, Any] = next(iter(rows), {"positionAmt": "0", "updateTime": 0})
        self.state.leverage = int(row["leverage"]) if row.get("leverage") else self.state.leverage
        self.state.margin_type = margin_type_of(row) or self.state.margin_type
        amount, stamp = Decimal(row["positionAmt"]), int(row.get("updateTime") or 0)
        if stamp:
            if self.state.position.apply_snapshot(amount, stamp, sent_ms):
                self._adopt_prices(row)
        elif self.state.position.apply_unstamped(amount, sent_ms):
            self._adopt_prices(row)
        else:
            log.info(
                "position read %s lacks the exchange's time and disagrees with recent stream fills "
                "(%s): reading again shortly",
                amount,
                self.state.position.amount,
            )
            self.next_sweep = min(self.next_sweep, self.now() + 1.0)
            return
        for order, filled in seen:  # the snapshot includes every fill reported before the read
            order.traded = max(order.traded, filled)

    def _adopt_prices(self, row: dict) -> None:
        self.state.entry_price = Decimal(row.get("entryPrice") or 0)
        self.state.unrealized = Decimal(row.get("unRealizedProfit") or 0)

    async def reconcile(self) -> None:
        """Adopt the exchange's truth: position, wallet, the state of our order, strays."""
        st = self.state
        st.need_reconcile = False  # now: a reconnect while we read asks for another round
        await self.refresh_position()
        st.balances = await self.client.wallet_balances()
        st.wallet_dirty = True  # `available` is re-read before the next opening order
        live = st.live
        if live is not None and live.state != OrderState.UNKNOWN:
            resp = await self.client.query_order(self.symbol, client_order_id=live.client_id)
            if resp is not None:
                self.desk.apply_rest(live, resp)
        await self._find_strays()
        self.next_sweep = self.now() + self.t.sweep_every  # this was a sweep

    async def _find_strays(self) -> None:
        live = self.state.live
        for o in await self.client.open_orders(self.symbol):
            if (live is None or o.get("clientOrderId") != live.client_id) and is_ours(o.get("clientOrderId", "")):
                log.warning("sweep: order %s is open but not intended: cancelling", o.get("clientOrderId"))
                self.state.strays.add(o["clientOrderId"])

    def sweep_due(self) -> bool:
        return self.now() >= self.next_sweep

    async def sweep(self) -> None:
        """Every sweep_every: compare the exchange's orders and position with ours."""
        self.next_sweep = self.now() + self.t.sweep_every
        before = self.state.position.amount
        await self.refresh_position()
        if self.state.position.amount != before:
            log.warning("sweep: position was %s, exchange says %s: adopted", before, self.state.position.amount)
        await self._find_strays()
