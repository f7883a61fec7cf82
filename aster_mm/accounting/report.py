"""`market_maker.py report`: a ledger summarised per UTC day and symbol (fills, volume, fees, funding,
rebates, realized PnL, net, net per volume in bp), with a total line. Reads only; never writes the ledger."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

from aster_mm.accounting.ledger import FILL, FUNDING, REWARD, Entry, Totals, read_entries, utc_day
from aster_mm.accounting.pnl import bp_text, usd

HEADER = ("day", "symbol", "fills", "volume", "fees", "funding", "rebates", "realized", "net", "net/volume")


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"since must be a date like 2025-09-29, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="market_maker.py report",
        description="Summarise the ledger per UTC day: fills, volume, fees, funding, market-maker rebates, "
        "realized PnL, net PnL (realized - fees + funding + rebates) and net per unit of volume in basis points.",
    )
    p.add_argument(
        "--ledger",
        action="append",
        type=Path,
        default=None,
        metavar="FILE",
        help="ledger file (repeatable; default: every ledger-*.csv in the working directory "
        "except the --sim and --paper ones)",
    )
    p.add_argument(
        "--since", type=_day, default=None, metavar="DATE", help="first UTC day to show, e.g. 2025-09-29 (default: all)"
    )
    return p


def daily(entries: list[Entry], since: str | None = None) -> dict[tuple[str, str], Totals]:
    """Totals per (UTC day, symbol), days from `since` on, in order."""
    out: dict[tuple[str, str], Totals] = {}
    for e in sorted((e for e in entries if e.kind in (FILL, FUNDING, REWARD)), key=lambda e: e.time_ms):
        day = utc_day(e.time_ms)
        if since is None or day >= since:
            out.setdefault((day, e.symbol), Totals()).add(e)
    return out


def table(days: dict[tuple[str, str], Totals]) -> str:
    total = Totals()
    rows = []
    for (day, symbol), t in days.items():
        rows.append(_cells(day, symbol, t))
        for name in ("fills", "volume", "fees", "funding", "rebates", "realized"):
            setattr(total, name, getattr(total, name) + getattr(t, name))
    rows.append(_cells("total", "", total))
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [HEADER, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _cells(day: str, symbol: str, t: Totals) -> tuple[str, ...]:
    return (
        day,
        symbol,
        str(t.fills),
        usd(t.volume),
        usd(t.fees),
        usd(t.funding),
        usd(t.rebates),
        usd(t.realized),
        usd(t.net),
        bp_text(t.bp_of(t.net)),
    )


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = args.ledger or sorted(p for p in Path.cwd().glob("ledger-*.csv") if not p.stem.endswith(("-sim", "-paper")))
    if not paths:
        parser.error("no ledger-*.csv in the working directory: give --ledger FILE")
    entries = []
    for path in paths:
        try:
            entries += read_entries(path)
        except FileNotFoundError:
            parser.error(f"ledger {str(path)!r} does not exist")
        except (OSError, ValueError, UnicodeDecodeError) as err:
            parser.error(f"cannot read the ledger: {err}")
    days = daily(entries, args.since)
    others = sorted({a for t in days.values() for a in t.other_fees})
    print(table(days))
    if others:
        print(f"(fees paid in {', '.join(others)} are not in the fees column)")
    print(
        f"as of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; net = realized - fees + funding + rebates "
        "(open positions not included; a rebate paid on the fill is in fees)"
    )
    return 0
