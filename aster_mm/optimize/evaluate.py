"""One trial's figures: the backtester (the bot's own decisions on hftbacktest) over a set of day folders, and
the objective the search maximises.

Objectives (`--objective`), at the fee tier of `--objective-tier` (base by default):
  net   net PnL after fees per day (USD);
  cost  PnL per unit of volume (bp).
Both hold a volume target, `--min-volume-usd-per-day`: a trial below it is penalised, never dropped, so the
search sees how far it fell short. With the shortfall s = 1 - volume per day / target (0 at or above it) and
P = `--shortfall-penalty-bp`: net loses P bp of the missing volume, P * 1e-4 * target * s USD a day; cost loses
P * s bp. A trial that does not trade scores -P * 1e-4 * target (net) or -P bp (cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aster_mm.backtest import cli

OBJECTIVES = ("net", "cost")
TIERS = ("base", "mm1")


def flag_argv(flags: dict[str, str]) -> list[str]:
    return [x for name, value in flags.items() for x in (f"--{name}", value)]


class Evaluator:
    """Backtests strategy options on day folders; each set of days is converted once (the backtester's cache
    on disk) and kept loaded for later trials."""

    def __init__(self, base_argv: list[str]):
        """`base_argv`: the backtester's own flags and the fixed strategy flags (with --symbol, --config)."""
        self.base_argv = base_argv
        self._markets: dict[tuple[str, ...], dict] = {}

    def run(self, days: tuple[Path, ...], flags: dict[str, str]) -> dict:
        """The report's figures (`figures`) of one backtest of `flags` over `days`, as one market."""
        key = tuple(str(d) for d in days)
        args, cfg = cli.parse(["--data", *key, *self.base_argv, *flag_argv(flags)])
        out, _ = cli.run_once(args, cfg, self._markets.setdefault(key, {}))
        return figures(out["metrics"])


def figures(m: dict) -> dict:
    """What the optimiser reports and stores per trial, from backtest.report.summarize's metrics."""
    days = max(m["span_s"] - m["gaps"]["total_s"], 1.0) / 86400  # the time the data covers, gaps left out
    tiers = m["fee_tiers"]
    return {
        "days": days,
        "fills": m["fills"],
        "volume_usd": m["volume_usd"],
        "volume_usd_per_day": m["volume_usd"] / days,
        **{f"net_{t}_usd": tiers[t]["net_pnl_usd"] for t in TIERS},
        **{f"net_{t}_usd_per_day": tiers[t]["net_pnl_usd"] / days for t in TIERS},
        **{f"bp_{t}": tiers[t]["pnl_per_volume_bp"] for t in TIERS},
        "max_drawdown_usd": m["max_drawdown_usd"],
        **{f"markout_{h}_bp": mk["mean_bp"] for h, mk in m["markouts"].items()},
        "stop_orders": m["stop_orders"],
    }


@dataclass(frozen=True)
class Objective:
    kind: str = "net"
    target_usd_per_day: float = 300_000.0
    penalty_bp: float = 10.0
    tier: str = "base"

    def shortfall(self, fig: dict) -> float:
        if self.target_usd_per_day <= 0:
            return 0.0
        return max(0.0, 1.0 - fig["volume_usd_per_day"] / self.target_usd_per_day)

    def score(self, fig: dict) -> float:
        """The value the search maximises (module docstring)."""
        short = self.shortfall(fig)
        if self.kind == "net":
            return fig[f"net_{self.tier}_usd_per_day"] - self.penalty_bp * 1e-4 * self.target_usd_per_day * short
        return (fig[f"bp_{self.tier}"] or 0.0) - self.penalty_bp * short

    def describe(self) -> str:
        what = "net PnL per day (USD)" if self.kind == "net" else "PnL per volume (bp)"
        return (
            f"{self.kind}: {what} at the {self.tier} fee tier, volume target {self.target_usd_per_day:,.0f} USD/day "
            f"(shortfall penalty {self.penalty_bp:g} bp)"
        )
