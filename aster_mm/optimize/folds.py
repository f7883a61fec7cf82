"""Walk-forward folds over day folders: train on days 1..k, test on day k+1, then k+1 grows by one day."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fold:
    number: int  # from 1
    train: tuple[Path, ...]
    test: Path

    @property
    def name(self) -> str:
        """e.g. 2026-01-05..2026-01-06->2026-01-07: what a study of this fold is named after."""
        first, last = self.train[0].name, self.train[-1].name
        return f"{first if first == last else f'{first}..{last}'}->{self.test.name}"


def walk_forward(days: list[Path], min_train_days: int = 1, folds: int | None = None) -> list[Fold]:
    """Every fold with at least `min_train_days` of training, the last `folds` of them if given (the latest
    days, with the most training). ValueError when the days cannot make one."""
    if min_train_days < 1:
        raise ValueError("--min-train-days must be at least 1")
    if len(days) < min_train_days + 1:
        raise ValueError(
            f"walk-forward needs at least {min_train_days + 1} day folders (--min-train-days {min_train_days} "
            f"and one to test on); got {len(days)}: {', '.join(d.name for d in days)}"
        )
    if len({d.name for d in days}) != len(days):
        raise ValueError(f"two day folders share a name: {', '.join(d.name for d in days)}")
    made = [Fold(0, tuple(days[:k]), days[k]) for k in range(min_train_days, len(days))]
    chosen = made[-folds:] if folds else made
    return [Fold(i, f.train, f.test) for i, f in enumerate(chosen, 1)]
