"""Trainers outlive their terminal, can be cancelled cleanly, and dead ones are marked FAILED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_tui import jobs
from hybrid_tui.events import EventTail
from hybrid_tui.runs.files import RunFiles
from tests.conftest import REPO, tracker_of
from tests.waiting import wait_for

SMOKE = str(REPO / "recipes" / "smoke.toml")
# One worker runs these, then the zombie check of test_reliability.py (same group, file order).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("trainer-processes")]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _hangup_as_a_terminal_shell() -> None:
    """A terminal's shell dies of SIGHUP. A test run started under `nohup` inherits SIGHUP
    ignored, and a shell started with it ignored can never take it back."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_detached_trainer_survives_its_terminal(workdir: Path, data_root: Path) -> None:
    run_id_file, returned = workdir / "run_id", workdir / "returned"
    shell = subprocess.Popen(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -m hybrid_tui train --detach "{SMOKE}" '
            f'--data-dir "{data_root}" > "{run_id_file}"; touch "{returned}"; sleep 600',
        ],
        start_new_session=True,
        cwd=workdir,
        preexec_fn=_hangup_as_a_terminal_shell,
    )
    # The terminal closes once the command has returned to its prompt (here: `sleep`). A hangup
    # while the command is still exiting races bash: on a loaded machine bash outlived it and
    # went on to a `sleep 600` nobody signalled.
    wait_for(returned.exists, "train --detach to return", every=0.1)
    os.killpg(shell.pid, signal.SIGHUP)  # the terminal closes
    shell.wait(timeout=10)
    run_id = run_id_file.read_text().strip()
    job = jobs.job_for(run_id)
    assert job is not None and jobs.is_alive(job)
    wait_for(lambda: not jobs.is_alive(job), "trainer to finish", every=0.1)
    assert tracker_of(workdir).get_run(run_id).status == "FINISHED"


def test_cancel_checkpoints_and_ends_killed(workdir: Path, data_root: Path) -> None:
    job = jobs.launch_detached(jobs.TrainerStart(SMOKE, data_dir=str(data_root)))
    tail = EventTail(RunFiles.for_run(job.run_id).events)
    steps: list[int] = []

    def stepped() -> bool:
        steps.extend(e["step"] for e in tail.read_new() if e["type"] == "step")
        return bool(steps) and max(steps) >= 3

    wait_for(stepped, "three steps", every=0.1)
    assert jobs.cancel(job.run_id)
    _reap(job.pid)
    assert not jobs.is_alive(job)
    assert tracker_of(workdir).get_run(job.run_id).status == "KILLED"
    assert (RunFiles.for_run(job.run_id).checkpoint / "state.json").is_file()
    assert [e for e in tail.read_new() if e["type"] == "end"][-1]["status"] == "KILLED"
    assert f"run {job.run_id} ended KILLED after" in RunFiles.for_run(job.run_id).log.read_text()


def test_dead_trainer_is_marked_failed_on_reconcile(workdir: Path, data_root: Path) -> None:
    job = jobs.launch_detached(jobs.TrainerStart(SMOKE, data_dir=str(data_root)))
    os.killpg(job.pid, signal.SIGKILL)
    _reap(job.pid)
    wait_for(lambda: not jobs.is_alive(job), "trainer to die", timeout=30, every=0.1)
    tracker = tracker_of(workdir)
    assert tracker.get_run(job.run_id).status == "RUNNING"
    assert jobs.reconcile_runs(tracker) == [job.run_id]
    assert tracker.get_run(job.run_id).status == "FAILED"
    assert jobs.reconcile_runs(tracker) == []


def test_launch_reports_bad_input_as_one_line(workdir: Path) -> None:
    from hybrid_tui.errors import HybridTuiError

    with pytest.raises(HybridTuiError, match="nowhere"):
        jobs.launch_detached(jobs.TrainerStart(SMOKE, data_dir=str(workdir / "nowhere")))
