"""The runs screen and Compare as a user sees them: short ids, the config diff, param columns,
tags and notes, and the list refreshing on its own (Textual's Pilot, on a temporary store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.results.compare import CompareScreen
from tests.tui.test_tui import (
    _screen_text,
    errors,
    retype,
    row_ids,
    runs_loaded,
    seed_run,
    text_of,
    wait_for,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir) -> str:
    import os

    return os.environ["MLFLOW_TRACKING_URI"]


@pytest.fixture
def twins(store: str) -> list[str]:
    """Two runs with the same name that only their ids (and lr) tell apart."""
    return [seed_run(store, "smoke", lr=1.0), seed_run(store, "smoke", lr=1e-3, shift=0.05)]


def _cells(screen, run_id: str) -> list[str]:
    table = screen.query_one("#runs-table")
    return [str(cell) for cell in table.get_row(run_id)]


async def test_the_runs_table_shows_each_runs_short_id(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        for run_id in twins:
            assert run_id[:8] in _cells(screen, run_id)
        shown = _screen_text(app).replace(" ", "")  # the SVG may split a word in two
        assert twins[0][:8] in shown and twins[1][:8] in shown  # on screen at 80x24


async def test_the_delete_dialog_names_the_run_by_its_short_id(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await runs_loaded(pilot)
        highlighted = screen.highlighted_run_id()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert highlighted[:8] in text_of(app, "#confirm-question")
        await pilot.press("n")


async def test_compare_shows_short_ids_and_the_config_diff(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        for run_id in twins:
            table.move_cursor(row=table.get_row_index(run_id))
            await pilot.press("c")
        await pilot.press("C")
        assert isinstance(app.screen, CompareScreen)
        await wait_for(
            pilot, lambda: app.screen.query("#compare-config-diff"), what="the config diff"
        )
        await pilot.pause(0.2)
        title = text_of(app, "#compare-title")
        assert twins[0][:8] in title and twins[1][:8] in title
        shown = _screen_text(app)
        assert re.search(r"train\.lr\s+1\.0\s+0\.001", shown), shown
        assert "config diff" in shown and "sampler.mono" not in shown
        assert not errors(app)


async def test_the_runs_table_shows_lr_batch_and_seed(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(200, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert [str(table.get_cell(run_id, "train.lr")) for run_id in twins] == ["1.0", "0.001"]
        assert str(table.get_cell(twins[0], "train.batch_size")) == "16"
        labels = {str(column.label).strip() for column in table.columns.values()}
        assert {"lr", "batch", "seed"} <= labels
        shown = _screen_text(app)
        assert "0.001" in shown


async def test_the_runs_table_shows_the_best_multilingual_map_and_its_step(twins, store) -> None:
    from tests.cli.test_cli_runs import _evaluated_twice

    _evaluated_twice(store, twins[0], 0.9, 5)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(200, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert (str(table.get_cell(twins[0], "best")), str(table.get_cell(twins[0], "at"))) == (
            "90.0",
            "5",
        )
        assert str(table.get_cell(twins[1], "at")) == "20"


async def test_the_filter_takes_the_cli_syntax(twins, store) -> None:
    killed = seed_run(store, "other", status="KILLED", lr=0.5)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"lr=1e-3", "enter")
        assert row_ids(screen) == [twins[1]]
        await retype(pilot, "#runs-filter", "attributes.status = 'KILLED'")
        assert row_ids(screen) == [killed]
        await retype(pilot, "#runs-filter", "metrics.`eval/xquad_r/multi/avg/map` > 0.36")
        assert row_ids(screen) == [twins[1]]
        await retype(pilot, "#runs-filter", "multi>high")
        assert (
            len(row_ids(screen)) == 3
        )  # an expression it cannot read filters nothing, and says so
        assert "multi is compared with a number, not 'high'" in text_of(app, "#runs-empty")
        await pilot.press("escape")
        assert len(row_ids(screen)) == 3 and not errors(app)


async def test_sorting_goes_both_ways_and_the_header_says_which(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(200, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        while screen.sort_column != "train.lr":
            await pilot.press("s")
        assert row_ids(screen) == twins  # 1.0 first: figures sort largest first
        assert str(table.columns["train.lr"].label) == "lr ▼"
        await pilot.press("S")
        assert row_ids(screen) == twins[::-1]
        assert str(table.columns["train.lr"].label) == "lr ▲"


async def test_tag_and_note_from_the_runs_screen(twins, store) -> None:
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tui.dialogs.text_prompt import TextPromptScreen

    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        run_id = screen.highlighted_run_id()
        await pilot.press("t")
        assert isinstance(app.screen, TextPromptScreen)
        assert run_id[:8] in text_of(app, "#prompt-question")
        await pilot.press(*'team=ir stage="try 2"', "enter")
        await wait_for(pilot, lambda: Tracker(store).get_run(run_id).tags.get("team") == "ir")
        assert Tracker(store).get_run(run_id).tags["stage"] == "try 2"
        await pilot.press("N")
        await pilot.press(*"loss flat", "enter")
        await wait_for(
            pilot,
            lambda: Tracker(store).get_run(run_id).tags.get("mlflow.note.content") == "loss flat",
            what="the note",
        )
        await wait_for(pilot, lambda: screen._run(run_id).tags.get("team") == "ir", what="reload")
        await pilot.press("slash", *"tags.team = 'ir'", "enter")
        assert row_ids(screen) == [run_id]  # the filter finds the tag just set
        await pilot.press("escape", "t", *"oops", "enter")
        await wait_for(pilot, lambda: errors(app), what="the error")
        assert errors(app) == ["tag 'oops' is not KEY=VALUE (e.g. team=ir)"]


async def test_runs_started_elsewhere_appear_on_their_own(twins, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(twins[0]))
        await pilot.press("c")  # marked, and the cursor moves on to the next run
        cursor_on = screen.highlighted_run_id()
        started = seed_run(store, "from-the-cli", status="RUNNING")  # as `hybrid-tui train` does
        await wait_for(pilot, lambda: started in row_ids(screen), what="the new run, without r")
        assert screen.highlighted_run_id() == cursor_on and screen.marked == [twins[0]]
        assert not errors(app)


@pytest.fixture
def training(store, workdir):
    """A RUNNING run whose recorded trainer is a real (sleeping) process: (run id, process)."""
    import os

    from hybrid_tui.runs.files import RunFiles
    from tests.cli.test_cli_reads import _record_trainer, trainer_stand_in

    live = seed_run(store, "training", status="RUNNING")
    trainer = trainer_stand_in(RunFiles.for_run(live).events)
    try:
        _record_trainer(Path(os.environ["HYBRID_TUI_HOME"]), live, trainer.pid)
        yield live, trainer
    finally:
        trainer.kill()
        trainer.wait()


async def test_cancel_asks_first_then_stops_the_trainer(store, training) -> None:
    live, trainer = training
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        assert screen.highlighted_run_id() == live
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        assert live[:8] in text_of(app, "#confirm-question")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert trainer.poll() is None  # kept training
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: trainer.poll() is not None, what="the trainer to stop")


async def test_live_cancel_stops_the_trainer_it_shows(store, training) -> None:
    from hybrid_tui.tui.live.screen import LiveScreen

    live, trainer = training
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        await runs_loaded(pilot)
        app.open_live(live)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), what="Live")
        await pilot.press("x")
        await wait_for(pilot, lambda: trainer.poll() is not None, what="the trainer to stop")
        assert not errors(app)


async def test_resume_relaunches_a_killed_run_from_its_checkpoint(store, monkeypatch) -> None:
    from hybrid_tui import jobs
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tui.live.screen import LiveScreen

    killed = seed_run(store, "stopped", status="KILLED")
    finished = seed_run(store, "done")
    asked: list = []

    def launch(request):
        asked.append((request.recipe_path, request.resume))
        return jobs.Job(request.resume, 0, None, RunFiles.for_run(request.resume).log)

    # the trainer itself is tested in test_checkpoint
    monkeypatch.setattr(jobs.launch, "launch_detached", launch)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(finished))
        await pilot.press("R")
        table.move_cursor(row=table.get_row_index(killed))
        await pilot.press("R")  # no checkpoint yet
        await pilot.pause(0.2)
        assert asked == [] and any("has no checkpoint" in e for e in errors(app))
        checkpoint = RunFiles.for_run(killed).checkpoint
        checkpoint.mkdir(parents=True)
        (checkpoint / "state.json").write_text("{}")
        await pilot.press("R")
        await wait_for(pilot, lambda: asked, what="the resume")
        assert asked == [(None, killed)]  # as `hybrid-tui train --resume RUN --detach` launches
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), what="Live")


async def test_at_80_columns_the_mix_is_compact_and_the_figures_stay_on_screen(store) -> None:
    seed_run(store, "two-way")
    mixed = _seed_three_way(store)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert str(table.get_cell(mixed, "mix")) == "m.58 c.25 x.17"
        shown = _screen_text(app)
        assert "m.58 c.25 x.17" in shown and "mono 0.58" not in shown
        for column in ("steps", "mono", "cross", "multi", "bias"):
            assert column in shown, column
        await pilot.resize_terminal(200, 40)
        await wait_for(pilot, lambda: not screen.compact, what="the wide layout")
        assert str(table.get_cell(mixed, "mix")) == "mono 0.58 / cross 0.25 / multi 0.17"


def _seed_three_way(uri: str) -> str:
    """A run whose mix has all three batch types (the long label)."""
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    run_id = tracker.start_run(
        "tui-tests", "three", {"hybrid_tui.mix": "mono 0.58 / cross 0.25 / multi 0.17"}
    )
    tracker.log_params(run_id, {"train.steps": "60", "train.lr": "3e-05"})
    tracker.log_metrics(
        run_id, {f"eval/xquad_r/{s}/avg/map": 0.5 for s in ("mono", "cross", "multi")}, 60
    )
    tracker.end_run(run_id, "FINISHED")
    return run_id
