"""The one record of a trainer process, read back: which pid (with its start ticks, so a reused
pid is not mistaken for it) trains a run, and where its log is.

One record per process:
- a trainer started directly (`train`, `--detach`, Compose, resume, the study, the demo) writes
  its own pid to `<state>/runs/<run_id>/job.json`;
- a trainer the queue started has its pid in its `queue.db` row, written by the scheduler before
  the run exists (crash safety needs it then); its `job.json` names the row (`queue_job`) and
  holds no pid of its own, so the two can never disagree about whether it lives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.runs.files import RunFiles, local_run_id


@dataclass(frozen=True)
class Job:
    """A run's trainer process: `queue_job` (`<job id>:<token>`) when the queue started it."""

    run_id: str
    pid: int
    start_ticks: int | None
    log_path: Path
    queue_job: str | None = None


def job_for(run_id: str) -> Job | None:
    """The run's trainer record; None without one (or with one that names no pid)."""
    files = RunFiles.for_run(run_id)
    try:
        record = json.loads(files.job.read_text(encoding="utf-8"))
        log = Path(record.get("log") or files.log)
        if record.get("queue_job"):
            return _queued(run_id, str(record["queue_job"]), log)
        pid = int(record["pid"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # JSONDecodeError is a ValueError
    ticks = record.get("start_ticks")
    return Job(run_id, pid, ticks if isinstance(ticks, int) else None, log)


def _queued(run_id: str, queue_job: str, log: Path) -> Job | None:
    """The pid of a queued trainer: its job's row (`queue_job` is `<job id>:<token>`)."""
    job_id, _, token = queue_job.partition(":")
    try:
        row = JobStore().get(job_id)
    except HybridTuiError:
        return None
    if row.pid is None or row.token != token:
        return None
    return Job(run_id, row.pid, row.start_ticks, log, queue_job)


def full_run_id(text: str, tracker) -> str:
    """The whole run id that `text` names, so a prefix from `hybrid-tui runs` finds its trainer:
    the run with local files on this machine that `text` names (its run may live in another
    store), else the tracker's `resolve_run_id` (one line for unknown or ambiguous)."""
    try:
        return local_run_id(text)
    except HybridTuiError:
        return tracker.resolve_run_id(text)
