"""A stale or edited record never gets an unrelated process signalled (issue 20, item 5), and
every command that takes a run takes the prefixes `hybrid-tui runs` prints (item 9).

The "unrelated process" is a real `sleep` of this user, recorded with its true start ticks: only
the check that the process is the run's (or the job's) trainer tells it apart.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hybrid_tui import jobs
from hybrid_tui.command_name import command
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.paths import QUEUE_JOB_ENV
from hybrid_tui.queue.submit import queue_recipe_files
from hybrid_tui.runs.files import RunFiles, process_start_ticks
from tests.cli.test_cli_reads import trainer_stand_in
from tests.conftest import REPO, one_error_line, process_alive, tracker_of

SMOKE = str(REPO / "recipes" / "smoke.toml")


@pytest.fixture
def sleeper():
    """An unrelated process of this user: `sleep`, killed when the test ends."""
    process = subprocess.Popen(["sleep", "600"])
    yield process
    process.kill()
    process.wait()


def _record(run_id: str, pid: int, ticks: int | None) -> RunFiles:
    """A run's job record naming `pid` (as an edited or stale `job.json` would)."""
    files = RunFiles.for_run(run_id)
    files.root.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "pid": pid, "start_ticks": ticks, "log": str(files.log)}
    files.job.write_text(json.dumps(record))
    return files


def _running_run(workdir: Path, name: str = "live") -> str:
    return tracker_of(workdir).start_run("hostile", name, {})


# ------------------------------------------------------------------ item 5: cancel and reconcile


def test_cancel_of_a_record_naming_an_unrelated_process_signals_nothing(
    run_cli, workdir: Path, sleeper
) -> None:
    run_id = _running_run(workdir)
    files = _record(run_id, sleeper.pid, process_start_ticks(sleeper.pid))
    line = one_error_line(run_cli("cancel", run_id[:8]))
    assert line == (
        f"error: process {sleeper.pid} in {files.job} is not the trainer of run {run_id[:8]}; "
        f"nothing was signalled (its trainer is gone: `{command('reconcile')}` marks the run FAILED)"
    )
    time.sleep(0.3)  # a SIGTERM, had one been sent, would have ended it by now
    assert process_alive(sleeper.pid)


def test_a_record_without_start_ticks_is_never_signalled(run_cli, workdir: Path) -> None:
    run_id = _running_run(workdir)
    events = RunFiles.for_run(run_id).events
    holder = trainer_stand_in(events)  # even a process holding the run's events
    try:
        _record(run_id, holder.pid, None)
        assert "is not the trainer of run" in one_error_line(run_cli("cancel", run_id[:8]))
        time.sleep(0.3)
        assert process_alive(holder.pid)
    finally:
        holder.kill()
        holder.wait()


def test_cancel_still_stops_a_process_that_is_the_runs_trainer(run_cli, workdir: Path) -> None:
    """The check lets the trainer through: it holds the run's event stream open for writing."""
    run_id = _running_run(workdir)
    trainer = trainer_stand_in(RunFiles.for_run(run_id).events)
    try:
        _record(run_id, trainer.pid, process_start_ticks(trainer.pid))
        done = run_cli("cancel", run_id[:8], check_code=0)
        assert done.stdout.strip() == f"cancelled {run_id}"
        assert trainer.wait(timeout=30) == -15  # SIGTERM
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()


def test_reconcile_takes_an_unrelated_process_for_a_dead_trainer(
    run_cli, workdir: Path, sleeper
) -> None:
    run_id = _running_run(workdir)
    _record(run_id, sleeper.pid, process_start_ticks(sleeper.pid))
    assert json.loads(run_cli("reconcile", "--json", check_code=0).stdout)["failed"] == [run_id]
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)
    assert {run["run_id"]: run["status"] for run in listed}[run_id] == "FAILED"
    assert process_alive(sleeper.pid)
    assert jobs.reconcile_runs(tracker_of(workdir)) == []  # judged once


# ------------------------------------------------------------------ item 5: the queue


def _running_job(sleeper_pid: int | None, token: str = "tok") -> int:
    """A queue job claimed by a scheduler, its row naming `sleeper_pid` as its trainer."""
    store = JobStore()
    (job,) = queue_recipe_files([SMOKE], [], store=store)
    store.claim(job.id, "cpu0", "", token, str(jobs.launch_files(token)[1]))
    if sleeper_pid is not None:
        store.set_process(job.id, sleeper_pid, process_start_ticks(sleeper_pid))
    return job.id


def test_queue_cancel_of_a_row_naming_an_unrelated_process_signals_nothing(
    run_cli, workdir: Path, sleeper
) -> None:
    job_id = _running_job(sleeper.pid)
    done = run_cli("queue", "stop", "--cancel-running", check_code=0)
    assert done.stdout.strip() == (
        f"job {job_id}: process {sleeper.pid} is not its trainer; not signalled, the job is "
        "failed now"
    )
    time.sleep(0.3)
    assert process_alive(sleeper.pid)
    assert JobStore().get(str(job_id)).state == "failed"


def test_queue_cancel_still_stops_the_jobs_own_trainer(run_cli, workdir: Path) -> None:
    """A trainer the queue started has `<job id>:<token>` in its environment."""
    import os

    store = JobStore()
    (job,) = queue_recipe_files([SMOKE], [], store=store)
    store.claim(job.id, "cpu0", "", "tok", str(jobs.launch_files("tok")[1]))
    env = {**os.environ, QUEUE_JOB_ENV: f"{job.id}:tok"}
    trainer = trainer_stand_in(workdir / "elsewhere.jsonl", env=env)
    try:
        store.set_process(job.id, trainer.pid, process_start_ticks(trainer.pid))
        done = run_cli("queue", "stop", "--cancel-running", check_code=0)
        assert done.stdout.strip() == f"cancelled job {job.id} (run not started)"
        assert trainer.wait(timeout=30) == -15
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()


def test_the_queue_does_not_take_an_unrelated_process_for_a_running_job(
    workdir: Path, sleeper
) -> None:
    from hybrid_tui.queue.scheduler import Scheduler

    job_id = _running_job(sleeper.pid)
    Scheduler(JobStore()).reconcile()
    assert JobStore().get(str(job_id)).state == "failed"
    assert process_alive(sleeper.pid)


def test_queue_stop_refuses_a_scheduler_record_naming_an_unrelated_process(
    run_cli, workdir: Path, sleeper
) -> None:
    from hybrid_tui.queue.daemon import info_path, lock_path

    lock_path().parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(), "a") as held:  # a scheduler holds the lock...
        fcntl.flock(held, fcntl.LOCK_EX)
        info = {"pid": sleeper.pid, "start_ticks": process_start_ticks(sleeper.pid), "slots": "x"}
        info_path().write_text(json.dumps(info))  # ...but its info file names the sleep
        line = one_error_line(run_cli("queue", "stop"))
    assert line.startswith(f"error: process {sleeper.pid} in {info_path()} is not this queue's")
    time.sleep(0.3)
    assert process_alive(sleeper.pid)


# ------------------------------------------------------------------ item 9: prefixes everywhere


def _local_run(workdir: Path, name: str = "trained") -> str:
    """A tracked run with a trained model in its local files (tiny-random, no training)."""
    from hybrid_tui.models import resolve_model

    run_id = tracker_of(workdir).start_run("hostile", name, {})
    shutil.copytree(resolve_model("tiny-random").path, RunFiles.for_run(run_id).model)
    return run_id


def _twin_runs(prefix: str = "beefcafe") -> list[str]:
    twins = [prefix + "0" * 24, prefix + "1" * 24]
    for run_id in twins:
        RunFiles.for_run(run_id).root.mkdir(parents=True)
    return twins


def test_eval_takes_a_run_prefix(run_cli, workdir: Path, data_root: Path) -> None:
    run_id = _local_run(workdir)
    done = run_cli(
        *("eval", "--run", run_id[:8], "--data-dir", str(data_root), "--langs", "en,de"),
        *("--settings", "mono", "--max-questions", "5", "--device", "cpu", "--json"),
        check_code=0,
    )
    assert json.loads(done.stdout)["model"] == f"run:{run_id}"


@pytest.mark.parametrize("command", [["eval", "--run"], ["train", "--resume"]])
def test_an_ambiguous_or_unknown_run_prefix_is_one_line(
    run_cli, workdir: Path, command: list[str]
) -> None:
    twins = _twin_runs()
    ambiguous = one_error_line(run_cli(*command, "beefcafe"))
    assert ambiguous == (
        f"error: run id prefix beefcafe is ambiguous: {twins[0][:10]}…, {twins[1][:10]}…; "
        "give more characters"
    )
    unknown = one_error_line(run_cli(*command, "ffff0000"))
    runs = workdir / ".hybrid-tui" / "runs"
    assert unknown == (
        f"error: no local files for run ffff0000 under {runs}; run this in the directory the "
        "run was started from, or set HYBRID_TUI_HOME to that directory's .hybrid-tui folder"
    )
    assert "too short" in one_error_line(run_cli(*command, "bee"))


def test_eval_of_an_unfinished_run_says_so(run_cli, workdir: Path) -> None:
    run_id = _running_run(workdir)
    RunFiles.for_run(run_id).root.mkdir(parents=True)
    line = one_error_line(run_cli("eval", "--run", run_id[:8]))
    assert line.startswith(f"error: run {run_id} has no trained model under ")
    assert "HYBRID_TUI_HOME" not in line and f"train --resume {run_id[:8]}" in line


@pytest.mark.parametrize("langs", ["", " , "])
def test_eval_refuses_an_empty_language_list(run_cli, workdir: Path, langs: str) -> None:
    line = one_error_line(run_cli("eval", "--model", "tiny-random", "--langs", langs))
    assert line == (
        f"error: --langs {langs!r} names no language: give some (--langs en,de) or leave it out "
        "for all"
    )


def _quick_recipe(workdir: Path) -> Path:
    """recipes/smoke.toml with a tiny eval (the steps stay: a cancel must find it training)."""
    text = Path(SMOKE).read_text(encoding="utf-8")
    for old, new in (
        ('languages = ["en", "de", "th"]', 'languages = ["en", "de"]'),
        ("max_questions = 40", "max_questions = 5"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = workdir / "quick.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_train_resume_takes_a_run_prefix(run_cli, workdir: Path, data_root: Path) -> None:
    """A real trainer cancelled (it passes the trainer check), then resumed by a prefix."""
    from hybrid_tui.events import EventTail

    job = jobs.launch_detached(jobs.TrainerStart(_quick_recipe(workdir), data_dir=str(data_root)))
    tail = EventTail(RunFiles.for_run(job.run_id).events)
    steps: list[int] = []
    deadline = time.monotonic() + 300
    while not steps and time.monotonic() < deadline:
        steps += [e["step"] for e in tail.read_new() if e["type"] == "step"]
        time.sleep(0.02)
    assert jobs.cancel(job.run_id)
    assert tracker_of(workdir).get_run(job.run_id).status == "KILLED"
    done = run_cli("train", "--resume", job.run_id[:8], "--data-dir", str(data_root))
    assert done.returncode == 0, done.stderr
    assert f"run {job.run_id} finished in" in done.stdout
    assert tracker_of(workdir).get_run(job.run_id).status == "FINISHED"
