"""Periodic chores beside the quoting loop: the exchange's dead-man switch, the listenKey keepalive
and the status line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aster_mm.core.config import Timings
from aster_mm.exchange.client import AsterClient, ExchangeError

log = logging.getLogger("mm")
stream_log = logging.getLogger("stream")


class DeadManSwitch:
    """Aster's countdownCancelAll, renewed while we live: if the bot dies or freezes, the exchange
    cancels the symbol's orders when the countdown runs out."""

    def __init__(self, client: AsterClient, symbol: str, countdown_s: float, timings: Timings):
        self.client, self.symbol, self.countdown_s, self.t = client, symbol, countdown_s, timings
        self.available = countdown_s > 0  # off by configuration, or the exchange lacks it

    async def run(self) -> None:
        while self.available:
            try:
                await self.client.countdown_cancel_all(self.symbol, int(self.countdown_s * 1000))
            except ExchangeError as err:
                if err.status == 404:  # the endpoint is really missing; a 403/429/418 is a limit
                    log.warning("dead-man switch unavailable (%s): continuing without it", err)
                    self.available = False
                    return
                log.warning("dead-man switch renewal failed: %s", err)
            await asyncio.sleep(min(self.t.heartbeat_every, self.countdown_s / 4))

    async def disarm(self) -> None:
        """Stop the countdown: only once nothing of ours can be left open."""
        if self.available:
            await self.client.countdown_cancel_all(self.symbol, 0)


async def keep_listen_key_alive(client: AsterClient, every: float, on_failure: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await client.keepalive_listen_key()
        except ExchangeError as err:
            stream_log.warning("listenKey keepalive failed (%s): reconnecting with a new key", err)
            await on_failure()


async def report_status(
    every: float, describe: Callable[[], str], publish: Callable[[str], None] = lambda line: None
) -> None:
    """Log the status line every `every` seconds and hand it to `publish` (systemd's STATUS=, metrics)."""
    while True:
        await asyncio.sleep(every)
        line = describe()
        log.info("status: %s", line)
        publish(line)
