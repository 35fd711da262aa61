"""Why a FAILED run failed, in one line: the first line of its `error.txt` artifact (the trainer's
error, or the reconciler's "trainer process N is gone"), else the trainer log's error line."""

from __future__ import annotations

import tempfile

from hybrid_tui.runs.files import RunFiles
from hybrid_tui.runs.logs import error_line
from hybrid_tui.tracking.records import ERROR_ARTIFACT


def failure_reason(tracker, run_id: str) -> str | None:
    """The reason, or None where the run left neither an error artifact nor a trainer log."""
    with tempfile.TemporaryDirectory(prefix="hybrid-tui-error-") as into:
        path = tracker.download_artifact(run_id, ERROR_ARTIFACT, into)
        text = path.read_text(encoding="utf-8", errors="replace") if path else ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if first:
        return first
    log = RunFiles.for_run(run_id).log
    return error_line(log) if log.is_file() else None


def failure_hint(run_id: str) -> str:
    """What to do next: resume from the checkpoint (R on Runs) where there is one."""
    checkpoint = RunFiles.for_run(run_id).checkpoint
    if checkpoint.is_dir() and any(checkpoint.iterdir()):
        return "escape, then R on Runs resumes it from its last checkpoint"
    return "fix the cause, then start it again from Compose (n)"
