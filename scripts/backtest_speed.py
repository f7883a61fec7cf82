"""How fast the backtest runs, next to hftbacktest alone over the same converted data, in the same run.

    python scripts/backtest_speed.py --data ../shared/data/standx-btcusd/2026-01-06 --symbol BTCUSD \\
        --tick 0.01 --step 0.0001 --buy-spread 0.0002 --sell-spread 0.0002 [--spread-model adaptive] \\
        [--models fixed,adaptive,signal] [--repeat 3] [--reference]

Takes backtest.py's own flags (--models: one backtest per spread model, each with the flags given). Prints, each
the best of --repeat runs:
  cold      conversion CSV -> events into an empty cache, and the bare pass that builds the book table the
            spread models read (wakes.py); both are cached, so only a first run pays them
  warm      loading the cached conversion (every model's book table is built before the timings)
  bare      hftbacktest's own loop, no strategy: wait_next_feed from Python, one wake per feed event
  elapse    hftbacktest alone: one elapse() over all of it (the engine's floor)
  backtest  ours (Runner.run) per model, and with --reference the every-event loop too
with the events (rows of the converted stream) per second and the ratio to the bare loop, plus the wall
time per day of data; then one more run per model timing the bot's own code inside ours (Strategy.decide, the
adaptive model's and the signal's updates), which the backtester calls but does not own. A measurement, not a
test: run it on an otherwise idle machine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from aster_mm.backtest import cli, convert, engine, wakes  # noqa: E402
from aster_mm.backtest.bot import QuoteParams, SignalState, Strategy, StrategyState  # noqa: E402
from aster_mm.backtest.runner import Runner  # noqa: E402
from aster_mm.core.spreads import AdaptiveSpreads  # noqa: E402
from aster_mm.recording.reading import day_folders  # noqa: E402


def best(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def bare_loop(market: convert.MarketData, cfg: engine.EngineConfig) -> int:
    bt = engine.Backtest(market.chunks, market.price_range, cfg)
    wakes_seen, advance = 0, bt.advance
    try:
        while advance(wakes.NEVER) != engine.END_OF_DATA:
            wakes_seen += 1
    finally:
        bt.close()
    return wakes_seen


def one_elapse(market: convert.MarketData, cfg: engine.EngineConfig) -> None:
    bt = engine.Backtest(market.chunks, market.price_range, cfg)
    try:
        bt.advance(1)
        while bt.elapse(wakes.NEVER) != engine.END_OF_DATA:
            pass
    finally:
        bt.close()


def bot_share(run: Callable[[], object]) -> float:
    """Seconds spent in the bot's own code during one run: its decisions and the models' updates."""
    spent = [0.0]
    patched = [(Strategy, "decide"), (AdaptiveSpreads, "on_trade"), (AdaptiveSpreads, "on_mid")]
    patched += [(SignalState, "on_depth"), (SignalState, "on_trade")]
    originals = [getattr(cls, name) for cls, name in patched]

    def timed(fn):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return call

    for (cls, name), fn in zip(patched, originals):
        setattr(cls, name, timed(fn))
    try:
        run()
    finally:
        for (cls, name), fn in zip(patched, originals):
            setattr(cls, name, fn)
    return spent[0]


def options(argv: list[str]) -> tuple[int, bool, list[str], list[str]]:
    """--repeat N, --reference and --models a,b (each model run with the flags and --spread-model MODEL)."""
    repeat, reference, models = 1, "--reference" in argv, []
    argv = [a for a in argv if a != "--reference"]
    for flag in ("--repeat", "--models"):
        if flag in argv:
            i = argv.index(flag)
            value, argv = argv[i + 1], argv[:i] + argv[i + 2 :]
            repeat, models = (int(value), models) if flag == "--repeat" else (repeat, value.split(","))
    return repeat, reference, models, argv


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return 0
    repeat, reference, models, argv = options(argv)
    args, cfg = cli.parse(argv)
    days = [convert.data_files(d, args.symbol) for d in day_folders(args.data, args.symbol)]
    feed_ns = int(args.feed_latency_ms * 1e6)
    rules = convert.symbol_rules(args.symbol, *days[0], args.tick, args.step)
    eng = engine.EngineConfig(tick=float(rules.tick), lot=float(rules.step), queue_model=args.queue_model)
    configs = [cli.parse([*argv, "--spread-model", m])[1] for m in models] or [cfg]
    with tempfile.TemporaryDirectory() as tmp:

        def cold():
            market = convert.load_days(days, feed_ns, Path(tmp) / "cache")
            wakes.book_changes(market, eng.tick, eng.lot, wakes.TOP_OF_BOOK)
            return market

        t_cold, _ = best(1, cold)
    market = convert.load_days(days, feed_ns)  # into the usual cache, if it is not there yet
    for c in configs:  # every model's book table and the trades, as any later run finds them
        reads = Strategy(c, StrategyState(), QuoteParams.from_config(c), float, lambda: (0, 0), float).reads
        wakes.book_table(market, eng.tick, eng.lot, reads)
        wakes.market_trades(market)
    t_warm, market = best(repeat, lambda: convert.load_days(days, feed_ns))
    n_events = sum(len(np.load(c)["data"]) for c in market.chunks)
    day_s = max((market.end_ns - market.start_ns) / 1e9, 1.0) / 86_400

    def ours(c, every_event: bool):
        runner = Runner(market, rules, QuoteParams.from_config(c), c.reprice_threshold, args.wallet, eng, c, args.gap_s)
        return runner.run(every_event=every_event)

    t_bare, n_wakes = best(repeat, lambda: bare_loop(market, eng))
    t_elapse, _ = best(repeat, lambda: one_elapse(market, eng))
    rows = [("bare wait_next_feed loop", t_bare, f"{n_wakes:,} wakes"), ("one elapse (engine alone)", t_elapse, "")]
    for c in configs:
        for label, every in [("", False)] + ([(" --every-event", True)] if reference else []):
            t, result = best(repeat, lambda c=c, every=every: ours(c, every))
            note = f"{result.wakes:,} wakes, {result.steps:,} steps, {len(result.fills)} fills"
            rows.append((f"backtest {c.spread_model}{label}", t, note))
    print(f"data: {', '.join(market.days)} ({n_events:,} events, {day_s:.2f} days)")
    print(f"conversion: cold {t_cold:.2f} s (with the book-change pass), warm {t_warm:.3f} s")
    for label, t, note in rows:
        print(
            f"{label:<36} {t:7.2f} s  {n_events / t / 1e6:6.2f} M events/s  {t / day_s:6.2f} s/day  "
            f"{t / t_bare:5.2f}x bare  {note}"
        )
    for c in configs:
        t_ours = next(t for label, t, _ in rows if label == f"backtest {c.spread_model}")
        bot = bot_share(lambda c=c: ours(c, False))
        print(
            f"{c.spread_model}: of the backtest's {t_ours:.2f} s, about {bot:.2f} s are the bot's own code (decisions, "
            f"the models' updates); without it {t_ours - bot:.2f} s, {(t_ours - bot) / t_bare:.2f}x bare"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
