"""How Live writes its numbers: throughput with the digits that matter (a CPU run makes well
under one pair a second, a GPU run thousands), whole-number step ticks, and axis labels for
small values such as a learning rate (`2.5e-05`, not `0.0000250`)."""

from __future__ import annotations

import math

TICKS = 5  # at most this many ticks on an axis


def rate_text(per_s: float) -> str:
    """A throughput as read at a glance: three significant digits below 100 (`0.64`, `0.052`,
    `12.3`), whole numbers with separators above (`1,685`)."""
    if per_s >= 100:
        return f"{per_s:,.0f}"
    return f"{per_s:.3g}"


def nice_step(span: float, most: int = TICKS) -> float:
    """The smallest 1, 2 or 5 × 10^k that cuts `span` into at most `most - 1` intervals."""
    raw = span / max(most - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def step_ticks(first: float, last: float, most: int = TICKS) -> list[int]:
    """Whole-number ticks for a step axis from `first` to `last` (steps are counted, never
    halved): `1, 2, 3` for three steps, `20, 40, 60` for sixty."""
    low, high = math.ceil(first), math.floor(last)
    if high <= low:
        return [round(first)]
    step = max(1, round(nice_step(high - low, most)))
    start = math.ceil(low / step) * step
    return list(range(start, high + 1, step)) or [low]


def value_ticks(low: float, high: float, most: int = TICKS) -> tuple[list[float], list[str]]:
    """Round ticks between `low` and `high`, and their labels in the fewest significant digits
    that tell them apart (scientific below 1e-4: `2.5e-05`)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low], [f"{low:.3g}"]
    step = nice_step(high - low, most)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)  # float noise
    ticks = [k * step for k in range(first, last + 1)]
    for digits in range(2, 8):
        labels = [f"{tick:.{digits}g}" for tick in ticks]
        if len(set(labels)) == len(labels):
            break
    return ticks, labels
