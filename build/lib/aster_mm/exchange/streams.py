"""A WebSocket stream that reconnects: first retry fast, doubling back-off, reset once a connection
has been stable. The caller supplies the URL (asked anew on every connect) and the callbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import websockets

from aster_mm.core.config import Timings
from aster_mm.exchange.client import ExchangeError

stream_log = logging.getLogger("stream")


async def run_stream(
    name: str,
    url: Callable[[], Awaitable[str]],
    on_message: Callable,
    on_up: Callable,
    on_down: Callable,
    idle_timeout: float | None,
    timings: Timings,
    now: Callable[[], float],
    leave: Callable[[], bool] = lambda: False,
) -> None:
    """Forever: connect, feed every frame to `on_message` until the connection drops, goes silent for
    `idle_timeout` or `leave()` says so, then reconnect after a back-off."""
    delay = timings.reconnect_first
    while True:
        opened = None
        try:
            target = await url()
            async with websockets.connect(
                target, open_timeout=10, close_timeout=1, ping_interval=20, ping_timeout=20, max_size=2**22
            ) as ws:
                opened = now()
                stream_log.info("%s stream connected", name)
                on_up(ws)
                while not leave():
                    async with asyncio.timeout(idle_timeout):
                        raw = await ws.recv()
                    on_message(raw)
        except TimeoutError:
            stream_log.warning("%s stream timed out (silent or not opening): reconnecting", name)
        except (OSError, websockets.WebSocketException, ExchangeError) as err:
            stream_log.warning("%s stream down: %s", name, err)
        finally:
            on_down()
        if opened is not None and now() - opened > timings.stable_after:
            delay = timings.reconnect_first
        await asyncio.sleep(delay)
        delay = min(delay * 2, timings.reconnect_max)
