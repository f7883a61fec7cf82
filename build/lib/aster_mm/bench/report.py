"""The bench's report: each measured figure as a row (metric, value, target, met?), printed as a table.
Targets are judged here and nowhere else; the machine the figures came from goes beside them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

BUDGET_MS = {"p50": 0.3, "p99": 1.0}  # the bot's own share of a requote (bot minus floor)


def requote_rows(name: str, r: dict) -> list[tuple[str, str, str, bool | None]]:
    bot, floor, share = r["bot"], r["floor"], r["bot_share"]
    return [
        (f"requote, {name}: bot p50 / p99", f"{bot['p50']:.2f} / {bot['p99']:.2f} ms", "", None),
        (f"requote, {name}: floor p50 / p99", f"{floor['p50']:.2f} / {floor['p99']:.2f} ms", "", None),
        (
            f"requote, {name}: bot - floor p50",
            f"{share['p50']:.2f} ms",
            f"<= {BUDGET_MS['p50']} ms",
            share["p50"] <= BUDGET_MS["p50"],
        ),
        (
            f"requote, {name}: bot - floor p99",
            f"{share['p99']:.2f} ms",
            f"<= {BUDGET_MS['p99']} ms",
            share["p99"] <= BUDGET_MS["p99"],
        ),
        (
            f"requote, {name}: bot - floor per event, p50 / p99",
            f"{share['paired']['p50']:.2f} / {share['paired']['p99']:.2f} ms",
            "",
            None,
        ),
        (f"new price resting, {name}: bot p50", f"{bot['to_resting']['p50']:.2f} ms", "", None),
    ]


def checks(m: dict) -> list[tuple[str, str, str, bool | None]]:
    v1, v3, v3cp, fl, sd, qt, tp, ss, ops = (
        m[k]
        for k in (
            "requote_cancel_place_ms",
            "requote_modify_ms",
            "requote_v3_cancel_place_ms",
            "fill_to_order_ms",
            "shutdown_ms",
            "quiet",
            "depth_frames_per_s",
            "session",
            "ops",
        )
    )
    sig = m["v3_signature_us"]
    left = sum(sd["open_orders_after"])
    ops_on = ops["metrics_requotes"] >= 1 and min(ops["alerts"].values()) >= 1 and ops["ledger_rows"] >= 1
    return [
        (
            "metrics, ledger and alerts on",
            f"{ops['metrics_requotes']:.0f} requotes scraped, "
            f"{sum(ops['alerts'].values())} alerts, {ops['ledger_rows']} ledger rows",
            "all seen",
            ops_on,
        ),
        *requote_rows("cancel-then-place (V1)", v1),
        ("requote, cancel-then-place (V1): bot max", f"{v1['bot']['max']:.2f} ms", "", None),
        ("requote, cancel-then-place (V1): bot p99", f"{v1['bot']['p99']:.2f} ms", "<= 5 ms", v1["bot"]["p99"] <= 5),
        *requote_rows("modify in place (V3)", v3),
        *requote_rows("cancel-then-place (V3, --no-modify)", v3cp),
        (
            "requote, modify in place (V3): bot p50 against cancel-then-place (V3)",
            f"{v3['bot']['p50']:.2f} ms",
            f"<= 0.6 x {v3cp['bot']['p50']:.2f} ms",
            v3["bot"]["p50"] <= 0.6 * v3cp["bot"]["p50"],
        ),
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
        (
            "RSS growth over session",
            f"{ss['rss_growth_mb']:+.1f} MB ({ss['rss_growth_pct']:+.1f} %)",
            "flat (<= 5 %)",
            ss["rss_growth_pct"] <= 5,
        ),
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
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
