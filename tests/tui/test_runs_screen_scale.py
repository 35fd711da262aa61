"""The runs screen on a store of many runs (issue 22): the newest page is on screen before any
older run is read; older runs are read as the user reaches them, or all at once for a sort; a
refresh redraws a run that changed elsewhere in place, having read only that run. A dozen runs
and pages of three stand for thousands of runs and pages of a hundred."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hybrid_tui.runs import run_feed
from hybrid_tui.tracking import Tracker
from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.runs import screen as runs_screen
from tests.tui.test_tui import runs_loaded, wait_for

RUNS = 12
DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_feed, "FIRST_PAGE", 3)
    monkeypatch.setattr(run_feed, "STEP", 4)
    monkeypatch.setattr(runs_screen, "STEP", 4)


@pytest.fixture
def store(workdir) -> tuple[Tracker, list[str]]:
    """`RUNS` finished runs whose points were logged a day ago; ids oldest first."""
    from mlflow.entities import Metric

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    ids = []
    for index in range(RUNS):
        run_id = tracker.start_run("scale", run_name=f"run-{index:02d}")
        stamp = int(time.time() * 1000) - DAY_MS
        tracker.client.log_batch(run_id, metrics=[Metric("train/loss", 1.0, stamp, 1)])
        tracker.end_run(run_id)
        ids.append(run_id)
    return tracker, ids


def _keys(table) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def _count_line(screen) -> str:
    return str(screen.query_one("#runs-empty").render())


@pytest.mark.anyio
async def test_the_newest_page_shows_before_older_runs_are_read(
    store, small_pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = store
    asked, release = threading.Event(), threading.Event()
    read_more = run_feed.RunFeed.read_more

    def held(feed, count=None):
        asked.set()
        release.wait(30)
        return read_more(feed, count)

    monkeypatch.setattr(run_feed.RunFeed, "read_more", held)
    app = HybridTuiApp()
    try:
        async with app.run_test(size=(160, 30)) as pilot:
            screen = await runs_loaded(pilot)
            table = screen.query_one("#runs-table")
            await wait_for(pilot, asked.is_set, what="older runs asked for")
            assert _keys(table) == ids[::-1][:3]  # the newest page, older runs not read yet
            assert f"the newest 3 of {RUNS} read" in _count_line(screen)
            release.set()
            await wait_for(pilot, lambda: table.row_count == RUNS, what="every run")
            assert _keys(table) == ids[::-1]
            assert _count_line(screen).startswith(f"{RUNS} runs")
    finally:
        release.set()


@pytest.mark.anyio
async def test_a_sort_reads_every_run_first(store, small_pages, monkeypatch) -> None:
    _, ids = store
    monkeypatch.setattr(runs_screen, "FIRST_ROWS", 3)
    monkeypatch.setattr(run_feed.RunFeed, "read_more", _read_only_when_all_asked())
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert _keys(table) == ids[::-1][:3]
        screen.sort_column, screen.sort_reverse = "name", False
        screen.populate()
        await wait_for(pilot, lambda: table.row_count == RUNS, what="every run, by name")
        assert _keys(table) == ids  # run-00 … run-11


def _read_only_when_all_asked():
    """`read_more` that reads nothing for a step (as if the user had not scrolled yet)."""
    read_more = run_feed.RunFeed.read_more

    def only_all(feed, count=None):
        return read_more(feed, count) if count is None else feed.runs()

    return only_all


@pytest.mark.anyio
async def test_a_run_ended_elsewhere_is_redrawn_in_place_and_alone_read(workdir, store) -> None:
    tracker, ids = store
    running = tracker.start_run("scale", run_name="training")
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=4)
        chosen = screen.highlighted_run_id()
        read = _count_reads(app.tracker())
        Tracker(tracker.uri).end_run(running, "KILLED")  # another process
        screen._refresh()  # what the screen's timer calls every few seconds
        await wait_for(
            pilot,
            lambda: str(table.get_cell(running, "status")).startswith("KILLED"),
            what="the run's new status",
        )
        assert read == [running]  # no other run read again
        assert screen.highlighted_run_id() == chosen
        assert _keys(table) == [running, *ids[::-1]]


def _count_reads(tracker: Tracker) -> list[str]:
    """The ids of the runs the app's tracker reads from now on (a seam on `list_runs`)."""
    read: list[str] = []
    list_runs = tracker.list_runs

    def counted(*args, **kwargs):
        runs = list_runs(*args, **kwargs)
        read.extend(run.run_id for run in runs)
        return runs

    tracker.list_runs = counted
    return read


@pytest.mark.anyio
async def test_a_filter_on_a_param_the_table_does_not_show_reads_it(store) -> None:
    """Rows carry the params of the table's columns; a filter on another one has it read."""
    tracker, ids = store
    tracker.log_params(ids[3], {"data.lang": "de"})
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        screen.query_one("#runs-filter").value = "params.`data.lang` = 'de'"
        await wait_for(pilot, lambda: _keys(table) == [ids[3]], what="the one run with the param")
