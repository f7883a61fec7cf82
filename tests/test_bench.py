"""Smoke test of bench.py: a --quick run against the simulator measures what it says it measures (no
timing targets: the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import ROOT

REQUOTES, FILLS = 6, 4


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench.py"), "--quick", "--requotes", str(REQUOTES), "--json", str(out)],
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.parametrize(
    "key, requests",
    [
        ("requote_cancel_place_ms", ["DELETE /fapi/v1/order", "POST /fapi/v1/order"]),
        ("requote_modify_ms", ["PUT /fapi/v3/order"]),
        ("requote_v3_cancel_place_ms", ["DELETE /fapi/v3/order", "POST /fapi/v3/order"]),
    ],
)
def test_bot_and_floor_each_requote_with_the_same_requests(bench, key, requests):
    r = bench[0]["metrics"][key]
    assert r["order_requests"] == requests  # bench.py raises if either side sent anything else
    bot, floor, share = r["bot"], r["floor"], r["bot_share"]
    assert bot["n"] == floor["n"] == share["paired"]["n"] == REQUOTES
    for side in (bot, floor):
        assert 0 < side["to_first_order_request"]["p50"] <= side["p50"] <= side["to_resting"]["p50"]
    assert share["p50"] == pytest.approx(bot["p50"] - floor["p50"], abs=0.002)
    assert share["p99"] == pytest.approx(bot["p99"] - floor["p99"], abs=0.002)


def test_bot_ran_with_metrics_ledger_and_alerts_on(bench):
    m = bench[0]["metrics"]
    ops = m["ops"]
    assert ops["metrics_requotes"] >= REQUOTES  # scraped over HTTP from the bots of both requote runs
    assert ops["ledger_rows"] == FILLS == m["fill_to_order_ms"]["n"]
    assert ops["bot_runs"] == 6  # V1, V3, V3 --no-modify, one shutdown, quiet, session
    assert ops["alerts_started"] == ops["alerts_stopped"] == ops["bot_runs"]
    assert ops["alerts"]["telegram"] == ops["alerts"]["webhook"] >= 2 * ops["bot_runs"]


def test_the_rest_of_the_bench_is_measured(bench):
    r, stdout = bench
    m = r["metrics"]
    assert r["machine"]["nproc"] >= 1 and r["machine"]["python"]
    assert m["v3_signature_us"]["n"] == 200 and 0 < m["v3_signature_us"]["p50"]
    sd = m["shutdown_ms"]
    assert sd["n"] == 1 and sd["open_orders_after"] == [0] and sd["exit_codes"] == [0]
    q = m["quiet"]
    assert q["order_requests"] == 0 and 0 <= q["idle_cpu_pct"] < 100
    assert sum(q["by_endpoint"].values()) == q["order_requests"] + q["other_requests"]
    assert 0.3 < m["depth_frames_per_s"]["changed_fraction"] < 0.7
    s = m["session"]
    assert s["bot_alive_at_end"] and s["samples"] >= 2 and s["exchange"]["orders_accepted"] >= 1


def test_budget_rows_are_judged_and_all_met_follows_them(bench):
    r, stdout = bench
    rows = {c["metric"]: c for c in r["checks"]}
    share = r["metrics"]["requote_modify_ms"]["bot_share"]
    budget = rows["requote, modify in place (V3): bot - floor p50"]
    assert budget["target"] == "<= 0.3 ms" and budget["met"] is (share["p50"] <= 0.3)
    assert rows["requote, cancel-then-place (V1): bot - floor p99"]["target"] == "<= 1.0 ms"
    modify, cancel_place = (r["metrics"][k]["bot"]["p50"] for k in ("requote_modify_ms", "requote_v3_cancel_place_ms"))
    ratio = rows["requote, modify in place (V3): bot p50 against cancel-then-place (V3)"]
    assert ratio["met"] is (modify <= 0.6 * cancel_place)  # the same signing scheme on both sides
    assert r["all_met"] is all(c["met"] for c in r["checks"] if c["met"] is not None)
    for c in r["checks"]:  # a row has a target exactly when it is judged
        assert (c["met"] is None) == (c["target"] == ""), c
    assert "requote, cancel-then-place (V1): bot - floor p50" in stdout
