"""What the quoting loop does next, decided once for the live bot and the backtester alike.

`next_action` takes plain data (the order wanted and why, the order resting, the top of the book, what
the account allows now) and answers one typed action. The live bot (aster_mm.live.bot) executes it on
the exchange; the backtester (aster_mm.backtest.runner) executes it on hftbacktest, where nothing can be
modified, so it never sees `Modify`, and a sized account never needs `ReadBalance` or `ApplySettings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from aster_mm.core.decisions import Quote, Requote, crosses_book, requote_action
from aster_mm.core.orders import Order, OrderState


@dataclass(frozen=True)
class Halt:
    """A loss limit halted the bot, nothing of ours is open and nothing is left to flatten: stop for good."""

    reason: str


@dataclass(frozen=True)
class Reuse:
    """The resting order will do: send nothing."""


@dataclass(frozen=True)
class Modify:
    """Move the resting order to `price` in one request (V3 Modify Order), its quantity unchanged."""

    price: Decimal


@dataclass(frozen=True)
class Cancel:
    """Cancel the resting order; the order wanted (if any) is placed once it is gone."""


@dataclass(frozen=True)
class ReadBalance:
    """The wallet changed: re-read the balance an opening order is sized from, then decide again."""


@dataclass(frozen=True)
class ApplySettings:
    """Leverage or margin type is not as configured and the bot is flat: set them, then decide again."""


@dataclass(frozen=True)
class Skip:
    """No order is wanted (or may go out), for this reason."""

    reason: str

    def repeats(self, earlier: str) -> bool:
        """The same reason as `earlier` but for its figures (the guard's prediction changes on every book)."""
        return _FIGURES.sub("#", self.reason) == _FIGURES.sub("#", earlier)


_FIGURES = re.compile(r"[-+]?\d[\d.,]*")


@dataclass(frozen=True)
class Wait:
    """An order is wanted, but a back-off after rejections is in force."""


@dataclass(frozen=True)
class Place:
    quote: Quote


Action = Halt | Reuse | Modify | Cancel | ReadBalance | ApplySettings | Skip | Wait | Place


@dataclass(frozen=True)
class Resting:
    """The order that may be open, as far as the decision needs it."""

    quote: Quote
    remaining: Decimal
    state: OrderState = OrderState.NEW
    modifications: int = 0  # Modify Order requests sent for it
    no_modify: bool = False  # a modification was refused: replace it instead

    @classmethod
    def of(cls, order: Order | None) -> Resting | None:
        if order is None:
            return None
        return cls(order.quote, order.remaining, order.state, order.modifications, order.no_modify)


@dataclass(frozen=True)
class Situation:
    want: Quote | None  # the one order the strategy wants resting now
    why: str  # why that order, or why none
    resting: Resting | None
    bid: Decimal
    ask: Decimal
    reprice_threshold: Decimal
    halt: str = ""  # why the bot stops for good now (Strategy.decide)
    can_modify: bool = False  # Modify Order is available (V3) and allowed (not --no-modify)
    settings_wrong: str = ""  # why leverage or margin type are not as configured ("" when they are)
    settings_due: bool = False  # flat, and the time to try setting them again has come
    balance_stale: bool = False  # the wallet changed since the available balance was read
    backing_off: bool = False  # no placement before a back-off after rejections ends


def next_action(s: Situation) -> Action:
    """Halt; else requote the resting order (reuse, modify or cancel); else make the account ready for an
    opening order (balance, then settings); else place the order wanted, skip, or wait out a back-off."""
    if s.halt:
        return Halt(s.halt)
    if s.resting is not None:
        return _requote(s, s.resting)
    want, why = s.want, s.why
    if want is not None and not want.reduce_only:
        if s.balance_stale:  # size from what the exchange says is usable now
            return ReadBalance()
        if s.settings_wrong and s.settings_due:
            return ApplySettings()
        if s.settings_wrong:
            want, why = None, s.settings_wrong
    if want is None:
        return Skip(why)
    return Wait() if s.backing_off else Place(want)


def _requote(s: Situation, resting: Resting) -> Reuse | Modify | Cancel:
    """A new opening price waits for the settings: with them wrong, the opening order is cancelled."""
    want = s.want
    if want is None:
        return Cancel()
    action = requote_action(
        resting.quote,
        resting.remaining,
        want,
        s.reprice_threshold,
        can_modify=s.can_modify and resting.state == OrderState.NEW and not resting.no_modify,
        modifications=resting.modifications,
        crosses=crosses_book(want, s.bid, s.ask),
    )
    if action == Requote.REUSE:
        return Reuse()
    if action == Requote.MODIFY and (want.reduce_only or not s.settings_wrong):
        return Modify(want.price)
    return Cancel()
