"""How a queued job is shown, in the words both faces use: its state's colour, what it asks for,
how long it waited and ran, what it runs on, and which log is its trainer's."""

from __future__ import annotations

from pathlib import Path

from hybrid_tui.jobs.queue_store import SLURM, QueueJob
from hybrid_tui.runs.files import RunFiles

STATE_STYLE = {
    "running": "bold green",
    "failed": "bold red",
    "killed": "yellow",
    "removed": "dim",
    "queued": "cyan",
}


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
    """What a job runs on: `0,1` (GPUs), `cpu` (a CPU slot), `slurm` (handed to Slurm), ''
    while queued."""
    if job.backend == SLURM:
        return "slurm"
    if not job.devices:
        return ""
    return "cpu" if job.devices.startswith("cpu") else job.devices


def slurm_label(job: QueueJob) -> str:
    """A Slurm job's id and the state the scheduler last saw (`812 PENDING`, `813 RUNNING ·
    resubmitted 1`); '' for a local job."""
    if job.backend != SLURM:
        return ""
    label = f"{job.slurm_id} {job.slurm_state or ''}".strip() if job.slurm_id else "submitting"
    return label + (f" · resubmitted {job.resubmits}" if job.resubmits else "")


def state_label(job: QueueJob, gone: bool) -> str:
    """`running · trainer gone` for a job whose trainer died unseen, else the job's state."""
    from hybrid_tui.jobs.reconcile import GONE

    return f"{job.state} · {GONE}" if gone else job.state


def current_log(job: QueueJob) -> Path | None:
    """The job's trainer log: the run's `trainer.log` once the run exists, else the launch log."""
    if job.run_id and RunFiles.for_run(job.run_id).log.exists():
        return RunFiles.for_run(job.run_id).log
    if job.log_path and Path(job.log_path).exists():
        return Path(job.log_path)
    return None
