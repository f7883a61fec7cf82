"""The exchange position as the bot knows it: absolute snapshots plus the newer fills, each counted once."""

from __future__ import annotations

from collections import deque
from decimal import Decimal


class PositionTracker:
    """The exchange position, from absolute snapshots plus the fills newer than the last snapshot.

    A snapshot (ACCOUNT_UPDATE `pa`, REST positionRisk) is stamped with its transaction time; a fill
    with its trade time. A fill is counted only if newer than the snapshot, and once per trade id, so
    reordered, repeated or REST-overlapping events never double count.
    """

    def __init__(self, amount: Decimal = Decimal(0)):
        self.amount = amount
        self._stamp: tuple[int, int] = (0, 0)  # (transaction time, event time)
        self._fills: list[tuple[int, Decimal]] = []  # (trade time, signed qty) newer than the stamp
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()

    def apply_snapshot(self, amount: Decimal, at_ms: int, event_ms: int = 0) -> bool:
        if (at_ms, event_ms) < self._stamp:
            return False
        self._stamp = (at_ms, event_ms)
        self._fills = [(t, q) for t, q in self._fills if t > at_ms]
        self.amount = amount + sum((q for _, q in self._fills), Decimal(0))
        return True

    def apply_unstamped(self, amount: Decimal, read_ms: int, lag_ms: int = 10_000) -> bool:
        """A REST snapshot the exchange did not stamp (positionRisk `updateTime` 0), read at `read_ms`.

        It cannot say which of the stream's recent fills it includes, so it never erases one: while a
        fill younger than `lag_ms` is pending it is adopted only if it agrees. It stays weaker than any
        stamped snapshot (its time is not taken as the stamp). False when not adopted."""
        if amount == self.amount:
            return True
        if any(t > read_ms - lag_ms for t, _ in self._fills):
            return False
        self._fills = []  # all older than the lag: the read includes them
        self.amount = amount
        return True

    def apply_fill(self, trade_id: int, at_ms: int, signed_qty: Decimal) -> bool:
        """Count a fill once; False for a trade id already seen."""
        if trade_id in self._seen:
            return False
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > 10_000:
            self._seen.discard(self._seen_order.popleft())
        if at_ms > self._stamp[0]:  # otherwise the snapshot already includes it
            self._fills.append((at_ms, signed_qty))
            self.amount += signed_qty
        return True


def unrealized_pnl(position: Decimal, entry: Decimal | None, mark: Decimal | None, reported: Decimal | None) -> Decimal:
    """The position marked at the mark price when both prices are known, else what the exchange said."""
    if position == 0:
        return Decimal(0)
    if entry and mark:
        return position * (mark - entry)
    return reported if reported is not None else Decimal(0)
