"""What a backtest found: the fills, the counts of orders and cancels, and the trace of the bot's state at each
step (equity, position, mid, in position, our resting quote), which the report and the plot read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class Fill:
    ts_ns: int  # exchange time of the fill
    side: str
    price: float
    qty: float
    maker: bool


@dataclass
class RunResult:
    fills: list[Fill] = field(default_factory=list)
    orders_sent: int = 0
    cancels_sent: int = 0
    expired: int = 0  # post-only orders that would have crossed
    ts: np.ndarray = field(default_factory=_empty)  # local ns of each decision step with a book
    mid: np.ndarray = field(default_factory=_empty)
    position: np.ndarray = field(default_factory=_empty)
    equity: np.ndarray = field(default_factory=_empty)  # USD relative to the start: balance + position * mid - fees
    held: np.ndarray = field(default_factory=_empty)  # the bot's own in_position() at each step
    resting: np.ndarray = field(default_factory=_empty)  # (BUY price, SELL price) of our order at each step; NaN: none
    fees: float = 0.0
    volume: float = 0.0  # base
    value: float = 0.0  # USD
    steps: int = 0  # wakes at which the inputs had changed
    wakes: int = 0  # times hftbacktest handed control back
    stops: int = 0  # stop-loss orders sent (reduce-only IOC)
    paused: int = 0  # times a loss limit paused the bot
    halted: str = ""  # why a loss limit halted the bot ("" if it never did)
    halted_ns: int | None = None  # when trading ended for it
    estimates: dict = field(default_factory=dict)  # the adaptive or signal model's last estimates
    model: str = ""  # the model's part of the status line at the end
    gaps: dict = field(default_factory=dict)  # wakes.Gaps.summary() of the data
    gap_cancels: int = 0  # orders pulled because the data went stale
