"""`NullTracker`: what a non-main torchrun rank tracks with. Rank 0 records the run; the others
call the same write methods, which do nothing here.

Explicit methods, not `__getattr__`: a misspelled call (`log_metric`) raises `AttributeError` on
every rank instead of being silently swallowed. The methods are exactly `RUN_WRITES`, with
`Tracker`'s signatures (a test keeps the two in step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybrid_tui.tracking.tracker import DEFAULT_EXPERIMENT


class NullTracker:
    """`Tracker`'s run-recording methods, each doing nothing; there are no reads."""

    def start_run(
        self,
        experiment: str | None = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """No run is created: a non-main rank learns rank 0's run id by broadcast."""
        return None

    def resume_run(self, run_id: str) -> None:
        return None

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        return None

    def mark_failed(self, run_id: str) -> bool:
        """Rank 0 marks the run; here there is nothing to mark."""
        return True

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        return None

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        return None

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        return None

    def flush(self) -> None:
        return None

    def log_text(self, run_id: str, text: str, path: str) -> None:
        return None

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None:
        return None

    def log_artifacts(self, run_id: str, folder: str | Path, artifact_path: str) -> None:
        return None
