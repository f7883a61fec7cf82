"""A backtest's figures: PnL, volume, risk, markouts; as a table, a JSON-ready dict, and a PNG.

Equity is hftbacktest's: cash balance + position * mid - fees, in USD from a start of 0, with any
position left at the end marked to the last mid. PnL per volume (bp) = net PnL / traded USD * 10^4,
the figure that compares settings. A markout is the mid's move h seconds after a fill, from the mid
at the fill, in bp of that mid, signed by the fill's side (+ for a buy): negative means the market
moved against the fill (adverse selection).

Fees as they are: every report gives the net at Aster's base tier and at its market-maker tier MM1 side by side
(`FEE_TIERS`). The fills do not depend on the fee rates, so the other tier's net is the run's gross PnL less
each fill's notional times that tier's maker or taker rate, from the fill list, rather than a second run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from aster_mm.backtest.bot import Side
from aster_mm.backtest.convert import MarketData
from aster_mm.backtest.runner import Fill, RunResult

MARKOUT_HORIZONS_S = (1, 10, 60)
NS = 1_000_000_000
# (maker, taker) fee rates: Aster's base tier and market-maker tier 1 (a maker rebate)
FEE_TIERS = {"base": (0.0001, 0.00035), "mm1": (-0.000015, 0.00027)}


def mid_at(mid_ts: np.ndarray, mid: np.ndarray, t_ns) -> np.ndarray:
    """The last recorded mid at or before each time (NaN before the first)."""
    i = np.searchsorted(mid_ts, np.asarray(t_ns, dtype=np.int64), side="right") - 1
    return np.where(i >= 0, mid[np.clip(i, 0, None)], np.nan)


def markouts(fills: list[Fill], mid_ts: np.ndarray, mid: np.ndarray) -> dict[str, dict]:
    """Mean signed mid move after the fills, per horizon; fills too close to the data's end are left out."""
    out = {}
    if not fills or len(mid_ts) == 0:
        return {f"{h}s": {"mean_bp": None, "n": 0} for h in MARKOUT_HORIZONS_S}
    t = np.array([f.ts_ns for f in fills], dtype=np.int64)
    sign = np.array([1.0 if f.side == Side.BUY else -1.0 for f in fills])
    m0 = mid_at(mid_ts, mid, t)
    for h in MARKOUT_HORIZONS_S:
        later = t + h * NS
        ok = (later <= mid_ts[-1]) & ~np.isnan(m0)
        move = sign[ok] * (mid_at(mid_ts, mid, later[ok]) - m0[ok]) / m0[ok] * 1e4
        out[f"{h}s"] = {"mean_bp": float(move.mean()) if ok.any() else None, "n": int(ok.sum())}
    return out


def fee_tiers(fills: list[Fill], run_fees: float, net: float, volume_usd: float) -> dict[str, dict]:
    """Net PnL and PnL per volume under each of FEE_TIERS: the run's gross (its net plus the fees it paid)
    less each fill's notional times the tier's maker or taker rate."""
    maker_usd = sum(f.price * f.qty for f in fills if f.maker)
    taker_usd = sum(f.price * f.qty for f in fills if not f.maker)
    out = {}
    for tier, (maker, taker) in FEE_TIERS.items():
        fees = maker_usd * maker + taker_usd * taker
        tier_net = net + run_fees - fees
        out[tier] = {
            "maker_fee": maker,
            "taker_fee": taker,
            "fees_usd": fees,
            "net_pnl_usd": tier_net,
            "pnl_per_volume_bp": tier_net / volume_usd * 1e4 if volume_usd > 0 else None,
        }
    return out


def max_drawdown(equity: np.ndarray) -> float:
    if len(equity) == 0:
        return 0.0
    curve = np.concatenate(([0.0], equity))
    return float(np.max(np.maximum.accumulate(curve) - curve))


def time_in_position(ts: np.ndarray, held: np.ndarray) -> float:
    """Time-weighted share of the steps at which the bot's own `in_position` said it held a position."""
    if len(ts) < 2:
        return 0.0
    dur = np.diff(ts).astype(np.float64)
    return float((dur * held[:-1]).sum() / dur.sum()) if dur.sum() > 0 else 0.0


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).isoformat(timespec="seconds")


def summarize(r: RunResult, market: MarketData) -> dict:
    data_start, data_end = market.start_ns, market.end_ns
    span_s = (data_end - data_start) / NS
    maker = sum(1 for f in r.fills if f.maker)
    net = float(r.equity[-1]) if len(r.equity) else 0.0
    notional = np.abs(r.position * r.mid)
    return {
        "data_start": _iso(data_start),
        "data_end": _iso(data_end),
        "span_s": round(span_s, 3),
        "book_snapshots": market.n_snapshots,
        "trades": market.n_trades,
        "orders_sent": r.orders_sent,
        "cancels_sent": r.cancels_sent,
        "post_only_expired": r.expired,
        "fills": len(r.fills),
        "maker_fills": maker,
        "taker_fills": len(r.fills) - maker,
        "volume_base": r.volume,
        "volume_usd": r.value,
        "fees_usd": r.fees,
        "net_pnl_usd": net,
        "pnl_per_volume_bp": net / r.value * 1e4 if r.value > 0 else None,
        "fee_tiers": fee_tiers(r.fills, r.fees, net, r.value),
        "max_drawdown_usd": max_drawdown(r.equity),
        "max_position_notional_usd": float(notional.max()) if len(notional) else 0.0,
        "final_position": float(r.position[-1]) if len(r.position) else 0.0,
        "time_in_position": time_in_position(r.ts, r.held),
        "fills_per_hour": len(r.fills) / (span_s / 3600) if span_s > 0 else 0.0,
        "markouts": markouts(r.fills, market.mid_ts, market.mid),
        "stop_orders": r.stops,
        "loss_limit_pauses": r.paused,
        "halted": r.halted or None,
        "halted_at": _iso(r.halted_ns) if r.halted_ns is not None else None,
        "adaptive_estimates": r.estimates or None,  # the adaptive or signal model's, as the status line has them
        "model_state": r.model or None,
        "data_folders": len(market.days),
        "gaps": _gaps(r.gaps),
        "gap_cancels": r.gap_cancels,
    }


def _gaps(gaps: dict) -> dict:
    """wakes.Gaps.summary() with the longest gap's start as a UTC time."""
    out = {k: v for k, v in gaps.items() if k != "longest_at_ns"}
    at = gaps.get("longest_at_ns")
    return out | {"longest_at": _iso(at) if at is not None else None}


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(m: dict) -> str:
    rows = [
        (
            "data",
            f"{m['data_start']} .. {m['data_end']} ({m['span_s']:.0f} s, "
            f"{m['book_snapshots']} book snapshots, {m['trades']} trades)",
        ),
        (
            "orders sent / cancels / post-only expired",
            f"{m['orders_sent']} / {m['cancels_sent']} / {m['post_only_expired']}",
        ),
        ("fills (maker / taker)", f"{m['fills']} ({m['maker_fills']} / {m['taker_fills']})"),
        ("traded volume", f"{_fmt(m['volume_base'])} base, {_fmt(m['volume_usd'], 2)} USD"),
        ("fees", f"{_fmt(m['fees_usd'])} USD"),
        ("net PnL after fees", f"{_fmt(m['net_pnl_usd'])} USD"),
        ("PnL per volume", f"{_fmt(m['pnl_per_volume_bp'], 2)} bp"),
        *_tier_rows(m["fee_tiers"]),
        ("max drawdown", f"{_fmt(m['max_drawdown_usd'])} USD"),
        ("max position notional", f"{_fmt(m['max_position_notional_usd'], 2)} USD"),
        ("position at end (marked to mid)", _fmt(m["final_position"])),
        ("time in position", f"{m['time_in_position'] * 100:.1f} %"),
        ("fills per hour", _fmt(m["fills_per_hour"], 1)),
    ]
    for h, mk in m["markouts"].items():
        rows.append((f"markout {h} (mean, n)", f"{_fmt(mk['mean_bp'], 2)} bp, n={mk['n']}"))
    if m["stop_orders"]:
        rows.append(("stop-loss orders", str(m["stop_orders"])))
    if m["loss_limit_pauses"]:
        rows.append(("loss-limit pauses", str(m["loss_limit_pauses"])))
    if m["halted"]:
        rows.append(("halted (trading ended)", f"{m['halted_at']}: {m['halted']}"))
    gaps = m["gaps"]
    if gaps["count"]:
        rows.append(
            (
                f"gaps (no book row nor trade > {gaps['threshold_s']:g} s)",
                f"{gaps['count']}, {gaps['total_s']:.0f} s in all, longest {gaps['longest_s']:.0f} s at "
                f"{gaps['longest_at']}; orders pulled in them: {m['gap_cancels']}",
            )
        )
    if m.get("model_state"):
        rows.append(("spread model at the end", m["model_state"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _tier_rows(tiers: dict[str, dict]) -> list[tuple[str, str]]:
    base, mm1 = tiers["base"], tiers["mm1"]
    return [
        ("net PnL at base / MM1 fees", f"{_fmt(base['net_pnl_usd'])} / {_fmt(mm1['net_pnl_usd'])} USD"),
        ("PnL per volume base / MM1", f"{_fmt(base['pnl_per_volume_bp'], 2)} / {_fmt(mm1['pnl_per_volume_bp'], 2)} bp"),
    ]


def plot(r: RunResult, market: MarketData, path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig = figure(r, market, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure(r: RunResult, market: MarketData, title: str):
    """Equity, position, and the mid with our resting quotes and fills, over the whole data: the time axis
    runs from the data's first event to its last (the bot's steps start at the first book with both sides)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def since(ns):  # seconds since the data's first event (the trace's local times are a feed latency later)
        return (np.asarray(ns) - market.start_ns) / NS

    t = since(r.ts)
    fig, (ax_eq, ax_pos, ax_mid) = plt.subplots(3, 1, sharex=True, figsize=(10, 7))
    ax_eq.step(t, r.equity, where="post")  # the trace holds only the steps where it changed
    ax_eq.set_ylabel("equity (USD)")
    ax_pos.step(t, r.position, where="post")
    ax_pos.set_ylabel("position")
    ax_mid.step(since(market.mid_ts), market.mid, where="post", lw=0.8, color="grey", label="mid")
    for column, (side, marker, color) in enumerate(((Side.BUY, "^", "green"), (Side.SELL, "v", "red"))):
        if len(r.resting) and not np.isnan(r.resting[:, column]).all():
            ax_mid.step(t, r.resting[:, column], where="post", lw=0.8, color=color, label=f"our {side} quote")
        pts = [(since(f.ts_ns), f.price) for f in r.fills if f.side == side]
        if pts:
            ax_mid.scatter(*zip(*pts), marker=marker, color=color, label=f"{side} fill", zorder=3)
    ax_mid.legend(loc="best")
    ax_mid.set_ylabel("price")
    ax_mid.set_xlabel("seconds since the data's first event")
    ax_mid.set_xlim(0, (market.end_ns - market.start_ns) / NS)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
