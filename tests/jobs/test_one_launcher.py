"""Every trainer start goes through one function, `jobs.launch.start_trainer`, and each trainer
process has exactly one record of its pid: its run's `job.json` when started directly, its
`queue.db` row when the queue started it (`job.json` then names the row, no pid of its own).

Real trainers, one per entry point: `train --detach`, `train --resume --detach`, the app's resume
(R), Compose's launch, the queue's scheduler, the study and the demo. A spy wraps the real
`start_trainer` and keeps each request and the process it started."""

from __future__ import annotations

import importlib
import json
import os
import signal
from pathlib import Path

import pytest

from hybrid_tui import jobs
from hybrid_tui.events import EventTail
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.paths import QUEUE_JOB_ENV, state_dir
from hybrid_tui.runs.files import RunFiles
from tests.conftest import cli_in_process, tracker_of
from tests.jobs.test_hostile_processes import _quick_recipe
from tests.waiting import wait_for as wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("trainer-processes")]


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list:
    """(request, Spawned) of every trainer started, through the real `start_trainer`."""
    real, seen = jobs.launch.start_trainer, []

    def spy(request: jobs.TrainerStart) -> jobs.Spawned:
        spawned = real(request)
        seen.append((request, spawned))
        return spawned

    monkeypatch.setattr(jobs.launch, "start_trainer", spy)
    return seen


@pytest.fixture
def quick(workdir: Path) -> Path:
    """recipes/smoke.toml with a tiny eval (20 steps: a cancel finds it training)."""
    return _quick_recipe(workdir)


def _records_naming(pid: int) -> list[str]:
    """Every record on this machine that names `pid` as a trainer: job.json files, queue rows."""
    found = []
    for path in (state_dir() / "runs").glob("*/job.json"):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            found.append(str(path))
    found += [f"queue job {job.id}" for job in JobStore().jobs() if job.pid == pid]
    return found


def _one_direct_record(spawned: jobs.Spawned, run_id: str) -> None:
    pid = spawned.process.pid
    assert _records_naming(pid) == [str(RunFiles.for_run(run_id).job)]
    assert jobs.job_for(run_id).pid == pid and jobs.job_for(run_id).queue_job is None


def _stop(run_id: str) -> None:
    """Cancel the trainer once it has taken a step (it checkpoints and ends KILLED)."""
    tail = EventTail(RunFiles.for_run(run_id).events)
    wait_until(lambda: any(e["type"] == "step" for e in tail.read_new()), "a step", every=0.05)
    assert jobs.cancel(run_id, timeout_s=120)
    assert tracker_of(Path.cwd()).get_run(run_id).status == "KILLED"


def _started(starts: list, count: int) -> tuple[jobs.TrainerStart, jobs.Spawned]:
    assert len(starts) == count, [request for request, _ in starts]
    return starts[-1]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_direct_starts_go_through_start_trainer_with_one_record(
    workdir: Path, data_root: Path, quick: Path, starts: list
) -> None:
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.live.screen import LiveScreen
    from tests.tui.test_tui import runs_loaded, wait_for

    # `train --detach`
    done = cli_in_process(workdir, "train", "--detach", str(quick), "--data-dir", str(data_root))
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    request, spawned = _started(starts, 1)
    assert request.recipe_path == str(quick) and not request.attached
    _one_direct_record(spawned, run_id)
    _stop(run_id)

    # `train --resume RUN --detach`
    done = cli_in_process(workdir, "train", "--resume", run_id[:8], "--detach")
    assert done.returncode == 0 and done.stdout.strip() == run_id, done.stderr
    request, spawned = _started(starts, 2)
    assert request.resume == run_id
    _one_direct_record(spawned, run_id)
    _stop(run_id)

    app = HybridTuiApp(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    async with app.run_test(size=(160, 40)) as pilot:
        # the app's resume: R on Runs
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("R")
        await wait_for(pilot, lambda: len(starts) == 3, timeout=300, what="the resume")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 300, "Live")
        request, spawned = _started(starts, 3)
        assert request.resume == run_id
        _one_direct_record(spawned, run_id)
        os.killpg(spawned.process.pid, signal.SIGKILL)
        spawned.process.wait(30)

        # Compose's launch (the form's values, as its Launch button hands them over)
        await pilot.press("n")
        await pilot.pause()
        app.screen._launch(load_recipe(quick), str(data_root))
        await wait_for(pilot, lambda: len(starts) == 4, timeout=300, what="the launch")
        new = await _live_run(pilot, app, run_id)
        request, spawned = _started(starts, 4)
        _one_direct_record(spawned, new)
        os.killpg(spawned.process.pid, signal.SIGKILL)
        spawned.process.wait(30)


async def _live_run(pilot, app, other: str) -> str:
    """The run Live follows once it is not `other` (Compose opens Live on the new run)."""
    from tests.tui.test_tui import wait_for

    await wait_for(
        pilot, lambda: getattr(app.screen, "run_id", other) not in (None, other), 300, "Live"
    )
    return app.screen.run_id


def test_the_scheduler_starts_through_start_trainer_and_its_row_is_the_one_record(
    workdir: Path, data_root: Path, quick: Path, starts: list
) -> None:
    from hybrid_tui.queue.daemon import trackers
    from hybrid_tui.queue.scheduler import Scheduler, Slots
    from hybrid_tui.queue.submit import queue_recipe_files

    store = JobStore()
    (job,) = queue_recipe_files([str(quick)], data_dir=str(data_root), store=store)
    scheduler = Scheduler(store, Slots.for_cpu(1), tracker_for=trackers())
    scheduler.step()
    request, spawned = _started(starts, 1)
    assert request.env[QUEUE_JOB_ENV].startswith(f"{job.id}:")

    def learnt() -> str | None:
        scheduler.reconcile()
        return store.get(str(job.id)).run_id

    run_id = wait_until(learnt, "the job's run", every=0.05)
    row = store.get(str(job.id))
    record = json.loads(RunFiles.for_run(run_id).job.read_text(encoding="utf-8"))
    assert "pid" not in record and record["queue_job"] == f"{job.id}:{row.token}"
    assert _records_naming(spawned.process.pid) == [f"queue job {job.id}"]
    assert row.pid == spawned.process.pid == jobs.job_for(run_id).pid
    assert jobs.trainer_gone(run_id) is None  # alive, judged by its row
    os.killpg(spawned.process.pid, signal.SIGKILL)
    spawned.process.wait(30)
    scheduler.reconcile()  # the scheduler's pass is the reconciler of its jobs
    assert store.get(str(job.id)).state == "failed"
    assert tracker_of(workdir).get_run(run_id).status == "FAILED"


def test_the_study_and_the_demo_start_through_start_trainer_with_one_record(
    workdir: Path, data_root: Path, quick: Path, starts: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.study import run as study
    from hybrid_tui.study.plan import PlannedRun

    # the module, not the `demo` command function cli/__init__ defines under the same name
    demo = importlib.import_module("hybrid_tui.cli.demo")

    base = load_recipe(quick)
    base.train.steps = 2
    monkeypatch.setattr(study, "plan", lambda *_: [PlannedRun("mono", 0, 1.0, 0.0)])
    monkeypatch.setattr(study, "_evaluate_untrained", lambda *_: None)
    monkeypatch.setattr(study, "summarize_and_save", lambda *_: None)
    monkeypatch.setattr(study, "write_report", lambda *_: None)
    study.run_study(base, "one", 1, [], str(data_root), workdir / "study")
    request, spawned = _started(starts, 1)
    assert request.attached
    (run,) = tracker_of(workdir).list_runs()
    assert run.status == "FINISHED"
    _one_direct_record(spawned, run.run_id)

    monkeypatch.setattr(demo, "demo_recipe", lambda: load_recipe(quick))
    monkeypatch.setattr(demo, "resolve_model", lambda *_, **__: None)
    demo.run_demo(str(data_root), steps=2, max_questions=5)
    request, spawned = _started(starts, 2)
    assert request.attached
    (run_id,) = {run.run_id for run in tracker_of(workdir).list_runs()} - {run.run_id}
    _one_direct_record(spawned, run_id)
