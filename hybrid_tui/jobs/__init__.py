"""Training processes: started (they outlive the terminal and the app), found, cancelled, and
reconciled when they die, each by one module:

- `launch`: `start_trainer`, the one function every trainer start goes through;
- `record`: the one record of each process (`job.json`, or the queue's row for a queued one);
- `process`: the one liveness check (psutil) and `cancel`;
- `reconcile`: the one reconciler (a dead trainer's run is marked FAILED);
- `busy`: which devices live trainers hold; `logs`: a trainer's log tail and error line.

The names callers use are re-exported here; no function shares a submodule's name.
"""

from __future__ import annotations

from hybrid_tui.jobs.launch import (
    LAUNCH_TIMEOUT_S,
    Spawned,
    TrainerStart,
    announced_run_id,
    launch_detached,
    launch_files,
    run_attached,
    start_detached,
    start_trainer,
)
from hybrid_tui.jobs.process import cancel, is_alive, trainer_of
from hybrid_tui.jobs.reconcile import reconcile_runs, trainer_gone
from hybrid_tui.jobs.record import Job, full_run_id, job_for
from hybrid_tui.runs.logs import error_line, tail

__all__ = [
    "LAUNCH_TIMEOUT_S",
    "Job",
    "Spawned",
    "TrainerStart",
    "announced_run_id",
    "cancel",
    "error_line",
    "full_run_id",
    "is_alive",
    "job_for",
    "launch_detached",
    "launch_files",
    "reconcile_runs",
    "run_attached",
    "start_detached",
    "start_trainer",
    "tail",
    "trainer_gone",
    "trainer_of",
]
