"""The scheduler's loop: end the jobs whose trainer is gone, adopt the ones still training,
start the next queued jobs on free GPUs (or CPU slots), sleep, repeat.

The contract (docs/ARCHITECTURE.md, `queue`):
- Order: highest priority first, then oldest; the first queued job waits until enough slots are
  free (a 4-GPU job is not overtaken for ever by 1-GPU jobs).
- GPUs: each job gets `gpus` free GPU indices through `CUDA_VISIBLE_DEVICES` (one job per GPU),
  and runs under `torchrun --nproc_per_node N` when N > 1. In CPU mode (`--slots N`) a job takes
  `gpus` slots and sees no GPU (`CUDA_VISIBLE_DEVICES=`).
- Crash safety: a job is marked running (with its devices and a launch token) before its trainer
  is spawned, and its pid is recorded right after. A restarted scheduler adopts running jobs whose
  process lives (pid + start ticks), finds a trainer spawned just before a crash by the token in
  its environment, puts a job whose trainer never started back in the queue, and ends the others
  by their run's status (the end event, else MLflow), so no job is lost or run twice.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.jobs import launch
from hybrid_tui.jobs.launch import Spawned, TrainerStart, announced_run_id, launch_files
from hybrid_tui.jobs.process import find_process_with_env, trainer_process
from hybrid_tui.jobs.queue_store import (
    FAILED,
    RUN_STATUS_STATE,
    RUNNING,
    SLURM,
    JobStore,
    QueueJob,
)
from hybrid_tui.jobs.reconcile import mark_trainer_gone
from hybrid_tui.paths import QUEUE_JOB_ENV
from hybrid_tui.queue.slurm import SlurmOptions
from hybrid_tui.runs.files import RunFiles, process_start_ticks
from hybrid_tui.runs.logs import error_line, tail

POLL_S = 1.0


@dataclass(frozen=True)
class Slots:
    """What a scheduler hands out: GPU indices (`0`, `1`, ...) or CPU slots (`cpu0`, ...)."""

    names: tuple[str, ...]
    gpus: bool

    @classmethod
    def for_gpus(cls, indices: list[int]) -> Slots:
        return cls(tuple(str(i) for i in indices), True)

    @classmethod
    def for_cpu(cls, count: int) -> Slots:
        return cls(tuple(f"cpu{i}" for i in range(count)), False)

    def describe(self) -> str:
        if self.gpus:
            return f"GPUs {','.join(self.names)}"
        return f"{len(self.names)} CPU slot{'s' if len(self.names) != 1 else ''}"

    def cuda_visible(self, names: list[str]) -> str:
        """The `CUDA_VISIBLE_DEVICES` of a job given `names`: its GPUs, or none on CPU slots."""
        return ",".join(names) if self.gpus else ""


def free_slots(slots: Slots, running: list[QueueJob]) -> list[str]:
    """The slots no running job holds, in order."""
    taken = {name for job in running for name in job.devices.split(",") if name}
    return [name for name in slots.names if name not in taken]


class Scheduler:
    """One pass is `step()`: reconcile, then start what fits. `tracker_for(uri)` (the MLflow
    tracker of a job's store) lets it read a run's status and mark a dead trainer's run FAILED;
    without it (`queue ls` with no scheduler running) the run's event file alone decides.
    With `slurm` options it hands queued jobs to Slurm instead (`queue.slurm_jobs`); jobs
    already in Slurm are followed by every scheduler."""

    def __init__(
        self,
        store: JobStore,
        slots: Slots | None = None,
        tracker_for: Callable[[str], object] | None = None,
        spawn: Callable[[TrainerStart], Spawned] | None = None,
        log: Callable[[str], None] = lambda line: None,
        slurm: SlurmOptions | None = None,
    ) -> None:
        from hybrid_tui.queue.slurm_jobs import SlurmJobs

        self.store, self.slots, self.tracker_for = store, slots, tracker_for
        self.spawn, self.log = spawn, log  # `spawn`: tests' stand-ins for `start_trainer`
        self.children: dict[int, object] = {}  # job id -> Popen of trainers started here
        self.stopping = False
        self.slurm_options = slurm
        self.slurm = SlurmJobs(store, slurm, self.judge, lambda run: end_event(run)[0], log)

    def describe(self) -> str:
        return self.slurm_options.describe() if self.slurm_options else self.slots.describe()

    # ------------------------------------------------------------------ the loop

    def run_forever(self, poll_s: float = POLL_S) -> None:
        """Until SIGTERM/SIGINT: stop starting jobs and return (running trainers go on; the next
        scheduler adopts them)."""

        def stop(signum, frame):  # noqa: ARG001
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.log(f"scheduler {os.getpid()} serving {self.store.path} on {self.describe()}")
        while not self.stopping:
            try:
                self.step()
            except Exception as err:  # a locked or busy store: say so, try again next pass
                self.log(f"pass failed: {type(err).__name__}: {err}")
            deadline = time.monotonic() + poll_s
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.05)
        self.log("scheduler stopped; running trainers go on")

    def step(self) -> None:
        self.reconcile()
        if self.stopping:
            return
        if self.slurm_options is not None:
            for job in self.store.queued():  # Slurm schedules; each waits there, in this order
                self.slurm.submit_queued(job, self._store_ready)
        elif self.slots is not None:
            self.start_next()

    # ------------------------------------------------------------------ reconciling

    def reconcile(self) -> None:
        """Learn run ids, adopt live trainers, end the jobs whose trainer is gone (Slurm's jobs:
        by their Slurm state)."""
        in_slurm = []
        for job in self.store.jobs([RUNNING]):
            job = self.learn_run_id(job)
            if job.backend == SLURM:
                in_slurm.append(job)
                continue
            if job.pid is None:
                job = self._find_spawned(job)
                if job is None:
                    continue
            if self._alive(job):
                continue
            state, error = self.judge(job)
            if self.store.finish(job.id, state, error):
                self.log(f"job {job.id} {state}" + (f": {error}" if error else ""))
            self.children.pop(job.id, None)
        if in_slurm:
            self.slurm.follow(in_slurm)

    def learn_run_id(self, job: QueueJob) -> QueueJob:
        """Record the run id the job's trainer announced (once its run exists)."""
        if job.run_id or not job.token:
            return job
        announce, _ = launch_files(job.token)
        run_id = announced_run_id(announce)
        if not run_id:
            return job
        log_path = str(RunFiles.for_run(run_id).log)
        self.store.set_run(job.id, run_id, log_path)
        announce.unlink(missing_ok=True)
        self.log(f"job {job.id} is run {run_id}")
        return self.store.get(str(job.id))

    def _find_spawned(self, job: QueueJob) -> QueueJob | None:
        """A running job without a pid: the scheduler stopped between claiming and recording it.
        Adopt its trainer if one runs; requeue the job if none ever started."""
        pid = find_process_with_env(QUEUE_JOB_ENV, f"{job.id}:{job.token}")
        if pid is not None:
            self.store.set_process(job.id, pid, process_start_ticks(pid))
            self.log(f"job {job.id}: adopted trainer {pid}")
            return self.store.get(str(job.id))
        log_text = tail(Path(job.log_path), 5) if job.log_path else ""
        if job.run_id is None and not log_text.strip():
            if self.store.requeue(job.id):
                self.log(f"job {job.id}: its trainer never started; queued again")
            return None
        return job  # it started and is gone: judged by its run or its log

    def _alive(self, job: QueueJob) -> bool:
        child = self.children.get(job.id)
        if child is not None:
            child.poll()  # reaps a child that ended, so it is no zombie; the check is the row's
        return is_trainer_of(job)

    def judge(self, job: QueueJob) -> tuple[str, str | None]:
        """The end state of a job whose trainer is gone, and why when it did not finish."""
        log_path = Path(job.log_path) if job.log_path else None
        if job.run_id is None:
            line = error_line(log_path) if log_path else None
            return FAILED, line or "the trainer exited before its run started"
        status, error = end_event(job.run_id)
        if status is None and self.tracker_for is not None:
            status = self.tracker_for(job.tracking_uri).get_run(job.run_id).status
        if status in RUN_STATUS_STATE:
            state = RUN_STATUS_STATE[status]
            if state == FAILED and not error and log_path:
                error = error_line(log_path)
            return state, error
        # the trainer died without ending its run (kill -9, OOM): the run is FAILED too
        error = "the trainer process died without ending its run"
        if self.tracker_for is not None:
            mark_trainer_gone(self.tracker_for(job.tracking_uri), job.run_id, error, log_path)
        return FAILED, error

    # ------------------------------------------------------------------ starting

    def start_next(self) -> None:
        """Start queued jobs in order while the first one fits in the free slots."""
        queued = []
        for job in self.store.queued():
            if job.gpus > len(self.slots.names):
                self._refuse(job)  # it could never start here
            else:
                queued.append(job)
        free = free_slots(self.slots, self.store.jobs([RUNNING]))
        for job in queued:
            if job.gpus > len(free):
                return
            given, free = free[: job.gpus], free[job.gpus :]
            self._start(job, given)

    def _refuse(self, job: QueueJob) -> None:
        unit = "GPUs" if self.slots.gpus else "CPU slots"
        error = f"wants {job.gpus} {unit}; this scheduler has {len(self.slots.names)}"
        if self.store.refuse(job.id, error):
            self.log(f"job {job.id} failed: {error}")

    def _store_ready(self, job: QueueJob) -> bool:
        """Create the job's tracking store here first: two trainers creating one new sqlite
        store at once break MLflow's migration. False (the job refused) when it cannot be."""
        if self.tracker_for is not None:
            try:
                self.tracker_for(job.tracking_uri)
            except Exception as err:
                self.store.refuse(job.id, f"tracking store {job.tracking_uri}: {err}")
                return False
        return True

    def _start(self, job: QueueJob, given: list[str]) -> None:
        if not self._store_ready(job):
            return
        token = uuid.uuid4().hex[:12]
        _, log_path = launch_files(token)
        cuda_visible = self.slots.cuda_visible(given)
        if not self.store.claim(job.id, ",".join(given), cuda_visible, token, str(log_path)):
            return  # removed meanwhile
        env = {
            "CUDA_VISIBLE_DEVICES": cuda_visible,
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # GPU numbers as nvidia-smi and NVML give them
            QUEUE_JOB_ENV: f"{job.id}:{token}",
        }
        request = TrainerStart(
            job.recipe_path,
            data_dir=job.data_dir,
            env=env,
            nproc=job.gpus,
            cwd=job.workdir,
            token=token,
        )
        try:
            spawned = (self.spawn or launch.start_trainer)(request)
        except OSError as err:
            self.store.finish(job.id, FAILED, f"could not start the trainer: {err}")
            return
        pid = spawned.process.pid
        self.children[job.id] = spawned.process
        self.store.set_process(job.id, pid, process_start_ticks(pid))
        self.log(f"job {job.id} started on {','.join(given)} (pid {pid})")


def is_trainer_of(job: QueueJob) -> bool:
    """Whether the process the job's row names is still its trainer (a stale or edited row
    never has another process taken for it, nor signalled)."""
    return trainer_process(job.pid, job.start_ticks, queue_job=f"{job.id}:{job.token}") is not None


def job_trainer_gone(job: QueueJob) -> bool:
    """Whether a running job's recorded trainer is gone while its row still says running (no
    scheduler has seen it yet): what `queue ls` and the app show. Reads only."""
    from hybrid_tui.jobs.process import another_users

    if job.state != RUNNING or job.pid is None or is_trainer_of(job):
        return False
    return not another_users(job.pid, job.start_ticks)


def end_event(run_id: str) -> tuple[str | None, str | None]:
    """(status, error) of the run's `end` event, the trainer's last word; (None, None) without."""
    text = tail(RunFiles.for_run(run_id).events, 5)
    for line in reversed(text.splitlines()):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("type") == "end":
            return event.get("status"), event.get("error")
    return None, None
