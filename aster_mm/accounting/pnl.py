"""The session's PnL: what the ledger recorded since the bot started, plus the open position marked to
market, as figures rounded for people (the symbol's tick for prices, step for quantities, cents for USD).

Net = realized - fees + funding + rebates + (unrealized now - unrealized at start): a position adopted at
start counts only for what it gained or lost during the session. A fill's commission paid in an asset other
than USDT or USDF cannot be counted in USD: its fee is estimated from the fill's notional at the account's
commission rate (`FeeRates`, read at start). The loss limits read `PnL.net` from here and the UTC day's net
from the ledger (`Ledger.day`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aster_mm.accounting.ledger import FILL, ZERO, Entry, Totals
from aster_mm.core.events import STABLE_ASSETS
from aster_mm.core.position import unrealized_pnl  # noqa: F401  (part of this module's API)
from aster_mm.core.state import FeeRates

CENT = Decimal("0.01")
BASE_TIER = FeeRates()


@dataclass(frozen=True)
class PnL:
    """One look at the session's figures, unrounded."""

    position: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized: Decimal
    realized: Decimal
    fees: Decimal
    funding: Decimal
    rebates: Decimal
    net: Decimal
    volume: Decimal
    fills: int

    @property
    def bp(self) -> Decimal | None:
        """Net PnL per unit of volume, in basis points."""
        return self.net / self.volume * 10_000 if self.volume else None


class SessionPnL:
    """Totals of the ledger entries dated from `start_ms` on (feed it with `add`)."""

    def __init__(self, start_ms: int = 0):
        self.start_ms = start_ms
        self.totals = Totals()
        self.unrealized_at_start = ZERO
        self.foreign_fees: list[tuple[Decimal, bool]] = []  # (notional, maker) of fills paid in another asset

    def add(self, entry: Entry) -> None:
        if entry.time_ms >= self.start_ms:
            self.totals.add(entry)
            if entry.kind == FILL and entry.commission and entry.commission_asset not in STABLE_ASSETS:
                self.foreign_fees.append((entry.notional, entry.maker is not False))

    def figures(
        self,
        position: Decimal,
        entry: Decimal | None,
        mark: Decimal | None,
        reported_unrealized: Decimal | None = None,
        rates: FeeRates = BASE_TIER,
    ) -> PnL:
        t = self.totals
        upnl = unrealized_pnl(position, entry, mark, reported_unrealized)
        estimated = sum((n * (rates.maker if maker else rates.taker) for n, maker in self.foreign_fees), ZERO)
        fees = t.fees + estimated
        net = t.realized - fees + t.funding + t.rebates + upnl - self.unrealized_at_start
        return PnL(position, entry, mark, upnl, t.realized, fees, t.funding, t.rebates, net, t.volume, t.fills)


def usd(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_EVEN))


def to_unit(value: Decimal, unit: Decimal | None) -> str:
    return str(value.quantize(unit, ROUND_HALF_EVEN)) if unit else str(value.normalize())


def bp_text(bp: Decimal | None) -> str:
    return "-" if bp is None else f"{bp.quantize(Decimal('0.1'), ROUND_HALF_EVEN)}bp"


def pnl_text(p: PnL, tick: Decimal | None, step: Decimal | None) -> str:
    """`position=0.800@2485.00 upnl=12.00 realized=0.00 fees=0.20 funding=-0.02 rebates=0.00 net=11.78
    volume=1988.00 net/volume=59.3bp fills=1`: the part of the status line and of the session summary about
    money."""
    entry = f"@{to_unit(p.entry_price, tick)}" if p.position and p.entry_price else ""
    return (
        f"position={to_unit(p.position, step)}{entry} upnl={usd(p.unrealized)} realized={usd(p.realized)} "
        f"fees={usd(p.fees)} funding={usd(p.funding)} rebates={usd(p.rebates)} net={usd(p.net)} volume={usd(p.volume)} "
        f"net/volume={bp_text(p.bp)} fills={p.fills}"
    )
