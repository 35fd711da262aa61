"""The one reconciler: a run still RUNNING whose trainer is gone (kill -9, OOM, power loss) is
marked FAILED, with the tail of its log as the `error.txt` artifact (`ERROR_ARTIFACT`).

Who marks, and when: `reconcile_runs` for trainers started directly, and the queue's scheduler
for the jobs it started (their rows end with their runs, through `mark_trainer_gone`), on each
pass while it runs; `hybrid-tui reconcile` runs both on demand (the app: `F` on Runs). Nothing
else writes: reading screens and `runs`, `show`, `queue ls` only *show* a run whose trainer is
gone (`trainer_gone`), with the hint to reconcile.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hybrid_tui.jobs.process import another_users, trainer_of
from hybrid_tui.jobs.record import Job, job_for
from hybrid_tui.runs.logs import tail
from hybrid_tui.tracking.records import ERROR_ARTIFACT

GONE = "trainer gone"


def trainer_gone(run_id: str) -> Job | None:
    """The record of the run's trainer when that trainer is gone; None while it lives, when the
    run has no local record (started on another machine), or when the process runs as another
    user (whether it is the trainer cannot be told: left alone). Reads only."""
    job = job_for(run_id)
    if job is None or trainer_of(job) is not None or another_users(job.pid, job.start_ticks):
        return None
    return job


def gone_run_ids(runs) -> set[str]:
    """The ids of the RUNNING runs among `runs` whose trainer is gone. Reads only."""
    return {run.run_id for run in runs if run.status == "RUNNING" and trainer_gone(run.run_id)}


def mark_trainer_gone(tracker, run_id: str, reason: str, log_path: Path | None) -> bool:
    """Mark the run FAILED with `reason` and its log's tail as `error.txt`; False when the store
    cannot be written (the next reconcile retries)."""
    log_tail = (tail(log_path, 60) if log_path else "") or "(no trainer log)"
    with contextlib.suppress(Exception):  # a full disk: the mark matters more than the tail
        tracker.log_text(run_id, f"{reason}\n\n{log_tail}", ERROR_ARTIFACT)
    return bool(tracker.mark_failed(run_id))


def reconcile_runs(tracker) -> list[str]:
    """Mark the RUNNING runs of `tracker` whose direct trainer is gone FAILED; return their ids.

    Only runs with a local record are judged: a run started on another machine is left alone. A
    live process that is not the run's trainer (a reused pid, an edited record) is no trainer.
    A queued trainer's run is left to the queue's pass, which ends its job with it.
    """
    failed = []
    for run in tracker.list_runs(status="RUNNING"):
        job = trainer_gone(run.run_id)
        if job is None or job.queue_job:
            continue
        if mark_trainer_gone(
            tracker, run.run_id, f"trainer process {job.pid} is gone", job.log_path
        ):
            failed.append(run.run_id)
    return failed
