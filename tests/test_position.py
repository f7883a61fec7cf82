"""The position tracker (aster_mm/core/position.py): absolute snapshots plus the newer fills, each counted once
whatever the order of events; and the unrealized PnL a stop reports."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aster_mm.core.position import PositionTracker, unrealized_pnl


# ---- snapshots and fills, each counted once ----------------------------------------------------------------
def test_fills_after_the_snapshot_count_once_per_trade_id():
    p = PositionTracker()
    assert p.apply_snapshot(D("0.1"), 1000, 1001)
    assert p.apply_fill(1, 1100, D("0.02")) is True
    assert p.apply_fill(1, 1100, D("0.02")) is False  # duplicate delivery
    assert p.apply_fill(2, 1200, D("-0.05")) is True
    assert p.amount == D("0.07")


def test_late_fill_older_than_the_snapshot_is_not_double_counted():
    p = PositionTracker()
    p.apply_snapshot(D("0.02"), 1000, 1001)  # already includes trade 1
    for _ in range(2):  # and again, repeated
        p.apply_fill(1, 990, D("0.02"))
        assert p.amount == D("0.02")


def test_fill_at_the_snapshot_time_is_inside_it_either_way():
    p = PositionTracker()
    p.apply_fill(1, 1000, D("0.02"))
    p.apply_snapshot(D("0.02"), 1000, 1001)
    assert p.amount == D("0.02")
    q = PositionTracker()
    q.apply_snapshot(D("0.02"), 1000, 1001)
    q.apply_fill(1, 1000, D("0.02"))
    assert q.amount == D("0.02")


def test_out_of_order_snapshots_are_ignored():
    p = PositionTracker()
    assert p.apply_snapshot(D("0.03"), 2000, 2001) is True
    assert p.apply_snapshot(D("0.01"), 1000, 1001) is False
    assert p.apply_snapshot(D("0.09"), 2000, 1999) is False  # same transaction time, older event
    assert p.amount == D("0.03")


def test_unstamped_snapshot_never_erases_a_recent_stream_fill():
    # positionRisk with updateTime 0, read 200 ms after a fill the stream reported but REST lags.
    p = PositionTracker()
    p.apply_snapshot(D("0"), 1000, 1001)
    p.apply_fill(1, 1100, D("0.8"))
    assert p.apply_unstamped(D("0"), read_ms=1300) is False
    assert p.amount == D("0.8")
    assert p.apply_unstamped(D("0.8"), read_ms=1400) is True  # agrees: fine
    p.apply_fill(2, 1500, D("-0.8"))  # and the stream keeps counting
    assert p.amount == D("0")


def test_unstamped_snapshot_is_adopted_once_the_fills_are_old_or_absent():
    p = PositionTracker()
    p.apply_snapshot(D("0"), 1000, 1001)
    assert p.apply_unstamped(D("0.3"), read_ms=1200) is True  # no stream fill to lose: drift adopted
    assert p.amount == D("0.3")
    p.apply_fill(1, 1300, D("0.1"))
    assert p.apply_unstamped(D("0.5"), read_ms=1300 + 10_001) is True  # older than the lag: REST has it
    assert p.amount == D("0.5")
    assert p.apply_snapshot(D("0.4"), 1250, 1251) is True  # a stamped snapshot still wins
    assert p.amount == D("0.4")


def test_snapshot_keeps_fills_newer_than_it():
    p = PositionTracker()
    p.apply_fill(1, 1000, D("0.01"))
    p.apply_fill(2, 2000, D("0.01"))
    p.apply_snapshot(D("0.01"), 1000, 1001)  # knows trade 1, not trade 2
    assert p.amount == D("0.02")


# Two trades of +0.01 at T=1000 and T=2000; each ACCOUNT_UPDATE carries the position after its trade.
EVENTS = {
    "f1": ("fill", 1, 1000, D("0.01")),
    "a1": ("snap", D("0.01"), 1000, 1001),
    "f2": ("fill", 2, 2000, D("0.01")),
    "a2": ("snap", D("0.02"), 2000, 2001),
}


@pytest.mark.parametrize(
    "order_",
    [
        "f1 a1 f2 a2",
        "a1 f1 a2 f2",
        "f1 f2 a1 a2",
        "a2 a1 f2 f1",
        "f2 a1 f1 a2",
        "a1 f2 f1",
        "f1 f2",
        "a2 f1 f2 a1",
        "f1 a1 f1 f2 a2 f2",
    ],
)
def test_reordered_events_give_the_exchange_position(order_):
    p = PositionTracker()
    for name in order_.split():
        kind, *args = EVENTS[name]
        (p.apply_fill if kind == "fill" else p.apply_snapshot)(*args)
    assert p.amount == D("0.02")


# ---- the event time, the memory of trade ids, the unrealized PnL -------------------------------------------
def test_a_fill_older_than_the_snapshot_is_in_it_whatever_the_event_time():
    """Bug: a fill compared with the snapshot's event time instead of its transaction time (counted twice
    when the snapshot carries no event time, as REST reads stamped by the exchange alone do)."""
    tracker = PositionTracker()
    tracker.apply_snapshot(D("0.8"), at_ms=5_000)  # includes the fill below
    assert tracker.apply_fill(trade_id=1, at_ms=4_000, signed_qty=D("0.8"))
    assert tracker.amount == D("0.8")
    assert tracker.apply_fill(trade_id=2, at_ms=6_000, signed_qty=D("-0.3"))
    assert tracker.amount == D("0.5")


def test_the_tracker_remembers_the_last_10000_trade_ids_and_no_more():
    """Bugs: the memory of seen trade ids never shrinks (a slow leak on a busy symbol), or forgets too soon
    (a late duplicate of a recent fill would be counted twice)."""
    tracker = PositionTracker()
    for trade_id in range(1, 10_002):
        tracker.apply_fill(trade_id, at_ms=trade_id, signed_qty=D("0.001"))
    assert not tracker.apply_fill(2, at_ms=2, signed_qty=D("0.001"))  # still remembered: not recounted
    assert not tracker.apply_fill(10_001, at_ms=10_001, signed_qty=D("0.001"))
    assert tracker.amount == D("10.001")
    assert tracker.apply_fill(1, at_ms=1, signed_qty=D("0"))  # the oldest is forgotten


def test_the_loss_a_stop_reports_is_the_unrealized_loss():
    assert unrealized_pnl(D("0.8"), D("2500"), D("2475"), None) == D("-20")
    assert unrealized_pnl(D("-0.8"), D("2500"), D("2525"), None) == D("-20")
