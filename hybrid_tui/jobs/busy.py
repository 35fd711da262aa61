"""Which GPUs (or the CPU) are busy with training on this machine, and who holds them: live
trainers started directly (`jobs`' records) and the queue's running jobs. Compose asks before
launching a run onto a device that is already training. Stdlib only (NVML lazily, for `auto`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.devices import run_gpus
from hybrid_tui.jobs.process import is_alive
from hybrid_tui.jobs.record import job_for
from hybrid_tui.paths import runs_dir


@dataclass(frozen=True)
class DeviceUse:
    """One training process and where it runs: GPU indices (NVML's), or () for the CPU."""

    who: str
    gpus: tuple[int, ...]

    @property
    def where(self) -> str:
        if not self.gpus:
            return "the CPU"
        return f"GPU{'s' if len(self.gpus) > 1 else ''} {','.join(map(str, self.gpus))}"


def busy_devices() -> list[DeviceUse]:
    """Every live trainer of this state dir: the queue's running jobs, then direct launches."""
    from hybrid_tui.jobs.queue_store import RUNNING, JobStore

    uses, queued_runs = [], set()
    for job in JobStore().jobs([RUNNING]):
        queued_runs.add(job.run_id)
        gpus = () if job.devices.startswith("cpu") else _indices(job.devices)
        uses.append(DeviceUse(f"queue job {job.id} ({job.name})", gpus))
    for record_path in sorted(runs_dir().glob("*/job.json")):
        run_id = record_path.parent.name
        if run_id in queued_runs:
            continue
        job = job_for(run_id)
        if job is None or job.queue_job or not is_alive(job):
            continue
        record = _read(record_path)
        device = record.get("device") or "auto"
        gpus = tuple(run_gpus(device, record.get("cuda_visible_devices")))
        uses.append(DeviceUse(f"run {run_id[:8]} ({record.get('name', 'trainer')})", gpus))
    return uses


def conflicts(device: str, cuda_visible: str | None = None) -> list[DeviceUse]:
    """The trainers already on the device a new run would use (`train.device` as in a recipe,
    under this process's `CUDA_VISIBLE_DEVICES` unless given)."""
    if cuda_visible is None:
        cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    wanted = set(run_gpus(device, cuda_visible))
    return [
        use for use in busy_devices() if (wanted & set(use.gpus)) or (not wanted and not use.gpus)
    ]


def _indices(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip().isdigit())


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def busy_warning(device: str) -> str | None:
    """One line for a direct launch onto a device that is already training (None when free)."""
    busy = conflicts(device)
    if not busy:
        return None
    holders = "; ".join(f"{use.who} on {use.where}" for use in busy)
    return (
        f"already training there: {holders}; both will run slower "
        f"(`{command('queue add')}` runs one job per device)"
    )
