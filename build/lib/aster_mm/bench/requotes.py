"""Requote latency of the bot beside its floor, event by event in one run.

The bot and the floor client (`benchmarking.floor`) each trade against their own simulator, both alive
at once; each measured event moves the mid 0.3 % on both, one after the other (who goes first
alternates), so both see the same prices under the same machine load. A requote is the depth frame
sent -> the request carrying the new price received (the POST after the DELETE on V1, the PUT on V3);
"to_resting" is -> that request answered. The bot's own share is bot minus floor, per percentile and
per event.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal

from aster_mm.bench.harness import GAP, MID, ORDER, SYMBOL, V3_ORDER, TimedSim, book, summarize


def expected(v3: bool, modify: bool) -> list[str]:
    """The order requests of one requote: a Modify Order (V3), or a cancel and then a placement."""
    path = V3_ORDER if v3 else ORDER
    return [f"PUT {path}"] if modify else [f"DELETE {path}", f"POST {path}"]


ORDER_PATHS = (ORDER, V3_ORDER)


@dataclass
class Requote:
    ms: float  # frame sent -> the request with the new price arrives
    resting_ms: float  # frame sent -> that request answered
    first_ms: float  # frame sent -> the first order request arrives (the DELETE on V1)
    frame_ms: float  # frame sent -> the simulator handed it to the socket
    order_requests: list[str]
    other_requests: int  # anything else that arrived meanwhile (the dead-man switch, the sweep)


async def requote_once(sim: TimedSim, mid: Decimal, requests: list[str], timeout: float) -> Requote:
    method, path = requests[-1].split()
    t0 = time.perf_counter()
    await sim.set_book(SYMBOL, *book(mid))
    last = await sim.wait_for(lambda: sim.arrival_after(t0, method, path), timeout)
    await sim.wait_for(lambda: last[3] is not None and sim.open_orders(SYMBOL), timeout)
    sent = sim.sent_between(t0, last[0])
    orders = [s for s in sent if s.split()[1] in ORDER_PATHS]
    first = next(e for e in sim.arrivals if e[0] >= t0 and e[2] in ORDER_PATHS)
    return Requote(
        (last[0] - t0) * 1000,
        (last[3] - t0) * 1000,
        (first[0] - t0) * 1000,
        (sim.market_sent - t0) * 1000,
        orders,
        len(sent) - len(orders),
    )


def side_report(runs: list[Requote]) -> dict:
    return summarize([r.ms for r in runs]) | {
        "to_resting": summarize([r.resting_ms for r in runs]),
        "to_first_order_request": summarize([r.first_ms for r in runs]),
        "sim_sending_frame": summarize([r.frame_ms for r in runs]),
        "other_requests": sum(r.other_requests for r in runs),
    }


async def measure_pairs(
    bot_sim: TimedSim, floor_sim: TimedSim, moves: int, v3: bool, timeout: float, modify: bool
) -> dict:
    """`moves` requotes of the bot and of the floor, interleaved; raises if either sends anything but the
    requests of one requote (a DELETE then a POST, or with `modify` one PUT)."""
    requests = expected(v3, modify)
    bot: list[Requote] = []
    floor: list[Requote] = []
    for i in range(moves):
        mid = MID * Decimal("1.003") if i % 2 == 0 else MID
        order = ((bot_sim, bot), (floor_sim, floor)) if i % 2 == 0 else ((floor_sim, floor), (bot_sim, bot))
        for sim, runs in order:
            runs.append(await requote_once(sim, mid, requests, timeout))
            if runs[-1].order_requests != requests:
                who = "bot" if runs is bot else "floor"
                raise RuntimeError(f"requote {i} of the {who}: sent {runs[-1].order_requests}, expected {requests}")
            await asyncio.sleep(GAP)
    b, f = side_report(bot), side_report(floor)
    return {
        "bot": b,
        "floor": f,
        "order_requests": requests,
        "bot_share": {
            "p50": round(b["p50"] - f["p50"], 3),
            "p99": round(b["p99"] - f["p99"], 3),
            "paired": summarize([x.ms - y.ms for x, y in zip(bot, floor)]),
        },
    }
