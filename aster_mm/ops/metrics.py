"""Prometheus metrics: what the bot counts on its hot path, and how a scrape turns it into metrics.

The quoting path only bumps plain Python numbers (an int or float add, a bisect into a short
bucket list): no locks, no label lookups through prometheus-client, nothing per market frame. The
figures that already live in the bot's state (position, mode, used weight, staleness) are not copied
at all: `Collector` reads them through a `Snapshot` callback when Prometheus scrapes. prometheus-client
provides the registry and the exposition format; the scrape is served on the bot's own event loop
(`serve`), so no thread ever reads a half-written figure.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from aster_mm.core.kinds import Side

log = logging.getLogger("mm")

PREFIX = "aster_mm"
MODES = ("BUY", "SELL", "paused", "halted", "close-only")
PNL_KINDS = ("realized", "unrealized", "fees", "funding", "net")
ORDER_OUTCOMES = (
    "sent",
    "modified",
    "rejected",
    "unknown",
    "FILLED",
    "CANCELED",
    "EXPIRED",
    "REJECTED",
    "stp_expired",  # of the EXPIRED, those self-trade prevention ended
)
# Seconds: a requote on loopback takes about 1 ms, one to a remote exchange tens of ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Per-bucket counts (made cumulative only at scrape time) and a sum: O(log buckets) to observe."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS):
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # `le` buckets: a value on a bound is in it
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts):
            total += count
            out.append((bound, total))
        return out


@dataclass
class Snapshot:
    """What a scrape reads from the live bot (nothing of it is copied on the quoting path)."""

    position: float = 0.0
    entry_price: float | None = None
    mode: str = "BUY"
    used_weight_1m: int | None = None
    market_data_age_s: float | None = None
    streams_up: dict[str, bool] = field(default_factory=dict)
    loop_heartbeat_age_s: float | None = None
    estimators: dict[str, float] = field(default_factory=dict)  # the adaptive model's, when it is on
    banned_s: float = 0.0  # seconds left in an IP ban (HTTP 418)
    backoff_s: float = 0.0  # seconds left in a rate-limit back-off (429) or ban: nothing is sent meanwhile
    rate_limited: dict[int, int] = field(default_factory=dict)  # 429 and 418 answers so far, by status
    mmp_frozen: bool = False  # an MMP freeze is in force (the exchange refuses our orders)


class Metrics:
    """The bot's counters. Every method is O(1) and lock-free; call them from the event loop only."""

    def __init__(self) -> None:
        self.fills = {(side, liq): 0 for side in Side for liq in ("maker", "taker")}
        self.volume_quote = 0.0
        self.volume_base = 0.0
        self.orders = dict.fromkeys(ORDER_OUTCOMES, 0)
        self.requote = Histogram()
        self.rest: dict[str, Histogram] = {}
        self.connects = {"market": 0, "user": 0}
        self.alerts = {"sent": 0, "failed": 0, "dropped": 0}
        self.pnl: dict[str, float] = {}
        self.mmp_freezes = 0
        self.snapshot: Callable[[], Snapshot] = Snapshot

    # ----- the quoting path -----
    def fill(self, side: Side, maker: bool, qty: float, price: float) -> None:
        self.fills[side, "maker" if maker else "taker"] += 1
        self.volume_base += qty
        self.volume_quote += qty * price

    def order(self, outcome: str) -> None:
        """An order request's outcome: sent, rejected, unknown; or a finished order's final state."""
        if outcome in self.orders:
            self.orders[outcome] += 1

    def observe_requote(self, seconds: float) -> None:
        self.requote.observe(seconds)

    def observe_rest(self, endpoint: str, seconds: float) -> None:
        hist = self.rest.get(endpoint)
        if hist is None:  # one per endpoint the client uses: a couple of dozen at most
            hist = self.rest[endpoint] = Histogram()
        hist.observe(seconds)

    def connected(self, stream: str) -> None:
        self.connects[stream] = self.connects.get(stream, 0) + 1

    # ----- the ledger's hook -----
    def set_pnl(
        self,
        *,
        realized: float | None = None,
        unrealized: float | None = None,
        fees: float | None = None,
        funding: float | None = None,
        net: float | None = None,
    ) -> None:
        """The ledger's figures in the quote asset (fees and funding as costs are negative). Called with
        the status line (`Ops.pnl`), not per fill; None leaves a figure as it was."""
        for kind, value in zip(PNL_KINDS, (realized, unrealized, fees, funding, net)):
            if value is not None:
                self.pnl[kind] = float(value)


def _gauge(name: str, doc: str, value: float | None, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels) or None)
    if value is not None:
        family.add_metric([], value)
    return family


class Collector:
    """Turns `Metrics` and a fresh `Snapshot` into metric families when Prometheus scrapes."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def collect(self):
        m, snap = self.m, self.m.snapshot()
        yield _gauge("position_base", "Position in the base asset (negative when short)", snap.position)
        yield _gauge("entry_price_quote", "Average entry price of the position", snap.entry_price)
        pnl = GaugeMetricFamily(f"{PREFIX}_pnl_quote", "Profit and loss in the quote asset, by kind", labels=["kind"])
        for kind, value in m.pnl.items():
            pnl.add_metric([kind], value)
        yield pnl
        mode = GaugeMetricFamily(f"{PREFIX}_mode", "1 for the trading mode in force, else 0", labels=["mode"])
        for name in MODES:
            mode.add_metric([name], 1.0 if snap.mode == name else 0.0)
        yield mode
        yield CounterMetricFamily(f"{PREFIX}_volume_quote", "Traded volume in the quote asset", m.volume_quote)
        yield CounterMetricFamily(f"{PREFIX}_volume_base", "Traded volume in the base asset", m.volume_base)
        fills = CounterMetricFamily(f"{PREFIX}_fills", "Fills of our orders", labels=["side", "liquidity"])
        for (side, liq), n in m.fills.items():
            fills.add_metric([side, liq], n)
        yield fills
        orders = CounterMetricFamily(
            f"{PREFIX}_orders",
            "Order requests by outcome (sent, modified, rejected, unknown) and finished orders by final state",
            labels=["outcome"],
        )
        for outcome, n in m.orders.items():
            orders.add_metric([outcome], n)
        yield orders
        yield self._histogram(
            "requote_seconds",
            "From the quoting loop waking to the answer to the new or modified order",
            {(): m.requote},
            (),
        )
        yield self._histogram(
            "rest_request_seconds", "REST round trip by endpoint", {(k,): h for k, h in m.rest.items()}, ("endpoint",)
        )
        connects = CounterMetricFamily(
            f"{PREFIX}_stream_reconnects", "WebSocket reconnections after the first connection", labels=["stream"]
        )
        up = GaugeMetricFamily(f"{PREFIX}_stream_up", "1 while the stream is connected", labels=["stream"])
        for name, n in m.connects.items():
            connects.add_metric([name], max(n - 1, 0))
            up.add_metric([name], 1.0 if snap.streams_up.get(name) else 0.0)
        yield connects
        yield up
        yield _gauge("market_data_age_seconds", "Seconds since the last market frame", snap.market_data_age_s)
        yield _gauge("loop_heartbeat_age_seconds", "Seconds since the quoting loop last ran", snap.loop_heartbeat_age_s)
        yield _gauge("used_weight_1m", "The exchange's request weight used in the current minute", snap.used_weight_1m)
        yield from self._limits(m, snap)
        alerts = CounterMetricFamily(f"{PREFIX}_alerts", "Alert messages by outcome", labels=["outcome"])
        for outcome, n in m.alerts.items():
            alerts.add_metric([outcome], n)
        yield alerts
        est = GaugeMetricFamily(f"{PREFIX}_estimator", "The adaptive model's estimates", labels=["name"])
        for name, value in snap.estimators.items():
            if isinstance(value, (int, float)):  # bools too: warm is 1
                est.add_metric([name], float(value))
        yield est

    @staticmethod
    def _limits(m: Metrics, snap: Snapshot):
        yield _gauge(
            "ip_banned_seconds", "Seconds left in an IP ban by the exchange (HTTP 418); 0 when none", snap.banned_s
        )
        yield _gauge(
            "rate_limit_backoff_seconds",
            "Seconds left in which nothing is sent (a 429 back-off or a ban)",
            snap.backoff_s,
        )
        limited = CounterMetricFamily(f"{PREFIX}_rate_limited", "Rate-limit answers by HTTP status", labels=["status"])
        for status in (429, 418):
            limited.add_metric([str(status)], snap.rate_limited.get(status, 0))
        yield limited
        yield _gauge("mmp_frozen", "1 while a Market Maker Protection freeze is in force", float(snap.mmp_frozen))
        yield CounterMetricFamily(f"{PREFIX}_mmp_freezes", "Market Maker Protection freezes noticed", m.mmp_freezes)

    @staticmethod
    def _histogram(name: str, doc: str, series: dict[tuple, Histogram], labels: tuple) -> HistogramMetricFamily:
        family = HistogramMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels) or None)
        for values, hist in series.items():
            family.add_metric(list(values), hist.buckets(), hist.sum)
        return family


def registry_for(metrics: Metrics) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(metrics))
    return registry


async def serve(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve /metrics on host:port from this event loop; the caller cleans the runner up."""
    registry = registry_for(metrics)

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner
