"""Running unattended: metrics, the systemd watchdog and alerts, wired to one bot.

`Ops` owns everything an operator watches the bot through, and its tasks live outside the bot's task
group so they cover start-up and shutdown too: the metrics server, the alert queue, the watchdog
pinger (pings only while the quoting loop and both streams are alive) and a watcher that turns state
changes into alerts (close-only, a stream down for a minute, the daily summary). The bot calls
`ready`, `status` and `stopped`; the quoting path touches only `metrics`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from aster_mm.core.decisions import QuoteParams
from aster_mm.core.errors import FatalError
from aster_mm.core.kinds import Side
from aster_mm.core.state import StrategyState
from aster_mm.core.status import mode as quoting_side
from aster_mm.ops.alerts import Alerts, Sink, telegram_sink, webhook_sink
from aster_mm.ops.metrics import Metrics, Snapshot, serve
from aster_mm.ops.notify import Notifier, watchdog_period

log = logging.getLogger("mm")
STREAMS = ("market", "user")


class Watched(Protocol):
    """What `Ops` reads of the bot it watches (aster_mm.live.bot.MarketMaker), and nothing more."""

    state: StrategyState
    params: QuoteParams
    beat_at: float  # when the quoting loop last ran (bot.now() seconds)

    def now(self) -> float: ...

    def describe(self) -> str: ...

    @property
    def estimates(self) -> dict: ...

    @property
    def used_weight_1m(self) -> int | None: ...

    def stream_attempted_at(self, stream: str) -> float: ...

    def limits_snapshot(self) -> dict: ...


def trading_mode(state: StrategyState, params: QuoteParams) -> str:
    """The mode an operator watches: halted or paused by a loss limit; else close-only whenever it is in
    force (even while closing); else the side the bot quotes."""
    if state.halted or state.paused:
        return "halted" if state.halted else "paused"
    return "close-only" if state.close_only else quoting_side(state, params)


def not_alive(
    now: float, beat_at: float, streams: dict[str, tuple[bool, float]], loop_limit: float, stream_limit: float
) -> str:
    """Why the watchdog must not be fed ("" when alive): the quoting loop has not run for `loop_limit`
    seconds, or a stream is down and its reconnect loop has not tried for `stream_limit` seconds.
    A stream that keeps retrying an unreachable exchange is alive: a restart would not help it."""
    if now - beat_at > loop_limit:
        return f"quoting loop silent for {now - beat_at:.0f} s"
    for name, (up, attempted_at) in streams.items():
        if not up and now - attempted_at > stream_limit:
            return f"{name} stream not reconnecting for {now - attempted_at:.0f} s"
    return ""


@dataclass(frozen=True)
class OpsSettings:
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    loop_limit: float = 45.0  # longer than the slowest step: three 10 s REST tries and their pauses
    stream_limit: float = 90.0  # longer than the longest reconnect pause (30 s) plus an opening
    stream_alert_after: float = 60.0
    watch_every: float = 1.0


class Ops:
    def __init__(
        self,
        settings: OpsSettings = OpsSettings(),
        *,
        notifier: Notifier | None = None,
        sinks: list[Sink] | None = None,
        watchdog_every: float | None = None,
        prefix: str = "aster-mm",
    ):
        self.settings = settings
        self.metrics = Metrics()
        self.notifier = notifier or Notifier(None)
        self.alerts = Alerts(sinks or [], prefix, metrics=self.metrics)
        self.watchdog_every = watchdog_every if self.notifier.enabled else None
        self.pnl: Callable[[], dict] | None = None  # hook: the ledger's figures for `Metrics.set_pnl`
        self.daily_summary: Callable[[], str] | None = None  # hook: the ledger's day; else the status line
        self.bot: Watched | None = None
        self.is_ready = False
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_config(cls, config, telegram: tuple[str, str, str] | None = None, env=None) -> Ops:
        """From the command line, the Telegram settings and systemd's environment variables."""
        env = os.environ if env is None else env
        sinks = [webhook_sink(config.alert_webhook)] if config.alert_webhook else []
        if telegram:
            sinks.append(telegram_sink(*telegram))
        prefix = f"aster-mm {config.symbol}" + (f" [{config.mode}]" if config.mode else "")
        return cls(
            OpsSettings(config.metrics_port, config.metrics_host),
            notifier=Notifier.from_environ(env),
            sinks=sinks,
            watchdog_every=watchdog_period(env),
            prefix=prefix,
        )

    # ----- life cycle -----
    async def __aenter__(self) -> Ops:
        await self.alerts.__aenter__()
        if self.settings.metrics_port is not None:
            try:
                self._runner = await serve(self.metrics, self.settings.metrics_host, self.settings.metrics_port)
            except OSError as err:
                await self.alerts.close(0)
                raise FatalError(
                    f"cannot serve metrics on {self.settings.metrics_host}:{self.settings.metrics_port}: {err.strerror}"
                ) from None
        if self.watchdog_every:
            self._spawn(self._watchdog(self.watchdog_every), "watchdog")
        if self.alerts.enabled:
            self._spawn(self._watch(), "ops watcher")
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if isinstance(exc, FatalError):
            self.alert(f"FATAL: {exc}; exiting 1")
        elif isinstance(exc, Exception):
            first = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else exc
            self.alert(f"FATAL: crashed: {type(first).__name__}; exiting 1 (see the log)")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.alerts.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.notifier.close()

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    def attach(self, bot: Watched) -> None:
        self.bot = bot
        bot.state.on_alert = self.alert
        self.metrics.snapshot = lambda: self.snapshot(bot)

    # ----- what the bot tells us -----
    def alert(self, text: str) -> None:
        self.alerts.send(text)

    def ready(self, status: str) -> None:
        """Started: the exchange's state adopted and both streams connected."""
        self.is_ready = True
        self.notifier.ready(status)
        self.alert(f"started: {status}")

    def status(self, text: str) -> None:
        if self.pnl is not None:
            self.metrics.set_pnl(**self.pnl())
        self.notifier.status(text)

    def stopped(self, text: str) -> None:
        self.notifier.stopping(text)
        self.alert(f"stopped: {text}")

    # ----- what an operator reads -----
    def snapshot(self, bot: Watched) -> Snapshot:
        st, now = bot.state, bot.now()
        return Snapshot(
            position=float(st.position.amount),
            entry_price=float(st.entry_price) if st.position.amount else None,
            mode=trading_mode(st, bot.params),
            estimators=bot.estimates,
            used_weight_1m=bot.used_weight_1m,
            market_data_age_s=now - st.market_seen_at if st.market_seen_at else None,
            streams_up={"market": st.market_up, "user": st.user_up},
            loop_heartbeat_age_s=now - bot.beat_at,
            **bot.limits_snapshot(),
        )

    def why_not_alive(self) -> str:
        bot = self.bot
        if bot is None or not self.is_ready:
            return ""  # start-up is bounded by --start-timeout on its own
        st = bot.state
        streams = {
            "market": (st.market_up, bot.stream_attempted_at("market")),
            "user": (st.user_up, bot.stream_attempted_at("user")),
        }
        return not_alive(bot.now(), bot.beat_at, streams, self.settings.loop_limit, self.settings.stream_limit)

    async def _watchdog(self, every: float) -> None:
        said = ""
        while True:
            reason = self.why_not_alive()
            if not reason:
                self.notifier.ping()
            elif reason != said:
                log.critical("watchdog: not feeding systemd's watchdog (%s): expect a restart", reason)
            said = reason
            await asyncio.sleep(every)

    async def _watch(self) -> None:
        """Turn state changes into alerts, checked once a second (off the quoting path)."""
        held, down_since, told, day = "", dict.fromkeys(STREAMS, 0.0), set(), int(time.time() // 86400)
        while True:
            await asyncio.sleep(self.settings.watch_every)
            bot = self.bot
            if bot is None or not self.is_ready:
                continue
            st, now = bot.state, bot.now()
            mode = trading_mode(st, bot.params)
            now_held = "" if mode in tuple(Side) else mode  # BUY <-> SELL is just trading
            if now_held != held:
                if not now_held:
                    self.alert(f"{held} over: quoting again ({mode})")
                elif now_held != "close-only":  # StrategyState says that one at once
                    self.alert(now_held.upper())
            held = now_held
            for name, up in (("market", st.market_up), ("user", st.user_up)):
                if up:
                    if name in told:
                        self.alert(f"{name} stream back after {now - down_since[name]:.0f} s")
                        told.discard(name)
                    down_since[name] = 0.0
                    continue
                down_since[name] = down_since[name] or now
                if name not in told and now - down_since[name] >= self.settings.stream_alert_after:
                    self.alert(f"{name} stream down for {now - down_since[name]:.0f} s: not quoting")
                    told.add(name)
            today = int(time.time() // 86400)
            if today != day:
                day = today
                self.alert("daily summary: " + (self.daily_summary() if self.daily_summary else bot.describe()))


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s crashed: %r", task.get_name(), task.exception())
