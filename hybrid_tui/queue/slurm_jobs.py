"""The queue's Slurm backend: a queued job is submitted with `sbatch` instead of started here,
its Slurm state is followed into the queue's states (`slurm.SLURM_STATE_ACTION`), a job Slurm
stopped (time limit, preemption) is submitted again with `--resume` from its checkpoint, and a
cancel is one SIGTERM through `scancel` (the trainer checkpoints and ends KILLED).

Local starts still all go through `jobs.launch.start_trainer`; on Slurm the batch script runs the
same `python -m hybrid_tui train ...` (`TrainerStart.command`) on the compute node, with the same
announce file, launch log and queue-job environment, so run ids, logs and ends are learnt as for
a local job. The state dir must be on a filesystem the compute nodes share.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.launch import TrainerStart, launch_files
from hybrid_tui.jobs.queue_store import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    SLURM,
    JobStore,
    QueueJob,
)
from hybrid_tui.paths import HOME_ENV, LOG_FILE_ENV, QUEUE_JOB_ENV, state_dir
from hybrid_tui.queue import slurm
from hybrid_tui.queue.slurm import SlurmJob, SlurmOptions
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.runs.logs import error_line

MAX_RESUBMITS = 10


def local_store_problem(uri: str) -> str | None:
    """Why a job tracked in `uri` cannot go to Slurm without `--shared-dir` (a sqlite file or a
    file store: the compute nodes may not see it), else None."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    if scheme not in ("sqlite", "file"):
        return None
    return (
        f"the tracking store {uri} is a local file the compute nodes may not see; point "
        "MLFLOW_TRACKING_URI (or the recipe's [tracking] uri) at the team's `mlflow server` "
        "(http://HOST:PORT), or pass --shared-dir when the state dir and the store are on a "
        "filesystem every node mounts"
    )


def check_stores(uris: list[str], options: SlurmOptions) -> None:
    """`queue start --backend slurm` refuses (one line, nothing started) a local store."""
    if options.shared_dir:
        return
    for uri in dict.fromkeys(uris):
        if problem := local_store_problem(uri):
            raise HybridTuiError(f"cannot hand jobs to Slurm: {problem}")


def job_name(job: QueueJob) -> str:
    """The Slurm job name: a submission whose id was never recorded is found again by it."""
    return f"hybrid-tui-{job.id}-{job.token}"


def script_path(job: QueueJob) -> Path:
    return state_dir() / "queue" / "slurm" / f"job-{job.id}-{job.token}.sh"


class SlurmJobs:
    """The scheduler's Slurm half. `options` is None where no scheduler runs (`queue stop`,
    `hybrid-tui reconcile`): jobs are followed and ended, but a resubmission waits for the
    scheduler. `judge(job)` is the scheduler's: the end state of a job by its run;
    `end_status(run_id)` is the status of the run's `end` event (None without one)."""

    def __init__(
        self,
        store: JobStore,
        options: SlurmOptions | None,
        judge: Callable[[QueueJob], tuple[str, str | None]],
        end_status: Callable[[str], str | None],
        log: Callable[[str], None],
    ) -> None:
        self.store, self.options, self.judge, self.log = store, options, judge, log
        self.end_status = end_status

    # ------------------------------------------------------------------ submitting

    def submit_queued(self, job: QueueJob, store_ready: Callable[[QueueJob], bool]) -> None:
        """queued -> running (pending in Slurm): claimed first, then submitted. `store_ready`
        creates the job's tracking store first (the scheduler's, as for a local start)."""
        assert self.options is not None
        problem = None if self.options.shared_dir else local_store_problem(job.tracking_uri)
        if problem:
            if self.store.refuse(job.id, f"not sent to Slurm: {problem}"):
                self.log(f"job {job.id} failed: {problem}")
            return
        if not store_ready(job):
            return
        token = uuid.uuid4().hex[:12]
        _, log_path = launch_files(token)
        if not self.store.claim(job.id, "", None, token, str(log_path), backend=SLURM):
            return  # removed meanwhile
        self._sbatch(self.store.get(str(job.id)))

    def _sbatch(self, job: QueueJob) -> None:
        """Write the job's batch script and submit it (resuming its run when it has one)."""
        options = self.options
        assert options is not None and job.token
        gpus = options.gpus_for(job.gpus)
        steps = slurm.uses_steps(options.nodes, gpus)
        announce, log_path = launch_files(job.token)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        request = TrainerStart(
            None if job.run_id else job.recipe_path,
            resume=job.run_id,
            data_dir=job.data_dir,
            cwd=job.workdir,
            token=job.token,
        )
        script = slurm.batch_script(
            request.command(announce), f"queue job {job.id}", max(gpus, 1), steps
        )
        path = script_path(job)
        atomic_write_text(path, script)
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        env |= {
            HOME_ENV: str(state_dir()),
            LOG_FILE_ENV: str(log_path),
            QUEUE_JOB_ENV: f"{job.id}:{job.token}",
            "PYTHONUNBUFFERED": "1",
        }
        args = slurm.sbatch_args(options, job_name(job), str(log_path), gpus, steps)
        args.append(f"--chdir={job.workdir}")
        try:
            slurm_id = slurm.submit(str(path), args, env)
        except HybridTuiError as err:
            if self.store.finish(job.id, FAILED, str(err)):
                self.log(f"job {job.id} failed: {err}")
            return
        self.store.set_slurm(job.id, slurm_id, "PENDING", steps)
        self.log(f"job {job.id} submitted to Slurm as job {slurm_id}")

    # ------------------------------------------------------------------ following

    def follow(self, jobs: list[QueueJob]) -> None:
        """One pass over the running Slurm jobs: record each one's state, end those Slurm ended
        (or submit them again)."""
        ids = [job.slurm_id for job in jobs if job.slurm_id]
        seen = slurm.job_states(ids)
        for job in jobs:
            if job.slurm_id is None:
                self._unrecorded(job)
                continue
            known = seen.get(job.slurm_id)
            state = known.state.split(" ")[0] if known else None
            act = slurm.action(state) if state else slurm.BY_RUN  # forgotten: its run decides
            if known is not None and state != job.slurm_state:
                # its wait ends when Slurm first starts it (not at a resubmission)
                first_start = (
                    act == slurm.TRAINING
                    and not job.resubmits
                    and (slurm.action(job.slurm_state or "PENDING") == slurm.WAITING)
                )
                self.store.set_slurm(job.id, job.slurm_id, state, started=first_start)
                self.log(f"job {job.id}: Slurm job {job.slurm_id} {state}")
            if act in (slurm.WAITING, slurm.TRAINING):
                continue
            self._end(self.store.get(str(job.id)), known, act)

    def _unrecorded(self, job: QueueJob) -> None:
        """A running job without a Slurm id: the scheduler stopped between claiming it and
        recording sbatch's answer. Adopt the submission if Slurm has it, else submit it (a
        resubmission) or put it back in the queue (never submitted)."""
        found = slurm.find_by_name(job_name(job)) if job.token else None
        if found:
            self.store.set_slurm(job.id, found, None)
            self.log(f"job {job.id}: adopted Slurm job {found}")
        elif job.run_id is None:
            if self.store.requeue(job.id):
                self.log(f"job {job.id}: it was never submitted; queued again")
        elif self.options is not None:
            self._sbatch(job)

    def _end(self, job: QueueJob, known: SlurmJob | None, act: str) -> None:
        # a run that ended KILLED with no cancel asked was stopped by Slurm's warning; under
        # torchrun the agent then exits non-zero, so Slurm says FAILED rather than COMPLETED
        by_time_limit = act == slurm.RESUBMIT or (
            act in (slurm.BY_RUN, slurm.FAILED) and not job.cancel_asked and self._run_killed(job)
        )
        if by_time_limit and job.state == RUNNING:
            why = known.state if known and act == slurm.RESUBMIT else "the time-limit warning"
            if self._resubmit(job, why):
                return
            if self.options is None:
                return  # the scheduler submits it again
        state, error = self.judge(job)
        if (act == slurm.KILLED or job.cancel_asked) and state != FINISHED:
            if job.run_id is None:
                error = f"cancelled in Slurm (job {job.slurm_id}) before its run started"
            state, error = KILLED, error
        elif act == slurm.FAILED and state not in (FINISHED, KILLED):
            reason = f"Slurm job {job.slurm_id} {known.state if known else 'ended'}"
            if known and known.reason not in ("", "None"):
                reason += f" ({known.reason})"
            log_line = error_line(Path(job.log_path)) if job.log_path else None
            state, error = FAILED, error or log_line or reason
        elif act == slurm.RESUBMIT:
            state, error = FAILED, error or self._not_resubmitted(job, known)
        if self.store.finish(job.id, state, error):
            self.log(f"job {job.id} {state}" + (f": {error}" if error else ""))

    def _run_killed(self, job: QueueJob) -> bool:
        return job.run_id is not None and self.end_status(job.run_id) == "KILLED"

    def _resubmit(self, job: QueueJob, why: str) -> bool:
        """Submit the job again with `--resume` (it keeps its run); False when it cannot."""
        if self.options is None or job.resubmits >= MAX_RESUBMITS:
            return False
        if not job.run_id or not (RunFiles.for_run(job.run_id).checkpoint / "state.json").is_file():
            return False
        token = uuid.uuid4().hex[:12]
        _, log_path = launch_files(token)
        if not self.store.resubmitting(job.id, token, str(log_path)):
            return False
        self.log(
            f"job {job.id}: Slurm job {job.slurm_id} stopped ({why}); resubmitting run "
            f"{job.run_id} from its checkpoint (resubmit {job.resubmits + 1})"
        )
        self._sbatch(self.store.get(str(job.id)))
        return True

    def _not_resubmitted(self, job: QueueJob, known: SlurmJob | None) -> str:
        state = known.state if known else "stopped"
        if job.resubmits >= MAX_RESUBMITS:
            return f"Slurm stopped it ({state}) {job.resubmits + 1} times; not resubmitted again"
        return (
            f"Slurm stopped it ({state}) before its first checkpoint; give it more --time or "
            "checkpoint more often (train.checkpoint_every)"
        )

    # ------------------------------------------------------------------ cancelling

    def cancel(self, job: QueueJob) -> None:
        """Ask a running Slurm job to stop: one SIGTERM to its trainer (it checkpoints and ends
        KILLED; never resubmitted); a job still pending in Slurm is simply removed from Slurm."""
        self.store.ask_cancel(job.id)
        if not job.slurm_id:
            return
        if slurm.action(job.slurm_state or "PENDING") == slurm.WAITING:
            slurm.cancel_pending(job.slurm_id)
        else:
            slurm.cancel(job.slurm_id, steps=bool(job.slurm_steps))
