"""Smoke test of bench.py: a --quick run against the simulator writes complete, sane JSON (no timing targets)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_writes_complete_results(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench.py"), "--quick", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=45)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "requote latency p99" in proc.stdout
    r = json.loads(out.read_text())
    assert set(r) >= {"machine", "config", "metrics", "checks", "all_met"}
    assert r["machine"]["nproc"] >= 1 and r["machine"]["python"]
    m = r["metrics"]
    assert set(m) == {"requote_ms", "fill_to_order_ms", "shutdown_ms", "quiet", "depth_frames_per_s", "session",
                      "requote_modify_ms", "v3_signature_us"}
    mod = m["requote_modify_ms"]
    assert mod["to_put"]["n"] == mod["to_resting"]["n"] == 5
    assert 0 < mod["to_put"]["p50"] <= mod["to_resting"]["p50"] < 5000
    assert 0 < m["v3_signature_us"]["p50"] < 10_000 and m["v3_signature_us"]["n"] == 200
    for key, n in (("requote_ms", 5), ("fill_to_order_ms", 4)):
        lat = m[key]
        assert lat["n"] == n and 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 5000
    assert m["requote_ms"]["frame_to_delete"]["p50"] < m["requote_ms"]["p50"]
    sd = m["shutdown_ms"]
    assert sd["n"] == 1 and 0 < sd["median"] <= sd["max"] < 10_000
    assert sd["open_orders_after"] == [0] and sd["exit_codes"] == [0]
    q = m["quiet"]
    assert q["order_requests"] == 0 and q["other_requests"] >= 0 and 0 <= q["idle_cpu_pct"] < 100
    tp = m["depth_frames_per_s"]
    assert tp["top_changing"] > 0 and tp["top_unchanged"] > 0 and 0.3 < tp["changed_fraction"] < 0.7
    s = m["session"]
    assert s["bot_alive_at_end"] and s["samples"] >= 2 and s["exchange"]["orders_accepted"] >= 1
    assert 0 < s["rss_start_mb"] <= s["peak_rss_mb"] and 0 <= s["cpu_pct"] < 200
    assert [c["metric"] for c in r["checks"]][:2] == ["requote latency p50", "requote latency p99"]
    assert "requote latency, modify in place (V3) p50" in proc.stdout and "V3 signature p50" in proc.stdout
    assert all(c["met"] in (True, False, None) for c in r["checks"])
