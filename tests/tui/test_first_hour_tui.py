"""Issue 27, the app's part: what a new user meets in the first hour at 80x24 (an SSH terminal
that gets resized): every figure on screen, seeds told apart, `?` that shows the screen's keys,
`r` that goes to Runs, marks that stay, a filter on the scale the tables show, and tags and notes
shown where runs are (Textual's Pilot, on a temporary store)."""

from __future__ import annotations

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.compose.screen import ComposeScreen
from hybrid_tui.tui.results.screen import ResultsScreen
from hybrid_tui.tui.runs.screen import RunsScreen
from tests.tui.test_tui import (
    _screen_text,
    errors,
    retype,
    row_ids,
    runs_loaded,
    seed_run,
    wait_for,
)

pytestmark = pytest.mark.anyio

THREE_WAY = "mono 0.58 / cross 0.25 / multi 0.17"
FIGURES = ("steps", "mono", "cross", "multi", "bias")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir) -> str:
    import os

    return os.environ["MLFLOW_TRACKING_URI"]


def seeded(uri: str, seed: int, multi: float, name: str = "smoke") -> str:
    """A FINISHED run of a three-way mix, as three seeds of one recipe leave them."""
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    run_id = tracker.start_run("tui-tests", name, {"hybrid_tui.mix": THREE_WAY})
    tracker.log_params(run_id, {"train.steps": "60", "train.lr": "3e-05", "train.seed": str(seed)})
    metrics = {f"eval/xquad_r/{s}/avg/map": 0.5 for s in ("mono", "cross")}
    metrics["eval/xquad_r/multi/avg/map"] = multi
    metrics["eval/xquad_r/bias/avg/rank_distance"] = 4.25
    tracker.log_metrics(run_id, metrics, 60)
    tracker.end_run(run_id, "FINISHED")
    return run_id


@pytest.fixture
def seeds(store: str) -> list[str]:
    return [seeded(store, seed, multi) for seed, multi in ((0, 0.509), (1, 0.481), (2, 0.47))]


def _figures_on_screen(app) -> None:
    """Every figure column's heading and the bias figure itself are within the 80 columns."""
    shown = _screen_text(app)
    for column in FIGURES:
        assert column in shown, column
    assert (
        "4.2" in shown or "4.3" in shown
    )  # the bias figure (rank positions), not only its heading
    assert "50.9" in shown and "47.0" in shown


# ---------------------------------------------------------------------------- item 4


async def test_at_80x24_a_finished_three_way_run_keeps_every_figure(seeds, store) -> None:
    seeded(store, 3, 0.45, name="xquad-three-way-mix-long-name")  # a name as recipes get them
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        _figures_on_screen(app)


async def test_a_resize_to_80x24_gives_the_figures_their_room_back(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await runs_loaded(pilot)
        assert THREE_WAY in _screen_text(app)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: screen.size.width == 80, what="the resize")
        await pilot.pause()
        _figures_on_screen(app)
        await pilot.resize_terminal(160, 45)
        await wait_for(pilot, lambda: THREE_WAY in _screen_text(app), what="the wide mix again")


# ---------------------------------------------------------------------------- item 5


async def test_three_seeds_of_one_recipe_are_told_apart_at_80_columns(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        shown = _screen_text(app)
        for seed in range(3):
            assert f"smoke s{seed}" in shown


# ---------------------------------------------------------------------------- item 6


async def test_question_mark_at_80x24_shows_the_screens_own_keys(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        shown = _screen_text(app)
        for description in ("Mark", "Compare marked", "Delete", "Filter", "Tag", "Note", "Sort"):
            assert description in shown, description
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


async def test_question_mark_in_compose_opens_help_and_lists_the_mix_editor(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), what="Compose")
        compose = app.screen
        field = compose.query_one("#mix-mono")
        field.focus()
        await pilot.pause()
        before = field.value
        await pilot.press("question_mark")
        await pilot.pause()
        assert field.value == before  # not typed into the weight
        shown = _screen_text(app)
        assert "Launch" in shown and "Save" in shown
        assert "mix" in shown.lower() and "weight" in shown.lower()  # the mix editor's keys
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is compose


# ---------------------------------------------------------------------------- item 7


async def test_r_from_live_goes_to_runs_not_a_stale_results(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="Results")
        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_mode == "live", what="Live")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.current_mode == "runs", what="Runs")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


async def test_compare_marks_stay_after_leaving_runs(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("c", "c")
        marked = list(screen.marked)
        assert len(marked) == 2
        trips = [("n", "escape", "r"), ("l", "r"), ("j", "r"), ("C", "escape"), ("C", "r")]
        trips += [("enter", "escape"), ("enter", "r"), ("enter", "l", "r")]
        for keys in trips:
            await pilot.press(*keys)
            await wait_for(pilot, lambda: app.screen is screen, what=f"Runs after {keys}")
            await pilot.pause(0.3)
            assert screen.marked == marked, keys
        assert "2 marked" in _screen_text(app)


# ---------------------------------------------------------------------------- item 8


async def test_the_filter_reads_numbers_on_the_scale_the_table_shows(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"multi>50", "enter")
        assert row_ids(screen) == [seeds[0]]  # 50.9 as shown; 48.1 and 47.0 are not
        assert "1 of 3 runs" in _screen_text(app)  # the count follows the filter
        await retype(pilot, "#runs-filter", "metrics.`eval/xquad_r/multi/avg/map` > 0.5")
        assert row_ids(screen) == [seeds[0]]  # MLflow's syntax keeps MLflow's raw scale
        assert not errors(app)


async def test_the_sort_arrow_shows_on_a_narrow_column(seeds, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        while screen.sort_column != "multi":
            await pilot.press("s")
        await pilot.pause()
        assert "multi ▼" in _screen_text(app)
        await pilot.press("S")
        await pilot.pause()
        assert "multi ▲" in _screen_text(app)


# ---------------------------------------------------------------------------- item 9


async def test_tags_and_the_note_show_in_results_and_the_runs_table(store) -> None:
    from hybrid_tui.runs.labels import note_run, tag_run
    from hybrid_tui.tracking import Tracker

    plain_run = seed_run(store, "untagged")
    tagged = seed_run(store, "tagged")
    tracker = Tracker(store)
    tag_run(tracker, tagged, {"team": "ir"})
    note_run(tracker, tagged, "loss flat after 2k")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert "✎" in str(table.get_cell(tagged, "mark"))
        assert "✎" not in str(table.get_cell(plain_run, "mark"))
        assert "✎ tags or a note" in _screen_text(app)  # what the mark means
        table.move_cursor(row=table.get_row_index(tagged))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="Results")
        await wait_for(pilot, lambda: app.screen.detail is not None, what="the run")
        await pilot.pause()
        shown = _screen_text(app)
        assert "team=ir" in shown and "loss flat after 2k" in shown
