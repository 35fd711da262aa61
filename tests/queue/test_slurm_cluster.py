"""The queue's Slurm backend against a real slurmctld/slurmd on this host (no mock of sbatch):
a 3-seed grid finishes through Slurm, a cancelled job checkpoints and ends KILLED, a job that
reaches its time limit is resubmitted and finishes from its checkpoint, and Slurm's states show
in the queue. One xdist group: the cluster has this machine's cores, one per job; the jobs
train a few steps and skip evaluation (the queue is under test, not the trainer)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hybrid_tui.jobs.process import find_process_with_env
from hybrid_tui.jobs.queue_store import ENDED, JobStore
from hybrid_tui.paths import QUEUE_JOB_ENV
from hybrid_tui.runs.files import RunFiles
from tests.conftest import tracker_of
from tests.queue.slurm_cluster import slurm_cluster, squeue_ids
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]
__all__ = ["slurm_cluster"]  # the fixture, imported for the tests below

SMOKE = Path(__file__).resolve().parents[2] / "recipes" / "smoke.toml"
# One node, no GPU, one CPU a job; the sqlite store and state dir are this host's (shared).
SLURM = ("queue", "start", "--backend", "slurm", "--gpus-per-job", "0", "--shared-dir")


def _recipe(workdir: Path, steps: int, checkpoint_every: int) -> Path:
    """recipes/smoke.toml, short: `steps`, no evaluation (the queue is under test here)."""
    text = SMOKE.read_text(encoding="utf-8")
    for old, new in (
        ("steps = 20", f"steps = {steps}"),
        ("checkpoint_every = 5", f"checkpoint_every = {checkpoint_every}"),
        ('datasets = ["xquad-r"]', "datasets = []"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = workdir / f"slurm-{steps}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _ended(count: int):
    jobs = JobStore().jobs()
    return jobs if len(jobs) == count and all(job.state in ENDED for job in jobs) else None


def _training(job_id: int):
    """The job once its run has taken a training step."""
    job = JobStore().get(str(job_id))
    if job.run_id and '"type": "step"' in _text(RunFiles.for_run(job.run_id).events):
        return job
    return None


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _stop(run_cli) -> None:
    run_cli("queue", "stop", "--cancel-running")
    assert squeue_ids() == [], "a test job was left in Slurm"


def _one_pending_two_running():
    jobs = JobStore().jobs()
    seen = sorted(str(job.slurm_state) for job in jobs if job.slurm_id)
    return jobs if seen == ["PENDING", "RUNNING", "RUNNING"] else None


def _torchrun_job(workdir: Path, data_root: Path) -> str:
    """The script of a multi-node job (srun, one torchrun per node, c10d rendezvous on the first
    node) on this one node and CPU, submitted as the backend does: its Slurm id."""
    from hybrid_tui.jobs.launch import TrainerStart
    from hybrid_tui.queue import slurm

    recipe = _recipe(workdir, steps=2, checkpoint_every=0)
    trainer = TrainerStart(recipe, data_dir=str(data_root)).command(workdir / "torchrun.run_id")
    script = workdir / "torchrun.sh"
    script.write_text(slurm.batch_script(trainer, "torchrun", 1, steps=True), encoding="utf-8")
    args = slurm.sbatch_args(slurm.SlurmOptions(), "hybrid-tui-torchrun", "torchrun.log", 0, True)
    return slurm.submit(str(script), [*args, f"--chdir={workdir}"], dict(os.environ))


def test_a_three_seed_grid_finishes_through_slurm(
    slurm_cluster, run_cli, workdir: Path, data_root: Path
) -> None:
    """Three jobs on two CPUs: the third waits PENDING in Slurm (running in the queue) while
    two run. Meanwhile (in the third's round, no extra time) the script a multi-node job gets
    runs torchrun under srun on this one node."""
    recipe = _recipe(workdir, steps=3, checkpoint_every=0)
    run_cli("queue", "add", str(recipe), "--set", "train.seed=0,1,2", "--data-dir", str(data_root))
    try:
        run_cli(*SLURM, check_code=0)
        during = wait_for(_one_pending_two_running, "one job pending, two running", timeout=120)
        torchrun_id = _torchrun_job(workdir, data_root)
        jobs = wait_for(lambda: _ended(3), "the grid to end in Slurm", timeout=400)
        wait_for(lambda: torchrun_id not in squeue_ids(), "the torchrun job", timeout=300)
    finally:
        _stop(run_cli)
    assert {job.state for job in during} == {"running"}  # PENDING in Slurm: running here
    pending = next(job.id for job in during if job.slurm_state == "PENDING")
    assert max(jobs, key=lambda job: job.wait_s()).id == pending  # its wait: until Slurm ran it
    assert [(job.state, job.backend, job.slurm_state) for job in jobs] == [
        ("finished", "slurm", "COMPLETED")
    ] * 3, [job.error for job in jobs]
    assert len({job.slurm_id for job in jobs}) == 3
    runs = {run.run_id: run for run in tracker_of(workdir).list_runs()}
    assert sorted(runs[job.run_id].params["train.seed"] for job in jobs) == ["0", "1", "2"]
    assert {runs[job.run_id].status for job in jobs} == {"FINISHED"}
    listed = json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)
    assert [job["slurm_id"] for job in listed["jobs"]] == [job.slurm_id for job in jobs]
    assert listed["scheduler"] is None  # stopped
    log = run_cli("queue", "logs", str(jobs[0].id), check_code=0).stdout
    assert f"run {jobs[0].run_id} finished" in log  # Slurm's output file is the job's log

    torchrun_run = (workdir / "torchrun.run_id").read_text(encoding="utf-8").strip()
    assert runs[torchrun_run].status == "FINISHED", _text(workdir / "torchrun.log")


def _sigterm_pending(pid: int) -> bool:
    """Whether SIGTERM waits for the (stopped) process, or it runs again (Slurm's time-limit
    kill sends SIGCONT first) or is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return True
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return bool(pending & (1 << (signal.SIGTERM - 1))) or not fields["State"].startswith("T")


def test_a_cancelled_job_ends_killed_and_one_at_its_time_limit_is_resubmitted(
    slurm_cluster, run_cli, workdir: Path, data_root: Path
) -> None:
    """Two jobs at once (the cluster's two CPUs). Job 1 is cancelled with `queue rm`: scancel's
    SIGTERM, a checkpoint, its run KILLED, never resubmitted. Job 2's trainer is paused
    (SIGSTOP) once it trains, so it cannot finish before Slurm acts; its time limit is then cut
    to what it has run and 20 s or more (whole minutes): Slurm's warning (`--signal`, 50 s
    before the limit) or its time-limit kill reaches it, it checkpoints and ends KILLED, and the
    queue submits it again with --resume; it finishes from its checkpoint."""
    long, short = _recipe(workdir, steps=5000, checkpoint_every=0), _recipe(workdir, 8, 0)
    for recipe in (long, short):
        run_cli("queue", "add", str(recipe), "--data-dir", str(data_root), check_code=0)
    try:
        run_cli(*SLURM, "--time", "10", "--signal-grace", "50", check_code=0)
        job = wait_for(lambda: _training(2), "job 2 to train in Slurm", timeout=300)
        pid = find_process_with_env(QUEUE_JOB_ENV, f"{job.id}:{job.token}")
        os.kill(pid, signal.SIGSTOP)
        minutes = math.ceil((time.time() - job.started + 20) / 60)
        limit = f"TimeLimit={minutes}"
        subprocess.run(["scontrol", "update", f"JobId={job.slurm_id}", limit], check=True)

        wait_for(lambda: _sigterm_pending(pid), "Slurm's SIGTERM to job 2", timeout=120)
        os.kill(pid, signal.SIGCONT)

        wait_for(lambda: _training(1), "job 1 to train in Slurm", timeout=300)
        assert JobStore().get("1").slurm_state == "RUNNING"
        removed = run_cli("queue", "rm", "1", check_code=0).stdout
        assert "cancelled job 1 in Slurm" in removed and "it is killed" in removed
        wait_for(lambda: JobStore().get("2").resubmits == 1, "the resubmission", timeout=120)
        cancelled, resubmitted = wait_for(lambda: _ended(2), "both jobs to end", timeout=300)
    finally:
        _stop(run_cli)
    assert (cancelled.state, cancelled.resubmits) == ("killed", 0), cancelled.error
    assert tracker_of(workdir).get_run(cancelled.run_id).status == "KILLED"
    assert (RunFiles.for_run(cancelled.run_id).checkpoint / "state.json").is_file()

    assert (resubmitted.state, resubmitted.resubmits) == ("finished", 1), resubmitted.error
    assert resubmitted.slurm_id != job.slurm_id  # a new Slurm job, the same run
    files = RunFiles.for_run(resubmitted.run_id)
    starts = [json.loads(line) for line in _text(files.events).splitlines() if '"start"' in line]
    assert [event["start_step"] > 0 for event in starts] == [False, True]  # from its checkpoint
    assert tracker_of(workdir).get_run(resubmitted.run_id).status == "FINISHED"
    assert files.log.with_name("trainer.log.1").exists()  # the first attempt's Slurm output
    scheduler_log = _text(workdir / ".hybrid-tui" / "queue" / "scheduler.log")
    assert f"resubmitting run {resubmitted.run_id} from its checkpoint" in scheduler_log
