"""The ledger: every fill, funding payment and market-maker rebate of the symbol, appended once to a CSV file
that outlives the bot, and the totals (fills, volume, fees, funding, rebates, realized PnL) per UTC day.

Append-only; each row is flushed as it is written. At open the existing file is read back, so an event
replayed by the stream, a REST reconciliation or a restart never adds a row twice: a fill is known by its
trade id, an income-history funding row by its `tranId`, a funding payment seen on the stream (which has
no id) by its time and amount, a rebate by its `tranId` ("trandId is unique in the same incomeType").
`source` says where a row came from: `stream` (the user stream, as it happened), `income` (the exchange's
income history: what happened while the bot was down or a stream event was lost) or `run`.

Two kinds of row are bookkeeping, not money: `start` (a run began: its time and, in `client_id`, the
prefix of its orders' client ids) and `sync` (the income history is in the ledger up to its time, written
by the run `client_id` names). They say where the next reconciliation must start (`reconcile_from`).

Money columns keep the exchange's own figures: `commission` is what a fill cost (a rebate on the fill is
negative) and, on a `reward` row (income type MARKET_MERCHANT_RETURN_REWARD), minus the rebate paid;
`realized_pnl` the PnL a fill realized before commission, `funding` what a funding payment brought
(negative when paid). Net = realized - commission + funding + rebates.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from aster_mm.core.events import STABLE_ASSETS, AccountUpdate, OrderReport

log = logging.getLogger("ledger")

ZERO = Decimal(0)
FILL, FUNDING, REWARD, SYNC, START = "fill", "funding", "reward", "sync", "start"
STREAM, INCOME, RUN = "stream", "income", "run"
FUNDING_MATCH_MS = 60_000  # a stream funding event and its income row: same amount, this close in time
COLUMNS = [
    "time_utc",
    "time_ms",
    "kind",
    "symbol",
    "source",
    "trade_id",
    "tran_id",
    "order_id",
    "client_id",
    "side",
    "price",
    "qty",
    "maker",
    "commission",
    "commission_asset",
    "realized_pnl",
    "funding",
    "asset",
]


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    kind: str  # fill, funding, reward, sync or start
    time_ms: int  # exchange time: trade time, payment time, how far income was read, or when a run began
    symbol: str
    source: str = STREAM
    trade_id: str = ""
    tran_id: str = ""  # the income history's transaction id
    order_id: str = ""
    client_id: str = ""  # of the order; of a start or sync row, the run's client-id prefix
    side: str = ""
    price: Decimal | None = None  # None: a fill known only from the income history
    qty: Decimal | None = None
    maker: bool | None = None
    commission: Decimal = ZERO
    commission_asset: str = ""
    realized_pnl: Decimal = ZERO
    funding: Decimal = ZERO
    asset: str = ""  # the funding asset

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty if self.price is not None and self.qty is not None else ZERO

    def row(self) -> list[str]:
        def text(value) -> str:
            if value is None:
                return ""
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return [utc_text(self.time_ms) if c == "time_utc" else text(values[c]) for c in COLUMNS]

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Entry:
        """The inverse of `row()`. Every column is there; an empty cell is no price, quantity or maker
        flag, or no money (a hand-edited ledger leaves them empty)."""

        def money(name: str) -> Decimal:
            return Decimal(row[name]) if row[name] else ZERO

        def figure(name: str) -> Decimal | None:
            return Decimal(row[name]) if row[name] else None

        maker = row["maker"]
        return cls(
            row["kind"],
            int(row["time_ms"]),
            row["symbol"],
            row["source"],
            row["trade_id"],
            row["tran_id"],
            row["order_id"],
            row["client_id"],
            row["side"],
            figure("price"),
            figure("qty"),
            None if maker == "" else maker == "true",
            money("commission"),
            row["commission_asset"],
            money("realized_pnl"),
            money("funding"),
            row["asset"],
        )


@dataclass
class Totals:
    """What a set of ledger rows adds up to, in USD (commissions and funding in USDT or USDF)."""

    fills: int = 0
    volume: Decimal = ZERO  # traded notional
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    realized: Decimal = ZERO
    rebates: Decimal = ZERO  # market-maker rewards paid as income (a rebate on the fill is in `fees`)
    other_fees: dict[str, Decimal] = field(default_factory=dict)  # commissions in other assets, not in `fees`

    @property
    def net(self) -> Decimal:
        return self.realized - self.fees + self.funding + self.rebates

    def bp_of(self, net: Decimal) -> Decimal | None:
        """`net` per unit of volume in basis points; None without volume."""
        return net / self.volume * 10_000 if self.volume else None

    def add(self, e: Entry) -> None:
        if e.kind == FILL:
            self.fills += 1
            self.volume += e.notional
            self.realized += e.realized_pnl
            if e.commission_asset in STABLE_ASSETS or not e.commission:
                self.fees += e.commission
            else:
                self.other_fees[e.commission_asset] = self.other_fees.get(e.commission_asset, ZERO) + e.commission
        elif e.kind == FUNDING and e.asset in STABLE_ASSETS:
            self.funding += e.funding
        elif e.kind == REWARD and e.commission_asset in STABLE_ASSETS:
            self.rebates -= e.commission


def read_entries(path: Path) -> list[Entry]:
    """Every row of a ledger file; ValueError names the first row that is not a ledger row."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or COLUMNS)]
        if missing:
            raise ValueError(f"{path} is not a ledger: its header lacks {', '.join(missing)}")
        entries = []
        for number, row in enumerate(reader, start=2):
            try:
                entries.append(Entry.from_row(row))
            except (KeyError, ValueError, TypeError, InvalidOperation) as err:
                raise ValueError(f"{path} line {number} is not a ledger row ({err!r})") from None
        return entries


def fill_entry(report: OrderReport, symbol: str) -> Entry:
    t = report.trade
    if t is None:
        raise ValueError(f"the report of {report.client_id} carries no fill")
    return Entry(
        FILL,
        t.at_ms,
        symbol,
        STREAM,
        str(t.trade_id),
        "",
        str(report.order_id),
        report.client_id,
        report.side,
        Decimal(t.price),
        t.qty,
        t.maker,
        t.commission,
        t.commission_asset,
        t.realized,
    )


def funding_entries(update: AccountUpdate, symbol: str) -> list[Entry]:
    """The funding payments of a FUNDING_FEE ACCOUNT_UPDATE (`bc`, the balance change, per asset)."""
    if update.reason != "FUNDING_FEE":
        return []
    return [
        Entry(FUNDING, update.at_ms, symbol, source=STREAM, funding=amount, asset=asset)
        for asset, amount in update.changes.items()
    ]


class Ledger:
    """The CSV file and what it holds. `open()` reads it back; `record()` appends a row once."""

    def __init__(self, path: str | Path, on_entry: Callable[[Entry], None] | None = None):
        self.path = Path(path)
        self.on_entry = on_entry or (lambda entry: None)
        self.days: dict[str, Totals] = {}
        self.trade_ids: set[str] = set()
        self.tran_ids: set[str] = set()  # of funding payments
        self.reward_ids: set[str] = set()  # tranIds of rebates (unique within their income type)
        self.synced_ms: int | None = None  # the income history is in the ledger up to here
        self.first_ms: int | None = None
        self.run_starts: dict[str, int] = {}  # when each run began, by its client-id prefix
        self.unreconciled: dict[str, int] = {}  # the runs no reconciliation has followed yet: their starts
        self.write_failures = 0  # rows that could not be written: a reconciliation must not pass them by
        self._stream_keys: set[tuple] = set()  # (time, amount, asset) of stream funding rows
        self._unpaired_stream: list[Entry] = []  # funding rows from the stream no income row matched yet
        self._unpaired_income: list[Entry] = []  # and from the income history no stream row matched
        self._file: TextIO | None = None

    def open(self) -> None:
        """Read the file back (ValueError names a bad row), then open it for appending."""
        if self.path.exists():
            for entry in read_entries(self.path):
                self._remember(entry)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = file = self.path.open("a", newline="")
        self._writer = csv.writer(file)
        if new:
            self._writer.writerow(COLUMNS)
            file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def day(self, day: str) -> Totals:
        """The totals of a UTC day ("2025-09-29")."""
        return self.days.get(day, Totals())

    def reconcile_from(self, overlap_ms: int = 0) -> int | None:
        """Where the next income reconciliation must start so that no gap is left: the earliest of where the
        last one stopped and the start of every run no reconciliation has followed (a run killed before its
        first one left fills whose stream events it may never have written, and a later run's rows must not
        hide them). A reconciliation starts here, so it covers every run before it: the rows are in the
        order they were written, and a sync row clears the runs above it. A ledger from before start rows
        existed: its last sync, else its first row. `overlap_ms`: so much before the last one's end, too."""
        last = [] if self.synced_ms is None else [self.synced_ms - overlap_ms]
        candidates = [*self.unreconciled.values(), *last]
        return min(candidates) if candidates else self.first_ms

    def known(self, e: Entry) -> bool:
        if e.kind == FILL:
            return e.trade_id in self.trade_ids
        if e.kind == REWARD:
            return e.tran_id in self.reward_ids
        if e.kind == START:
            return e.client_id in self.run_starts
        if e.kind != FUNDING:
            return False
        if e.tran_id:
            return e.tran_id in self.tran_ids or self._pair(e, self._unpaired_stream)
        return (e.time_ms, e.funding, e.asset) in self._stream_keys or self._pair(e, self._unpaired_income)

    def record(self, e: Entry) -> bool:
        """Append `e` unless the ledger has it; True when written. A failed write is logged and left for
        the next income reconciliation to bring back."""
        if self.known(e):
            return False
        try:
            if self._file is None:
                raise ValueError("the ledger is not open")
            self._writer.writerow(e.row())
            self._file.flush()
        except (OSError, ValueError) as err:  # ValueError: the file was closed under us
            self.write_failures += 1
            log.error("could not write to the ledger %s (%s): %s", self.path, err, e)
            return False
        self._remember(e)
        self.on_entry(e)
        return True

    def _remember(self, e: Entry) -> None:
        if e.kind == SYNC:
            self.synced_ms = max(self.synced_ms or 0, e.time_ms)
            self.unreconciled.clear()  # it started no later than any of them (reconcile_from)
            return
        self.first_ms = e.time_ms if self.first_ms is None else min(self.first_ms, e.time_ms)
        if e.kind == START:
            self.run_starts[e.client_id] = self.unreconciled[e.client_id] = e.time_ms
            return
        if e.kind == FILL:
            self.trade_ids.add(e.trade_id)
        elif e.kind == REWARD:
            self.reward_ids.add(e.tran_id)
        elif e.tran_id:
            self.tran_ids.add(e.tran_id)
            if not self._pair(e, self._unpaired_stream):
                self._unpaired_income.append(e)
        else:
            self._stream_keys.add((e.time_ms, e.funding, e.asset))
            if not self._pair(e, self._unpaired_income):
                self._unpaired_stream.append(e)
        self.days.setdefault(utc_day(e.time_ms), Totals()).add(e)

    def _pair(self, e: Entry, candidates: list[Entry]) -> bool:
        """A funding payment seen both on the stream (no id) and in the income history: the same asset and
        amount, close in time. Each row pairs with one other at most."""
        for other in candidates:
            if (
                other.asset == e.asset
                and other.funding == e.funding
                and abs(other.time_ms - e.time_ms) <= FUNDING_MATCH_MS
            ):
                candidates.remove(other)
                if e.tran_id:
                    self.tran_ids.add(e.tran_id)
                else:
                    self._stream_keys.add((e.time_ms, e.funding, e.asset))
                return True
        return False
