"""Measures what one market frame and one decision cost the live bot, per spread model: the fixed model's
fast path (a depth5 frame, top unchanged or changed) and the signal model's (a depth10 frame, its levels parsed
and the signal updated); a decision asked again on the same inputs, and a frame moving the top with the
decision it wakes (flat, and long one lot: the close). Run: python scripts/measure_signal.py. A measurement, not
a test; AMM_ROOT=<checkout> measures another checkout (e.g. main, to compare before and after a change)."""

from __future__ import annotations

import json
import os
import sys
import timeit
from decimal import Decimal
from pathlib import Path

ROOT = Path(os.environ.get("AMM_ROOT", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))
from aster_mm.core.config import Config  # noqa: E402
from aster_mm.core.kinds import SpreadModel  # noqa: E402
from aster_mm.core.rules import SymbolRules  # noqa: E402
from aster_mm.live.bot import MarketMaker  # noqa: E402

RULES = SymbolRules("BTCUSDT", "TRADING", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))


def frame(levels: int, top: float, size: float) -> str:
    """A combined-stream depth frame as the exchange sends it, `levels` deep on each side."""
    bids = [[f"{top - 0.1 * i:.1f}", f"{size + i:.3f}"] for i in range(levels)]
    asks = [[f"{top + 0.1 * (i + 1):.1f}", f"{size + 2 * i:.3f}"] for i in range(levels)]
    data = {"e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": 1, "u": 2, "pu": 0, "b": bids, "a": asks}
    return json.dumps({"stream": f"btcusdt@depth{levels}@100ms", "data": data})


def bot_for(model: str) -> MarketMaker:
    clock = [0.0]

    def now() -> float:
        clock[0] += 0.1  # each call a tenth of a second on: the signal refits sigma once a second
        return clock[0]

    bot = MarketMaker(Config(symbol="BTCUSDT", spread_model=model), client=None, ws_url="ws://x", now=now)
    bot.state.available = Decimal(10000)
    return bot


def per_call_us(fn, number: int = 20000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def frames_cost(model: str, levels: int) -> tuple[float, float]:
    """(µs per frame with the top unchanged but sizes moving, µs per frame with a new top)."""
    bot = bot_for(model)
    same = [frame(levels, 100000.0, 1.0 + i / 1000) for i in range(1000)]
    moving = [frame(levels, 100000.0 + 0.1 * (i % 50), 1.0) for i in range(1000)]
    for raw in moving[:700]:  # warm: 70 s of frames
        bot.on_market_message(raw)
    it = iter(same * 100)
    unchanged = per_call_us(lambda: bot.on_market_message(next(it)), 10000)
    it = iter(moving * 100)
    changed = per_call_us(lambda: bot.on_market_message(next(it)), 10000)
    return unchanged, changed


def decision_cost(model: str) -> float:
    """µs per decision asked again on the same inputs (a repeated wake)."""
    bot = bot_for(model)
    for i in range(700):
        bot.on_market_message(frame(10 if model == "signal" else 5, 100000.0 + 0.1 * (i % 7), 1.0 + (i % 3)))
    return per_call_us(lambda: bot.strategy.wanted(RULES), 5000)


def frame_and_decision_cost(model: str, long: bool) -> float:
    """µs per market frame that moves the top followed by the decision it wakes, flat or long one lot: what the
    live loop pays per move (the frame's own cost is the table's 'top changed')."""
    bot, levels = bot_for(model), 10 if model == "signal" else 5
    if long:
        bot.state.position.apply_snapshot(Decimal("0.02"), 1)
        bot.state.entry_price = Decimal("100000")
    moving = [frame(levels, 100000.0 + 0.1 * (i % 50), 1.0 + (i % 7) / 10) for i in range(1000)]
    for raw in moving[:700]:
        bot.on_market_message(raw)
    it = iter(moving * 100)

    def one() -> None:
        bot.on_market_message(next(it))
        bot.strategy.wanted(RULES)

    return per_call_us(one, 10000)


if __name__ == "__main__":
    models = [m.value for m in SpreadModel if m.value in ("fixed", "signal")]
    print(f"checkout {ROOT}; Python {sys.version.split()[0]}")
    for model in models:
        levels = 10 if model == "signal" else 5
        unchanged, changed = frames_cost(model, levels)
        print(
            f"{model:6s} depth{levels:<2d} frame, top unchanged {unchanged:6.2f} µs, top changed {changed:6.2f} µs; "
            f"decision (Strategy.wanted) on the same inputs {decision_cost(model):6.2f} µs; frame moving the top "
            f"and its decision: flat {frame_and_decision_cost(model, False):6.2f} µs, "
            f"long {frame_and_decision_cost(model, True):6.2f} µs"
        )
