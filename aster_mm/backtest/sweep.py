"""backtest.py --sweep: every combination of some flags' values, run one after another and ranked."""

from __future__ import annotations

import argparse
import itertools


def variants(specs: list[str], parser: argparse.ArgumentParser) -> list[tuple[dict, list[str]]]:
    """Each combination of the sweep values: ({name: value}, the flags that set them)."""
    axes = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name.strip() or not values.strip():
            parser.error(f"--sweep wants NAME=v1,v2,..., got {spec!r}")
        flags = ["--" + n.strip().replace("_", "-") for n in name.split("+")]
        axes.append([(name.strip(), v.strip(), [x for f in flags for x in (f, v.strip())]) for v in values.split(",")])
    return [
        ({n: v for n, v, _ in combo}, [x for *_, argv in combo for x in argv]) for combo in itertools.product(*axes)
    ]


def without_sweeps(argv: list[str]) -> list[str]:
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--sweep":
            skip = True
        elif not token.startswith("--sweep="):
            out.append(token)
    return out


def table(runs: list[tuple[dict, dict]]) -> str:
    head = ["setting", "fills", "volume USD", "net PnL", "bp/vol", "bp MM1", "max DD", "in pos", "mk 10s bp"]
    lines = []
    for setting, out in runs:
        m = out["metrics"]
        bp, bp_mm1 = m["pnl_per_volume_bp"], m["fee_tiers"]["mm1"]["pnl_per_volume_bp"]
        mk = m["markouts"]["10s"]["mean_bp"]
        lines.append(
            [
                " ".join(f"{n}={v}" for n, v in setting.items()),
                str(m["fills"]),
                f"{m['volume_usd']:,.0f}",
                f"{m['net_pnl_usd']:.2f}",
                "n/a" if bp is None else f"{bp:.2f}",
                "n/a" if bp_mm1 is None else f"{bp_mm1:.2f}",
                f"{m['max_drawdown_usd']:.2f}",
                f"{m['time_in_position'] * 100:.0f}%",
                "n/a" if mk is None else f"{mk:.2f}",
            ]
        )
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in [head, *lines]
    )


def rank(item: tuple[dict, dict]) -> tuple:
    m = item[1]["metrics"]
    bp = m["pnl_per_volume_bp"]
    return (bp is None, -(bp or 0.0), -m["net_pnl_usd"])
