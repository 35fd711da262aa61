"""The app's queue screen with jobs handed to Slurm: each shows `slurm` where a local job shows
its GPUs, and its Slurm job id and state; `j` opens it and `l` follows the run as for a local
job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.live.screen import LiveScreen
from tests.conftest import REPO
from tests.tui.test_tui import errors, queue_loaded, seed_run, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _slurm_jobs(run_id: str) -> list:
    """Three queued smoke jobs: one pending in Slurm, one resubmitted and running, one local."""
    from hybrid_tui.jobs.queue_store import SLURM, JobStore
    from hybrid_tui.queue.submit import queue_recipe_files

    store = JobStore()
    jobs = queue_recipe_files([str(REPO / "recipes" / "smoke.toml")], ["train.seed=0,1,2"])
    pending, resubmitted, _ = jobs
    store.claim(pending.id, "", None, "tok0", "/nowhere/0.log", backend=SLURM)
    store.set_slurm(pending.id, "812", "PENDING", steps=False)
    store.claim(resubmitted.id, "", None, "tok1", "/nowhere/1.log", backend=SLURM)
    store.resubmitting(resubmitted.id, "tok2", "/nowhere/2.log")
    store.set_slurm(resubmitted.id, "813", "RUNNING")
    store.set_run(resubmitted.id, run_id, "/nowhere/2.log")
    return [store.get(str(job.id)) for job in jobs]


async def test_the_queue_screen_shows_slurm_ids_and_states(workdir: Path) -> None:
    tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
    pending, resubmitted, local = _slurm_jobs(
        seed_run(tracking_uri, "in-slurm", mono=0.5, cross=0.5)
    )
    app = HybridTuiApp(tracking_uri=tracking_uri)
    async with app.run_test(size=(150, 30)) as pilot:
        screen = await queue_loaded(pilot)  # `j`, as for local jobs
        table = screen.query_one("#queue-table")

        def cells(job) -> dict[str, str]:
            row = table.get_row(str(job.id))
            return {key: str(cell) for (key, _), cell in zip(screen_columns(), row, strict=True)}

        assert cells(pending)["gpu"] == "slurm"
        assert cells(pending)["slurm"] == "812 PENDING"
        assert cells(pending)["state"] == "running"
        assert cells(resubmitted)["slurm"] == "813 RUNNING · resubmitted 1"
        assert cells(local)["slurm"] == "" and cells(local)["state"] == "queued"

        table.move_cursor(row=table.get_row_index(str(resubmitted.id)))
        await pilot.press("l")  # follows the Slurm job's run in Live, as for a local one
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), what="Live")
        assert not errors(app)


def screen_columns():
    from hybrid_tui.tui.queue.screen import COLUMNS

    return COLUMNS
