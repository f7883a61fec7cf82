"""Local simulator of the Aster perpetual futures exchange: the entry point and command line.

Serves the REST API and the WebSocket streams on one aiohttp port on 127.0.0.1, so the real bot can
trade against it unchanged (ASTER_REST_URL=http://127.0.0.1:PORT, ASTER_WS_URL=ws://127.0.0.1:PORT),
driven by a synthetic market or a replay of recorded data. The simulator itself is the `simulator`
package; this module re-exports what tests and tools import from it.
"""
from __future__ import annotations

import argparse
import asyncio
import math
from decimal import Decimal

from simulator import ReplayMarket, SimExchange, SymbolSpec, SyntheticMarket

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


async def _serve(args: argparse.Namespace) -> None:
    sim = SimExchange(api_key=args.api_key, api_secret=args.api_secret, gtx_reject=args.gtx_reject,
                      journal_limit=10_000, fill_model=args.fill_model,
                      feed_latency_ms=market_ms(args.feed_latency_ms, args.speed),
                      order_latency_ms=market_ms(args.order_latency_ms, args.speed))
    await sim.start(port=args.port)
    print(f"sim exchange: ASTER_REST_URL={sim.rest_url} ASTER_WS_URL={sim.ws_url}", flush=True)
    if args.replay:
        market = ReplayMarket(args.replay, symbol=args.symbol, speed=args.speed)
    else:
        market = SyntheticMarket(symbol=args.symbol, seed=args.seed, speed=args.speed,
                                 start_price=Decimal(args.start_price))
    try:
        await market.run(sim)
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Aster futures exchange simulator")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--symbol", default="ETHUSDT")
    parser.add_argument("--start-price", default="2500")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--replay", help="recorded data directory (replaces the synthetic market)")
    parser.add_argument("--api-key", default="simkey")
    parser.add_argument("--api-secret", default="simsecret")
    parser.add_argument("--gtx-reject", action="store_true")
    parser.add_argument("--fill-model", choices=["queue", "optimistic"], default="queue",
                        help="queue: a resting order waits behind the size displayed at its price when it "
                             "joined; optimistic: first in the queue, filled by any print at its price")
    parser.add_argument("--feed-latency-ms", type=non_negative_ms, default=0.0,
                        help="market frames reach the bot this long after their event (market time: "
                             "divided by --speed)")
    parser.add_argument("--order-latency-ms", type=non_negative_ms, default=0.0,
                        help="an order request reaches the matching engine this long after it arrives "
                             "(market time: divided by --speed)")
    try:
        asyncio.run(_serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
