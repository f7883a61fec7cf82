"""Prometheus metrics: scraped over HTTP from the running bot, matching what the exchange saw; and cheap."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from decimal import Decimal

import aiohttp
from helpers import SYMBOL, BotRun, free_port, open_orders, order_posts, run_cli, set_mid, wait_open
from prometheus_client.parser import text_string_to_metric_families

from aster_mm.ops.metrics import Histogram, Metrics, Snapshot
from aster_mm.ops.unattended import Ops, OpsSettings
from aster_mm.settings.parser import parse_config


async def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape_until(port: int, predicate, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            try:
                samples = await scrape(port)
                if predicate(samples):
                    return samples
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            await asyncio.sleep(0.05)


def order_round_trips(samples: dict) -> float:
    """How many placements the REST histogram counted (V1 /fapi/v1/order or V3 /fapi/v3/order)."""
    [count] = [
        v
        for (name, labels), v in samples.items()
        if name == "aster_mm_rest_request_seconds_count"
        and re.fullmatch(r"POST /fapi/v\d/order", dict(labels)["endpoint"])
    ]
    return count


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_is_in_it():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.buckets() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert h.sum == 3.65


def test_metrics_port_is_off_by_default_and_binds_to_loopback():
    cfg = parse_config(["--symbol", SYMBOL])
    assert cfg.metrics_port is None and cfg.metrics_host == "127.0.0.1"
    assert parse_config(["--symbol", SYMBOL, "--metrics-port", "9100"]).metrics_port == 9100


async def test_scrape_shows_orders_fills_position_mode_and_rest_latency_as_the_exchange_saw_them(sim):
    port = free_port()
    async with Ops(OpsSettings(metrics_port=port)) as ops, BotRun(sim, ops=ops) as bot:
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        s = await scrape_until(port, lambda s: s[("aster_mm_mode", (("mode", "SELL"),))] == 1)
        assert s[("aster_mm_position_base", ())] == float(sim.position(SYMBOL)) == 0.8
        assert s[("aster_mm_entry_price_quote", ())] == 2485
        assert s[("aster_mm_fills_total", (("liquidity", "maker"), ("side", "BUY")))] == 1
        assert s[("aster_mm_fills_total", (("liquidity", "taker"), ("side", "BUY")))] == 0
        assert s[("aster_mm_volume_quote_total", ())] == 0.8 * 2485
        posts = len(order_posts(sim))
        assert posts == 2
        assert s[("aster_mm_orders_total", (("outcome", "sent"),))] == posts
        assert s[("aster_mm_orders_total", (("outcome", "FILLED"),))] == 1
        assert order_round_trips(s) == posts
        assert s[("aster_mm_requote_seconds_count", ())] == posts
        assert (
            s[("aster_mm_stream_up", (("stream", "market"),))] == s[("aster_mm_stream_up", (("stream", "user"),))] == 1
        )
        assert s[("aster_mm_used_weight_1m", ())] == bot.client.used_weight_1m > 0
        assert 0 <= s[("aster_mm_market_data_age_seconds", ())] < 5
        assert s[("aster_mm_stream_reconnects_total", (("stream", "market"),))] == 0
        await set_mid(sim, "2490")  # a requote: modified in place (V3) or replaced (V1)
        await sim.wait_for(lambda: [Decimal(o["price"]) for o in open_orders(sim)] == [Decimal("2504.94")], 5)
        s = await scrape_until(port, lambda s: s[("aster_mm_requote_seconds_count", ())] == 3)
        assert (
            s[("aster_mm_orders_total", (("outcome", "sent"),))]
            + s[("aster_mm_orders_total", (("outcome", "modified"),))]
            == 3
        )
        await sim.drop_streams("market")
        s = await scrape_until(port, lambda s: s[("aster_mm_stream_reconnects_total", (("stream", "market"),))] == 1)


async def test_the_bot_as_a_service_serves_metrics_on_its_port(sim, bot_env, tmp_path):
    port = free_port()
    proc = await run_cli(
        "--symbol",
        SYMBOL,
        "--metrics-port",
        str(port),
        "--log-file",
        str(tmp_path / "mm.log"),
        env=bot_env,
        cwd=tmp_path,
    )
    try:
        await wait_open(sim, "BUY", timeout=15)
        s = await scrape_until(port, lambda s: s[("aster_mm_orders_total", (("outcome", "sent"),))] >= 1)
        assert order_round_trips(s) == len(order_posts(sim))
        assert s[("aster_mm_mode", (("mode", "BUY"),))] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


def test_the_ledger_and_estimator_hooks_reach_the_scrape():
    m = Metrics()
    m.set_pnl(realized=1.5, fees=-0.2, net=1.3)
    m.snapshot = lambda: Snapshot(entry_price=2485.0, estimators={"warm": True, "sigma_bp": 0.01})
    from aster_mm.ops.metrics import registry_for

    samples = {(s.name, tuple(s.labels.values())): s.value for f in registry_for(m).collect() for s in f.samples}
    assert samples[("aster_mm_pnl_quote", ("realized",))] == 1.5
    assert samples[("aster_mm_pnl_quote", ("fees",))] == -0.2
    assert samples[("aster_mm_entry_price_quote", ())] == 2485.0
    assert samples[("aster_mm_estimator", ("sigma_bp",))] == 0.01
    assert samples[("aster_mm_estimator", ("warm",))] == 1.0
    assert ("aster_mm_pnl_quote", ("funding",)) not in samples  # never set: not reported as 0


def update_cost_ns(update, n: int = 200_000) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            update()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def test_an_update_on_the_quoting_path_costs_well_under_a_microsecond_or_two():
    m = Metrics()
    costs = {
        "fill": update_cost_ns(lambda: m.fill("BUY", True, 0.8, 2485.0)),
        "order": update_cost_ns(lambda: m.order("sent")),
        "rest": update_cost_ns(lambda: m.observe_rest("POST /fapi/v1/order", 0.0012)),
        "requote": update_cost_ns(lambda: m.observe_requote(0.0012)),
    }
    print("metric update cost (ns, including the lambda call):", {k: round(v) for k, v in costs.items()})
    assert max(costs.values()) < 2000  # a requote on loopback is ~1 ms: 2 us would be 0.2 % of it
