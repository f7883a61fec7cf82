"""Whether two backtests decided the same: writes a backtest's decisions to a JSON file, or compares two.

    python scripts/backtest_same.py write OUT.json [--every-event] BACKTEST FLAGS...
    python scripts/backtest_same.py compare A.json B.json

`write` runs backtest.py's own flags once (the fast loop, or the every-event reference loop) and keeps every
fill (exchange time, side, price, quantity, maker), the orders, cancels, expired and stop counts, the fees,
volume and value, and the equity trace at every step (time, mid, position, equity, in position), with the
wall time it took. `compare` exits 1 naming the first difference. AMM_ROOT=<checkout> runs another checkout's
code (e.g. main, before a change to the backtester or to the decision code), the proof that a faster loop
or a faster decision decides exactly as before.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(os.environ.get("AMM_ROOT", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))


def fingerprint(argv: list[str], every_event: bool) -> dict:
    from aster_mm.backtest import cli  # noqa: PLC0415 (AMM_ROOT decides which checkout)

    args, cfg = cli.parse(argv + (["--every-event"] if every_event else []))
    cache: dict = {}
    cli.load_market(args, cache)  # the conversion is not what is timed
    start = time.perf_counter()
    out, r = cli.run_once(args, cfg, cache)
    wall = time.perf_counter() - start
    return {
        "argv": argv,
        "every_event": every_event,
        "root": str(ROOT),
        "wall_s": round(wall, 3),
        "wakes": r.wakes,
        "steps": r.steps,
        "counts": [r.orders_sent, r.cancels_sent, r.expired, r.stops, r.paused, r.halted, r.gap_cancels],
        "totals": [r.fees, r.volume, r.value],
        "fills": [[f.ts_ns, f.side, f.price, f.qty, f.maker] for f in r.fills],
        "trace": [r.ts.tolist(), r.mid.tolist(), r.position.tolist(), r.equity.tolist(), r.held.tolist()],
        "metrics": out["metrics"],
    }


def first_difference(a: dict, b: dict) -> str | None:
    """The first difference of decisions or of what the report shows, or None. The equity trace holds the
    steps at which the inputs changed; a run that steps less often must give the same curve: the same mid,
    position, equity and in-position at every step of either run."""
    for key in ("fills", "counts", "totals"):
        if a[key] != b[key]:
            i = next((i for i, (x, y) in enumerate(zip(a[key], b[key])) if x != y), min(len(a[key]), len(b[key])))
            return (
                f"{key} differ at {i}: {a[key][i : i + 1]} against {b[key][i : i + 1]} ({len(a[key])} / {len(b[key])})"
            )
    ta, tb = np.array(a["trace"][0], dtype=np.int64), np.array(b["trace"][0], dtype=np.int64)
    times = np.union1d(ta, tb)
    for k, name in enumerate(("mid", "position", "equity", "held"), start=1):
        va, vb = (np.array(x["trace"][k])[np.searchsorted(t, times, side="right") - 1] for x, t in ((a, ta), (b, tb)))
        if len(times) and (times[0] < max(ta[0], tb[0]) or not np.array_equal(va, vb)):
            i = int(np.argmax(va != vb))
            return f"trace {name} differs at {times[i]} ns: {va[i]} against {vb[i]}"
    for key in sorted(set(a.get("metrics", {})) | set(b.get("metrics", {}))):
        if "metrics" in a and "metrics" in b and a["metrics"].get(key) != b["metrics"].get(key):
            return f"report {key}: {a['metrics'].get(key)} against {b['metrics'].get(key)}"
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"] and len(argv) > 1:
        every = "--every-event" in argv
        out = fingerprint([a for a in argv[2:] if a != "--every-event"], every)
        Path(argv[1]).write_text(json.dumps(out))
        print(
            f"{argv[1]}: {len(out['fills'])} fills, {out['steps']:,} steps, {out['wakes']:,} wakes, {out['wall_s']} s"
        )
        return 0
    if argv[:1] == ["compare"] and len(argv) == 3:
        a, b = (json.loads(Path(p).read_text()) for p in argv[1:])
        diff = first_difference(a, b)
        print(
            diff
            or f"the same: {len(a['fills'])} fills, {len(a['trace'][0]):,} steps ({a['wall_s']} s, {b['wall_s']} s)"
        )
        return 1 if diff else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
