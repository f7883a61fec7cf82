"""The life of one order as a small state machine (aster_mm/core/orders.py): statuses only move it forward, and its
filled quantity only grows, whichever report comes first."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.orders import Order, OrderState, apply_report, next_state

# ---- the order state machine -------------------------------------------------------------------------------
S = OrderState


@pytest.mark.parametrize(
    "current, status, expected",
    [
        (S.PENDING_NEW, "NEW", S.NEW),
        (S.PENDING_NEW, "PARTIALLY_FILLED", S.PARTIALLY_FILLED),
        (S.PENDING_NEW, "FILLED", S.FILLED),
        (S.UNKNOWN, "NEW", S.NEW),
        (S.NEW, "PARTIALLY_FILLED", S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, "NEW", S.PARTIALLY_FILLED),  # a late NEW never moves back
        (S.NEW, "EXPIRED", S.EXPIRED),
        (S.NEW, "REJECTED", S.REJECTED),
        (S.PENDING_CANCEL, "NEW", S.PENDING_CANCEL),  # waits for the cancel's answer
        (S.PENDING_CANCEL, "PARTIALLY_FILLED", S.PENDING_CANCEL),
        (S.PENDING_CANCEL, "CANCELED", S.CANCELED),
        (S.PENDING_CANCEL, "FILLED", S.FILLED),
        (S.FILLED, "NEW", S.FILLED),  # terminal is final
        (S.FILLED, "CANCELED", S.FILLED),
        (S.CANCELED, "PARTIALLY_FILLED", S.CANCELED),
        (S.EXPIRED, "NEW", S.EXPIRED),
        (S.NEW, "NEW_INSURANCE", S.NEW),  # unknown statuses change nothing
    ],
)
def test_next_state(current, status, expected):
    assert next_state(current, status) is expected


def order(state=S.NEW, qty="0.05") -> Order:
    return Order("amm-t-1", Quote(Side.BUY, D("2000"), D(qty), False), state=state)


def test_apply_report_keeps_the_largest_cumulative_fill():
    o = order(S.PENDING_NEW)
    apply_report(o, "NEW", D("0"))
    assert (o.state, o.filled) == (S.NEW, D("0"))
    apply_report(o, "PARTIALLY_FILLED", D("0.02"))
    apply_report(o, "PARTIALLY_FILLED", D("0.01"))  # an older report
    assert (o.state, o.filled, o.remaining) == (S.PARTIALLY_FILLED, D("0.02"), D("0.03"))
    apply_report(o, "FILLED", D("0.05"))
    assert (o.state, o.filled, o.live) == (S.FILLED, D("0.05"), False)
    apply_report(o, "NEW", D("0"))  # late NEW after FILLED
    assert (o.state, o.filled) == (S.FILLED, D("0.05"))


def test_fill_reported_after_cancel_still_counts():
    o = order(S.CANCELED)
    apply_report(o, "FILLED", D("0.05"))
    assert o.state is S.CANCELED and o.filled == D("0.05")
