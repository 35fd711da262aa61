"""How a figure is written, everywhere it is shown: mAP and recall × 100 with one decimal, ranks
in positions, differences signed, a missing value as `—`. One unit for the CLI, the app, the
model card and the artifacts."""

from __future__ import annotations

import math
from collections.abc import Iterable

MISSING = "—"


def score_text(value: float | None, is_delta: bool, rank: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    if rank:
        shown = round(value, 1 if abs(value) < 100 else 0) + 0.0
        digits = 1 if abs(value) < 100 else 0
    else:
        shown, digits = round(value * 100, 1) + 0.0, 1
    return f"{shown:+.{digits}f}" if is_delta else f"{shown:.{digits}f}"


def mean(values: Iterable[float]) -> float | None:
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else None
