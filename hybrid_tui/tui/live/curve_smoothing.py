"""What Live shows beside the raw numbers: TensorBoard's debiased EMA of the loss and a
throughput over a window of recent steps (one step's pairs/s jumps with every batch)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

SMOOTHING_WEIGHTS = (0.0, 0.6, 0.9, 0.99)  # what `s` cycles through on Live; 0 is off
DEFAULT_SMOOTHING = 0.9
THROUGHPUT_WINDOW = 20  # steps


def smooth_ema(values: Iterable[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first points are
    not pulled towards zero (`last / (1 - weight**n)`). A non-finite value is passed through
    and does not enter the average. `weight` 0 returns the values unchanged."""
    out: list[float] = []
    last, count = 0.0, 0
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        debias = 1 - weight**count if weight > 0 else 1.0
        out.append(last / debias)
    return out


def rolling_pairs_per_s(rates: Sequence[float], window: int = THROUGHPUT_WINDOW) -> float | None:
    """Pairs/s over the last `window` steps: the harmonic mean of each step's rate, which is
    total pairs over total time when every step has the same batch size."""
    recent = [rate for rate in list(rates)[-window:] if rate and rate > 0 and math.isfinite(rate)]
    if not recent:
        return None
    return len(recent) / sum(1.0 / rate for rate in recent)
