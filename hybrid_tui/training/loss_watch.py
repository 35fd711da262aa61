"""Warnings about a loss that says training is not happening: NaN/inf, or a loss stuck at
ln(batch size), the InfoNCE loss of an encoder that scores every in-batch candidate alike (a
collapsed model, typically from a far too high learning rate). Pure: the loop feeds it losses
and writes what it returns to the log and the event stream."""

from __future__ import annotations

import math
from collections import deque

WARMUP_STEPS = 10  # the flat-loss check starts after this many steps (or the LR warm-up)
WINDOW = 10  # ... and looks at this many recent losses
TOLERANCE = 0.02  # nats: "has not moved" means within this of ln(batch) for the whole window


def flat_loss_level(batch_size: int) -> float:
    """The loss when every candidate scores the same: ln(candidates per query), and every query
    sees the whole (global, gathered) batch."""
    return math.log(batch_size)


def loss_problem(
    step: int,
    loss: float,
    recent: list[float],
    batch_size: int,
    warmup: int = WARMUP_STEPS,
    tolerance: float = TOLERANCE,
) -> str | None:
    """What is wrong with this step's loss, as one line, or None. `recent` holds the latest
    losses including this one (at least `WINDOW` for the flat check)."""
    if not math.isfinite(loss):
        return f"loss is {loss} at step {step}: training diverged (lower train.lr?)"
    level = flat_loss_level(batch_size)
    if step >= warmup and len(recent) >= WINDOW:
        if all(abs(value - level) <= tolerance for value in recent[-WINDOW:]):
            return (
                f"loss {loss:.4f} has not moved from ln({batch_size}) = {level:.4f} "
                f"after {step} steps: the model scores every candidate alike (lower train.lr?)"
            )
    return None


class LossWatch:
    """Feeds `loss_problem` step by step and returns each kind of warning once."""

    def __init__(self, batch_size: int, warmup: int = WARMUP_STEPS) -> None:
        self.batch_size, self.warmup = batch_size, warmup
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.warned: set[str] = set()

    def check(self, step: int, loss: float) -> str | None:
        self.recent.append(loss)
        problem = loss_problem(step, loss, list(self.recent), self.batch_size, self.warmup)
        if problem is None:
            return None
        kind = "nonfinite" if not math.isfinite(loss) else "flat"
        if kind in self.warned:
            return None
        self.warned.add(kind)
        return problem
