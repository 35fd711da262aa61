"""What a CPU run's trainer process uses, for Live's device pane: its CPU % and resident memory
(psutil), read for the pid its job record names once that process is known to be the run's
trainer (a reused pid never shows a stranger's figures). A GPU run shows its GPUs instead."""

from __future__ import annotations

from dataclasses import dataclass

FIRST_SAMPLE_S = 0.2  # a process's CPU % needs two readings: the first waits this long


@dataclass(frozen=True)
class TrainerUse:
    pid: int
    cpu_percent: float  # of one core: 200 means two cores busy
    cores: int
    rss_bytes: int


class TrainerWatch:
    """Reads one run's trainer again and again; keeps the process between readings so that each
    CPU % covers the time since the last one, as `top` does."""

    def __init__(self) -> None:
        self._process = None
        self._key: tuple[str, int] | None = None

    def read(self, run_id: str) -> TrainerUse | None:
        """The trainer's use now; None when the run has no live trainer on this machine."""
        import psutil

        from hybrid_tui.jobs import job_for
        from hybrid_tui.jobs.process import trainer_of

        job = job_for(run_id)
        if job is None:
            return None
        key = (run_id, job.pid)
        first = key != self._key
        if first:
            self._process = trainer_of(job)
            self._key = key
        process = self._process
        if process is None:
            return None
        try:
            cpu = process.cpu_percent(interval=FIRST_SAMPLE_S if first else None)
            rss = process.memory_info().rss
            cores = len(process.cpu_affinity()) if hasattr(process, "cpu_affinity") else 0
        except psutil.Error:
            self._process = None
            return None
        return TrainerUse(process.pid, cpu, cores or psutil.cpu_count() or 1, rss)


def format_trainer_use(use: TrainerUse) -> str:
    """`trainer pid 4242  cpu 97% of 2 cores  mem 1.2 GiB`, like a GPU reading's line."""
    gib = use.rss_bytes / 1024**3
    memory = f"{gib:.1f} GiB" if gib >= 1 else f"{use.rss_bytes / 1024**2:.0f} MiB"
    cores = "core" if use.cores == 1 else "cores"
    return f"trainer pid {use.pid}  cpu {use.cpu_percent:.0f}% of {use.cores} {cores}  mem {memory}"
