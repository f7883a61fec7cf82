"""The simulator's clock and its journal: what it received and sent, and waiting for a change.

Every REST request (journaled on arrival, answered later) and every stream event goes into one list,
newest last; each change wakes whoever waits in `wait_for`, so tests wait on conditions, not sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, TextIO

ORDER_PATHS = ("/fapi/v1/order", "/fapi/v1/batchOrders", "/fapi/v1/allOpenOrders")


class Clock:
    """Wall time from `source` (time.time or a fake), plus an adjustable offset for server timestamps."""

    def __init__(self, source: Callable[[], float] = time.time):
        self.source = source
        self.offset = 0.0

    def __call__(self) -> float:
        return self.source()

    def now_ms(self) -> int:
        return int((self.source() + self.offset) * 1000)


class JsonLines:
    """Writes each answered request as one JSON line (`--journal FILE`): time, method, path, parameters as
    received, HTTP status and the answer's body. Decimals and the like are written as strings."""

    def __init__(self, path: str):
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, entry: dict) -> None:
        self._file.write(json.dumps(entry, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Journal:
    def __init__(self, clock: Clock, limit: int | None = None, sink: Callable[[dict], None] | None = None):
        self.entries: list[dict] = []
        self._clock = clock
        self._limit = limit  # keep about this many newest entries (None: all, for tests)
        self._changed = asyncio.Event()
        self.sink = sink  # called with each request once answered (JsonLines)

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def answered(self, entry: dict) -> None:
        """A request's entry got its answer."""
        self.notify()
        if self.sink is not None:
            self.sink(entry)

    def log(self, entry: dict) -> None:
        self.entries.append(entry if "t" in entry else {"t": self._clock(), **entry})
        if self._limit and len(self.entries) > 2 * self._limit:
            del self.entries[: -self._limit]
        self.notify()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, poll: float = 0.02) -> Any:
        """Until `predicate()` is true: re-checked on every simulator event, and every `poll` seconds for
        conditions on state the simulator does not see (the bot's own)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, poll))
            except TimeoutError:
                pass
        return result

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        """Requests by method and path; a V1 path also matches the V3 path of the same endpoint."""
        return [
            e
            for e in self.entries
            if e["kind"] == "request"
            and (method is None or e["method"] == method)
            and (path is None or path in (e["path"], e.get("endpoint")))
        ]

    def order_requests(self) -> list[dict]:
        """Placements, cancels and modifications, whichever path family they came on."""
        return [
            e
            for e in self.requests()
            if e["method"] in ("POST", "DELETE", "PUT") and e.get("endpoint", e["path"]) in ORDER_PATHS
        ]
