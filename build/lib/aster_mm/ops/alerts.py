"""Alerts to a Slack/Discord-style webhook and to Telegram, sent off the quoting path.

`Alerts.send(text)` only queues (O(1), never blocks, never raises). Its own task drains the queue:
identical pending messages are coalesced into one ("(x3)"), at most `per_minute` messages go out per
minute, each delivery is retried a bounded number of times, and `close()` flushes for a bounded time
so an alert never holds up shutdown. The webhook URL and the Telegram token are secrets: they are
never logged, and removed from any text before it is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from aster_mm.ops.metrics import Metrics

log = logging.getLogger("alerts")

TELEGRAM_API_URL = "https://api.telegram.org"


@dataclass(frozen=True)
class Sink:
    """One destination: where to POST and how to wrap the text. `name` is what the log may show."""

    name: str
    url: str = field(repr=False)
    body: Callable[[str], dict] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


def webhook_sink(url: str) -> Sink:
    # Slack reads "text", Discord reads "content"; each ignores the other.
    return Sink("webhook", url, lambda text: {"text": text, "content": text}, (url,))


def telegram_sink(token: str, chat_id: str, api_url: str = TELEGRAM_API_URL) -> Sink:
    return Sink(
        "telegram",
        f"{api_url.rstrip('/')}/bot{token}/sendMessage",
        lambda text: {"chat_id": chat_id, "text": text, "disable_web_page_preview": True},
        (token,),
    )


class Alerts:
    def __init__(
        self,
        sinks: list[Sink],
        prefix: str = "aster-mm",
        *,
        per_minute: int = 10,
        limit: int = 100,
        attempts: int = 3,
        retry_delay: float = 1.0,
        timeout: float = 5.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sinks, self.prefix = sinks, prefix
        self.per_minute, self.limit, self.attempts, self.retry_delay = per_minute, limit, attempts, retry_delay
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.metrics, self.clock = metrics or Metrics(), clock
        self._pending: OrderedDict[str, int] = OrderedDict()  # text -> how many times it was sent
        self._sent_at: deque[float] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing pending, nothing being delivered
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    def send(self, text: str) -> None:
        """Queue an alert. Identical pending alerts become one; beyond `limit` pending, new ones are dropped."""
        if not self.sinks:
            return
        if text in self._pending:
            self._pending[text] += 1
        elif len(self._pending) >= self.limit:
            self.metrics.alerts["dropped"] += 1
            return
        else:
            self._pending[text] = 1
        self._idle.clear()
        self._wake.set()

    async def __aenter__(self) -> Alerts:
        if self.sinks:
            self._session = session = aiohttp.ClientSession(timeout=self.timeout)
            self._task = asyncio.create_task(self._run(session), name="alerts")
            self._task.add_done_callback(_log_crash)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self, flush_for: float = 2.0) -> None:
        """Deliver what is pending within `flush_for` seconds, then give up on the rest."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(flush_for):
                await self._idle.wait()
        except TimeoutError:
            log.warning("alerts: %d message(s) not delivered before shutdown", len(self._pending) + 1)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._session is not None:
            await self._session.close()

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                self._idle.set()
                await self._wake.wait()
                continue
            await self._rate_limit()
            text, count = self._pending.popitem(last=False)
            await self._deliver(session, self._render(text, count))

    async def _rate_limit(self) -> None:
        while len(self._sent_at) >= self.per_minute:
            wait = self._sent_at[0] + 60.0 - self.clock()
            if wait <= 0:
                self._sent_at.popleft()
            else:
                await asyncio.sleep(wait)
        self._sent_at.append(self.clock())

    def _render(self, text: str, count: int) -> str:
        text = f"{self.prefix}: {text}" + (f" (x{count})" if count > 1 else "")
        for sink in self.sinks:
            for secret in sink.secrets:
                text = text.replace(secret, "***")
        return text[:3500]  # Telegram refuses more than 4096 characters

    async def _deliver(self, session: aiohttp.ClientSession, text: str) -> None:
        for sink in self.sinks:
            if await self._post(session, sink, text):
                self.metrics.alerts["sent"] += 1
            else:
                self.metrics.alerts["failed"] += 1

    async def _post(self, session: aiohttp.ClientSession, sink: Sink, text: str) -> bool:
        """POST with bounded retries; only the sink's name and the failure reach the log, never the URL."""
        reason = ""
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(sink.url, json=sink.body(text)) as resp:
                    if resp.status < 300:
                        return True
                    reason = f"HTTP {resp.status}"
                    if resp.status < 500 and resp.status != 429:
                        break  # a bad token or chat id: trying again will not help
            except (aiohttp.ClientError, TimeoutError) as err:
                reason = type(err).__name__  # its text may hold the URL, and so the token
            if attempt < self.attempts:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        log.warning("alert to %s failed (%s): dropped", sink.name, reason)
        return False


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("alerts task crashed: %r", task.exception())
