"""Messages that workers and widgets post: small dataclasses carrying what was loaded or done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class RunsLoaded(Message):
    """The runs of the tracking store, and the ids of the RUNNING ones whose trainer is gone
    (shown so; `F` on Runs, or `hybrid-tui reconcile`, marks them FAILED). Unless `complete`,
    the runs are the newest of `total` (None: not known yet), the older ones not read yet."""

    runs: list[Any]
    gone: frozenset[str] = frozenset()
    total: int | None = None
    complete: bool = True


@dataclass
class RunDeleted(Message):
    run_id: str


@dataclass
class RunDetailLoaded(Message):
    """A run's params, metrics and tags (`tracking.RunDetail`)."""

    detail: Any


@dataclass
class RunDetailsLoaded(Message):
    """Several runs' details, in the order asked for (the first is the compare base)."""

    details: list[Any]


@dataclass
class SignificanceLoaded(Message):
    """Compare's per-setting tests: `{(other run id, dataset): (tests, why none)}`
    (`study.significance.CellTest` list, or None and the one line saying why)."""

    results: dict[tuple[str, str], tuple[Any, str | None]]


@dataclass
class CurveHistoryLoaded(Message):
    """Points of the loss and LR curves read from the tracking store (no local event file)."""

    run_id: str
    loss: list[tuple[int, float]]
    lr: list[tuple[int, float]]
    status: str | None


@dataclass
class RunLaunched(Message):
    """The trainer started and announced its run id."""

    run_id: str


@dataclass
class MixChanged(Message):
    """The sampler mix as typed: normalised weights and α, or the reason it is invalid."""

    weights: dict[str, float] | None
    alpha: float | None
    label: str
    error: str | None


@dataclass
class GpusFound(Message):
    """GPUs NVML sees (name and memory), empty on CPU-only machines."""

    gpus: list[str]


@dataclass
class QueueLoaded(Message):
    """The queue's jobs (`queue.store.QueueJob`) and its scheduler (None when none runs)."""

    jobs: list[Any]
    scheduler: Any


@dataclass
class JobQueued(Message):
    """Compose added its recipe to the queue as this job."""

    job: Any
    scheduler_running: bool
