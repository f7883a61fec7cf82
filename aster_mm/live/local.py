"""Local exchanges the unchanged bot trades against without keys: the simulator in this process, driven by a
synthetic market (`--sim`) or by the real exchange's public depth and trade streams (`--paper`: real prices,
simulated fills, nothing sent to the real exchange but the public exchangeInfo and the feed).

Each is an async context manager yielding the credentials and hosts the bot connects with (V3, with the
throwaway wallets the simulator generated); on the way out it logs the simulator's own accounting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from decimal import Decimal

from aster_mm.accounting.pnl import usd
from aster_mm.core.config import Config, Timings
from aster_mm.core.errors import FatalError
from aster_mm.exchange.client import AsterClient
from aster_mm.exchange.signing import Eip712Signer, Params, Signed
from aster_mm.live.credentials import Credentials
from aster_mm.live.startup import retry_until
from aster_mm.simulator import LiveFeed, SimExchange, SymbolSpec, SyntheticMarket, symbol_table

log = logging.getLogger("mm")


@asynccontextmanager
async def simulated(config: Config, spec: SymbolSpec, start_price: Decimal) -> AsyncIterator[Credentials]:
    """--sim: the simulator with a synthetic market for `spec`."""
    market = SyntheticMarket(
        symbol=config.symbol, start_price=start_price, tick=spec.tick, step=spec.step, seed=int(time.time())
    )
    async with _local_exchange(config, symbol_table(spec), market.run, "synthetic market") as venue:
        yield venue


class PublicOnly:
    """A signer for a client that must only read public endpoints: it has no key and refuses to sign."""

    version = 1
    hint = "no key (public endpoints only)"

    def sign(self, params: Params, now_ms: float) -> Signed:
        raise RuntimeError("paper trading never sends a signed request to the real exchange")

    sign_stream = sign


async def paper_spec(config: Config, rest_url: str, timings: Timings = Timings()) -> SymbolSpec:
    """The symbol's rules as the real exchange publishes them (public exchangeInfo: no key); retried like
    the bot's own start for --start-timeout, then FatalError, as for an unknown symbol at once."""
    async with AsterClient(rest_url=rest_url, signer=PublicOnly()) as client:
        try:
            rules = await retry_until(
                lambda: client.symbol_rules(config.symbol),
                config.start_timeout,
                timings.start_retry_max,
                unresolved_grace=timings.unresolved_grace,
            )
        except FatalError as err:
            raise FatalError(
                f"paper trading needs the symbol's rules from {rest_url}/fapi/v1/exchangeInfo: {err}"
            ) from None
    log.info(
        "paper trading %s with the rules of %s: tick=%s step=%s min_qty=%s min_notional=%s status=%s",
        config.symbol,
        rest_url,
        rules.tick,
        rules.step,
        rules.min_qty,
        rules.min_notional,
        rules.status,
    )
    spec = SymbolSpec(rules.symbol, rules.tick, rules.step, rules.min_qty, rules.min_notional, rules.status)
    if rules.max_qty is not None:
        spec.max_qty = rules.max_qty
    return spec


@asynccontextmanager
async def paper(config: Config, spec: SymbolSpec, feed_url: str) -> AsyncIterator[Credentials]:
    """--paper: the simulator for `spec` alone, fed by the public streams at `feed_url`, with a paper
    account of --paper-balance USDT."""
    feed = LiveFeed(config.symbol, feed_url)
    try:
        async with _local_exchange(
            config, {spec.symbol: spec}, feed.run, "paper feed", balances={"USDT": config.paper_balance}
        ) as venue:
            yield venue
    finally:
        log.info("paper feed: %s", ", ".join(f"{k}={v}" for k, v in feed.counters().items()))


@asynccontextmanager
async def _local_exchange(
    config: Config,
    symbols: dict[str, SymbolSpec],
    drive: Callable[[SimExchange], Coroutine],
    name: str,
    balances: dict[str, Decimal] | None = None,
) -> AsyncIterator[Credentials]:
    async with SimExchange(
        journal_limit=10_000,
        symbols=symbols,
        balances=balances,  # a demo may run for days
        fill_model=config.fill_model,
        feed_latency_ms=config.feed_latency_ms,
        order_latency_ms=config.order_latency_ms,
    ) as sim:
        feeder = asyncio.create_task(drive(sim), name=name)
        feeder.add_done_callback(functools.partial(_report_stop, name))
        try:
            yield Credentials(Eip712Signer(sim.v3_user, sim.v3_signer, sim.v3_signer_key), sim.rest_url, sim.ws_url)
        finally:
            feeder.cancel()
        log.info("simulator's accounting: %s", accounting(sim.summary(config.symbol)))


def accounting(summary: dict) -> str:
    """The simulator's own view of the session, USD figures in cents, logged after the bot's summary."""
    dollars = {"notional_volume", "realized_pnl", "fees", "funding"}
    return ", ".join(f"{k}={usd(Decimal(v)) if k in dollars else v}" for k, v in summary.items())


def _report_stop(name: str, task: asyncio.Task[None]) -> None:
    """A feeder that ends by itself (not cancelled) says why."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", name, task.exception())
