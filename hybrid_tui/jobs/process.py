"""Is the process a record names still the trainer it names? Asked before any signal is sent
and before a run is judged alive, so a stale or edited record never gets an unrelated process
killed, nor keeps a dead trainer's run RUNNING.

A record (a run's `job.json`, a queue job's row) holds a pid and its start ticks. The ticks tell a
reused pid apart; the process itself must also name what the record says it runs:
- a run's trainer holds the run's `events.jsonl` open for writing (it opens it before it writes
  `job.json`). A new run's id exists only once the trainer has made it, so neither its command
  line nor its environment can name it; the open event stream does, for foreground, detached and
  queued trainers alike;
- a queued trainer (or torchrun's agent of a multi-GPU job) has `<job id>:<launch token>` in its
  environment (`QUEUE_JOB_ENV`), set by the scheduler that started it.

This is the one liveness check (psutil, not /proc by hand): `recorded_process` says whether the
process a record names still lives; `trainer_process` whether it is still that run's trainer.
"""

from __future__ import annotations

import os
import signal
import time

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.record import Job, job_for
from hybrid_tui.paths import QUEUE_JOB_ENV
from hybrid_tui.runs.files import RunFiles, process_start_ticks


def recorded_process(pid: int | None, start_ticks: int | None):
    """The live process a record names (a `psutil.Process`), or None: no pid, no start ticks
    recorded (never trusted), other ticks (the pid was reused), gone, or a zombie.

    Signals sent through the returned object are safe against a pid reused meanwhile (psutil
    checks the process's creation time first)."""
    import psutil

    if pid is None or pid <= 0 or start_ticks is None:
        return None
    try:
        process = psutil.Process(pid)
        if process_start_ticks(pid) != start_ticks or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def trainer_process(
    pid: int | None,
    start_ticks: int | None,
    *,
    run_id: str | None = None,
    queue_job: str | None = None,
):
    """The trainer process of run `run_id` (or of queue job `queue_job`, `<job id>:<token>`)
    that a record names as `pid` with `start_ticks`, or None when that process is not it."""
    import psutil

    process = recorded_process(pid, start_ticks)
    if process is None:
        return None
    try:
        if run_id is not None and _writes(process, RunFiles.for_run(run_id).events):
            return process
        if queue_job is not None and process.environ().get(QUEUE_JOB_ENV) == queue_job:
            return process
    except psutil.Error:
        return None
    return None


def is_alive(job: Job) -> bool:
    """True if the job's process still runs: not a zombie, and not a reused pid where the record
    has start ticks to tell (whether it is the trainer is `trainer_of`'s question)."""
    import psutil

    try:
        process = psutil.Process(job.pid)
        ticks = process_start_ticks(job.pid)
        if None not in (ticks, job.start_ticks) and ticks != job.start_ticks:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True
    except (psutil.Error, ValueError):
        return False


def trainer_of(job: Job):
    """The live trainer process of `job` (a `psutil.Process`), or None."""
    return trainer_process(job.pid, job.start_ticks, run_id=job.run_id, queue_job=job.queue_job)


def another_users(pid: int | None, start_ticks: int | None) -> bool:
    """Whether the process a record names runs as another user: whose files and environment this
    user cannot read, so whether it is the trainer cannot be told (it is not judged dead)."""
    import psutil

    process = recorded_process(pid, start_ticks)
    try:
        return process is not None and process.uids().real != os.getuid()
    except psutil.Error:
        return False


def _writes(process, path) -> bool:
    """Whether `process` holds `path` open for writing."""
    wanted = str(path.resolve())
    return any(opened.path == wanted and opened.mode != "r" for opened in process.open_files())


def find_process_with_env(name: str, value: str) -> int | None:
    """The pid of a live process of this user whose environment has `name=value` (the lowest
    first: torchrun's agent before the ranks it started)."""
    import psutil

    for process in sorted(psutil.process_iter(), key=lambda process: process.pid):
        try:
            if process.environ().get(name) != value:
                continue
        except psutil.Error:
            continue
        if recorded_process(process.pid, process_start_ticks(process.pid)) is not None:
            return process.pid
    return None


def cancel(run_id: str, timeout_s: float = 30.0) -> bool:
    """Ask the trainer to stop (SIGTERM: it checkpoints and ends the run KILLED; torchrun's agent
    passes it to every rank). False if not running; a `HybridTuiError` (nothing signalled) when
    the recorded process is another one."""
    job = job_for(run_id)
    if job is None or not is_alive(job):
        return False
    process = trainer_of(job)
    if process is None:
        raise HybridTuiError(
            f"process {job.pid} in {RunFiles.for_run(run_id).job} is not the trainer of run "
            f"{run_id[:8]}; nothing was signalled (its trainer is gone: "
            f"`{command('reconcile')}` marks the run FAILED)"
        )
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_alive(job):
        time.sleep(0.1)
    return True
