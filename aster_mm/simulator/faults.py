"""Fault injection, as data the server consults: failing REST answers, exchange downtime, and streams
that are refused or frozen.

A `Fault` answers the next `count` requests to (method, path) with `status` (and `body`, or the
exchange's usual body for that status), optionally after executing the request anyway (`execute`: the
outcome is unknown to the caller) and after a delay (a hanging request).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .wire import DEFAULT_FAULT_BODIES, UNKNOWN_OUTCOME

KINDS = ("market", "user")


@dataclass
class Fault:
    method: str
    path: str
    count: int
    status: int
    body: dict | None
    retry_after: float | None
    execute: bool
    delay: float

    async def answer(self, stopping: asyncio.Event) -> tuple[int, Any, dict]:
        """(status, body, headers) of the faulty answer, after the delay (cut short when the sim stops)."""
        if self.delay:
            try:  # wakes early when the sim stops, so a "hanging" request never blocks shutdown
                await asyncio.wait_for(stopping.wait(), self.delay)
            except TimeoutError:
                pass
        code, msg = DEFAULT_FAULT_BODIES.get(self.status, UNKNOWN_OUTCOME)
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return self.status, self.body if self.body is not None else {"code": code, "msg": msg}, headers


def stream_kinds(kind: str) -> tuple[str, ...]:
    """The stream kinds "market", "user" or "all" names."""
    if kind == "all":
        return KINDS
    if kind not in KINDS:
        raise ValueError(f"kind must be 'market', 'user' or 'all', not {kind!r}")
    return (kind,)


class Faults:
    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self.frozen: set[str] = set()  # stream kinds whose frames are silently dropped
        self.refused: set[str] = set()  # stream kinds whose connections are answered 503
        self._down_until = 0.0  # event-loop time until which the exchange is restarting

    def fail_next(
        self,
        method: str,
        path: str,
        count: int = 1,
        status: int = 503,
        body: dict | None = None,
        retry_after: float | None = None,
        execute: bool = False,
        delay: float = 0.0,
    ) -> None:
        self._pending.append(Fault(method.upper(), path, count, status, body, retry_after, execute, delay))

    def clear(self) -> None:
        self._pending.clear()

    def take(self, method: str, path: str, endpoint: str) -> Fault | None:
        """The fault for this request; a fault set on a V1 path also hits the V3 path of its endpoint."""
        for fault in self._pending:
            if fault.method == method and fault.path in (path, endpoint):
                fault.count -= 1
                if fault.count <= 0:
                    self._pending.remove(fault)
                return fault
        return None

    def go_down(self, seconds: float) -> None:
        self._down_until = asyncio.get_running_loop().time() + seconds

    def is_down(self) -> bool:
        return asyncio.get_running_loop().time() < self._down_until

    def freeze(self, kind: str, frozen: bool) -> None:
        for k in stream_kinds(kind):
            (self.frozen.add if frozen else self.frozen.discard)(k)

    def refuse(self, kind: str, refuse: bool) -> None:
        for k in stream_kinds(kind):
            (self.refused.add if refuse else self.refused.discard)(k)
