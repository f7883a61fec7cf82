"""Local simulator of the Aster perpetual futures exchange: the entry point and command line.

Serves the REST API and the WebSocket streams on one aiohttp port on 127.0.0.1, so the real bot, or any
other client, can trade against it unchanged (ASTER_REST_URL=http://127.0.0.1:PORT,
ASTER_WS_URL=ws://127.0.0.1:PORT), driven by a synthetic market or a replay of recorded data. How to use
it: docs/simulator.md. This module re-exports what tests and tools import from the package.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
from decimal import Decimal, InvalidOperation

from eth_account import Account

from aster_mm.simulator import (
    MarketSetupError,
    ReplayMarket,
    SimExchange,
    SymbolSpec,
    SyntheticMarket,
    symbol_table,
    synthetic_spec,
)
from aster_mm.simulator.markets import RECORDED_LEVELS, START_PRICES
from aster_mm.simulator.options import DOCUMENTED_LIMITS

__all__ = ["ReplayMarket", "SimExchange", "SymbolSpec", "SyntheticMarket", "main"]


# ------------------------------------------------------------------------------------- CLI
def market_ms(ms: float, speed: float) -> float:
    """A delay in the market's time as event-loop milliseconds, when the market plays `speed` times faster."""
    return ms / speed if speed > 0 and math.isfinite(speed) else ms


def non_negative_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"a latency must be 0..60000 ms, got {text!r}")
    return value


def _positive(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _symbol(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{2,20}", text):
        raise argparse.ArgumentTypeError(f"symbol must be letters and digits like ETHUSDT, got {text!r}")
    return text.upper()


def _agent(text: str) -> tuple[str, str]:
    """USER:SIGNER, two 0x addresses."""
    parts = text.split(":")
    if len(parts) != 2 or not all(re.fullmatch(r"0x[0-9a-fA-F]{40}", p) for p in parts):
        raise argparse.ArgumentTypeError(f"expected USER:SIGNER, two 0x addresses of 40 hex digits, got {text!r}")
    return parts[0], parts[1]


def print_identity(api_key: str, api_secret: str) -> None:
    """A throwaway main wallet and agent (API wallet) for the local simulator, as .env lines, with the
    arguments that make a simulator accept them."""
    main, agent = Account.create(), Account.create()
    print(
        "# A throwaway identity for the local simulator only: never fund these wallets.\n"
        f"ASTER_USER={main.address}\n"
        f"ASTER_SIGNER={agent.address}\n"
        f"ASTER_SIGNER_KEY={agent.key.hex()}\n"
        "# the main wallet's own key, for clients that sign as the main wallet (ccxt: privateKey)\n"
        f"SIM_USER_KEY={main.key.hex()}\n"
        f"ASTER_API_KEY={api_key}\n"
        f"ASTER_API_SECRET={api_secret}\n"
        "# serve it (the second --agent lets the main wallet sign for itself):\n"
        f"#   python sim_exchange.py --agent {main.address}:{agent.address} --agent {main.address}:{main.address}"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim_exchange.py",
        usage="%(prog)s [--symbol SYMBOL] [--port PORT] [--replay DIR | --write-synthetic DIR] [option ...]",
        description="Local Aster futures exchange simulator on 127.0.0.1, driven by a "
        "synthetic market or a replay of recorded data.",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8088,
        help="port for both REST and WebSocket, 0 for any free one (default: %(default)s)",
    )
    p.add_argument(
        "--symbol",
        type=_symbol,
        default="ETHUSDT",
        help=f"the symbol the market drives (default: %(default)s); the simulator knows "
        f"{', '.join(START_PRICES)}, any other needs --start-price or recorded data (--replay)",
    )
    p.add_argument(
        "--start-price",
        type=_positive,
        help=f"the synthetic market's first mid (default: {', '.join(f'{k} {v}' for k, v in START_PRICES.items())})",
    )
    p.add_argument(
        "--tick",
        type=_positive,
        help="price tick of --symbol (default: the simulator's rules for a "
        "known symbol; else from the recorded prices' decimals, or about 1/10,000 of --start-price)",
    )
    p.add_argument(
        "--step",
        type=_positive,
        help="quantity step of --symbol (default: known rules; else from "
        "the recorded quantities' decimals, or a power of ten worth 1-10 USD)",
    )
    _add_market_options(p)
    _add_exchange_options(p)
    return p


def _add_market_options(p: argparse.ArgumentParser) -> None:
    """The market source: synthetic (seed, speed) or a replay, and writing a synthetic day."""
    p.add_argument("--seed", type=int, default=1, help="random seed of the synthetic market (default: %(default)s)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="market time per real second, 0 for as fast as possible (default: %(default)s)",
    )
    p.add_argument(
        "--replay",
        metavar="DIR",
        help="replay orderbook_<SYMBOL>.csv and trades_<SYMBOL>.csv (or .csv.gz) from "
        "this directory (as record.py writes them) instead of the synthetic market",
    )
    p.add_argument(
        "--write-synthetic",
        metavar="DIR",
        help="write --hours of the synthetic market (--symbol, --seed, --start-price) to DIR as "
        "orderbook_/trades_/prices_<SYMBOL>.csv, in the recorded format, and exit",
    )
    p.add_argument(
        "--hours",
        type=_positive,
        default=Decimal(24),
        help="how much market time --write-synthetic writes (default: %(default)s)",
    )


def _add_exchange_options(p: argparse.ArgumentParser) -> None:
    """Credentials, limits and the exchange's behaviour (the market's options are build_parser's)."""
    p.add_argument("--api-key", default="simkey", help="the API key the simulator accepts (default: %(default)s)")
    p.add_argument(
        "--api-secret", default="simsecret", help="the API secret it checks signatures with (default: %(default)s)"
    )
    p.add_argument(
        "--agent",
        type=_agent,
        action="append",
        default=[],
        metavar="USER:SIGNER",
        help="register the V3 API wallet SIGNER for the main wallet USER (repeatable; USER:USER lets the main "
        "wallet sign for itself, as ccxt does)",
    )
    p.add_argument(
        "--print-identity",
        action="store_true",
        help="print a throwaway main wallet, agent key and the V1 key and secret as .env lines, and exit",
    )
    p.add_argument("--journal", metavar="FILE", help="append every request and its answer to FILE as JSON lines")
    p.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="count request weight and orders but never answer 429/418 (default: the documented limits)",
    )
    p.add_argument(
        "--gtx-reject",
        action="store_true",
        help="refuse a crossing post-only order with -5022 (Binance's code; Aster documents none) instead of "
        "accepting it and expiring it",
    )
    p.add_argument(
        "--fill-model",
        choices=["queue", "optimistic"],
        default="queue",
        help="queue: a resting order waits behind the size displayed at its price when it joined; "
        "optimistic: first in the queue, filled by any print at its price (default: %(default)s)",
    )
    p.add_argument(
        "--feed-latency-ms",
        type=non_negative_ms,
        default=0.0,
        help="market frames reach the bot this long after their event, in market time (divided by "
        "--speed; default: %(default)s)",
    )
    p.add_argument(
        "--order-latency-ms",
        type=non_negative_ms,
        default=0.0,
        help="an order request reaches the matching engine this long after it arrives, in market time "
        "(divided by --speed; default: %(default)s)",
    )


def build_market(args: argparse.Namespace) -> tuple[SymbolSpec, ReplayMarket | SyntheticMarket]:
    """The symbol's rules and the market source; MarketSetupError says what is missing."""
    if args.replay:
        if args.start_price is not None:
            raise MarketSetupError("--start-price is for the synthetic market, not with --replay")
        market = ReplayMarket(args.replay, symbol=args.symbol, speed=args.speed)
        return market.spec(args.tick, args.step), market
    spec, start = synthetic_spec(args.symbol, args.start_price, args.tick, args.step)
    return spec, SyntheticMarket(
        symbol=args.symbol, seed=args.seed, speed=args.speed, start_price=start, tick=spec.tick, step=spec.step
    )


async def _serve(args: argparse.Namespace, spec: SymbolSpec, market: ReplayMarket | SyntheticMarket) -> None:
    sim = SimExchange(
        api_key=args.api_key,
        api_secret=args.api_secret,
        gtx_reject=args.gtx_reject,
        symbols=symbol_table(spec),
        journal_limit=10_000,
        fill_model=args.fill_model,
        feed_latency_ms=market_ms(args.feed_latency_ms, args.speed),
        order_latency_ms=market_ms(args.order_latency_ms, args.speed),
        journal_file=args.journal,
        rate_limits=None if args.no_rate_limits else DOCUMENTED_LIMITS,
    )
    for user, signer in args.agent:
        sim.add_agent(user, signer)
    await sim.start(port=args.port)
    users = sorted({user for user, _ in args.agent}) or [sim.v3_user]
    print(
        f"sim exchange: {spec.symbol} tick={spec.tick} step={spec.step} "
        f"ASTER_REST_URL={sim.rest_url} ASTER_WS_URL={sim.ws_url} V3 users: {', '.join(users)}",
        flush=True,
    )
    try:
        await market.run(sim)
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.print_identity:
        print_identity(args.api_key, args.api_secret)
        return
    try:
        spec, market = build_market(args)
    except MarketSetupError as err:
        parser.error(str(err))  # exit status 2
    if args.write_synthetic:
        if not isinstance(market, SyntheticMarket):
            parser.error("--write-synthetic writes the synthetic market, not a --replay")
        writer = SyntheticMarket(
            symbol=spec.symbol,
            seed=args.seed,
            start_price=market.mid,
            tick=spec.tick,
            step=spec.step,
            levels=RECORDED_LEVELS,
        )
        steps = writer.write_csv(args.write_synthetic, float(args.hours))
        print(f"wrote {steps} book rows of synthetic {spec.symbol} to {args.write_synthetic}")
        return
    try:
        asyncio.run(_serve(args, spec, market))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
