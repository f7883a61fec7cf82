"""`next_action`: the one decision the live bot and the backtester both carry out (aster_mm.core.actions)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from aster_mm.core.actions import (
    ApplySettings,
    Cancel,
    Halt,
    Modify,
    Place,
    ReadBalance,
    Resting,
    Reuse,
    Situation,
    Skip,
    Wait,
    next_action,
)
from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.orders import OrderState

OPEN = Quote(Side.BUY, D("2485"), D("0.8"), reduce_only=False)
CLOSE = Quote(Side.SELL, D("2515"), D("0.8"), reduce_only=True)
MOVED = replace(OPEN, price=D("2495"))  # 0.4 % away: beyond the reprice threshold
FLAT = Situation(OPEN, "open", None, bid=D("2499.99"), ask=D("2500.01"), reprice_threshold=D("0.001"))


def resting(quote: Quote = OPEN, **kw) -> Resting:
    return Resting(quote, quote.qty, **kw)


def test_the_order_wanted_is_placed_unless_a_back_off_is_in_force():
    assert next_action(FLAT) == Place(OPEN)
    assert next_action(replace(FLAT, backing_off=True)) == Wait()


def test_no_order_wanted_is_a_skip_with_the_strategys_reason():
    assert next_action(replace(FLAT, want=None, why="paused: max-loss-usd")) == Skip("paused: max-loss-usd")


def test_a_halt_comes_before_anything_else():
    assert next_action(replace(FLAT, want=None, why="x", halt="max-loss-usd")) == Halt("max-loss-usd")


def test_an_opening_order_waits_for_the_balance_then_for_the_settings():
    stale = replace(FLAT, balance_stale=True, settings_wrong="leverage is 5, configured 1", settings_due=True)
    assert next_action(stale) == ReadBalance()
    assert next_action(replace(stale, balance_stale=False)) == ApplySettings()
    not_yet = replace(stale, balance_stale=False, settings_due=False)
    assert next_action(not_yet) == Skip("leverage is 5, configured 1")


def test_a_closing_order_waits_for_neither_balance_nor_settings():
    closing = replace(FLAT, want=CLOSE, why="close", balance_stale=True, settings_wrong="leverage", settings_due=True)
    assert next_action(closing) == Place(CLOSE)


@pytest.mark.parametrize(
    "situation, expected",
    [
        (replace(FLAT, resting=resting()), Reuse()),
        (replace(FLAT, want=replace(OPEN, price=D("2486")), resting=resting()), Reuse()),  # within 0.1 %
        (replace(FLAT, want=None, why="paused", resting=resting()), Cancel()),
        (replace(FLAT, want=MOVED, resting=resting()), Cancel()),  # V1 (or the backtester): no modify
        (replace(FLAT, want=MOVED, resting=resting(), can_modify=True), Modify(D("2495"))),
        (replace(FLAT, want=MOVED, resting=resting(no_modify=True), can_modify=True), Cancel()),
        (replace(FLAT, want=MOVED, resting=resting(state=OrderState.PENDING_NEW), can_modify=True), Cancel()),
        (replace(FLAT, want=MOVED, resting=resting(modifications=9999), can_modify=True), Cancel()),
        (replace(FLAT, want=replace(OPEN, price=D("2501")), resting=resting(), can_modify=True), Cancel()),  # crosses
        # a new opening price waits for the settings; a closing one does not
        (replace(FLAT, want=MOVED, resting=resting(), can_modify=True, settings_wrong="leverage"), Cancel()),
        (
            replace(
                FLAT,
                want=replace(CLOSE, price=D("2520")),
                resting=resting(CLOSE),
                can_modify=True,
                settings_wrong="leverage",
            ),
            Modify(D("2520")),
        ),
    ],
)
def test_a_resting_order_is_reused_modified_or_cancelled(situation, expected):
    assert next_action(situation) == expected


def test_a_resting_order_is_judged_before_the_balance_or_the_back_off():
    busy = replace(FLAT, want=MOVED, resting=resting(), balance_stale=True, backing_off=True)
    assert next_action(busy) == Cancel()
