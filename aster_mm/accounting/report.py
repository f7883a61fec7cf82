"""`market_maker.py report`: a ledger summarised per UTC day and symbol (fills, volume, fees, funding,
rebates, realized PnL, net, net per volume in bp), with a total line. Reads only; never writes the ledger."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

from aster_mm.accounting.ledger import FILL, FUNDING, REWARD, Entry, Totals, read_entries, utc_day
from aster_mm.accounting.pnl import bp_text, usd

HEADER = ("day", "symbol", "fills", "volume", "fees", "funding", "rebates", "realized", "net", "net/volume")
# The kinds of ledger the bot writes, by the end of their name; simulated fills never add up with real ones.
KINDS = {"": "", "-paper": " (--paper: simulated fills on real prices)", "-sim": " (--sim: simulated fills)"}


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
        help="ledger file (repeatable) (default: every ledger-*.csv in the working directory; those of --sim "
        "and --paper runs in tables of their own)",
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


def found_ledgers(folder: Path) -> list[list[Path]]:
    """The ledger-*.csv files in `folder`, the real ones first, then those of --paper and of --sim runs."""
    kinds: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for path in sorted(folder.glob("ledger-*.csv")):
        kinds[next((k for k in KINDS if k and path.stem.endswith(k)), "")].append(path)
    return [paths for paths in kinds.values() if paths]


def read(paths: list[Path], parser: argparse.ArgumentParser) -> list[Entry]:
    entries = []
    for path in paths:
        try:
            entries += read_entries(path)
        except FileNotFoundError:
            parser.error(f"ledger {str(path)!r} does not exist")
        except (OSError, ValueError, UnicodeDecodeError) as err:
            parser.error(f"cannot read the ledger: {err}")
    return entries


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    groups = [args.ledger] if args.ledger else found_ledgers(Path())
    if not groups:
        parser.error(
            f"no ledger-*.csv in {Path.cwd()}: the bot writes ledger-<SYMBOL>.csv beside its log file "
            "(--ledger); run the report there, or give --ledger FILE"
        )
    for number, paths in enumerate(groups):
        days = daily(read(paths, parser), args.since)
        others = sorted({a for t in days.values() for a in t.other_fees})
        print(("\n" if number else "") + table(days))
        if others:
            print(f"(fees paid in {', '.join(others)} are not in the fees column)")
        kind = next((KINDS[k] for k in KINDS if k and paths[0].stem.endswith(k)), "")
        print(f"read {', '.join(str(p) for p in paths)}{kind}")
    print(
        f"as of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; net = realized - fees + funding + rebates "
        "(open positions not included; a rebate paid on the fill is in fees)"
    )
    return 0
