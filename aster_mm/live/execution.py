"""The order desk: every order request the bot sends, and what each answer means for its order.

Placing, modifying in place (V3), cancelling, resolving a placement or modification of unknown outcome,
cancelling strays and the final cancel-everything live here, with the back-off after rejections and the
pacing under the exchange's rate limits. Only the quoting loop calls these, so there is one sender of order
requests and never two orders open.

Consecutive post-only expiries back off (a post-only order that would have crossed). An expiry by
self-trade prevention must not count as one, and the wire does not say which it was (the docs' execution
types have only EXPIRED, no EXPIRED_IN_MATCH; A23 of docs/simulator.md): an expiry within two seconds (by
the events' `E`) of an order of the account that is not the bot's meeting ours on the user stream is taken
as self-trade prevention, in either order of arrival (the stream is "not guaranteed to be in order").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import string
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from enum import Enum

from aster_mm.core.codes import ErrorCode
from aster_mm.core.config import Timings
from aster_mm.core.decisions import Quote
from aster_mm.core.events import OrderReport
from aster_mm.core.kinds import TimeInForce
from aster_mm.core.orders import EXCHANGE_STATUS, Order, OrderState, apply_report, meets
from aster_mm.core.state import StrategyState
from aster_mm.exchange.client import AsterClient, ExchangeError, RateLimitError, UnknownOutcomeError
from aster_mm.ops.metrics import Metrics

log = logging.getLogger("mm")

CLIENT_ID_PREFIX = "amm"  # every order this program places starts with it
STP_WINDOW_MS = 2000  # an expiry this close to an order of the account that meets ours: self-trade prevention


def is_ours(client_id: str) -> bool:
    return str(client_id).startswith(CLIENT_ID_PREFIX + "-")


class ModifyOutcome(Enum):
    """What became of a modification (`OrderDesk.modify`)."""

    MOVED = "moved"  # the order rests at the new price
    REFUSED = "refused"  # the exchange refused it: the order is as it was; replace it instead
    UNKNOWN = "unknown"  # no answer: the order is queried before anything else
    RATE_LIMITED = "rate limited"  # not done: a back-off is in force


class CancelOutcome(Enum):
    """What became of a cancel (`OrderDesk.cancel`)."""

    FINISHED = "finished"  # cancelled, or found filled or gone
    STILL_OPEN = "still open"  # still open at the exchange: try again later


class OrderDesk:
    def __init__(
        self,
        client: AsterClient,
        symbol: str,
        state: StrategyState,
        timings: Timings,
        now: Callable[[], float],
        *,
        metrics: Metrics,
        on_rejected: Callable[[ExchangeError], None],
        on_accepted: Callable[[], None] = lambda: None,
        stp_mode: str | None = None,
    ):
        """`on_rejected` hears every refused placement (after the desk's own back-off) and modification;
        `on_accepted` every accepted one. `stp_mode` goes on every order (V3 only)."""
        self.client, self.symbol, self.state, self.t, self.now = client, symbol, state, timings, now
        self.metrics, self.on_rejected, self.on_accepted, self.stp_mode = metrics, on_rejected, on_accepted, stp_mode
        self._foreign: OrderReport | None = None  # the last order of the account that is not ours, on our symbol
        self._expiry: tuple[Order, int, int, float] | None = None  # the last counted expiry: E, failures, retry_at
        self._pacing = False
        self.run_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
        self._seq = itertools.count(1)
        self.retry_at = 0.0  # no placement before this (after rejections)
        self.failures = 0  # consecutive rejections and post-only expiries

    @property
    def run(self) -> str:
        """What every client id of this run starts with."""
        return f"{CLIENT_ID_PREFIX}-{self.run_id}"

    def new_client_id(self) -> str:
        return f"{self.run}-{next(self._seq)}"

    def backoff(self) -> float:
        return min(30.0, 0.25 * 2 ** min(self.failures, 8))

    def hold_off(self, seconds: float) -> None:
        """Send no placement for at least `seconds` from now."""
        self.retry_at = max(self.retry_at, self.now() + seconds)

    def end_backoff(self) -> None:
        """What the rejections taught is out of date (the rules changed): the next placement need not wait."""
        self.failures, self.retry_at = 0, min(self.retry_at, self.now())

    # ----- applying what the exchange says -----
    def apply_rest(self, order: Order, answer: dict) -> None:
        """Apply a REST order answer (place, cancel, query)."""
        self.apply(order, answer.get("status", "NEW"), Decimal(answer.get("executedQty", "0")))

    def apply(self, order: Order, status: str, cum_filled: Decimal, event_ms: int = 0) -> None:
        """Apply a status report to an order, note fills the position lacks, settle the order. `event_ms`:
        the stream event's `E` (0 for a REST answer)."""
        was = order.state
        apply_report(order, status, cum_filled)
        if order.state != was:
            log.debug("order %s: %s -> %s", order.client_id, was.value, order.state.value)
        if order.filled > order.traded:
            self.state.position_dirty = True  # fills the position does not show yet: re-read it
        self.settle(order, event_ms)

    def settle(self, order: Order, event_ms: int = 0) -> None:
        """Forget the live order once it is finished. Consecutive post-only expiries back off; only a
        fill or an order that rested until we cancelled it ends the streak (an ACK's NEW proves nothing);
        an expiry by self-trade prevention neither counts nor ends it."""
        if order is self.state.live and not order.live:
            self.state.live = None
            if order.filled > 0 or order.state == OrderState.CANCELED:
                self.failures = 0
                self.state.size_scale = Decimal(1)
            elif order.state == OrderState.EXPIRED and self._met_by_foreign(order, event_ms, self._foreign):
                self._stp_expired(order)
            elif order.state == OrderState.EXPIRED:
                self._expiry = (order, event_ms, self.failures, self.retry_at)
                self.failures += 1  # a post-only order that would have crossed
                if self.failures > 1:
                    self.retry_at = self.now() + self.backoff()
            self.metrics.order(order.state.value)
            log.info("order %s %s (filled %s of %s)", order.client_id, order.state.value, order.filled, order.quote.qty)

    @staticmethod
    def _met_by_foreign(order: Order, event_ms: int, foreign: OrderReport | None) -> bool:
        return (
            foreign is not None
            and event_ms > 0
            and abs(foreign.event_ms - event_ms) <= STP_WINDOW_MS
            and meets(order.quote.side, order.quote.price, foreign.side, foreign.price)
        )

    def _stp_expired(self, order: Order) -> None:
        self.metrics.order("stp_expired")
        log.info("order %s expired by self-trade prevention (an order of the account met it)", order.client_id)

    def _note_foreign(self, report: OrderReport) -> None:
        """An order of the account that is not ours (placed by hand, or by another program), on our symbol. An
        expiry of ours it explains, already counted as a post-only crossing, is taken back."""
        self._foreign = report
        if self._expiry is not None and self._met_by_foreign(self._expiry[0], self._expiry[1], report):
            order, _, self.failures, self.retry_at = self._expiry
            self._expiry = None
            self._stp_expired(order)

    def on_report(self, report: OrderReport) -> None:
        """An ORDER_TRADE_UPDATE from the user stream: count its fill once, then move the order on."""
        order = self.state.orders.get(report.client_id)
        trade = report.trade
        if trade is not None and self.state.position.apply_fill(trade.trade_id, trade.at_ms, report.signed_qty):
            if order is not None and report.cum_filled > order.traded:
                # a late event for a fill a REST re-read already counted must not count twice
                order.traded = min(report.cum_filled, order.traded + trade.qty)
            self.metrics.fill(report.side, trade.maker, float(trade.qty), float(trade.price))
            log.info(
                "fill %s %s@%s of %s: position now %s",
                report.side,
                trade.qty,
                trade.price,
                report.client_id,
                self.state.position.amount,
            )
        still_open = report.status in ("NEW", "PARTIALLY_FILLED")
        if order is None:
            if is_ours(report.client_id) and still_open:
                log.warning("order %s of ours is open but not tracked: cancelling it", report.client_id)
                self.state.strays.add(report.client_id)
            elif not is_ours(report.client_id) and not report.forced:
                self._note_foreign(report)
            return
        if order.assumed_gone and still_open:
            self.state.strays.add(report.client_id)  # we thought it never placed or gone: make sure it is
        self.apply(order, report.status, report.cum_filled, report.event_ms)

    # ----- requests -----
    def paced(self) -> bool:
        """True (and held off) when an order request now would press on a rate limit."""
        wait = self.client.order_wait()
        if wait <= 0:
            self._pacing = False
            return False
        if not self._pacing:
            log.warning(
                "pacing orders under the rate limits (weight %s this minute): next in %.1f s",
                self.client.used_weight_1m,
                wait,
            )
        self._pacing = True
        self.hold_off(wait)
        return True

    async def place(self, want: Quote) -> None:
        if self.paced():
            return
        order = Order(self.new_client_id(), want)
        self.state.live = order  # registered before sending: a stream event may beat the reply
        self.state.remember(order)
        log.info(
            "place %s %s@%s%s%s as %s",
            want.side,
            want.qty,
            want.price,
            " reduceOnly" if want.reduce_only else "",
            "" if want.time_in_force == TimeInForce.GTX else " IOC",
            order.client_id,
        )
        try:
            resp = await self.client.place_limit(
                self.symbol,
                want.side,
                want.qty,
                want.price,
                order.client_id,
                reduce_only=want.reduce_only,
                time_in_force=want.time_in_force,
                stp_mode=self.stp_mode,
            )
        except UnknownOutcomeError as err:
            self.metrics.order("unknown")
            order.state, order.since = OrderState.UNKNOWN, self.now()
            log.warning(
                "placement of %s has an unknown outcome (%s): querying before anything else", order.client_id, err
            )
            return
        except ExchangeError as err:
            self.metrics.order("rejected")
            order.state = OrderState.REJECTED
            self.settle(order)
            self._on_rejected(err)
            return
        self.metrics.order("sent")
        self.on_accepted()
        self.apply_rest(order, resp)

    def _on_rejected(self, err: ExchangeError) -> None:
        self.failures += 1
        self.retry_at = self.now() + self.backoff()
        if isinstance(err, RateLimitError):
            self.hold_off(err.retry_after)
        elif err.code == ErrorCode.MARGIN_NOT_SUFFICIENT:
            self.state.size_scale = max(self.state.size_scale / 2, Decimal(1) / 16)
            log.warning(
                "margin insufficient (%s): re-reading the balance; next size x%s", err.code, self.state.size_scale
            )
            self.state.need_reconcile = True
        elif err.code == ErrorCode.REDUCE_ONLY_REJECT:
            log.warning("reduce-only order rejected (%s): re-reading the position", err.code)
            self.state.position_dirty = True
        self.on_rejected(err)
        log.warning("order rejected: %s; next attempt in %.1f s", err, self.retry_at - self.now())

    async def modify(self, order: Order, price: Decimal) -> ModifyOutcome:
        """Move the resting order to `price` in one request, its quantity unchanged (sized from the balance
        before it rested: re-reading it now would count the order's own margin)."""
        if self.paced():
            return ModifyOutcome.RATE_LIMITED
        was = order.quote
        order.modifications += 1  # counted when sent: an unknown outcome may have counted
        try:
            resp = await self.client.modify_order(self.symbol, order.client_id, was.qty, price)
        except UnknownOutcomeError as err:
            order.amend_unknown, order.since = True, self.now()
            log.warning("modification of %s has an unknown outcome (%s): querying it", order.client_id, err)
            return ModifyOutcome.UNKNOWN
        except RateLimitError as err:
            self.hold_off(err.retry_after)
            return ModifyOutcome.RATE_LIMITED
        except ExchangeError as err:
            order.no_modify = True
            log.warning("modification of %s refused (%s): replacing it instead", order.client_id, err)
            self.on_rejected(err)
            return ModifyOutcome.REFUSED
        self.metrics.order("modified")
        self.on_accepted()
        self._amended(order, resp)
        log.debug(  # DEBUG: a requote every second or so would bury the fills and status lines at INFO
            "modified %s %s@%s -> %s@%s", order.client_id, was.qty, was.price, order.quote.qty, order.quote.price
        )  # logged after sending: the log is slower than the wire
        return ModifyOutcome.MOVED

    def _amended(self, order: Order, answer: dict) -> None:
        """The exchange's word on the order's price and quantity after a modification."""
        order.quote = replace(order.quote, price=Decimal(answer["price"]), qty=Decimal(answer["origQty"]))
        self.apply_rest(order, answer)

    async def resolve_amend(self, order: Order) -> bool:
        """Query the order after a modification of unknown outcome; True once its price is known."""
        resp = await self.client.query_order(self.symbol, client_order_id=order.client_id)
        order.amend_unknown = False
        if resp is None:  # the exchange no longer knows it: gone
            order.assumed_gone = True
            self.apply(order, "CANCELED", order.filled)
        else:
            self._amended(order, resp)
            log.info(
                "order %s after the modification: %s@%s %s",
                order.client_id,
                order.quote.qty,
                order.quote.price,
                order.state.value,
            )
        return True

    async def cancel(self, order: Order) -> CancelOutcome:
        """Cancel `order`: FINISHED once it is (cancelled, or found filled or gone)."""
        previous = order.state
        order.state = OrderState.PENDING_CANCEL
        try:
            resp = await self.client.cancel_order(self.symbol, client_order_id=order.client_id)
            if resp is None:  # already gone: filled, cancelled or expired?
                resp = await self.client.query_order(self.symbol, client_order_id=order.client_id)
                if resp is not None and resp.get("status") not in EXCHANGE_STATUS:
                    log.warning(
                        "order %s is not open, status %r: taken as cancelled", order.client_id, resp.get("status")
                    )
                    resp = {**resp, "status": "CANCELED"}
        finally:  # unless a stream event moved it on, it is as before
            if order.state == OrderState.PENDING_CANCEL:
                order.state = previous
        if resp is None:  # unknown to the exchange: treat as cancelled
            order.assumed_gone = True
            self.apply(order, "CANCELED", order.filled)
        else:
            self.apply_rest(order, resp)
        return CancelOutcome.STILL_OPEN if order.live else CancelOutcome.FINISHED

    async def resolve_unknown(self, order: Order) -> bool:
        """Query a placement of unknown outcome; True once its fate is known."""
        resp = await self.client.query_order(self.symbol, client_order_id=order.client_id)
        if resp is None:
            if self.now() - order.since < self.t.unknown_grace:
                return False  # the matching engine may not know it yet
            log.warning("order %s was never placed", order.client_id)
            order.state, order.assumed_gone = OrderState.REJECTED, True
            self.settle(order)
        else:
            order.state = OrderState.PENDING_NEW  # let the report move it forward from here
            self.apply_rest(order, resp)
            log.info("order %s resolved: %s", order.client_id, order.state.value)
        return True

    async def cancel_strays(self) -> None:
        for cid in list(self.state.strays):
            live = self.state.live
            if live is None or live.client_id != cid:
                await self.client.cancel_order(self.symbol, client_order_id=cid)
                self.state.position_dirty = True  # it may have traded: re-read the position
            self.state.strays.discard(cid)

    async def cancel_everything(self) -> None:
        """Cancel-all until the exchange shows nothing open (the caller bounds the time). A placement
        whose fate is unknown (or was in flight) may still land: until it is found or its grace has
        passed, an empty book proves nothing."""
        live = self.state.live
        doubtful = live if live is not None and live.state in (OrderState.PENDING_NEW, OrderState.UNKNOWN) else None
        settle_by = self.now() + self.t.unknown_grace
        while True:
            await asyncio.sleep(self.client.blocked_for())  # a 429 back-off ends within the budget
            try:
                await self.client.cancel_all(self.symbol)
                if await self.client.open_orders(self.symbol):
                    continue
                if doubtful is None or self.now() >= settle_by:
                    return
                if await self.client.query_order(self.symbol, client_order_id=doubtful.client_id) is not None:
                    doubtful = None  # it exists: one more cancel-all round covers it
                else:
                    await asyncio.sleep(self.t.requery_every)
            except RateLimitError:
                continue
