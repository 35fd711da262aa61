"""Reading never writes: `runs`, `show`, `queue ls` and the app's Runs and Queue screens show a
run (and a queue job) whose trainer died unseen as `RUNNING · trainer gone`, and leave the stores
as they were; `hybrid-tui reconcile`, asked, marks them FAILED."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_tui.jobs import launch_files
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.paths import state_dir
from hybrid_tui.queue.submit import queue_recipe_files
from hybrid_tui.runs.files import RunFiles
from tests.conftest import REPO, tracker_of
from tests.tui.test_tui import runs_loaded, seed_run, wait_for

SMOKE = str(REPO / "recipes" / "smoke.toml")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _record(run_id: str, **process) -> None:
    """A run's job record as its trainer writes it (`process`: its pid, or its queue job)."""
    files = RunFiles.for_run(run_id)
    files.root.mkdir(parents=True, exist_ok=True)
    files.log.write_text("step 3 of 20\nKilled\n", encoding="utf-8")
    record = {"run_id": run_id, "log": str(files.log), **process}
    files.job.write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def gone(workdir: Path) -> dict:
    """A direct run and a queued job's run, both RUNNING, whose trainers were killed unseen."""
    uri = os.environ["MLFLOW_TRACKING_URI"]
    dead = _dead_pid()
    direct = seed_run(uri, "direct", status="RUNNING")
    _record(direct, pid=dead, start_ticks=1)
    store = JobStore()
    (job,) = queue_recipe_files([SMOKE], store=store)
    store.claim(job.id, "cpu0", "", "tok", str(launch_files("tok")[1]))
    store.set_process(job.id, dead, 1)
    queued = seed_run(uri, "queued", status="RUNNING")
    store.set_run(job.id, queued, str(RunFiles.for_run(queued).log))
    _record(queued, queue_job=f"{job.id}:tok")
    return {"direct": direct, "queued": queued, "job": job.id, "uri": uri}


def _stores(workdir: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of the tracking store, the queue and every job record (each sqlite file's
    write-ahead log checkpointed first, so a later read cannot merely move pages)."""
    files = [workdir / "mlflow.db", state_dir() / "queue.db"]
    for db in files:
        sqlite3.connect(db).execute("pragma wal_checkpoint(truncate)").connection.close()
    files += sorted((state_dir() / "runs").glob("*/job.json"))
    return {str(path): (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


def _statuses(workdir: Path) -> dict[str, str]:
    return {run.run_id: run.status for run in tracker_of(workdir).list_runs()}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_reads_show_a_gone_trainer_and_only_reconcile_marks_it(
    run_cli, workdir: Path, gone: dict
) -> None:
    from hybrid_tui.tui.app import HybridTuiApp

    direct, queued = gone["direct"], gone["queued"]
    before = _stores(workdir)

    table = run_cli("runs", check_code=0).stdout
    assert "RUNNING · trainer gone" in table and "hybrid-tui reconcile" in table
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)
    shown = {run["run_id"]: (run["status"], run["trainer_gone"]) for run in listed}
    assert shown[direct] == shown[queued] == ("RUNNING", True)
    assert "RUNNING · trainer gone" in run_cli("show", direct[:8], check_code=0).stdout
    assert json.loads(run_cli("show", direct, "--json", check_code=0).stdout)["trainer_gone"]
    assert "running · trainer gone" in run_cli("queue", "ls", check_code=0).stdout
    (job,) = json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)["jobs"]
    assert (job["state"], job["trainer_gone"]) == ("running", True)

    app = HybridTuiApp(tracking_uri=gone["uri"])
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        status = str(table.get_row(direct)[[c.value for c in table.columns].index("status")])
        assert status == "RUNNING · trainer gone"
        await pilot.press("j")
        await wait_for(pilot, lambda: getattr(app.screen, "jobs", None), what="the queue")
        await wait_for(pilot, lambda: app.screen.gone == {gone["job"]}, what="the gone job")

    assert _stores(workdir) == before  # nothing was written by any of the reads
    assert _statuses(workdir)[direct] == _statuses(workdir)[queued] == "RUNNING"

    done = json.loads(run_cli("reconcile", "--json", check_code=0).stdout)
    assert done["failed"] == [direct]
    assert done["queue_jobs"] == [{"id": gone["job"], "state": "failed", "run_id": queued}]
    assert _statuses(workdir)[direct] == _statuses(workdir)[queued] == "FAILED"
    assert JobStore().get(str(gone["job"])).state == "failed"
    again = run_cli("reconcile", check_code=0).stdout
    assert "nothing to mark" in again  # judged once
