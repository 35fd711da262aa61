"""The one scheduler process of a state dir: started detached (it outlives the terminal), found
by the lock it holds, stopped by a signal.

The scheduler holds an exclusive `flock` on `<state>/queue.lock` for its whole life, so a second
`queue start` is refused while it runs, and a scheduler killed with -9 leaves no stale lock (the
kernel drops it with the process). `<state>/queue.scheduler.json` says which process it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui import command_name
from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.errors import USAGE_EXIT_CODE, HybridTuiError
from hybrid_tui.jobs.launch import start_detached
from hybrid_tui.jobs.process import recorded_process, trainer_process
from hybrid_tui.jobs.queue_store import KILLED, LOCAL, QUEUED, RUNNING, SLURM, JobStore, QueueJob
from hybrid_tui.paths import HOME_ENV, state_dir
from hybrid_tui.queue import slurm
from hybrid_tui.queue.scheduler import Scheduler, Slots, is_trainer_of
from hybrid_tui.queue.slurm import SlurmOptions
from hybrid_tui.runs.files import process_start_ticks
from hybrid_tui.runs.logs import error_line

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


def lock_path() -> Path:
    return state_dir() / "queue.lock"


def info_path() -> Path:
    return state_dir() / "queue.scheduler.json"


def scheduler_log_path() -> Path:
    return state_dir() / "queue" / "scheduler.log"


@dataclass(frozen=True)
class SchedulerInfo:
    """The running scheduler: its process, what it hands out, where it logs."""

    pid: int | None
    start_ticks: int | None
    slots: str
    started: float | None
    log: str
    backend: str = LOCAL

    def describe(self) -> str:
        return f"pid {self.pid}, {self.slots}" if self.pid else self.slots


def running_scheduler() -> SchedulerInfo | None:
    """The scheduler serving this state dir, or None (the lock is free)."""
    path = lock_path()
    if not path.exists():
        return None
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a scheduler runs
        else:
            return None
    try:
        info = json.loads(info_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return SchedulerInfo(None, None, "starting", None, str(scheduler_log_path()))
    return SchedulerInfo(
        info.get("pid"), info.get("start_ticks"), info.get("slots", ""), info.get("started"),
        info.get("log", str(scheduler_log_path())), info.get("backend", LOCAL),
    )  # fmt: skip


def parse_slots(gpus: str | None, slots: int | None) -> Slots:
    """`--gpus 0,1,2,3` or `--slots N`; neither: every GPU NVML sees, else one CPU slot."""
    if gpus is not None and slots is not None:
        raise HybridTuiError("give --gpus or --slots, not both")
    if slots is not None:
        if slots < 1:
            raise HybridTuiError(f"--slots {slots}: give 1 or more")
        return Slots.for_cpu(slots)
    if gpus is not None:
        parts = [part.strip() for part in gpus.split(",")]
        if not parts or not all(part.isdigit() for part in parts):
            raise HybridTuiError(f"--gpus {gpus!r}: give GPU indices, e.g. --gpus 0,1,2,3")
        indices = [int(part) for part in parts]
        if len(set(indices)) != len(indices):
            raise HybridTuiError(f"--gpus {gpus!r}: a GPU is listed twice")
        return Slots.for_gpus(indices)
    from hybrid_tui.devices import gpu_readings

    found = [reading.index for reading in gpu_readings()]
    return Slots.for_gpus(found) if found else Slots.for_cpu(1)


def _slot_args(slots: Slots) -> list[str]:
    if slots.gpus:
        return ["--gpus", ",".join(slots.names)]
    return ["--slots", str(len(slots.names))]


def start_scheduler(
    slots: Slots | None, timeout_s: float = START_TIMEOUT_S, slurm: SlurmOptions | None = None
) -> SchedulerInfo:
    """Start the scheduler detached and wait until it holds the lock (with `slurm`: one that
    hands jobs to Slurm; refused at once when a job's store is a local file, see
    `slurm_jobs.check_stores`)."""
    running = running_scheduler()
    if running is not None:
        raise HybridTuiError(
            f"a queue scheduler already runs for {state_dir()} ({running.describe()}); "
            f"stop it with `{command_name.command('queue stop')}` first"
        )
    if slurm is not None:
        from hybrid_tui.paths import resolve_tracking_uri
        from hybrid_tui.queue.slurm_jobs import check_stores

        waiting = JobStore().jobs([RUNNING, QUEUED])
        check_stores([resolve_tracking_uri(), *(job.tracking_uri for job in waiting)], slurm)
    log_path = scheduler_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    how = slurm.to_args() if slurm is not None else _slot_args(slots)
    command = [sys.executable, "-m", "hybrid_tui", "queue", "serve", *how]
    env = {**os.environ, HOME_ENV: str(state_dir()), "PYTHONUNBUFFERED": "1"}
    process = start_detached(command, env, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = running_scheduler()
        if info is not None and info.pid == process.pid:
            return info
        code = process.poll()
        if code is not None:
            raise HybridTuiError(error_line(log_path) or f"the scheduler exited ({code})")
        time.sleep(0.05)
    raise HybridTuiError(f"the scheduler did not start within {timeout_s:.0f}s; see {log_path}")


def serve(slots: Slots | None, slurm: SlurmOptions | None = None) -> int:
    """The scheduler process (`hybrid-tui queue serve`, started by `start_scheduler`)."""
    handle = open(lock_path(), "a")  # held (locked) until this process ends
    if not _lock(handle):
        print(f"error: a queue scheduler already runs for {state_dir()}", flush=True)
        return USAGE_EXIT_CODE
    info = {
        "pid": os.getpid(),
        "start_ticks": process_start_ticks(os.getpid()),
        "slots": slurm.describe() if slurm is not None else slots.describe(),
        "started": time.time(),
        "log": str(scheduler_log_path()),
        "backend": SLURM if slurm is not None else LOCAL,
    }
    atomic_write_text(info_path(), json.dumps(info))
    scheduler = Scheduler(JobStore(), slots, tracker_for=trackers(), log=_log, slurm=slurm)
    scheduler.run_forever()
    return 0


def _lock(handle, wait_s: float = 2.0) -> bool:
    """Take the exclusive lock (a reader holding it for a moment is waited for)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)


def trackers():
    """`tracker_for(uri)`: one MLflow tracker per store, made when first needed."""
    cache: dict = {}

    def tracker_for(uri: str):
        if uri not in cache:
            from hybrid_tui.tracking import Tracker

            cache[uri] = Tracker(uri)
        return cache[uri]

    return tracker_for


def stop_scheduler(cancel_running: bool = False, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """SIGTERM the scheduler (it starts nothing more and exits; trainers go on) and wait for it;
    with `cancel_running`, also cancel the running trainers (each checkpoints and ends its run
    KILLED). Returns what was done, a line each."""
    import psutil

    done = []
    info = running_scheduler()
    if info is None and not cancel_running:
        raise HybridTuiError(f"no queue scheduler runs for {state_dir()}")
    if info is not None and info.pid:
        process = scheduler_process(info)
        if process is None:
            raise HybridTuiError(
                f"process {info.pid} in {info_path()} is not this queue's scheduler; nothing was "
                f"signalled (the scheduler holding {lock_path()} rewrites it when it starts)"
            )
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while running_scheduler() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if running_scheduler() is not None:
            raise HybridTuiError(f"the scheduler (pid {info.pid}) did not stop in {timeout_s:.0f}s")
        done.append(f"stopped the scheduler (pid {info.pid})")
    if cancel_running:
        cancelled, strangers = cancel_running_jobs(JobStore(), timeout_s)
        done += [f"cancelled job {job.id} (run {job.run_id or 'not started'})" for job in cancelled]
        done += [
            f"job {job.id}: process {job.pid} is not its trainer; not signalled, the job is "
            f"{job.state} now"
            for job in strangers
        ]
    return done


def scheduler_process(info: SchedulerInfo):
    """The scheduler's process (`psutil.Process`) if the info file names it: the recorded start
    ticks, and `hybrid_tui queue serve` on its command line; else None."""
    import psutil

    process = recorded_process(info.pid, info.start_ticks)
    try:
        command = process.cmdline() if process is not None else []
    except psutil.Error:
        return None
    serving = any(command[i : i + 2] == ["queue", "serve"] for i in range(len(command)))
    return process if serving and "hybrid_tui" in command else None


def cancel_running_jobs(
    store: JobStore, timeout_s: float = STOP_TIMEOUT_S
) -> tuple[list[QueueJob], list[QueueJob]]:
    """Ask every running trainer to stop (SIGTERM, as `jobs.process.cancel` does: it checkpoints and ends
    its run KILLED; torchrun's agent passes it to every rank), wait for them, then record their
    ends. Call with no scheduler running. Returns the jobs cancelled, and the jobs whose recorded
    process lives but is not their trainer (not signalled; ended by their run, as a dead one)."""
    import psutil

    live, strangers, in_slurm = [], [], []
    scheduler = Scheduler(store, tracker_for=trackers())
    for job in store.jobs([RUNNING]):
        if job.backend == SLURM:
            scheduler.slurm.cancel(job)
            in_slurm.append(job)
            continue
        process = trainer_process(job.pid, job.start_ticks, queue_job=f"{job.id}:{job.token}")
        if process is not None:
            live.append(job)
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGTERM)
        elif recorded_process(job.pid, job.start_ticks) is not None:
            strangers.append(job)
    deadline = time.monotonic() + timeout_s
    while any(is_trainer_of(job) for job in live) and time.monotonic() < deadline:
        time.sleep(0.1)
    while in_slurm and _in_slurm(in_slurm) and time.monotonic() < deadline:
        time.sleep(0.5)
    for job in live:
        if scheduler.learn_run_id(store.get(str(job.id))).run_id is None and not is_trainer_of(job):
            store.finish(job.id, KILLED, "cancelled before its run started")
    scheduler.reconcile()
    return live + in_slurm, [store.get(str(job.id)) for job in strangers]


def cancel_in_slurm(job: QueueJob, timeout_s: float = STOP_TIMEOUT_S) -> QueueJob:
    """Cancel one running Slurm job (`queue rm`, `hybrid-tui cancel`): one SIGTERM through
    scancel, wait until Slurm lets it go, then record its end (killed). Returns its row."""
    store = JobStore()
    scheduler = Scheduler(store, tracker_for=trackers())
    scheduler.slurm.cancel(job)
    deadline = time.monotonic() + timeout_s
    while _in_slurm([job]) and time.monotonic() < deadline:
        time.sleep(0.5)
    scheduler.reconcile()
    return store.get(str(job.id))


def slurm_job_of_run(run_id: str) -> QueueJob | None:
    """The running Slurm queue job that trains `run_id`, if any."""
    for job in JobStore().jobs([RUNNING]):
        if job.backend == SLURM and job.run_id == run_id:
            return job
    return None


def _in_slurm(jobs: list[QueueJob]) -> bool:
    """Whether Slurm still holds any of `jobs` (pending, running or completing)."""
    ids = [job.slurm_id for job in jobs if job.slurm_id]
    states = slurm.job_states(ids)
    return any(
        slurm.action(states[i].state) in (slurm.WAITING, slurm.TRAINING) for i in ids if i in states
    )
