"""The quote of `--spread-model signal`: the one order of the card, priced from the signal and the entry.

- Opening (flat): only while the adverse-selection guard passes (long-biased: pred >= guard_sigma; short-
  biased: pred <= -guard_sigma); otherwise no opening order, and a resting one is pulled. Placed in the
  queue: improve the market's touch by up to `improve_ticks` (never to the other side's touch: it stays
  post-only), so with a one-tick spread it joins the touch; `open_depth_ticks` further back.
- Closing (in position): long, SELL at max(floor, fair * (1 + close_offset_sigma * sigma), bid + 1 tick);
  short, the mirror. The breakeven floor is entry * (1 + 2 * maker fee + target_bp); once the position
  has been held `decay_after` seconds it falls `decay_bp_per_min` a minute, down to entry * (1 + floor_bp).
  An inventory skew of `skew_bp_per_lot` per lot held moves the fair-value part towards the touch.

Pure: plain data in, a price out; floats only for the statistics, Decimal for every price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

from aster_mm.core.decisions import Quote
from aster_mm.core.kinds import Side
from aster_mm.core.memo import Last
from aster_mm.core.rules import SymbolRules
from aster_mm.core.signals import Reading, SignalConfig, SignalState

BP = Decimal("0.0001")


@dataclass(frozen=True)
class QuotePolicy:
    """Defaults: the walk-forward optimiser's choice on BTC 2026-01-05/06 with --side long, judged on 01-07
    (docs/trading.md), together with SIGNAL_STOP_LOSS."""

    fair_weight: float = 3.95  # fair = mid * (1 + fair_weight * pred * sigma)
    guard_sigma: float = 0.405  # open only while the predicted move is at least this (in sigma) our way
    improve_ticks: int = 1  # opening price: the touch improved by up to this many ticks
    open_depth_ticks: int = 0  # ... then this many ticks further from the other side
    close_offset_sigma: float = 0.796  # closing price: at least fair + this many sigma (long; mirrored short)
    target_bp: float = 0.123  # breakeven floor over the entry: two maker fees plus this
    decay_after: float = 201.0  # s held before the floor starts to fall
    decay_bp_per_min: float = 2.02  # then it falls this fast ...
    floor_bp: float = -13.9  # ... down to entry plus this (bp; negative: a loss accepted)
    skew_bp_per_lot: float = 0.0  # the fair-value part of the close moves this far towards the touch per lot
    requote_ticks: int = 20  # the resting order moves when its target moves more than this many ticks ...
    requote_bp: float = 0.303  # ... and more than this many basis points


# The stop-loss the defaults above were chosen with (a fraction of the entry). Without it the floor keeps a
# losing long open: on 2026-01-07 the same settings without a stop made one fill and lost 218 bp of it.
SIGNAL_STOP_LOSS = Decimal("0.00116")


def guard_passes(reading: Reading, opening: Side, policy: QuotePolicy) -> bool:
    """The adverse-selection guard: the signal is warm and predicts a move of at least guard_sigma
    towards the opening order's profit (up for a BUY, down for a SELL)."""
    if not reading.warm:
        return False
    towards = reading.pred if opening == Side.BUY else -reading.pred
    return towards >= policy.guard_sigma


def opening_price(side: Side, bid: Decimal, ask: Decimal, rules: SymbolRules, policy: QuotePolicy) -> Decimal:
    """The market's touch improved by up to improve_ticks but never to the other side's touch (with a
    one-tick spread that joins the touch), then open_depth_ticks back."""
    tick = rules.tick
    if side == Side.BUY:
        return min(bid + policy.improve_ticks * tick, ask - tick) - policy.open_depth_ticks * tick
    return max(ask - policy.improve_ticks * tick, bid + tick) + policy.open_depth_ticks * tick


def floor_bp(held: float, maker_fee: Decimal, policy: QuotePolicy) -> float:
    """The breakeven floor's distance from the entry, in bp towards profit, after `held` seconds: the
    round trip's maker fees plus target_bp; past decay_after it falls decay_bp_per_min a minute down to
    floor_bp (never up to it: a floor that starts lower stays)."""
    return floor_after(floor_start_bp(maker_fee, policy), held, policy)


def floor_start_bp(maker_fee: Decimal, policy: QuotePolicy) -> float:
    """The floor's distance before it falls: the round trip's maker fees plus target_bp."""
    return 2 * float(maker_fee) * 1e4 + policy.target_bp


def floor_after(start: float, held: float, policy: QuotePolicy) -> float:
    """`floor_bp` for a floor starting at `start` bp."""
    if held <= policy.decay_after:
        return start
    decayed = start - policy.decay_bp_per_min * (held - policy.decay_after) / 60.0
    return min(start, max(decayed, policy.floor_bp))


def floor_falls(start: float, held: float, policy: QuotePolicy) -> bool:
    """Whether a floor starting at `start` bp is still falling after `held` seconds: past decay_after and not
    yet down to floor_bp (before and after, `floor_after` holds whatever the time)."""
    if held <= policy.decay_after or policy.decay_bp_per_min <= 0 or start <= policy.floor_bp:
        return False
    return start - policy.decay_bp_per_min * (held - policy.decay_after) / 60.0 > policy.floor_bp


def _price_of(value: float) -> Decimal:
    return Decimal(repr(value))


def _on_grid(price: float, rules: SymbolRules) -> Decimal:
    """A book price read as a float, back on the tick grid it came from (a float product like 9399450 * 0.01
    may be 93994.50000000001)."""
    return (Decimal(repr(price)) / rules.tick).to_integral_value(ROUND_HALF_EVEN) * rules.tick


class Close(NamedTuple):
    price: Decimal
    floor: Decimal | None  # the breakeven floor's price now (None: no entry price known)


def closing_price(
    position: Decimal,
    entry: Decimal,
    held: float,
    reading: Reading | None,
    touch: tuple[Decimal, Decimal],
    lots: float,
    maker_fee: Decimal,
    rules: SymbolRules,
    policy: QuotePolicy,
) -> Close:
    """The closing order's price: the furthest of the floor, the fair value plus close_offset_sigma (less
    the inventory skew), and one tick inside the opposite touch (post-only); for a long the highest of
    them, for a short the lowest. Without an entry price, no floor; without a warm signal, no fair part."""
    long = position > 0
    floor = floor_price(entry, floor_bp(held, maker_fee, policy), long, rules)
    return _furthest(long, touch, floor, fair_close_price(reading, lots, long, rules, policy), rules)


def _furthest(
    long: bool, touch: tuple[Decimal, Decimal], floor: Decimal | None, fair: Decimal | None, rules: SymbolRules
) -> Close:
    candidates = [touch[0] + rules.tick] if long else [touch[1] - rules.tick]
    candidates += [p for p in (floor, fair) if p is not None]
    return Close(max(candidates) if long else min(candidates), floor)


def floor_price(entry: Decimal, distance_bp: float, long: bool, rules: SymbolRules) -> Decimal | None:
    """The breakeven floor `distance_bp` from the entry towards profit, on the grid away from the entry's
    loss side (None without an entry price)."""
    if entry <= 0:
        return None
    distance = Decimal(repr(distance_bp)) * BP
    if long:
        return rules.price_up(entry * (1 + distance))
    return rules.price_down(entry * (1 - distance))


def fair_close_price(
    reading: Reading | None, lots: float, long: bool, rules: SymbolRules, policy: QuotePolicy
) -> Decimal | None:
    """The fair value plus close_offset_sigma sigma (less the inventory skew) towards profit, on the grid
    (None without a warm signal)."""
    if reading is None or not reading.warm:
        return None
    assert reading.sigma_bp is not None
    towards = 1 if long else -1
    offset_bp = policy.close_offset_sigma * reading.sigma_bp - policy.skew_bp_per_lot * lots
    fair = _price_of(reading.fair(policy.fair_weight) * (1 + towards * offset_bp * 1e-4))
    return rules.price_up(fair) if long else rules.price_down(fair)


class Holding(NamedTuple):
    """What the close needs to know of the position, as the bot knows it now."""

    position: Decimal
    entry: Decimal  # the exchange's entry price (0: unknown)
    lots: float  # the position in lots of one opening order
    maker_fee: Decimal  # the account's maker rate: the breakeven floor pays two of them


class SignalQuoter:
    """The signal model's state (`signal`, fed by the market stream) and the time the position has been
    held; prices the order the bot's common decision (`desired_quote`) wants: its side, size and kind
    come from there, its price and whether to open at all from here."""

    def __init__(self, config: SignalConfig, policy: QuotePolicy, opening: Side) -> None:
        self.signal = SignalState(config)
        self.policy, self.opening = policy, opening
        self.held_since: float | None = None
        self.estimates: dict[str, float] = {"warm": False}
        # the pure parts, answered again while their inputs stay the same (core/memo.py): a decision is asked
        # on every book, response and second, and most of them move only one of these
        self._touch, self._floor, self._fair = Last(_touch_on_grid), Last(floor_price), Last(fair_close_price)
        self._floor_start = Last(floor_start_bp)
        self._warm_estimates = Last(_warm_estimates)

    def price(
        self,
        want: Quote | None,
        why: str,
        now: float,
        holding: Holding,
        book: tuple[Decimal, Decimal],
        rules: SymbolRules,
    ) -> tuple[Quote | None, str]:
        """The order wanted, priced; or None and why (the guard, the warm-up). `book` is the top of the
        book, used until the signal has one of its own."""
        reading = self.signal.reading
        touch = book if reading is None else self._touch(reading.bid, reading.ask, rules)
        self._estimate(now, reading)
        if want is None or not want.reduce_only:
            self.held_since = None
        if want is None:
            return None, why
        if want.reduce_only:
            if self.held_since is None:
                self.held_since = now
            long = holding.position > 0
            bp = floor_after(self._floor_start(holding.maker_fee, self.policy), now - self.held_since, self.policy)
            floor = self._floor(holding.entry, bp, long, rules)
            fair = self._fair(reading, holding.lots, long, rules, self.policy)
            close = _furthest(long, touch, floor, fair, rules)
            if close.floor is not None:
                self.estimates["floor"] = float(close.floor)
            return _priced(want, close.price), why
        if reading is None or not reading.warm:
            return None, f"signal warming up ({self.signal.warmup_left(now):.0f} s of market data to go)"
        if not guard_passes(reading, want.side, self.policy):
            return None, f"guard: predicted move {reading.pred:+.2f} sigma, opening needs {self.policy.guard_sigma:g}"
        return _priced(want, opening_price(want.side, *touch, rules, self.policy)), why

    def held(self, now: float) -> float | None:
        """Seconds the position has been held at `now` (None until a decision closed it)."""
        return None if self.held_since is None else now - self.held_since

    def refresh(self, now: float) -> None:
        """The status figures of the signal now (`estimates`), as `price` would leave them on the inputs it was
        last asked with (the floor, when it priced a close, stays)."""
        floor = self.estimates.get("floor")
        self._estimate(now, self.signal.reading)
        if floor is not None:
            self.estimates["floor"] = floor

    def _estimate(self, now: float, reading: Reading | None) -> None:
        """The figures the status line and the metrics show."""
        if reading is None or not reading.warm:
            self.estimates = {"warm": False, "warmup_left_s": round(self.signal.warmup_left(now), 1)}
            return
        self.estimates = dict(self._warm_estimates(reading, self.opening, self.policy))


def _warm_estimates(reading: Reading, opening: Side, policy: QuotePolicy) -> tuple[tuple[str, float], ...]:
    assert reading.sigma_bp is not None
    return (
        ("warm", True),
        ("pred", round(reading.pred, 3)),
        ("sigma_bp", round(reading.sigma_bp, 3)),
        ("guard_open", guard_passes(reading, opening, policy)),
    )


def _touch_on_grid(bid: float, ask: float, rules: SymbolRules) -> tuple[Decimal, Decimal]:
    return _on_grid(bid, rules), _on_grid(ask, rules)


def _priced(want: Quote, price: Decimal) -> Quote:
    """`want` at `price` (dataclasses.replace, without its cost)."""
    return Quote(want.side, price, want.qty, want.reduce_only, want.time_in_force)


def describe(estimates: dict[str, float]) -> str:
    """The signal model's state as a compact status-line fragment."""
    if not estimates.get("warm"):
        return f"signal=warming-up ({estimates.get('warmup_left_s', 0):.0f} s to go, no opening orders)"
    floor = f" floor={estimates['floor']:g}" if "floor" in estimates else ""
    guard = "open" if estimates["guard_open"] else "closed"
    return f"signal pred={estimates['pred']:+.2f}sigma sigma={estimates['sigma_bp']:.2f}bp guard={guard}{floor}"
