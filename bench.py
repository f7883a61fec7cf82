#!/usr/bin/env python3
"""Benchmark the real market maker against the local exchange simulator on 127.0.0.1.

The bot runs as a subprocess (`market_maker.py --symbol ETHUSDT`, cwd a temp dir so no .env is read)
against a SimExchange served from this process's event loop. Latencies are measured entirely in this
process with time.perf_counter(): the send time is taken just before the simulator emits the event
(`sim.set_book`, `sim.fill_order`), the arrival time when the simulator's aiohttp handler for the bot's
REST request is entered (the simulator's `on_request` observers: after aiohttp parsed the request head,
before the body is read).

Requotes are measured both ways in one run: cancel-then-place (a V1 bot: DELETE, then POST) and
modify-in-place (a V3 bot: one PUT /fapi/v3/order). Requote latency is, as for every latency here,
the depth frame -> the request carrying the new price arrives (the POST after the DELETE, or the PUT);
"new price resting" is the depth frame -> the simulator has answered that request. The cost of one V3 signature is timed
in-process.

    python bench.py                # everything, default sizes (~2.5 minutes)
    python bench.py --quick        # tiny sizes, a smoke run
Prints a table (metric, value, target, met?) and writes the same as JSON (--json, bench_results.json).
Memory is reported in MB of 1024 kB (as /proc reports kB).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from api_client import AsterClient, SymbolRules  # noqa: E402
from aster_mm.config import Config  # noqa: E402
from aster_mm.signing import Eip712Signer  # noqa: E402
from market_maker import MarketMaker  # noqa: E402
from sim_exchange import SimExchange, SyntheticMarket  # noqa: E402

SYMBOL = "ETHUSDT"
ORDER = "/fapi/v1/order"
V3_ORDER = "/fapi/v3/order"
ORDER_PATHS = (ORDER, "/fapi/v1/batchOrders", "/fapi/v1/allOpenOrders")
MID = Decimal("2500")
TICK = Decimal("0.01")
GAP = 0.02                      # idle pause between two measured events, so they never overlap
CLK_TCK = os.sysconf("SC_CLK_TCK")

FULL = dict(requotes=200, signatures=20000, fills=100, shutdowns=5, quiet_seconds=60.0, session_seconds=60.0,
            session_minutes=10.0, throughput_seconds=1.5, sample_every=1.0)
QUICK = dict(requotes=5, signatures=200, fills=4, shutdowns=1, quiet_seconds=1.5, session_seconds=2.0,
             session_minutes=0.2, throughput_seconds=0.2, sample_every=0.5)


# ------------------------------------------------------------------------------------ simulator
class TimedSim(SimExchange):
    """SimExchange that stamps each REST request with perf_counter() as its handler is entered."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.arrivals: list[list] = []   # [perf_counter at arrival, method, path, perf_counter when answered]
        self.market_sent = 0.0           # perf_counter when the last market frame was handed to the socket
        self.on_request.append(self._arrived)
        self.on_market_frame.append(self._frame_sent)

    def _arrived(self, method: str, path: str) -> Callable[[], None]:
        entry = [time.perf_counter(), method, path, None]
        self.arrivals.append(entry)

        def answered() -> None:
            entry[3] = time.perf_counter()
        return answered

    def _frame_sent(self) -> None:
        self.market_sent = time.perf_counter()

    def arrival_after(self, t0: float, method: str = "POST", path: str = ORDER) -> list | None:
        """The first `method path` request that arrived at or after t0 (see `arrivals`)."""
        found = None
        for entry in reversed(self.arrivals):
            if entry[0] < t0:
                break
            if entry[1] == method and entry[2] == path:
                found = entry
        return found


def book(mid: Decimal) -> tuple[list, list]:
    bids = [(mid - TICK * (i + 1), Decimal(5)) for i in range(5)]
    asks = [(mid + TICK * (i + 1), Decimal(5)) for i in range(5)]
    return bids, asks


@contextlib.asynccontextmanager
async def fresh_sim(mid: Decimal | None = MID):
    sim = TimedSim()
    await sim.start()
    try:
        if mid is not None:
            await sim.set_book(SYMBOL, *book(mid))
        yield sim
    finally:
        await sim.stop()


# ------------------------------------------------------------------------------------ the bot process
def proc_sample(pid: int) -> tuple[float, float, float]:
    """(RSS MB, peak RSS MB, CPU seconds user+system) of a live process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024,
            (int(stat[11]) + int(stat[12])) / CLK_TCK)


async def stop_bot(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def running_bot(sim: TimedSim, workdir: Path, log_level: str, timeout: float = 20.0, v3: bool = False):
    """Start market_maker.py against `sim` (V1 credentials, or V3 with `v3`), yield the process once its
    first order rests, stop it."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    if v3:
        env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    else:
        env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret)
    env.update(ASTER_REST_URL=sim.rest_url, ASTER_WS_URL=sim.ws_url)
    with open(workdir / "stdout.log", "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "market_maker.py"), "--symbol", SYMBOL, "--log-file",
            str(workdir / "mm.log"), "--log-level", log_level, cwd=workdir, env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT)
        try:
            await sim.wait_for(lambda: sim.open_orders(SYMBOL) or proc.returncode is not None, timeout)
            if proc.returncode is not None:
                raise RuntimeError(f"bot exited with status {proc.returncode}")
            yield proc
        except BaseException:
            tail = (workdir / "stdout.log").read_text(errors="replace").splitlines()[-15:]
            print(f"bench: bot in {workdir} failed; last output:\n  " + "\n  ".join(tail), file=sys.stderr)
            raise
        finally:
            await stop_bot(proc)


async def wait_resting(sim: TimedSim, timeout: float) -> None:
    """Wait until the last placement was answered and an order rests, then let the bot settle."""
    entry = next(e for e in reversed(sim.journal)
                 if e["kind"] == "request" and e["method"] == "POST" and e["path"] == ORDER)
    await sim.wait_for(lambda: entry["status"] is not None and sim.open_orders(SYMBOL), timeout)
    await asyncio.sleep(GAP)


# ------------------------------------------------------------------------------------ measurements
def summarize(ms: list[float]) -> dict:
    s = sorted(ms)

    def pct(q: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]
    return {"n": len(s), "p50": round(pct(0.5), 3), "p99": round(pct(0.99), 3), "max": round(s[-1], 3),
            "mean": round(statistics.fmean(s), 3)}


async def measure_requotes(sim: TimedSim, moves: int, timeout: float) -> dict:
    """V1 cancel-then-place: depth frame moving the target 0.3 % -> the replacement POST (after the DELETE)
    arrives, and -> it is answered (to_resting). Also split: the simulator building and sending the frame, frame -> DELETE arrives, and the
    simulator's own time answering the DELETE."""
    total, to_cancel, sim_frame, sim_cancel, resting = [], [], [], [], []
    for i in range(moves):
        mid = MID * Decimal("1.003") if i % 2 == 0 else MID
        t0 = time.perf_counter()
        await sim.set_book(SYMBOL, *book(mid))
        post = await sim.wait_for(lambda t0=t0: sim.arrival_after(t0), timeout)
        cancel = sim.arrival_after(t0, "DELETE")
        if cancel is None or cancel[0] > post[0]:
            raise RuntimeError(f"requote {i}: no DELETE before the replacement POST")
        total.append((post[0] - t0) * 1000)
        to_cancel.append((cancel[0] - t0) * 1000)
        sim_frame.append((sim.market_sent - t0) * 1000)
        sim_cancel.append((cancel[3] - cancel[0]) * 1000)
        await wait_resting(sim, timeout)
        resting.append((post[3] - t0) * 1000)
    return summarize(total) | {"sim_sending_frame": summarize(sim_frame), "frame_to_delete": summarize(to_cancel),
                               "sim_answering_delete": summarize(sim_cancel), "to_resting": summarize(resting)}


async def measure_modifies(sim: TimedSim, moves: int, timeout: float) -> dict:
    """V3: depth frame moving the target 0.3 % -> the PUT (Modify Order) arrives, and -> it is answered
    (the new price rests). No DELETE or POST may be sent."""
    arrived, resting = [], []
    posts = len(sim.requests("POST", ORDER))
    for i in range(moves):
        mid = MID * Decimal("1.003") if i % 2 == 0 else MID
        t0 = time.perf_counter()
        await sim.set_book(SYMBOL, *book(mid))
        put = await sim.wait_for(lambda t0=t0: sim.arrival_after(t0, "PUT", V3_ORDER), timeout)
        await sim.wait_for(lambda put=put: put[3] is not None, timeout)
        arrived.append((put[0] - t0) * 1000)
        resting.append((put[3] - t0) * 1000)
        await asyncio.sleep(GAP)
    if len(sim.requests("POST", ORDER)) != posts or sim.requests("DELETE", ORDER):
        raise RuntimeError("a V3 requote sent a cancel or a placement instead of one modification")
    return {"to_put": summarize(arrived), "to_resting": summarize(resting)}


def measure_signatures(n: int) -> dict:
    """Microseconds per V3 request signature (urlencode + nonce + EIP-712 digest + ECDSA), a typical order."""
    from eth_account import Account
    wallet = Account.create()
    signer = Eip712Signer(wallet.address, wallet.address, wallet.key.hex())
    params = [("symbol", SYMBOL), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTX"),
              ("quantity", "0.8"), ("price", "2485.01"), ("newClientOrderId", "amm-abcdef-123")]
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        signer.sign(params, 1.7e12 + i)
        out.append((time.perf_counter() - t0) * 1e6)
    return summarize(out)


async def measure_fills(sim: TimedSim, fills: int, timeout: float) -> dict:
    """Fill of the resting order (BUY, then SELL, ...) -> the opposite order's POST arrives."""
    out = []
    for _ in range(fills):
        t0 = time.perf_counter()
        await sim.fill_order(SYMBOL)
        post = await sim.wait_for(lambda t0=t0: sim.arrival_after(t0), timeout)
        out.append((post[0] - t0) * 1000)
        await wait_resting(sim, timeout)
    return summarize(out)


async def measure_shutdowns(sim: TimedSim, workdir: Path, runs: int, log_level: str) -> dict:
    """SIGTERM with one resting order -> process exit; open orders left afterwards."""
    times, left, codes = [], [], []
    for i in range(runs):
        async with running_bot(sim, workdir / f"shutdown{i}", log_level) as proc:
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)
            times.append((time.perf_counter() - t0) * 1000)
            left.append(len(sim.open_orders(SYMBOL)))
            codes.append(proc.returncode)
    return {"n": runs, "median": round(statistics.median(times), 1), "max": round(max(times), 1),
            "runs_ms": [round(t, 1) for t in times], "open_orders_after": left, "exit_codes": codes}


async def measure_quiet(sim: TimedSim, workdir: Path, seconds: float) -> dict:
    """Mid jiggling < 0.05 % every 100 ms: REST requests by kind, per hour, and the bot's CPU share."""
    rng = random.Random(7)
    async with running_bot(sim, workdir, "WARNING") as proc:
        await asyncio.sleep(0.3)
        first = len(sim.arrivals)
        _, _, cpu0 = proc_sample(proc.pid)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await sim.set_book(SYMBOL, *book(MID + TICK * rng.randint(-100, 100)))   # within +-0.04 %
            await asyncio.sleep(0.1)
        _, _, cpu1 = proc_sample(proc.pid)
        wall = time.perf_counter() - t0
        requests = sim.arrivals[first:]
    by_endpoint: dict[str, int] = {}
    for _, method, path, _ in requests:
        by_endpoint[f"{method} {path}"] = by_endpoint.get(f"{method} {path}", 0) + 1
    orders = sum(1 for _, m, p, _ in requests if m in ("POST", "DELETE") and p in ORDER_PATHS)
    return {"seconds": round(wall, 2), "order_requests": orders, "other_requests": len(requests) - orders,
            "order_requests_per_hour": round(orders * 3600 / wall, 1),
            "other_requests_per_hour": round((len(requests) - orders) * 3600 / wall, 1),
            "by_endpoint": by_endpoint, "idle_cpu_pct": round((cpu1 - cpu0) / wall * 100, 2)}


def make_frames(n: int, top_change_prob: float, seed: int = 3) -> list[str]:
    """Realistic depth5 frames as the simulator sends them; the top moves by a tick with the given odds."""
    rng = random.Random(seed)
    bid = 250_000                      # best bid in cents (ticks of 0.01); the ask is one tick above

    def level(cents: int) -> list[str]:
        return [f"{cents / 100:.2f}", f"{rng.uniform(0.1, 30):.3f}"]
    frames = []
    for i in range(n):
        if rng.random() < top_change_prob:
            bid += rng.choice((-1, 1))
        e = 1_760_000_000_000 + 100 * i
        frames.append(json.dumps({"e": "depthUpdate", "E": e, "T": e - 2, "s": SYMBOL, "U": 1000 + i,
                                  "u": 1000 + i, "pu": 999 + i, "b": [level(bid - k) for k in range(5)],
                                  "a": [level(bid + 1 + k) for k in range(5)]}))
    return frames


def frames_per_second(frames: list[str], seconds: float) -> float:
    """bot.on_market_message over `frames`, cyclically, in a tight loop for `seconds`."""
    client = AsterClient("bench-key-000000", "bench-secret-000000", "http://127.0.0.1:9")   # never used
    bot = MarketMaker(Config(symbol=SYMBOL), client, ws_url="ws://127.0.0.1:9")
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
    return {"top_changing": round(frames_per_second(changing, seconds)),
            "top_unchanged": round(frames_per_second(quiet, seconds)),
            "changed_fraction": round(top_change_share(changing), 3), "frames": len(changing)}


def depth_frames_sent(sim: SimExchange) -> int:
    return sum(1 for e in sim.journal if e["kind"] == "event" and e["payload"].get("e") == "depthUpdate")


async def measure_session(workdir: Path, wall: float, minutes: float, every: float) -> dict:
    """SyntheticMarket at a speed that fits `minutes` simulated minutes in `wall` s: RSS and CPU of the bot."""
    market = SyntheticMarket(symbol=SYMBOL, speed=minutes * 60 / wall)
    async with fresh_sim(mid=None) as sim:
        feeder = asyncio.create_task(market.run(sim))
        try:
            async with running_bot(sim, workdir, "WARNING") as proc:
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
    return {"wall_s": round(tb - ta, 2), "simulated_s": round(frames * market.interval, 1),
            "speed": round(market.speed, 2), "depth_frames": frames, "samples": len(samples),
            "peak_rss_mb": round(max(hwm, *(s[1] for s in samples)), 1),
            "rss_start_mb": round(rss_a, 1), "rss_end_mb": round(rss_b, 1),
            "rss_growth_mb": round(rss_b - rss_a, 2), "rss_growth_pct": round((rss_b - rss_a) / rss_a * 100, 2),
            "cpu_pct": round((cpu_b - cpu_a) / (tb - ta) * 100, 2), "bot_alive_at_end": alive,
            "exchange": {"fills": stats["fills"], "orders_accepted": stats["orders_sent"],
                         "cancelled": stats["cancelled"], "expired": stats["expired"]}}


# ------------------------------------------------------------------------------------ report
def checks(m: dict) -> list[tuple[str, str, str, bool | None]]:
    rq, fl, sd, qt, tp, ss = (m[k] for k in ("requote_ms", "fill_to_order_ms", "shutdown_ms", "quiet",
                                              "depth_frames_per_s", "session"))
    mod, rest, sig = m["requote_modify_ms"]["to_put"], m["requote_modify_ms"]["to_resting"], m["v3_signature_us"]
    ctp = rq["to_resting"]
    left = sum(sd["open_orders_after"])
    return [
        ("requote latency p50", f"{rq['p50']:.2f} ms", "", None),
        ("requote latency p99", f"{rq['p99']:.2f} ms", "<= 5 ms", rq["p99"] <= 5),
        ("requote latency max", f"{rq['max']:.2f} ms", "", None),
        ("requote latency, modify in place (V3) p50", f"{mod['p50']:.2f} ms",
         f"<= 0.6 x {rq['p50']:.2f} ms", mod["p50"] <= 0.6 * rq["p50"]),
        ("requote latency, modify in place (V3) p99", f"{mod['p99']:.2f} ms", "", None),
        ("new price resting, cancel-then-place p50", f"{ctp['p50']:.2f} ms", "", None),
        ("new price resting, modify in place p50", f"{rest['p50']:.2f} ms", "", None),
        ("V3 signature p50", f"{sig['p50']:.1f} us", "<= 100 us", sig["p50"] <= 100),
        ("V3 signature p99", f"{sig['p99']:.1f} us", "", None),
        ("fill-to-next-order p50", f"{fl['p50']:.2f} ms", "", None),
        ("fill-to-next-order p99", f"{fl['p99']:.2f} ms", "<= 5 ms", fl["p99"] <= 5),
        ("shutdown (SIGTERM->exit) median", f"{sd['median']:.0f} ms", "", None),
        ("shutdown (SIGTERM->exit) max", f"{sd['max']:.0f} ms", "<= 300 ms", sd["max"] <= 300),
        ("open orders after shutdown", str(left), "0, exit 0", left == 0 and not any(sd["exit_codes"])),
        ("quiet market: order requests/h", f"{qt['order_requests_per_hour']:.0f}", "0", qt["order_requests"] == 0),
        ("quiet market: other requests/h", f"{qt['other_requests_per_hour']:.0f}", "", None),
        ("depth frames/s (top changes ~50 %)", f"{tp['top_changing']:,}", ">= 50,000", tp["top_changing"] >= 50_000),
        ("depth frames/s (top unchanged)", f"{tp['top_unchanged']:,}", "", None),
        ("peak RSS (session)", f"{ss['peak_rss_mb']:.1f} MB", "<= 80 MB", ss["peak_rss_mb"] <= 80),
        ("RSS growth over session", f"{ss['rss_growth_mb']:+.1f} MB ({ss['rss_growth_pct']:+.1f} %)",
         "flat (<= 5 %)", ss["rss_growth_pct"] <= 5),
        ("CPU share, accelerated session", f"{ss['cpu_pct']:.1f} %", "", None),
        ("idle CPU share, quiet market", f"{qt['idle_cpu_pct']:.2f} %", "<= 2 %", qt["idle_cpu_pct"] <= 2),
    ]


def print_table(rows: list[tuple]) -> None:
    header = ("metric", "value", "target", "met?")
    table = [header] + [(a, b, c, "-" if ok is None else ("yes" if ok else "NO")) for a, b, c, ok in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for n, r in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine_info() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform()}


async def run_all(args: argparse.Namespace) -> dict:
    m = {"depth_frames_per_s": measure_throughput(args.throughput_seconds),
         "v3_signature_us": measure_signatures(args.signatures)}
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmp:
        work = Path(tmp)
        async with fresh_sim() as sim:
            async with running_bot(sim, work / "latency", args.log_level):
                await asyncio.sleep(0.2)
                m["requote_ms"] = await measure_requotes(sim, args.requotes, args.timeout)
                m["fill_to_order_ms"] = await measure_fills(sim, args.fills, args.timeout)
            m["shutdown_ms"] = await measure_shutdowns(sim, work, args.shutdowns, args.log_level)
        async with fresh_sim() as sim:
            async with running_bot(sim, work / "modify", args.log_level, v3=True):
                await asyncio.sleep(0.2)
                m["requote_modify_ms"] = await measure_modifies(sim, args.requotes, args.timeout)
        async with fresh_sim() as sim:
            m["quiet"] = await measure_quiet(sim, work / "quiet", args.quiet_seconds)
        m["session"] = await measure_session(work / "session", args.session_seconds, args.session_minutes,
                                             args.sample_every)
    return m


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run: " +
                   ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    for name, value in FULL.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=None,
                       help=f"default {value}")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reaction of the bot")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="bot log level for the latency and shutdown runs (quiet and session use WARNING)")
    p.add_argument("--json", default="bench_results.json", help="where to write the results")
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
    result = {"machine": machine_info(), "config": vars(args), "metrics": metrics,
              "checks": [{"metric": a, "value": b, "target": c, "met": ok} for a, b, c, ok in rows],
              "all_met": all(ok for *_, ok in rows if ok is not None),
              "duration_s": round(time.perf_counter() - started, 1)}
    Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwritten {args.json} ({result['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
