"""What the queue commands print: the ids of added jobs, the job table (or JSON), a job's log
(followed like `tail -f` until the job ends). The words for a job the app shows too live in
`queue.describe`."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hybrid_tui.command_name import command
from hybrid_tui.display_text import plain, visible
from hybrid_tui.jobs.queue_store import ENDED, QUEUED, JobStore, QueueJob
from hybrid_tui.queue.deleted_runs import deleted_run_ids, run_label
from hybrid_tui.queue.describe import (
    STATE_STYLE,
    current_log,
    describe,
    devices_label,
    duration,
    runs_on_cpu,
    slurm_label,
    state_label,
)
from hybrid_tui.queue.scheduler import job_trainer_gone


def print_added(jobs: list[QueueJob]) -> None:
    """The new job ids on stdout (one a line, for scripts); what they are on stderr."""
    for job in jobs:
        sys.stdout.write(f"{job.id}\n")
    from hybrid_tui.devices import gpu_readings

    on_cpu = not gpu_readings()
    for job in jobs:
        print(f"queued job {job.id}: {visible(describe(job, on_cpu))}", file=sys.stderr)

    print(f"start them with `{command('queue start')}` (if no scheduler runs)", file=sys.stderr)


def job_json(job: QueueJob, machine_has_gpu: bool) -> dict:
    """`queue ls --json`'s job: `gpus` 0 and `cpu_slots` N for a job on CPU slots;
    `trainer_gone` for a running job whose trainer died unseen."""

    payload = job.as_json() | {"trainer_gone": job_trainer_gone(job)}
    if runs_on_cpu(job, machine_has_gpu):
        payload |= {"gpus": 0, "cpu_slots": job.gpus}
    return payload


def print_jobs(jobs: list[QueueJob], scheduler, json_output: bool) -> None:
    """The job table, or JSON. Reads only: a job whose trainer is gone is shown so, and ended by
    the scheduler or `hybrid-tui reconcile`."""
    if json_output:
        from hybrid_tui.devices import gpu_readings

        has_gpu = bool(gpu_readings())
        payload = {
            "scheduler": None if scheduler is None else scheduler.__dict__,
            "jobs": [job_json(job, has_gpu) for job in jobs],
        }
        sys.stdout.write(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        return

    console = Console()
    serving = (
        f"scheduler: {scheduler.describe()}"
        if scheduler
        else f"scheduler: not running (`{command('queue start')}`)"
    )
    if not jobs:
        console.print(f"no jobs queued; add some with `{command('queue add RECIPE')}`\n{serving}")
        return
    table = Table(title=serving, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    in_slurm = any(job.backend == "slurm" for job in jobs)
    columns = ("job", "name", "overrides", "state", "gpu", "prio", "wait", "ran", "run")
    for column in columns + (("slurm",) if in_slurm else ()):
        table.add_column(column, justify="right" if column in ("job", "prio") else "left")
    now = time.time()
    deleted = deleted_run_ids(jobs)
    gone = {job.id for job in jobs if job_trainer_gone(job)}
    for job in jobs:
        table.add_row(
            str(job.id),
            plain(job.name),  # a recipe's name and the user's overrides: text, never markup
            plain(" ".join(job.overrides)),
            Text(state_label(job, job.id in gone), style=STATE_STYLE.get(job.state, "")),
            devices_label(job),
            str(job.priority),
            duration(job.wait_s(now)),
            duration(job.run_s(now)),
            run_label(job, deleted),
            *((slurm_label(job),) if in_slurm else ()),
        )
    console.print(table)
    if gone:
        console.print(
            f"{len(gone)} running job(s) without a trainer; `{command('reconcile')}` ends them",
            markup=False,
            highlight=False,
        )
    failed = [job for job in jobs if job.state == "failed" and job.error]
    for job in failed[-3:]:
        console.print(f"job {job.id} failed: {visible(job.error)}", markup=False, highlight=False)


def print_log(
    store: JobStore,
    ref: str,
    follow: bool,
    poll_s: float = 0.5,
    out: TextIO | None = None,
) -> None:
    """The job's log; with `follow`, new lines as they come until the job ends (a queued job is
    waited for), or until its trainer is gone (reads only: the scheduler, or `reconcile`, ends
    the job)."""
    out = out or sys.stdout
    job = store.get(ref)
    if not follow:
        path = current_log(job)
        if path is None:
            state = "queued" if job.state == QUEUED else job.state
            print(f"job {job.id} is {state} and has no log yet", file=sys.stderr)
            return
        out.write(path.read_text(encoding="utf-8", errors="replace"))
        out.flush()
        return
    handle = None
    try:
        while True:
            job = store.get(str(job.id))
            if handle is None and (path := current_log(job)) is not None:
                handle = open(path, encoding="utf-8", errors="replace")
            chunk = handle.read() if handle else ""
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if handle is not None and _replaced(handle, current_log(job)):
                handle.close()  # a resubmitted Slurm job's new attempt: its log took the name
                handle = None
                continue
            if job.state in ENDED or job.state == "removed":
                return
            if job_trainer_gone(job):  # its last lines were written before it ended
                out.write(handle.read() if handle else "")
                out.flush()
                print(f"job {job.id}: its trainer has ended", file=sys.stderr)
                return
            time.sleep(poll_s)
    finally:
        if handle is not None:
            handle.close()


def _replaced(handle: TextIO, path) -> bool:
    """Whether `path` now names another file than the open `handle` (a new attempt's log)."""
    try:
        return path is not None and os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
    except OSError:
        return False
