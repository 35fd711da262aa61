"""The runs table of a store of thousands of runs shows its first screen at once and adds the
rest a step at a time (adding a row measures each of its cells: 5000 rows took seconds on the
UI thread before anything showed). The count says every run from the start; a sort or a
refresh while rows are still being added ends with the new order, each run once; the run the
cursor was on stays highlighted."""

from __future__ import annotations

import pytest

from hybrid_tui.tracking.records import RunSummary
from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.messages import RunsLoaded
from hybrid_tui.tui.runs import screen as runs_screen
from tests.tui.test_tui import runs_loaded, wait_for

RUNS = 12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps of a few rows, so that a dozen runs stand for thousands."""
    monkeypatch.setattr(runs_screen, "FIRST_ROWS", 3)
    monkeypatch.setattr(runs_screen, "ROWS_PER_STEP", 4)


def _runs() -> list[RunSummary]:
    return [
        RunSummary(
            run_id=f"{index:02d}" + "a" * 30,
            name=f"run-{(index * 7) % RUNS:02d}",
            status="FINISHED",
            start_time=1_700_000_000_000 + index * 1000,
            model="tiny",
            mix="mono 1.00",
            steps=10,
            headline={"multi": 0.5 + index / 100},
            best_multi=None,
            best_multi_step=None,
            params={},
            tags={},
            latest={},
        )
        for index in range(RUNS)
    ]


def _keys(table) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


@pytest.mark.anyio
async def test_the_first_rows_show_at_once_and_the_rest_follow(workdir, small_steps) -> None:
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        screen.on_runs_loaded(RunsLoaded(_runs(), frozenset()))
        assert table.row_count == 3  # the first screen, before anything else runs
        assert f"{RUNS} runs" in str(screen.query_one("#runs-empty").render())
        await wait_for(pilot, lambda: table.row_count == RUNS, what="every row")
        newest_first = [run.run_id for run in reversed(_runs())]
        assert _keys(table) == newest_first


@pytest.mark.anyio
async def test_a_sort_while_rows_are_added_ends_in_the_new_order(workdir, small_steps) -> None:
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        screen.on_runs_loaded(RunsLoaded(_runs(), frozenset()))
        screen.sort_column, screen.sort_reverse = "name", False
        screen.populate()
        await wait_for(pilot, lambda: table.row_count >= RUNS, what="every row")
        await pilot.pause(0.2)  # an older fill's steps, were they still going, would add more
        by_name = [run.run_id for run in sorted(_runs(), key=lambda run: run.name)]
        assert _keys(table) == by_name


@pytest.mark.anyio
async def test_the_highlighted_run_stays_highlighted_beyond_the_first_rows(
    workdir, small_steps
) -> None:
    app = HybridTuiApp()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        screen.on_runs_loaded(RunsLoaded(_runs(), frozenset()))
        await wait_for(pilot, lambda: table.row_count == RUNS, what="every row")
        table.move_cursor(row=9)
        chosen = screen.highlighted_run_id()
        screen.populate()  # what a refresh does
        await wait_for(pilot, lambda: table.row_count == RUNS, what="every row again")
        assert screen.highlighted_run_id() == chosen
