"""What every group of REST handlers shares: the engine, the account, the streams, and reading a symbol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .accounts import Accounts
from .engine import Engine
from .wire import mandatory

if TYPE_CHECKING:
    from .streams import Streams


class Resource:
    def __init__(self, engine: Engine, accounts: Accounts, streams: Streams):
        self._engine, self._accounts, self._streams = engine, accounts, streams

    def _now(self) -> int:
        return self._engine.clock.now_ms()

    def _symbol(self, params: dict) -> str:
        """The mandatory `symbol`, known to the exchange (-1121 "Invalid symbol." otherwise)."""
        return self._engine.spec(mandatory(params, "symbol")).symbol

    def _symbols(self, params: dict) -> list[str]:
        """The optional `symbol` as a one-element list, or every symbol when it is not sent."""
        return [self._symbol(params)] if params.get("symbol") else list(self._engine.symbols)
