"""`Last`: a pure function's last answer, kept while its arguments stay equal.

The decisions are asked again whenever one of their inputs moved (a book, a response, the clock), and most of
their parts read inputs that did not: those parts answer from here instead of recomputing the same Decimals.
Only for pure functions (equal arguments, equal answer), called with positional arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")


class Last(Generic[R]):
    __slots__ = ("fn", "_args", "_answer")

    def __init__(self, fn: Callable[..., R]) -> None:
        self.fn = fn
        self._args: tuple[object, ...] | None = None
        self._answer: R | None = None

    def __call__(self, *args: object) -> R:
        if args != self._args:
            self._answer, self._args = self.fn(*args), args
        return self._answer  # type: ignore[return-value]  # set by the call that stored _args
