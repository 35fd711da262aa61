"""The Slurm backend without a cluster: Slurm's states (as `squeue` and `scontrol show job` print
them, captured from Slurm 22.05) map onto the queue's, the batch script and sbatch options a job
gets, an older queue.db gains the backend's columns, and `queue start --backend slurm` refuses a
local tracking store in one line."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.queue import slurm
from hybrid_tui.queue.slurm import SlurmOptions
from tests.conftest import one_error_line

SQUEUE = """3|RUNNING|None
4|PENDING|Resources
5|COMPLETED|None
6|CANCELLED|None
7|TIMEOUT|TimeLimit
8|NODE_FAIL|None
9|OUT_OF_MEMORY|OutOfMemory
10|PREEMPTED|None
11|CONFIGURING|None
12|FAILED|NonZeroExitCode
"""

SCONTROL_TIMEOUT = """JobId=2 JobName=probe
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   Priority=4294901758 Nice=0 Account=(null) QOS=(null)
   JobState=TIMEOUT Reason=TimeLimit Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15
   RunTime=00:01:22 TimeLimit=00:01:00 TimeMin=N/A
   NodeList=vm
   StdOut=/tmp/h24s/probe.out
"""


def test_every_slurm_state_maps_onto_what_the_queue_does() -> None:
    jobs = slurm.parse_squeue(SQUEUE)
    seen = {slurm_id: slurm.action(job.state) for slurm_id, job in jobs.items()}
    assert seen == {
        "3": slurm.TRAINING,  # running
        "4": slurm.WAITING,  # pending in Slurm: the row is running, shown PENDING
        "5": slurm.BY_RUN,  # the run's end status: finished, failed or killed
        "6": slurm.KILLED,
        "7": slurm.RESUBMIT,
        "8": slurm.FAILED,
        "9": slurm.FAILED,
        "10": slurm.RESUBMIT,
        "11": slurm.WAITING,
        "12": slurm.FAILED,
    }
    assert jobs["4"].reason == "Resources"


def test_scontrol_show_job_is_read_for_a_job_squeue_dropped() -> None:
    job = slurm.parse_scontrol(SCONTROL_TIMEOUT)
    assert (job.slurm_id, job.state, job.reason, job.exit_code) == (
        "2",
        "TIMEOUT",
        "TimeLimit",
        "0:15",
    )
    assert slurm.action(job.state) == slurm.RESUBMIT
    assert slurm.parse_scontrol("slurm_load_jobs error: Invalid job id specified") is None
    # squeue's "CANCELLED by 0" and an unknown new state: cancelled, and waited on (never judged)
    assert slurm.action("CANCELLED by 0") == slurm.KILLED
    assert slurm.action("SOME_NEW_STATE") == slurm.WAITING


def test_one_node_one_rank_execs_the_trainer_so_slurms_signals_reach_it() -> None:
    trainer = ["/venv/bin/python", "-m", "hybrid_tui", "train", "--announce", "/s/a", "/s/r.toml"]
    script = slurm.batch_script(trainer, "queue job 1", 1, steps=False)
    assert script.splitlines()[0] == "#!/bin/bash"
    assert "exec /venv/bin/python -m hybrid_tui train --announce /s/a /s/r.toml" in script
    assert "srun" not in script
    args = slurm.sbatch_args(SlurmOptions(time="4:00:00"), "n", "/s/log", 0, steps=False)
    assert "--signal=B:TERM@120" in args  # the batch step is the trainer
    assert "--time=4:00:00" in args and "--output=/s/log" in args
    assert not any(arg.startswith("--gpus") for arg in args)


def test_several_nodes_run_torchrun_per_node_with_the_first_node_as_rendezvous() -> None:
    trainer = ["/venv/bin/python", "-m", "hybrid_tui", "train", "--announce", "/s/a", "/s/r.toml"]
    assert slurm.uses_steps(nodes=2, gpus=4) and slurm.uses_steps(nodes=1, gpus=2)
    script = slurm.batch_script(trainer, "queue job 1", 4, steps=True)
    assert 'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in script
    line = script.splitlines()[-1]
    assert line.startswith(
        "exec srun --ntasks-per-node=1 /venv/bin/python -m torch.distributed.run"
    )
    assert '--nnodes "$SLURM_NNODES" --nproc_per_node 4' in line
    assert '--rdzv_backend c10d --rdzv_endpoint "$head_node:$port"' in line
    assert line.endswith("-m hybrid_tui train --announce /s/a /s/r.toml")  # the same entry point
    options = SlurmOptions(nodes=2, partition="gpu", sbatch_args=("--mem=16G",))
    args = slurm.sbatch_args(options, "n", "/s/log", 4, steps=True)
    assert {"--nodes=2", "--gpus-per-node=4", "--signal=TERM@120", "--partition=gpu"} <= set(args)
    assert args[-1] == "--mem=16G"


def test_sbatch_args_are_checked() -> None:
    assert slurm.parse_sbatch_args(["mem=16G", "exclusive"]) == ("--mem=16G", "--exclusive")
    with pytest.raises(Exception, match="--sbatch-arg"):
        slurm.parse_sbatch_args(["; rm -rf /=1"])


def test_an_older_queue_db_gains_the_slurm_columns_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    old_schema = """create table jobs (id integer primary key autoincrement, name text not null,
        source text not null, recipe_path text not null, overrides text not null default '[]',
        gpus integer not null default 1, priority integer not null default 0,
        position integer not null, state text not null, created real not null, started real,
        ended real, devices text not null default '', cuda_visible_devices text, pid integer,
        start_ticks integer, token text, run_id text, log_path text, error text, data_dir text,
        workdir text not null, tracking_uri text not null, tags text not null default '{}')"""
    with sqlite3.connect(path) as conn:
        conn.execute(old_schema)
        conn.execute(
            "insert into jobs (name, source, recipe_path, position, state, created, workdir, "
            "tracking_uri) values ('smoke', 'recipe', 'r.toml', 1, 'finished', 0, '/w', 'x')"
        )
    (job,) = JobStore(path).jobs()
    assert (job.name, job.state, job.backend, job.slurm_id, job.resubmits) == (
        "smoke", "finished", "local", None, 0,
    )  # fmt: skip
    assert job.as_json()["backend"] == "local"


def test_slurm_backend_refuses_a_local_sqlite_store_in_one_line(run_cli, workdir: Path) -> None:
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "smoke.toml"
    run_cli("queue", "add", str(recipe), check_code=0)
    done = run_cli("queue", "start", "--backend", "slurm", "--gpus-per-job", "0")
    line = one_error_line(done)
    assert "local file the compute nodes may not see" in line
    assert "mlflow server" in line and "--shared-dir" in line
    assert not (workdir / ".hybrid-tui" / "queue.scheduler.json").exists()
    assert [job.state for job in JobStore().jobs()] == ["queued"]


def test_slurm_options_are_refused_on_the_local_backend(run_cli, workdir: Path) -> None:
    done = run_cli("queue", "start", "--partition", "gpu")
    assert "--partition is for --backend slurm" in one_error_line(done)


def test_a_silent_slurm_is_an_error_never_an_ended_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slurmctld restarting: squeue fails. The pass fails (the scheduler logs it and asks again)
    instead of taking the jobs for forgotten and judging their runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("squeue", "scontrol"):
        tool = bin_dir / name
        tool.write_text(
            "#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\n"
            "exit 1\n"
        )
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(HybridTuiError, match="squeue failed: .*Unable to contact"):
        slurm.job_states(["5"])
    with pytest.raises(HybridTuiError, match="squeue failed"):
        slurm.find_by_name("hybrid-tui-1-abc")


def test_a_column_a_newer_version_added_does_not_stop_this_one_reading(tmp_path: Path) -> None:
    """A newer hybrid-tui opened the queue.db and added a column: this version (a scheduler
    still running from before the upgrade) reads its jobs all the same."""
    store = JobStore(tmp_path / "queue.db")
    assert store.add([]) == []  # the table, as this version makes it
    with sqlite3.connect(store.path) as conn:
        conn.execute("alter table jobs add column from_the_future text")
        conn.execute(
            "insert into jobs (name, source, recipe_path, position, state, created, workdir, "
            "tracking_uri, from_the_future) values ('smoke', 'r', 'r.toml', 1, 'queued', 0, "
            "'/w', 'x', 'later')"
        )
    assert [job.name for job in store.jobs()] == ["smoke"]
