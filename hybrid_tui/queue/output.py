"""What the queue commands print: the ids of added jobs, the job table (or JSON), a job's log
(followed like `tail -f` until the job ends)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from hybrid_tui.display_text import plain, visible
from hybrid_tui.queue.scheduler import job_trainer_gone
from hybrid_tui.queue.store import ENDED, QUEUED, JobStore, QueueJob
from hybrid_tui.runs.files import RunFiles

STATE_STYLE = {
    "running": "bold green",
    "failed": "bold red",
    "killed": "yellow",
    "removed": "dim",
    "queued": "cyan",
}


def print_added(jobs: list[QueueJob]) -> None:
    """The new job ids on stdout (one a line, for scripts); what they are on stderr."""
    for job in jobs:
        sys.stdout.write(f"{job.id}\n")
    from hybrid_tui.devices import gpu_readings

    on_cpu = not gpu_readings()
    for job in jobs:
        print(f"queued job {job.id}: {visible(describe(job, on_cpu))}", file=sys.stderr)
    from hybrid_tui.command_name import command

    print(f"start them with `{command('queue start')}` (if no scheduler runs)", file=sys.stderr)


def describe(job: QueueJob, on_cpu: bool | None = None) -> str:
    """`smoke train.seed=0 (1 GPU, priority 0)`, or `(1 CPU slot, ...)` where it runs on CPU."""
    overrides = " ".join(job.overrides)
    unit = "CPU slot" if (runs_on_cpu(job) if on_cpu is None else on_cpu) else "GPU"
    slots = f"{job.gpus} {unit}{'s' if job.gpus > 1 else ''}"
    return f"{job.name}{' ' + overrides if overrides else ''} ({slots}, priority {job.priority})"


def runs_on_cpu(job: QueueJob, machine_has_gpu: bool | None = None) -> bool:
    """Whether the job holds CPU slots rather than GPUs: it was given CPU slots, or, not started
    yet, this machine has no GPU NVML can see (the scheduler then hands out CPU slots)."""
    if job.devices:
        return job.devices.startswith("cpu")
    if machine_has_gpu is None:
        from hybrid_tui.devices import gpu_readings

        machine_has_gpu = bool(gpu_readings())
    return not machine_has_gpu


def job_json(job: QueueJob, machine_has_gpu: bool) -> dict:
    """`queue ls --json`'s job: `gpus` 0 and `cpu_slots` N for a job on CPU slots;
    `trainer_gone` for a running job whose trainer died unseen."""

    payload = job.as_json() | {"trainer_gone": job_trainer_gone(job)}
    if runs_on_cpu(job, machine_has_gpu):
        payload |= {"gpus": 0, "cpu_slots": job.gpus}
    return payload


def duration(seconds: float | None) -> str:
    """`45s`, `3m05s`, `2h07m`; '' for None."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def devices_label(job: QueueJob) -> str:
    """What a job runs on: `0,1` (GPUs), `cpu` (a CPU slot), '' while queued."""
    if not job.devices:
        return ""
    return "cpu" if job.devices.startswith("cpu") else job.devices


def state_label(job: QueueJob, gone: bool) -> str:
    """`running · trainer gone` for a job whose trainer died unseen, else the job's state."""
    from hybrid_tui.jobs.reconcile import GONE

    return f"{job.state} · {GONE}" if gone else job.state


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
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hybrid_tui.command_name import command
    from hybrid_tui.queue.deleted_runs import deleted_run_ids, run_label

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
    for column in ("job", "name", "overrides", "state", "gpu", "prio", "wait", "ran", "run"):
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


def current_log(job: QueueJob) -> Path | None:
    """The job's trainer log: the run's `trainer.log` once the run exists, else the launch log."""
    if job.run_id and RunFiles.for_run(job.run_id).log.exists():
        return RunFiles.for_run(job.run_id).log
    if job.log_path and Path(job.log_path).exists():
        return Path(job.log_path)
    return None


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
