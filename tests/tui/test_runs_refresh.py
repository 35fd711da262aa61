"""The runs screen refreshes on a timer without re-reading a store nothing was written to (on
thousands of runs each re-read cost a core), and still shows a run written elsewhere at the next
refresh."""

from __future__ import annotations

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from tests.tui.test_tui import queue_loaded, runs_loaded, seed_run, wait_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir) -> str:
    import os

    uri = os.environ["MLFLOW_TRACKING_URI"]
    seed_run(uri, "first")
    return uri


async def refreshed(pilot, screen) -> None:
    screen._refresh()  # what the screen's timer calls every few seconds
    await settled(pilot)


@pytest.mark.anyio
async def test_an_unchanged_store_is_not_read_again(store: str) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        tracker = app.tracker()
        reads: list[str | None] = []
        list_runs = tracker.list_runs

        def counted(*args, **kwargs):
            reads.append(kwargs.get("status", args[1] if len(args) > 1 else None))
            return list_runs(*args, **kwargs)

        tracker.list_runs = counted
        for _ in range(3):
            await refreshed(pilot, screen)
        assert [status for status in reads if status is None] == []  # only RUNNING checks
        assert screen.query_one("#runs-table").row_count == 1


@pytest.mark.anyio
async def test_a_run_written_elsewhere_shows_at_the_next_refresh(store: str) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        await refreshed(pilot, screen)
        new = seed_run(store, "second")
        await refreshed(pilot, screen)
        table = screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="the new run")
        assert new in {run.run_id for run in screen.runs}


@pytest.mark.anyio
async def test_the_queue_screen_redraws_only_what_moves(store: str) -> None:
    """Ended jobs that nothing changes are not redrawn every 2 s; a job removed meanwhile is."""
    from hybrid_tui.jobs.queue_store import JobStore, NewJob

    jobs = JobStore()
    job = NewJob("job", "r.toml", "/r.toml", [], 1, 0, ".", store)
    added = jobs.add([job, job])
    jobs.remove([str(added[0].id)])  # removed: ended, its times no longer move
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await queue_loaded(pilot)
        jobs.remove([str(added[1].id)])
        await refreshed_queue(pilot, screen)
        assert {job.state for job in screen.jobs} == {"removed"}
        redraws: list[int] = []
        populate = screen.populate
        screen.populate = lambda: redraws.append(1) or populate()
        for _ in range(3):
            await refreshed_queue(pilot, screen)
        assert redraws == []


async def refreshed_queue(pilot, screen) -> None:
    screen.reload()  # what the screen's timer calls every 2 s
    await settled(pilot)


async def settled(pilot) -> None:
    """Every worker done (the screen's own timer may start one too: waited for alike)."""
    await pilot.pause()
    await wait_for(pilot, lambda: not any(w.is_running for w in pilot.app.workers), what="reads")
    await pilot.pause()
