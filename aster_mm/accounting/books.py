"""The bot's books: the ledger file, the session's PnL and the income reconciliation, wired to the
stream events (fills, funding) and to what the status line and the session summary show. Each run marks
its start in the ledger, so that a run killed before its first reconciliation is still covered by the next."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

from aster_mm.accounting.income import IncomeSync
from aster_mm.accounting.ledger import RUN, START, Entry, Ledger, fill_entry, funding_entries, utc_day
from aster_mm.accounting.pnl import PnL, SessionPnL, pnl_text
from aster_mm.core.config import Config, Timings
from aster_mm.core.errors import FatalError
from aster_mm.core.events import AccountUpdate, OrderReport
from aster_mm.core.rules import SymbolRules
from aster_mm.core.state import StrategyState
from aster_mm.exchange.client import AsterClient

log = logging.getLogger("ledger")


def ledger_path(config: Config) -> Path:
    """--ledger, else `ledger-<SYMBOL>.csv` beside the log file (`-sim` added with --sim, `-paper` with
    --paper: simulated fills must never go into the real ledger)."""
    if config.ledger:
        return Path(config.ledger)
    return Path(config.log_file).parent / f"ledger-{config.symbol}{'-' + config.mode if config.mode else ''}.csv"


class Books:
    def __init__(self, client: AsterClient, config: Config, state: StrategyState, timings: Timings, run: str = ""):
        """`run`: the client-id prefix of this run's orders, which names the run in the ledger."""
        self.client, self.symbol, self.state, self.run = client, config.symbol, state, run
        self.session = SessionPnL()
        self.ledger = Ledger(ledger_path(config), self._on_entry)
        self.income = IncomeSync(
            client,
            self.symbol,
            self.ledger,
            timings.income_every,
            timings.income_lag,
            lambda: self.session.start_ms,
            run,
        )

    def open(self) -> None:
        """Read the ledger back and open it for appending; FatalError when it cannot be used."""
        try:
            self.ledger.open()
        except (OSError, ValueError) as err:
            raise FatalError(f"cannot use the ledger {self.ledger.path}: {err}") from None
        log.info(
            "ledger %s: %d fills, %d funding payments known",
            self.ledger.path,
            len(self.ledger.trade_ids),
            len(self.ledger.tran_ids),
        )

    def start_session(self) -> None:
        """The session starts now (exchange time, after the clock sync and the position read). The adopted
        position's PnL so far is not the session's: its unrealized PnL now is the baseline."""
        self.session.start_ms = int(time.time() * 1000) + self.client.time_offset_ms
        self.session.unrealized_at_start = self.figures().unrealized
        self.ledger.record(Entry(START, self.session.start_ms, self.symbol, RUN, client_id=self.run))

    def _on_entry(self, entry: Entry) -> None:
        self.session.add(entry)

    def on_report(self, report: OrderReport) -> None:
        if report.trade is not None:
            self.ledger.record(fill_entry(report, self.symbol))

    def on_account_update(self, update: AccountUpdate) -> None:
        """A funding payment. A crossed position's FUNDING_FEE event names no symbol: it is ours while we
        hold a position (the bot owns its symbol on the account) and the event names no other symbol."""
        entries = funding_entries(update, self.symbol)
        if not entries:
            return
        if update.other_symbols or (not update.positions and self.state.position.amount == 0):
            log.info(
                "funding payment %s not for %s (flat, or another symbol's): not in its ledger",
                {e.asset: str(e.funding) for e in entries},
                self.symbol,
            )
            return
        for entry in entries:
            if self.ledger.record(entry):
                log.info("funding %s %s", entry.funding, entry.asset)

    def figures(self) -> PnL:
        st = self.state
        return self.session.figures(st.position.amount, st.entry_price, st.mark_price, st.unrealized, st.fees)

    def text(self, rules: SymbolRules | None) -> str:
        return pnl_text(self.figures(), rules.tick if rules else None, rules.step if rules else None)

    def today_net(self) -> Decimal:
        """The UTC day's net PnL from the ledger (realized - fees + funding), without the open position."""
        return self.ledger.day(utc_day(int(time.time() * 1000) + self.client.time_offset_ms)).net

    def close(self) -> None:
        self.ledger.close()
