#!/usr/bin/env python3
"""backtest.py: replay recorded Aster market data through hftbacktest, trading with the bot's own code.

    python backtest.py --data DIR [DIR ...] --symbol BNBUSDT [--config PRESET.toml] [strategy flags]
        [--queue-model risk-averse|power2|power3] [--order-latency-ms 30 | --order-latency-file F]
        [--maker-fee 0.0001] [--taker-fee 0.00035] [--gap-s 30] [--json PATH] [--plot PNG]
        [--sweep NAME=v1,v2 ...] [--every-event]
    python backtest.py inspect DIR [DIR ...] [--gap-s 30] [--symbol SYM]

--data takes data folders (orderbook_<SYM>.csv[.gz] and trades_<SYM>.csv[.gz]) or parents of day folders,
and replays them all as one continuous market; --gap-s seconds without a book row or a trade is a gap
(the order is pulled, as the live bot pulls it on stale data; aster_mm/backtest/wakes.py). `inspect` checks a
recording before it is trusted (aster_mm/recording/inspect.py).

Strategy flags are market_maker.py's own (--buy-spread, --sell-spread, --balance-fraction,
--position-threshold-usd, --reprice-threshold, --side, --spread-model adaptive|signal, --risk-aversion,
--min-spread, --adaptive-half-life, the signal model's --weight-*, --guard-sigma, --fair-weight, ...,
--max-position-usd, --stop-loss, --stop-slippage, --max-loss-usd, --max-daily-loss-usd, --halt-cooldown,
--flatten-on-halt), parsed by its parser; the bot's own Strategy decides. The signal model's breakeven
floor pays --maker-fee twice. Needs the extra
requirements-backtest.txt (hftbacktest). Exit status: 0 done, 2 bad option, data or missing extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from aster_mm.backtest import sweep
from aster_mm.backtest.bot import Config, QuoteParams, SpreadModel, SymbolRules, parse_config
from aster_mm.backtest.bot import build_parser as bot_parser
from aster_mm.recording.reading import day_folders
from aster_mm.settings.help import DefaultsOnce

_MISSING: ImportError | None = None
try:
    from aster_mm.backtest import convert, engine, report
    from aster_mm.backtest.runner import DEFAULT_GAP_S, Runner, RunResult
except ImportError as err:  # the extra is not installed
    _MISSING, DEFAULT_GAP_S = err, 30.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backtest.py",
        usage="%(prog)s --data DIR [DIR ...] --symbol SYMBOL [option ...]  (or: %(prog)s inspect DIR ...)",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=DefaultsOnce,
        epilog="Any other flag is a strategy flag of market_maker.py (see python market_maker.py --help), "
        "e.g. --buy-spread 0.0005 --sell-spread 0.0005. `backtest.py inspect --help`: check a recording.",
    )
    _data_flags(p)
    _engine_flags(p)
    _output_flags(p)
    return p


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        nargs="+",
        required=True,
        help="data folders with orderbook_<SYM>.csv[.gz] and trades_<SYM>.csv[.gz], or parents of day folders: "
        "all of them are replayed as one market, in time order",
    )
    p.add_argument("--symbol", type=str.upper, help="symbol, e.g. BNBUSDT (required unless --config names it)")
    p.add_argument("--tick", type=Decimal, help="price tick (default: known rules, else inferred from the data)")
    p.add_argument("--step", type=Decimal, help="quantity step (default: known rules, else inferred)")
    p.add_argument(
        "--feed-latency-ms",
        type=float,
        default=50.0,
        help="assumed market-data latency, for rows with one timestamp: a book row's is its receipt "
        "(the exchange sent it this much earlier), a trade's is the exchange's (the bot sees it this "
        "much later)",
    )
    p.add_argument(
        "--gap-s",
        type=float,
        default=DEFAULT_GAP_S,
        help="a stretch this long without a book row or a trade is a gap: the order is cancelled this long into "
        "it (as the live bot pulls its quote on stale data) and the bot quotes again at the first book row after it",
    )


def _engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--queue-model",
        default="risk-averse",
        choices=["risk-averse", "power2", "power3"],
        help="queue position: risk-averse (advances only on trades at our price), or hftbacktest's "
        "probabilistic model with f(x)=x^2 / x^3",
    )
    p.add_argument(
        "--order-latency-ms",
        type=float,
        default=30.0,
        help="constant order latency, each way (request to exchange, and response back)",
    )
    p.add_argument(
        "--order-latency-file",
        type=Path,
        help="measured order latencies instead: hftbacktest .npz, or CSV req_ts,exch_ts,resp_ts in ns",
    )
    p.add_argument(
        "--maker-fee",
        type=float,
        default=0.0001,
        help="the run's maker fee rate (Aster's base tier); the report also gives the net at the base tier and at "
        "MM1 (maker -0.000015, taker 0.00027), repriced from the fills",
    )
    p.add_argument("--taker-fee", type=float, default=0.00035, help="the run's taker fee rate (Aster's base tier)")
    p.add_argument("--wallet", type=Decimal, default=Decimal(10000), help="opening wallet in USD")


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    p.add_argument(
        "--plot", metavar="PNG", type=Path, help="write equity, position, the mid, our quotes and fills as a PNG"
    )
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=v1,v2,...",
        help="run every combination of these values (repeatable); NAME is any flag without its "
        "dashes, e.g. buy_spread, queue_model; 'a+b=v' sets both a and b",
    )
    p.add_argument(
        "--every-event",
        action="store_true",
        help="wake the strategy at every market event (the slow reference loop; same results)",
    )


def parse(argv: list[str]) -> tuple[argparse.Namespace, Config]:
    """The backtest's own flags, and the strategy's (the rest, with --config) parsed by the bot's parser."""
    args, rest = build_parser().parse_known_args(argv)
    strategy = bot_parser()
    strategy.prog = "backtest.py (strategy flags)"
    cfg = parse_config(["--symbol", args.symbol, *rest] if args.symbol else rest, strategy)
    args.symbol = cfg.symbol
    return args, cfg


def load_market(args: argparse.Namespace, cache: dict) -> tuple[Any, SymbolRules]:
    """The replayed market of every --data folder (converted once per feed latency) and the rules."""
    days = [convert.data_files(d, args.symbol) for d in day_folders(args.data, args.symbol)]
    rules = convert.symbol_rules(args.symbol, *days[0], args.tick, args.step)
    feed_ns = int(args.feed_latency_ms * 1e6)
    if feed_ns not in cache:
        cache[feed_ns] = convert.load_days(days, feed_ns)
    return cache[feed_ns], rules


def run_once(args: argparse.Namespace, cfg: Config, cache: dict) -> tuple[dict, RunResult]:
    market, rules = load_market(args, cache)
    eng = engine.EngineConfig(
        tick=float(rules.tick),
        lot=float(rules.step),
        queue_model=args.queue_model,
        order_latency_ns=int(args.order_latency_ms * 1e6),
        latency_file=args.order_latency_file,
        maker_fee=args.maker_fee,
        taker_fee=args.taker_fee,
    )
    params = QuoteParams.from_config(cfg)
    runner = Runner(market, rules, params, cfg.reprice_threshold, args.wallet, eng, cfg, gap_s=args.gap_s)
    result = runner.run(every_event=args.every_event)
    out = {
        "settings": _settings(args, cfg, rules),
        "assumptions": _assumptions(args, cfg, market, result),
        "metrics": report.summarize(result, market),
    }
    return out, result


def _settings(args: argparse.Namespace, cfg: Config, rules: SymbolRules) -> dict:
    return {
        "symbol": args.symbol,
        "data": [str(d) for d in args.data],
        "buy_spread": str(cfg.buy_spread),
        "sell_spread": str(cfg.sell_spread),
        "balance_fraction": str(cfg.balance_fraction),
        "position_threshold_usd": str(cfg.position_threshold_usd),
        "reprice_threshold": str(cfg.reprice_threshold),
        "wallet_usd": str(args.wallet),
        "side": cfg.side,
        "spread_model": cfg.spread_model,
        **_limit_settings(cfg),
        "queue_model": args.queue_model,
        "order_latency_ms": None if args.order_latency_file else args.order_latency_ms,
        "feed_latency_ms": args.feed_latency_ms,
        "maker_fee": args.maker_fee,
        "taker_fee": args.taker_fee,
        "gap_s": args.gap_s,
        "tick": str(rules.tick),
        "step": str(rules.step),
        "min_qty": str(rules.min_qty),
        "min_notional": str(rules.min_notional),
    }


def _assumptions(args: argparse.Namespace, cfg: Config, market, result: RunResult) -> list[str]:
    latency = (
        f"order latency from {args.order_latency_file}"
        if args.order_latency_file
        else f"order latency {args.order_latency_ms:g} ms each way (constant)"
    )
    gaps = result.gaps
    out = [
        market.feed_note,
        latency,
        f"hftbacktest NoPartialFillExchange, {args.queue_model} queue model, fees maker {args.maker_fee:g} / "
        f"taker {args.taker_fee:g}; the base tier (1 / 3.5 bp) and MM1 (-0.15 / 2.7 bp) repriced from the fills",
        "depth beyond the recorded 10 levels is unknown and treated as empty: a quote there is first in its queue",
        "a position still open at the end is marked to the last mid",
        f"{len(market.days)} data folder(s) replayed as one market; {gaps['count']} gap(s) (no book row nor trade "
        f"for > {args.gap_s:g} s, {gaps['total_s']:.0f} s in all): the order is cancelled {args.gap_s:g} s into a "
        "gap, as the live bot pulls it on stale data, and none is placed before the first book row after it",
    ]
    if cfg.stop_loss_in_force is not None or cfg.flatten_on_halt:
        out.append("a stop order (reduce-only IOC) fills whole at the best price it crosses, whatever the depth there")
    return out


def _limit_settings(cfg: Config) -> dict:
    """The adaptive model's and the loss limits' flags, those that are in force."""
    out: dict[str, Any] = {}
    if cfg.spread_model == SpreadModel.ADAPTIVE:
        out.update(risk_aversion=cfg.risk_aversion, min_spread=str(cfg.min_spread))
        out.update(adaptive_half_life_s=cfg.adaptive_half_life)
    if cfg.spread_model == SpreadModel.SIGNAL:
        out.update(signal=dataclasses.asdict(cfg.signal), quote_policy=dataclasses.asdict(cfg.quote_policy))
    limits = {"max_position_usd": cfg.max_position_usd, "stop_loss": cfg.stop_loss_in_force}
    limits.update(max_loss_usd=cfg.max_loss_usd, max_daily_loss_usd=cfg.max_daily_loss_usd)
    out.update({name: str(value) for name, value in limits.items() if value is not None})
    if cfg.stop_loss_in_force is not None:
        out["stop_slippage"] = str(cfg.stop_slippage)
    if cfg.max_loss_usd is not None or cfg.max_daily_loss_usd is not None:
        out.update(halt_cooldown_min=cfg.halt_cooldown, flatten_on_halt=cfg.flatten_on_halt)
    return out


def _write_json(path: str, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def _single(args: argparse.Namespace, cfg: Config, cache: dict) -> None:
    out, result = run_once(args, cfg, cache)
    print(report.table(out["metrics"]))
    print("assumptions:\n" + "\n".join(f"  - {a}" for a in out["assumptions"]))
    if args.plot:
        spreads = (
            "adaptive" if cfg.spread_model == SpreadModel.ADAPTIVE else f"buy {cfg.buy_spread} / sell {cfg.sell_spread}"
        )
        market = load_market(args, cache)[0]  # cached by run_once
        report.plot(result, market, args.plot, f"{args.symbol} {spreads}, {args.queue_model}")
        print(f"plot: {args.plot}")
    if args.json:
        _write_json(args.json, out)


def _sweep(argv: list[str], args: argparse.Namespace, parser: argparse.ArgumentParser, cache: dict) -> None:
    if args.plot:
        parser.error("--plot draws one run; leave it out of a --sweep")
    base = sweep.without_sweeps(argv)
    runs = []
    for setting, flags in sweep.variants(args.sweep, parser):
        v_args, v_cfg = parse(base + flags)
        runs.append((setting, run_once(v_args, v_cfg, cache)[0]))
    runs.sort(key=sweep.rank)
    print(sweep.table(runs))
    shared = runs[0][1]["assumptions"][:1] + runs[0][1]["assumptions"][3:]
    print("assumptions (every row):\n" + "\n".join(f"  - {a}" for a in shared))
    if args.json:
        _write_json(args.json, {"runs": [dict(out, sweep=setting) for setting, out in runs]})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["inspect"]:
        return _inspect_main(argv[1:])
    parser = build_parser()
    args, cfg = parse(argv)  # --help and a bad option need no extra
    if _MISSING is not None:
        return _no_extra("backtest.py", _MISSING)
    try:
        if args.sweep:
            _sweep(argv, args, parser, {})
        else:
            _single(args, cfg, {})
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    return 0


def _no_extra(what: str, err: ImportError) -> int:
    print(
        f"{what}: error: a backtest needs the extra requirements-backtest.txt ({err}): "
        "pip install -r requirements-backtest.txt (hftbacktest, numba, polars, matplotlib: about 800 MB)",
        file=sys.stderr,
    )
    return 2


def _inspect_main(argv: list[str]) -> int:
    inspect: ModuleType
    try:
        from aster_mm.recording import inspect
    except ImportError as err:  # polars comes with the backtest extra
        return _no_extra("backtest.py inspect", err)
    return inspect.main(argv)


if __name__ == "__main__":
    sys.exit(main())
