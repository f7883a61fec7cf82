"""The command line: every option, its type check and its default, parsed into a `Config`.

Every user mistake becomes an argparse error with a message naming the bad value, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path

from aster_mm.core.config import Config
from aster_mm.core.kinds import Bias, SpreadModel
from aster_mm.core.quoting import SIGNAL_STOP_LOSS
from aster_mm.settings import config_file, values
from aster_mm.settings.exchange_options import add_exchange_options, exchange_settings
from aster_mm.settings.help import DefaultsOnce
from aster_mm.settings.signal import add_signal_options, signal_settings

DESCRIPTION = "aster-mm: a one-symbol market maker for Aster perpetual futures."
EPILOG = (
    "environment (also read from .env in the working directory; the environment wins), one set "
    "required unless --sim or --paper: ASTER_USER, ASTER_SIGNER, ASTER_SIGNER_KEY (Pro API agent wallet) or "
    "ASTER_API_KEY, ASTER_API_SECRET (existing V1 keys, mainnet only); ASTER_REST_URL and ASTER_WS_URL "
    "override the network's hosts (ASTER_MARKET_WS_URL, ASTER_USER_WS_URL: one stream's host). "
    "`market_maker.py report --help`: the ledger per day. Exit status: 0 clean stop, 2 bad option or "
    "configuration, 1 fatal runtime error, 3 halted by a loss limit."
)

NETWORK_NAMES = ("mainnet", "testnet")  # aster_mm.exchange.hosts.NETWORKS has their hosts
# One line, so that an error is the second line a user reads, not the thirtieth (--help lists every option).
USAGE = "%(prog)s --symbol SYMBOL [--sim | --paper] [option ...]"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="market_maker.py", usage=USAGE, description=DESCRIPTION, formatter_class=DefaultsOnce, epilog=EPILOG
    )
    for add_group in (
        _quoting,
        _adaptive_spreads,
        add_signal_options,
        _loss_limits,
        _account,
        add_exchange_options,
        _files_and_logging,
        _unattended,
        _local_runs,
        _paper,
        _simulator,
    ):
        add_group(p)
    return p


def _quoting(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quoting")
    g.add_argument("--symbol", type=values.symbol, required=True, help="perpetual symbol, e.g. ETHUSDT")
    g.add_argument(
        "--buy-spread",
        type=values.fraction("buy-spread"),
        default=Decimal("0.006"),
        help="BUY price = mid * (1 - buy_spread)",
    )
    g.add_argument(
        "--sell-spread",
        type=values.fraction("sell-spread"),
        default=Decimal("0.006"),
        help="SELL price = mid * (1 + sell_spread)",
    )
    g.add_argument(
        "--balance-fraction",
        type=values.fraction("balance-fraction"),
        default=Decimal("0.2"),
        help="BUY size = available balance * fraction / mid",
    )
    g.add_argument(
        "--position-threshold-usd",
        type=values.decimal_arg("position-threshold-usd", None),
        default=Decimal("15"),
        help="a position worth more than this (USD) switches to SELL mode",
    )
    g.add_argument(
        "--reprice-threshold",
        type=values.fraction("reprice-threshold"),
        default=Decimal("0.001"),
        help="replace the order when its target price moves more than this",
    )
    g.add_argument(
        "--side",
        choices=[bias.value for bias in Bias],
        default=Bias.LONG.value,
        help="long: open with a post-only BUY below mid, close with a reduce-only SELL above it "
        "(the original script); short: open with a SELL above mid, close with a BUY below it",
    )
    g.add_argument(
        "--no-modify",
        dest="modify",
        action="store_false",
        help="V3: requote by cancel-then-place, as on V1, instead of Modify Order (whose post-only "
        "and partial-fill behaviour the API docs leave open)",
    )


def _adaptive_spreads(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quote model, and adaptive spreads")
    g.add_argument(
        "--spread-model",
        choices=[model.value for model in SpreadModel],
        default=SpreadModel.SIGNAL.value,
        help="fixed: quote at --buy-spread/--sell-spread; adaptive: Gueant-Lehalle-Fernandez-Tapia "
        "distances from live volatility and trade intensity (fixed spreads until warm); signal: open at the "
        "touch only while a short-horizon signal (book imbalance, momentum) agrees, close from the entry and a "
        "fair value (see the signal model's options)",
    )
    g.add_argument(
        "--risk-aversion",
        type=values.positive_float("risk-aversion"),
        default=0.1,
        help="adaptive: GLFT risk aversion per basis point per lot (typically 0.01-1): how hard a "
        "position pulls the closing price towards mid",
    )
    g.add_argument(
        "--min-spread",
        type=values.fraction("min-spread"),
        default=Decimal("0.00045"),
        help="adaptive: no quote closer to mid than this (a maker plus a taker fee at the base tier)",
    )
    g.add_argument(
        "--adaptive-half-life",
        type=values.number("adaptive-half-life", 1, 86400, "seconds"),
        default=300.0,
        help="adaptive: when too few trades leave nothing to fit, the last fit's spreads decay towards "
        "--buy-spread/--sell-spread with this half-life (seconds) instead of jumping back to them",
    )


def _loss_limits(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("loss limits (off unless given; the signal model has a stop-loss of its own)")
    g.add_argument(
        "--max-position-usd",
        type=values.decimal_arg("max-position-usd", None),
        default=None,
        help="an opening order never takes the position's notional past this (USD)",
    )
    g.add_argument(
        "--stop-loss",
        type=values.fraction_or_off("stop-loss"),
        default=None,
        help="when the mark price is this fraction against the entry price, close the position "
        "with reduce-only IOC orders until flat; 0 or off: never (default: "
        f"{SIGNAL_STOP_LOSS} with the signal model, the stop its defaults were chosen with; off with the others)",
    )
    g.add_argument(
        "--stop-slippage",
        type=values.fraction("stop-slippage"),
        default=Decimal("0.002"),
        help="a stop order crosses the spread by at most this fraction of the best price",
    )
    g.add_argument(
        "--max-loss-usd",
        type=values.decimal_arg("max-loss-usd", None),
        default=None,
        help="session net PnL (fees, funding and unrealized included) at which the bot cancels "
        "and pauses (USD, a positive number)",
    )
    g.add_argument(
        "--max-daily-loss-usd",
        type=values.decimal_arg("max-daily-loss-usd", None),
        default=None,
        help="net PnL of the UTC day (from the ledger) at which the bot cancels and pauses (USD)",
    )
    g.add_argument(
        "--halt-cooldown",
        type=values.minutes,
        default=60.0,
        help="minutes to pause after a loss limit fires; 0 halts until restarted (exit status 3)",
    )
    g.add_argument(
        "--flatten-on-halt",
        action="store_true",
        help="when a loss limit fires, also close the position (reduce-only IOC orders)",
    )


def _account(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("exchange and account")
    g.add_argument(
        "--network",
        choices=NETWORK_NAMES,
        default="mainnet",
        help="default REST/WS hosts and V3 signing chain id (testnet accepts V3 credentials only)",
    )
    g.add_argument("--leverage", type=values.leverage, default=1, help="leverage set on the symbol when flat (1-125)")
    g.add_argument(
        "--margin-type",
        type=values.margin_type,
        default=None,
        help="cross or isolated: set on the symbol when flat and confirmed before every opening order "
        "(default: leave the account's setting)",
    )
    g.add_argument(
        "--cancel-countdown",
        type=values.countdown,
        default=60.0,
        help="dead-man switch: the exchange cancels our orders if not renewed for this many seconds "
        "(renewed every quarter of it, at most every 15 s); 0 turns it off",
    )
    g.add_argument(
        "--start-timeout",
        type=values.start_timeout,
        default=120.0,
        help="at start, keep retrying an unreachable or overloaded exchange for this many seconds before exiting 1 "
        "(a host name that does not resolve: 5 s, unless run by systemd)",
    )
    g.add_argument(
        "--resume-after-liquidation",
        action="store_true",
        help="after a liquidation or ADL, resume opening positions instead of staying close-only until restarted",
    )


def _files_and_logging(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("files and logging")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="read options from this TOML file (a preset): one `key = value` line per option, the key being its "
        'long name without dashes (buy-spread = 0.0005, flatten-on-halt = true, symbol = "ETHUSDT"); checked as '
        "on the command line, which wins over the file",
    )
    g.add_argument(
        "--log-file",
        default=None,
        help="log file, rotated by size (default: market_maker.log; market_maker-sim.log with --sim, "
        "market_maker-paper.log with --paper)",
    )
    g.add_argument(
        "--ledger",
        default=None,
        help="CSV file every fill and funding payment is appended to (default: ledger-<SYMBOL>.csv "
        "beside the log file; ledger-<SYMBOL>-sim.csv with --sim, ledger-<SYMBOL>-paper.csv "
        "with --paper); summarise it with `market_maker.py report`",
    )
    g.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity",
    )


def _unattended(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("running unattended")
    g.add_argument(
        "--metrics-port",
        type=values.port,
        default=None,
        help="serve Prometheus metrics on this port at /metrics",
    )
    g.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics server binds to; 0.0.0.0 exposes it to the network",
    )
    g.add_argument(
        "--alert-webhook",
        type=values.webhook,
        default=None,
        metavar="URL",
        help="POST alerts as JSON {text, content} to this Slack/Discord-style incoming webhook "
        "(Telegram: set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID)",
    )


def _local_runs(p: argparse.ArgumentParser) -> None:
    local = p.add_argument_group("local runs").add_mutually_exclusive_group()
    local.add_argument(
        "--sim", action="store_true", help="trade against the built-in exchange simulator: no keys, no network"
    )
    local.add_argument(
        "--paper",
        action="store_true",
        help="paper trading: the simulator fed by the real exchange's public depth and trade "
        "streams for the symbol (real prices, simulated fills, no keys, no orders sent)",
    )


def _paper(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("with --paper")
    g.add_argument(
        "--paper-feed-url",
        type=values.ws_url,
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the public WebSocket host the market data comes from (default: ASTER_WS_URL, else "
        "the network's, e.g. wss://fstream.asterdex.com); the symbol's rules come from "
        "ASTER_REST_URL, else the network's REST host",
    )
    g.add_argument(
        "--paper-balance",
        type=values.decimal_arg("paper-balance", None),
        default=argparse.SUPPRESS,
        help="the paper account's starting balance in USDT",
    )


def _simulator(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "with --sim (--fill-model and the latencies also with --paper)",
        "The simulator knows ETHUSDT, BNBUSDT and ASTERUSDT; any other symbol needs --start-price.",
    )
    g.add_argument(
        "--start-price",
        type=values.decimal_arg("start-price", None),
        default=argparse.SUPPRESS,
        help="the synthetic market's first mid (default: 2500, 1020, 1.85 for the known symbols)",
    )
    g.add_argument(
        "--tick",
        type=values.decimal_arg("tick", None),
        default=argparse.SUPPRESS,
        help="the symbol's price tick (default: the simulator's rules for a known symbol, "
        "else a power of ten about 1/10,000 of --start-price)",
    )
    g.add_argument(
        "--step",
        type=values.decimal_arg("step", None),
        default=argparse.SUPPRESS,
        help="the symbol's quantity step (default: known rules, else a power of ten worth 1-10 USD)",
    )
    g.add_argument(
        "--fill-model",
        choices=["queue", "optimistic"],
        default=argparse.SUPPRESS,
        help="queue: wait behind the size displayed at the price when the order joined; optimistic: first in the queue",
    )
    g.add_argument(
        "--feed-latency-ms",
        type=values.latency_ms,
        default=argparse.SUPPRESS,
        help="market data reaches the bot this long after the event",
    )
    g.add_argument(
        "--order-latency-ms",
        type=values.latency_ms,
        default=argparse.SUPPRESS,
        help="an order request reaches the simulator's matching engine this long after it is received",
    )


def parse_config(argv: list[str] | None, parser: argparse.ArgumentParser | None = None) -> Config:
    parser = parser or build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if (path := config_file.given_path(argv)) is not None:
        config_file.apply(parser, path)
    args = vars(parser.parse_args(argv))
    del args["config"]
    if args["sim"] and args["paper"]:  # one may come from --config, where argparse's exclusion does not look
        parser.error("--sim and --paper: choose one")
    sim_only = {"start_price", "tick", "step"}
    if not args["sim"] and sim_only & args.keys():
        parser.error("--start-price, --tick and --step apply only with --sim")
    if not (args["sim"] or args["paper"]) and {"fill_model", "feed_latency_ms", "order_latency_ms"} & args.keys():
        parser.error("--fill-model and the latencies apply only with --sim or --paper")
    if not args["paper"] and {"paper_feed_url", "paper_balance"} & args.keys():
        parser.error("--paper-feed-url and --paper-balance apply only with --paper")
    if args["log_file"] is None:  # a simulated session never writes into the live log
        mode = "sim" if args["sim"] else "paper" if args["paper"] else ""
        args["log_file"] = f"market_maker-{mode}.log" if mode else "market_maker.log"
    if args["ledger"] is not None and not Path(args["ledger"]).resolve().parent.is_dir():
        parser.error(f"--ledger {args['ledger']!r}: its directory does not exist")
    args["side"], args["spread_model"] = Bias(args["side"]), SpreadModel(args["spread_model"])
    signal = signal_settings(args)
    exchange = exchange_settings(args, parser)
    return Config(**args, **signal, **exchange)
