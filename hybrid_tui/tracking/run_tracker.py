"""`RunTracker`: what code that records a run may call. The trainer, the study's baseline and the
evaluation write through it; rank 0 holds a `Tracker`, the other torchrun ranks a `NullTracker`,
and both satisfy it (a test compares the signatures), so a call one of them lacks is a type error
rather than a crash on rank 1 an hour into a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunTracker(Protocol):
    """The run-recording methods (`RUN_WRITES`), with `Tracker`'s signatures."""

    def start_run(
        self,
        experiment: str | None = ...,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str | None: ...

    def resume_run(self, run_id: str) -> None: ...

    def end_run(self, run_id: str, status: str = "FINISHED") -> None: ...

    def mark_failed(self, run_id: str) -> bool: ...

    def log_params(self, run_id: str, params: dict[str, Any]) -> None: ...

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None: ...

    def flush(self) -> None: ...

    def log_text(self, run_id: str, text: str, path: str) -> None: ...

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None: ...

    def log_artifacts(self, run_id: str, folder: str | Path, artifact_path: str) -> None: ...
