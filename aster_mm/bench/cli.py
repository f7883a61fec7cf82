#!/usr/bin/env python3
"""Benchmark the real market maker against the local exchange simulator on 127.0.0.1.

The bot runs as a subprocess (`market_maker.py --symbol ETHUSDT`, cwd a temp dir so no .env is read)
against a SimExchange served from this process's event loop, with everything an unattended run has
on: Prometheus metrics on a free port, the ledger, and alerts to a local server standing in for a
webhook and for Telegram (so they are really sent). Latencies are measured in this process with
time.perf_counter() (see `aster_mm.bench.harness`).

Requotes are measured against a floor: a bare client (`aster_mm.bench.floor`) that sends the same
requests as a requote and nothing else, against its own simulator in the same run, event by event
beside the bot (see `aster_mm.bench.requotes`): cancel-then-place on V1 (DELETE, then POST), modify-in-place
on V3 (one PUT /fapi/v3/order), and cancel-then-place on V3 (`--no-modify`), the baseline that modify is
compared with on the same signing scheme. The bot's own share of a requote is bot minus floor.
The cost of one V3 signature is timed in-process.

    python bench.py                # everything, default sizes (~3 minutes)
    python bench.py --quick        # tiny sizes, a smoke run
Prints a table (metric, value, target, met?) and writes the same as JSON (--json, bench_results.json).
Memory is reported in MB of 1024 kB (as /proc reports kB).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import signal
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from aster_mm.accounting.ledger import FILL, read_entries
from aster_mm.bench.harness import (
    GAP,
    MID,
    ORDER,
    SYMBOL,
    TICK,
    AlertInbox,
    TimedSim,
    book,
    fresh_sim,
    proc_sample,
    running_bot,
    running_floor,
    scrape,
    summarize,
)
from aster_mm.bench.report import checks, machine_info, print_table
from aster_mm.bench.requotes import measure_pairs
from aster_mm.core.config import Config
from aster_mm.core.kinds import SpreadModel
from aster_mm.exchange.client import AsterClient, SymbolRules
from aster_mm.exchange.signing import Eip712Signer
from aster_mm.live.bot import MarketMaker
from aster_mm.settings.help import DefaultsOnce
from aster_mm.simulator import SimExchange, SyntheticMarket

ORDER_PATHS = (ORDER, "/fapi/v1/batchOrders", "/fapi/v1/allOpenOrders")

# Each size: (the full run's, --quick's, what it sets)
SIZES = {
    "requotes": (200, 5, "requotes timed per scheme (V1, V3 modify, V3 cancel-then-place), each beside the floor"),
    "signatures": (20000, 200, "V3 request signatures timed in process"),
    "fills": (100, 4, "fills timed, each until the opposite order reaches the exchange"),
    "shutdowns": (5, 1, "SIGTERM-to-exit runs timed, one resting order each"),
    "quiet_seconds": (60.0, 1.5, "seconds of a barely moving market: REST requests per hour, the bot's CPU"),
    "session_seconds": (60.0, 2.0, "wall seconds of the long synthetic session: the bot's memory and CPU"),
    "session_minutes": (10.0, 0.2, "market minutes that session replays in --session-seconds"),
    "throughput_seconds": (1.5, 0.2, "seconds of each depth-frame throughput run"),
    "sample_every": (1.0, 0.5, "seconds between the session's memory and CPU samples"),
}
FULL = {name: full for name, (full, _, _) in SIZES.items()}
QUICK = {name: quick for name, (_, quick, _) in SIZES.items()}


def fill_rows(ledger: Path) -> int:
    """The fills a bot's ledger holds (its start and sync rows are bookkeeping)."""
    return sum(e.kind == FILL for e in read_entries(ledger)) if ledger.exists() else 0


def measure_signatures(n: int) -> dict:
    """Microseconds per V3 request signature (urlencode + nonce + EIP-712 digest + ECDSA), a typical order."""
    from eth_account import Account

    wallet = Account.create()
    signer = Eip712Signer(wallet.address, wallet.address, wallet.key.hex())
    params = [
        ("symbol", SYMBOL),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTX"),
        ("quantity", "0.8"),
        ("price", "2485.01"),
        ("newClientOrderId", "amm-abcdef-123"),
    ]
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        signer.sign(params, 1.7e12 + i)
        out.append((time.perf_counter() - t0) * 1e6)
    return summarize(out)


def answered_and_resting(sim: TimedSim, post: list) -> bool:
    """The exchange has answered the POST that arrived as `post`, and its order rests."""
    return post[3] is not None and bool(sim.open_orders(SYMBOL))


async def measure_fills(sim: TimedSim, fills: int, timeout: float) -> dict:
    """Fill of the resting order (BUY, then SELL, ...) -> the opposite order's POST arrives."""
    out = []
    for _ in range(fills):
        t0 = time.perf_counter()
        await sim.fill_order(SYMBOL)
        post = await sim.wait_for(functools.partial(sim.arrival_after, t0), timeout)
        out.append((post[0] - t0) * 1000)
        await sim.wait_for(functools.partial(answered_and_resting, sim, post), timeout)
        await asyncio.sleep(GAP)
    return summarize(out)


async def measure_shutdowns(sim: TimedSim, workdir: Path, runs: int, log_level: str, inbox: AlertInbox) -> dict:
    """SIGTERM with one resting order -> process exit; open orders left afterwards."""
    times, left, codes = [], [], []
    for i in range(runs):
        async with running_bot(sim, workdir / f"shutdown{i}", log_level, inbox) as bot:
            proc = bot.proc
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)
            times.append((time.perf_counter() - t0) * 1000)
            left.append(len(sim.open_orders(SYMBOL)))
            codes.append(proc.returncode)
    return {
        "n": runs,
        "median": round(statistics.median(times), 1),
        "max": round(max(times), 1),
        "runs_ms": [round(t, 1) for t in times],
        "open_orders_after": left,
        "exit_codes": codes,
    }


async def measure_quiet(sim: TimedSim, workdir: Path, seconds: float, inbox: AlertInbox) -> dict:
    """Mid jiggling < 0.05 % every 100 ms: REST requests by kind, per hour, and the bot's CPU share."""
    rng = random.Random(7)
    async with running_bot(sim, workdir, "WARNING", inbox) as bot:
        proc = bot.proc
        await asyncio.sleep(0.3)
        first = len(sim.arrivals)
        _, _, cpu0 = proc_sample(proc.pid)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await sim.set_book(SYMBOL, *book(MID + TICK * rng.randint(-100, 100)))  # within +-0.04 %
            await asyncio.sleep(0.1)
        _, _, cpu1 = proc_sample(proc.pid)
        wall = time.perf_counter() - t0
        requests = sim.arrivals[first:]
    by_endpoint: dict[str, int] = {}
    for _, method, path, _ in requests:
        by_endpoint[f"{method} {path}"] = by_endpoint.get(f"{method} {path}", 0) + 1
    orders = sum(1 for _, m, p, _ in requests if m in ("POST", "DELETE") and p in ORDER_PATHS)
    return {
        "seconds": round(wall, 2),
        "order_requests": orders,
        "other_requests": len(requests) - orders,
        "order_requests_per_hour": round(orders * 3600 / wall, 1),
        "other_requests_per_hour": round((len(requests) - orders) * 3600 / wall, 1),
        "by_endpoint": by_endpoint,
        "idle_cpu_pct": round((cpu1 - cpu0) / wall * 100, 2),
    }


def make_frames(n: int, top_change_prob: float, seed: int = 3) -> list[str]:
    """Realistic depth5 frames as the simulator sends them; the top moves by a tick with the given odds."""
    rng = random.Random(seed)
    bid = 250_000  # best bid in cents (ticks of 0.01); the ask is one tick above

    def level(cents: int) -> list[str]:
        return [f"{cents / 100:.2f}", f"{rng.uniform(0.1, 30):.3f}"]

    frames = []
    for i in range(n):
        if rng.random() < top_change_prob:
            bid += rng.choice((-1, 1))
        e = 1_760_000_000_000 + 100 * i
        frames.append(
            json.dumps(
                {
                    "e": "depthUpdate",
                    "E": e,
                    "T": e - 2,
                    "s": SYMBOL,
                    "U": 1000 + i,
                    "u": 1000 + i,
                    "pu": 999 + i,
                    "b": [level(bid - k) for k in range(5)],
                    "a": [level(bid + 1 + k) for k in range(5)],
                }
            )
        )
    return frames


def frames_per_second(frames: list[str], seconds: float) -> float:
    """bot.on_market_message over `frames`, cyclically, in a tight loop for `seconds`."""
    client = AsterClient("bench-key-000000", "bench-secret-000000", "http://127.0.0.1:9")  # never used
    bot = MarketMaker(Config(symbol=SYMBOL, spread_model=SpreadModel.FIXED), client, ws_url="ws://127.0.0.1:9")
    bot.rules = SymbolRules(SYMBOL, "TRADING", TICK, Decimal("0.001"), Decimal("0.001"), Decimal("5"))
    handle, n = bot.on_market_message, 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for raw in frames:
            handle(raw)
        n += len(frames)
    return n / elapsed


def top_change_share(frames: list[str]) -> float:
    tops = [(f["b"][0][0], f["a"][0][0]) for f in map(json.loads, frames)]
    return sum(a != b for a, b in zip(tops[-1:] + tops, tops)) / len(tops)


def measure_throughput(seconds: float) -> dict:
    changing, quiet = make_frames(1000, 0.5), make_frames(1000, 0.0)
    return {
        "top_changing": round(frames_per_second(changing, seconds)),
        "top_unchanged": round(frames_per_second(quiet, seconds)),
        "changed_fraction": round(top_change_share(changing), 3),
        "frames": len(changing),
    }


def depth_frames_sent(sim: SimExchange) -> int:
    return sum(1 for e in sim.journal if e["kind"] == "event" and e["payload"].get("e") == "depthUpdate")


async def measure_session(workdir: Path, wall: float, minutes: float, every: float, inbox: AlertInbox) -> dict:
    """SyntheticMarket at a speed that fits `minutes` simulated minutes in `wall` s: RSS and CPU of the bot."""
    market = SyntheticMarket(symbol=SYMBOL, speed=minutes * 60 / wall)
    async with fresh_sim(mid=None) as sim:
        feeder = asyncio.create_task(market.run(sim))
        try:
            async with running_bot(sim, workdir, "WARNING", inbox) as bot:
                proc = bot.proc
                samples, t0, frames0 = [], time.perf_counter(), depth_frames_sent(sim)
                while True:
                    samples.append((time.perf_counter(), *proc_sample(proc.pid)))
                    if samples[-1][0] - t0 >= wall:
                        break
                    await asyncio.sleep(max(0.0, t0 + len(samples) * every - time.perf_counter()))
                frames, alive = depth_frames_sent(sim) - frames0, proc.returncode is None
        finally:
            feeder.cancel()
        stats = sim.summary(SYMBOL)
    (ta, rss_a, _, cpu_a), (tb, rss_b, hwm, cpu_b) = samples[0], samples[-1]
    return {
        "wall_s": round(tb - ta, 2),
        "simulated_s": round(frames * market.interval, 1),
        "speed": round(market.speed, 2),
        "depth_frames": frames,
        "samples": len(samples),
        "peak_rss_mb": round(max(hwm, *(s[1] for s in samples)), 1),
        "rss_start_mb": round(rss_a, 1),
        "rss_end_mb": round(rss_b, 1),
        "rss_growth_mb": round(rss_b - rss_a, 2),
        "rss_growth_pct": round((rss_b - rss_a) / rss_a * 100, 2),
        "cpu_pct": round((cpu_b - cpu_a) / (tb - ta) * 100, 2),
        "bot_alive_at_end": alive,
        "exchange": {
            "fills": stats["fills"],
            "orders_accepted": stats["orders_sent"],
            "cancelled": stats["cancelled"],
            "expired": stats["expired"],
        },
    }


async def requotes_beside_floor(
    work: Path, args: argparse.Namespace, inbox: AlertInbox, v3: bool, modify: bool = True
) -> dict:
    """The bot and the floor, each against its own simulator, requoting event by event (on V3 by Modify
    Order unless not `modify`); on V1 the bot's simulator then serves the fills and the shutdowns."""
    name = ("modify" if modify else "v3_cancel_place") if v3 else "cancel_place"
    m: dict = {}
    async with fresh_sim() as sim, fresh_sim() as floor_sim:
        async with (
            running_bot(sim, work / name, args.log_level, inbox, v3=v3, modify=modify) as bot,
            running_floor(floor_sim, work / f"{name}-floor", v3=v3, modify=modify),
        ):
            await asyncio.sleep(0.2)
            m["requotes"] = await measure_pairs(sim, floor_sim, args.requotes, v3, args.timeout, modify=v3 and modify)
            if not v3:
                m["fills"] = await measure_fills(sim, args.fills, args.timeout)
            m["metrics_requotes"] = await scrape(bot.metrics_port, "aster_mm_requote_seconds_count")
        m["ledger_rows"] = fill_rows(bot.ledger)
        if not v3:
            m["shutdowns"] = await measure_shutdowns(sim, work, args.shutdowns, args.log_level, inbox)
    return m


async def run_all(args: argparse.Namespace) -> dict:
    m = {
        "depth_frames_per_s": measure_throughput(args.throughput_seconds),
        "v3_signature_us": measure_signatures(args.signatures),
    }
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmp:
        work = Path(tmp)
        async with AlertInbox() as inbox:
            v1 = await requotes_beside_floor(work, args, inbox, v3=False)
            v3 = await requotes_beside_floor(work, args, inbox, v3=True)
            v3cp = await requotes_beside_floor(work, args, inbox, v3=True, modify=False)
            m |= {
                "requote_cancel_place_ms": v1["requotes"],
                "requote_modify_ms": v3["requotes"],
                "requote_v3_cancel_place_ms": v3cp["requotes"],
                "fill_to_order_ms": v1["fills"],
                "shutdown_ms": v1["shutdowns"],
            }
            async with fresh_sim() as sim:
                m["quiet"] = await measure_quiet(sim, work / "quiet", args.quiet_seconds, inbox)
            m["session"] = await measure_session(
                work / "session", args.session_seconds, args.session_minutes, args.sample_every, inbox
            )
            m["ops"] = {
                "metrics_requotes": min(r["metrics_requotes"] or 0 for r in (v1, v3, v3cp)),
                "ledger_rows": v1["ledger_rows"],
                "alerts": {sink: inbox.count(sink) for sink in ("webhook", "telegram")},
                "alerts_started": inbox.count("webhook", "started"),
                "alerts_stopped": inbox.count("webhook", "stopped"),
                "bot_runs": inbox.runs,
            }
    return m


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench.py",
        usage="%(prog)s [--quick] [option ...]",
        description=__doc__.split("\n\n")[0],
        formatter_class=DefaultsOnce,
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run (each size's --quick value below)")
    for name, (full, quick, text) in SIZES.items():
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, type=type(full), default=None, help=f"{text} (default: {full}; --quick: {quick})")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reaction of the bot")
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="bot log level for the latency and shutdown runs (quiet and session use WARNING)",
    )
    p.add_argument("--json", default="bench_results.json", help="where to write the results")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    metrics = asyncio.run(run_all(args))
    rows = checks(metrics)
    print_table(rows)
    result = {
        "machine": machine_info(),
        "config": vars(args),
        "metrics": metrics,
        "checks": [{"metric": a, "value": b, "target": c, "met": ok} for a, b, c, ok in rows],
        "all_met": all(ok for *_, ok in rows if ok is not None),
        "duration_s": round(time.perf_counter() - started, 1),
    }
    Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwritten {args.json} ({result['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
