"""The trading table of docs/backtesting.md: the original logic against the bot's defaults, per data set and fee tier.

    python scripts/trading_table.py                 # every data set under ../shared/data, as markdown
    python scripts/trading_table.py --json out.json # also the backtests' figures

Each row is one `backtest.py` run (the bot's own decision code on hftbacktest) with the settings named in its
row and every other option at the bot's default; each fee tier is a run of its own, because the signal model's
breakeven floor reads the account's maker fee (`--maker-fee`), so its MM1 fills are not the base tier's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from aster_mm.backtest.report import FEE_TIERS  # noqa: E402  (base and MM1: the rates every report prices)

BTC_UNITS = ("--tick", "0.01", "--step", "0.0001")  # the data's README: the exchange's increments

# (data set, day folder under the data root, symbol, its role in choosing the defaults, extra backtest flags)
DATA = [
    ("StandX BTC-USD", "standx-btcusd/2026-01-05", "BTCUSD", "in sample (1 h)", BTC_UNITS),
    ("StandX BTC-USD", "standx-btcusd/2026-01-06", "BTCUSD", "in sample", BTC_UNITS),
    ("StandX BTC-USD", "standx-btcusd/2026-01-07", "BTCUSD", "**out of sample**", BTC_UNITS),
    ("Aster 2025-11-28", "aster-2025-11-28", "BNBUSDT", "never used (21 min)", ()),
    ("Aster 2025-11-28", "aster-2025-11-28", "ETHUSDT", "never used (21 min)", ()),
    ("Aster 2025-09-29", "aster-2025-09-29", "BNBUSDT", "never used (10 min)", ()),
    ("Aster 2025-09-29", "aster-2025-09-29", "ASTERUSDT", "never used (10 min)", ()),
]
FIXED = ("--spread-model", "fixed", "--buy-spread")
SETTINGS = [
    ("original 0.6 %", (*FIXED, "0.006", "--sell-spread", "0.006")),
    ("original 0.05 %", (*FIXED, "0.0005", "--sell-spread", "0.0005")),
    ("original 0.02 %", (*FIXED, "0.0002", "--sell-spread", "0.0002")),
    ("**defaults**", ()),
    ("defaults, `--side short`", ("--side", "short")),
]
TIERS = {tier: ("--maker-fee", f"{maker:f}", "--taker-fee", f"{taker:f}") for tier, (maker, taker) in FEE_TIERS.items()}
HEADER = (
    "| data | symbol | role | setting | fills | volume USD/day | bp/vol base | bp/vol MM1 | net USD base "
    "| max DD USD | markout 1/10/60 s bp |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def backtest(data: Path, symbol: str, flags: tuple[str, ...]) -> dict:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "run.json"
        argv = [sys.executable, str(ROOT / "backtest.py"), "--data", str(data), "--symbol", symbol, *flags]
        subprocess.run([*argv, "--json", str(out)], check=True, capture_output=True, cwd=work)
        return json.loads(out.read_text())["metrics"]


def bp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def row(name: str, symbol: str, role: str, setting: str, base: dict, mm1: dict) -> str:
    per_day = base["volume_usd"] / base["span_s"] * 86_400 if base["span_s"] else 0.0
    marks = " / ".join(
        bp(base["markouts"][h]["mean_bp"] if base["markouts"][h]["n"] else None) for h in ("1s", "10s", "60s")
    )
    traded = base["fills"] > 0
    base_bp = bp(base["pnl_per_volume_bp"] if traded else None)
    mm1_bp = bp(mm1["pnl_per_volume_bp"] if mm1["fills"] else None)
    return (
        f"| {name} | {symbol} | {role} | {setting} | {base['fills']} | {per_day:,.0f} | {base_bp} | {mm1_bp} "
        f"| {base['net_pnl_usd']:+.2f} | {base['max_drawdown_usd']:.2f} | {marks if traded else 'n/a'} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data", help="where the data sets are")
    p.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = p.parse_args(argv)
    print(HEADER)
    runs = []
    for name, folder, symbol, role, extra in DATA:
        data = args.data_root / folder
        if not data.is_dir():
            print(f"| {name} | {symbol} | {role} | (no data at {data}) |||||||", flush=True)
            continue
        for setting, flags in SETTINGS:
            tiers = {tier: backtest(data, symbol, (*extra, *flags, *fees)) for tier, fees in TIERS.items()}
            print(row(name, symbol, role, setting, tiers["base"], tiers["mm1"]), flush=True)
            runs.append({"data": folder, "symbol": symbol, "setting": setting, **tiers})
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
