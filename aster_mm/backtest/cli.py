#!/usr/bin/env python3
"""backtest.py: replay recorded Aster market data through hftbacktest, trading with the bot's own code.

    python backtest.py --data ../shared/data/aster-2025-09-29 --symbol BNBUSDT [strategy flags]
        [--queue-model risk-averse|power2|power3] [--order-latency-ms 30 | --order-latency-file F]
        [--maker-fee 0.0001] [--taker-fee 0.00035] [--json PATH] [--plot PNG] [--sweep NAME=v1,v2 ...]

Strategy flags are market_maker.py's own (--buy-spread, --sell-spread, --balance-fraction,
--position-threshold-usd, --reprice-threshold, --side, --spread-model adaptive, --risk-aversion,
--min-spread, --max-position-usd, --stop-loss, --stop-slippage, --max-loss-usd, --max-daily-loss-usd,
--halt-cooldown, --flatten-on-halt), parsed by its parser; the bot's own Strategy decides. Needs the extra
requirements-backtest.txt (hftbacktest). Exit status: 0 done, 2 bad option, data or missing extra.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from decimal import Decimal
from pathlib import Path

from aster_mm.backtest.bot import QuoteParams, SpreadModel, parse_config
from aster_mm.backtest.bot import build_parser as bot_parser

try:
    from aster_mm.backtest import convert, engine, report
    from aster_mm.backtest.runner import Runner
except ImportError as err:  # the extra is not installed
    engine = None
    _MISSING = err


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backtest.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Any other flag is a strategy flag of market_maker.py (see python market_maker.py --help), "
        "e.g. --buy-spread 0.0005 --sell-spread 0.0005.",
    )
    p.add_argument("--data", type=Path, required=True, help="directory with orderbook_<SYM>.csv and trades_<SYM>.csv")
    p.add_argument("--symbol", required=True, type=str.upper, help="symbol, e.g. BNBUSDT")
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
        "--feed-latency-ms",
        type=float,
        default=50.0,
        help="assumed market-data latency, for rows with one timestamp: a book row's is its receipt "
        "(the exchange sent it this much earlier), a trade's is the exchange's (the bot sees it this "
        "much later)",
    )
    p.add_argument("--maker-fee", type=float, default=0.0001, help="maker fee rate (Aster base tier)")
    p.add_argument("--taker-fee", type=float, default=0.00035, help="taker fee rate (Aster base tier)")
    p.add_argument("--wallet", type=Decimal, default=Decimal(10000), help="opening wallet in USD")
    p.add_argument("--tick", type=Decimal, help="price tick (default: known rules, else inferred from the data)")
    p.add_argument("--step", type=Decimal, help="quantity step (default: known rules, else inferred)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    p.add_argument("--plot", metavar="PNG", type=Path, help="write equity, position and mid over time as a PNG")
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=v1,v2,...",
        help="run every combination of these values (repeatable); NAME is any flag without its "
        "dashes, e.g. buy_spread, queue_model; 'a+b=v' sets both a and b",
    )
    return p


def _parse(argv: list[str]) -> tuple[argparse.Namespace, object]:
    args, rest = build_parser().parse_known_args(argv)
    strategy = bot_parser()
    strategy.prog = "backtest.py (strategy flags)"
    return args, parse_config(["--symbol", args.symbol, *rest], strategy)


def _sweep_variants(specs: list[str], parser: argparse.ArgumentParser) -> list[tuple[dict, list[str]]]:
    """Each combination of the sweep values: ({name: value}, the flags that set them)."""
    axes = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name.strip() or not values.strip():
            parser.error(f"--sweep wants NAME=v1,v2,..., got {spec!r}")
        flags = ["--" + n.strip().replace("_", "-") for n in name.split("+")]
        axes.append([(name.strip(), v.strip(), [x for f in flags for x in (f, v.strip())]) for v in values.split(",")])
    return [
        ({n: v for n, v, _ in combo}, [x for *_, argv in combo for x in argv]) for combo in itertools.product(*axes)
    ]


def _without_sweeps(argv: list[str]) -> list[str]:
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--sweep":
            skip = True
        elif not token.startswith("--sweep="):
            out.append(token)
    return out


def run_once(args: argparse.Namespace, cfg, cache: dict) -> tuple[dict, object]:
    book, trades = convert.data_files(args.data, args.symbol)
    rules = convert.symbol_rules(args.symbol, book, trades, args.tick, args.step)
    feed_ns = int(args.feed_latency_ms * 1e6)
    if feed_ns not in cache:
        cache[feed_ns] = convert.load(book, trades, feed_ns)
    market = cache[feed_ns]
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
    result = Runner(market, rules, params, cfg.reprice_threshold, args.wallet, eng, cfg).run()
    latency = (
        f"order latency from {args.order_latency_file}"
        if args.order_latency_file
        else f"order latency {args.order_latency_ms:g} ms each way (constant)"
    )
    out = {
        "settings": {
            "symbol": args.symbol,
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
            "tick": str(rules.tick),
            "step": str(rules.step),
            "min_qty": str(rules.min_qty),
            "min_notional": str(rules.min_notional),
        },
        "assumptions": [
            market.feed_note,
            latency,
            f"hftbacktest NoPartialFillExchange, {args.queue_model} queue model, fees maker {args.maker_fee:g} / "
            f"taker {args.taker_fee:g}",
            "depth beyond the recorded 10 levels is unknown and treated as empty: a quote there is first in its queue",
            "a position still open at the end is marked to the last mid",
        ]
        + (
            ["a stop order (reduce-only IOC) fills whole at the best price it crosses, whatever the depth there"]
            if cfg.stop_loss is not None or cfg.flatten_on_halt
            else []
        ),
        "metrics": report.summarize(result, market),
    }
    return out, result


def _limit_settings(cfg) -> dict:
    """The adaptive model's and the loss limits' flags, those that are in force."""
    out = {}
    if cfg.spread_model == SpreadModel.ADAPTIVE:
        out.update(risk_aversion=cfg.risk_aversion, min_spread=str(cfg.min_spread))
    for name in ("max_position_usd", "stop_loss", "max_loss_usd", "max_daily_loss_usd"):
        if getattr(cfg, name) is not None:
            out[name] = str(getattr(cfg, name))
    if cfg.stop_loss is not None:
        out["stop_slippage"] = str(cfg.stop_slippage)
    if cfg.max_loss_usd is not None or cfg.max_daily_loss_usd is not None:
        out.update(halt_cooldown_min=cfg.halt_cooldown, flatten_on_halt=cfg.flatten_on_halt)
    return out


def _sweep_table(runs: list[tuple[dict, dict]]) -> str:
    head = ["setting", "fills", "volume USD", "net PnL", "bp/vol", "max DD", "in pos", "mk 10s bp"]
    lines = []
    for setting, out in runs:
        m = out["metrics"]
        bp = m["pnl_per_volume_bp"]
        mk = m["markouts"]["10s"]["mean_bp"]
        lines.append(
            [
                " ".join(f"{n}={v}" for n, v in setting.items()),
                str(m["fills"]),
                f"{m['volume_usd']:,.0f}",
                f"{m['net_pnl_usd']:.2f}",
                "n/a" if bp is None else f"{bp:.2f}",
                f"{m['max_drawdown_usd']:.2f}",
                f"{m['time_in_position'] * 100:.0f}%",
                "n/a" if mk is None else f"{mk:.2f}",
            ]
        )
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in [head, *lines]
    )


def _rank(item) -> tuple:
    m = item[1]["metrics"]
    bp = m["pnl_per_volume_bp"]
    return (bp is None, -(bp or 0.0), -m["net_pnl_usd"])


def _write_json(path: str, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if engine is None:
        print(
            f"backtest.py needs the backtest extra ({_MISSING}): pip install -r requirements-backtest.txt",
            file=sys.stderr,
        )
        return 2
    args, cfg = _parse(argv)
    cache: dict = {}
    try:
        if not args.sweep:
            out, result = run_once(args, cfg, cache)
            print(report.table(out["metrics"]))
            print("assumptions:\n" + "\n".join(f"  - {a}" for a in out["assumptions"]))
            if args.plot:
                spreads = (
                    "adaptive"
                    if cfg.spread_model == SpreadModel.ADAPTIVE
                    else f"buy {cfg.buy_spread} / sell {cfg.sell_spread}"
                )
                report.plot(result, args.plot, f"{args.symbol} {spreads}, {args.queue_model}")
                print(f"plot: {args.plot}")
            if args.json:
                _write_json(args.json, out)
            return 0
        if args.plot:
            parser.error("--plot draws one run; leave it out of a --sweep")
        base = _without_sweeps(argv)
        runs = []
        for setting, flags in _sweep_variants(args.sweep, parser):
            v_args, v_cfg = _parse(base + flags)
            runs.append((setting, run_once(v_args, v_cfg, cache)[0]))
        runs.sort(key=_rank)
        print(_sweep_table(runs))
        shared = runs[0][1]["assumptions"][:1] + runs[0][1]["assumptions"][3:]
        print("assumptions (every row):\n" + "\n".join(f"  - {a}" for a in shared))
        if args.json:
            _write_json(args.json, {"runs": [dict(out, sweep=setting) for setting, out in runs]})
        return 0
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
