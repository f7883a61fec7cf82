"""The fast backtest decides exactly as before it was made fast: on slices of the real recordings, the fast loop
and the every-event reference loop give the same fills, orders and equity, and both give what the code before
the speed work gave (its digests below, from main at 37eb9d7: scripts/backtest_same.py compares whole days)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers import RESEARCH_FLAGS

pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")

from aster_mm.backtest import cli  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
BTC = ("standx-btcusd/2026-01-06", "BTCUSD", 90, ["--tick", "0.01", "--step", "0.0001"])
ETH = ("aster-2025-11-28", "ETHUSDT", 21, [])
# (data, flags) -> (fills, orders, digest of the fills, counts, fees, volume and final equity) before the speed work
CASES = {
    "btc-signal-long": (
        BTC,
        ["--spread-model", "signal", "--side", "long", "--stop-loss", "0.002"],
        (11, 1685, "f6897b88f37cf948"),
    ),
    "btc-signal-short": (
        BTC,
        ["--spread-model", "signal", "--side", "short", "--requote-ticks", "5", "--decay-after", "5"],
        (14, 3463, "bb243c06da36ecea"),
    ),
    "btc-signal-floor": (  # the close rests at a floor that falls a bp every 30 s: requoted on the clock
        BTC,
        ["--spread-model", "signal", "--side", "long", "--guard-sigma", "0.2", "--close-offset-sigma", "0"]
        + ["--fair-weight", "0", "--breakeven-target-bp", "10", "--decay-after", "2", "--decay-bp-per-min", "2"]
        + ["--decay-floor-bp", "-5"],
        (13, 2201, "cc1266555374d429"),
    ),
    "btc-adaptive": (
        BTC,
        ["--spread-model", "adaptive", "--risk-aversion", "1", "--min-spread", "0.00002", "--adaptive-half-life", "60"],
        (18, 29, "d5b5e17f72565373"),
    ),
    "eth-signal": (  # the guard always open, a requote at every tick, the trade flow read: busy
        ETH,
        ["--spread-model", "signal", "--guard-sigma", "0", "--requote-ticks", "1", "--decay-after", "5"]
        + ["--signal-warmup", "30", "--weight-flow", "0.2", "--weight-micro", "0.1"],
        (5, 4334, "345d1d7a21b54daa"),
    ),
    "eth-adaptive": (
        ETH,
        ["--spread-model", "adaptive", "--risk-aversion", "1", "--min-spread", "0.00002", "--max-loss-usd", "3"],
        (7, 12, "b81dc7fc4f37bbf9"),
    ),
}


def first_minutes(src: Path, dst: Path, symbol: str, minutes: float) -> Path:
    """The recording's first `minutes` (book rows and trades), as plain CSVs."""
    dst.mkdir(parents=True, exist_ok=True)
    start = None
    for kind, column, scale in (("orderbook", "unix_timestamp", 1), ("trades", "unix_timestamp_ms", 1000)):
        path = next(src.glob(f"{kind}_{symbol}.csv*"))
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
        header, *rows = text.splitlines()
        i = header.split(",").index(column)
        start = float(rows[0].split(",")[i]) / scale if start is None else start
        kept = [r for r in rows if float(r.split(",")[i]) / scale < start + minutes * 60]
        (dst / f"{kind}_{symbol}.csv").write_text("\n".join([header, *kept]) + "\n")
    return dst


def digest(r) -> str:
    fills = [(f.ts_ns, str(f.side), f.price, f.qty, f.maker) for f in r.fills]
    what = [fills, r.orders_sent, r.cancels_sent, r.expired, r.stops, r.fees, r.volume, r.value, float(r.equity[-1])]
    return hashlib.sha1(repr(what).encode()).hexdigest()[:16]


def curve_at(r, times: np.ndarray) -> np.ndarray:
    """The trace (mid, position, equity, in position) as a step function, read at `times`."""
    i = np.searchsorted(r.ts, times, side="right") - 1
    return np.column_stack([r.mid, r.position, r.equity, r.held])[i]


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip(f"no recordings at {DATA}")
    out = tmp_path_factory.mktemp("slices")
    return {
        name: first_minutes(DATA / folder, out / folder.replace("/", "-"), symbol, minutes)
        for name, (folder, symbol, minutes, _) in {"btc": BTC, "eth": ETH}.items()
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fast_loop_decides_as_the_reference_loop_and_as_before(case, slices, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # converted afresh: the book table from its bare pass
    (folder, symbol, _, market_flags), flags, before = CASES[case]
    # the signal cases were recorded with the model's settings of then (the research's), given here as flags
    research = RESEARCH_FLAGS if "signal" in case else []
    argv = ["--data", str(slices[case[:3]]), "--symbol", symbol, *market_flags, *research, *flags]
    cache: dict = {}
    fast = cli.run_once(*cli.parse(argv), cache)[1]
    reference = cli.run_once(*cli.parse([*argv, "--every-event"]), cache)[1]
    assert (len(fast.fills), fast.orders_sent, digest(fast)) == before
    assert digest(reference) == digest(fast) and reference.fills == fast.fills
    times = np.union1d(fast.ts, reference.ts)
    assert fast.ts[0] == reference.ts[0] and np.array_equal(curve_at(fast, times), curve_at(reference, times))
    assert fast.wakes < reference.wakes
