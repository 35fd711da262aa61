"""The app shows hostile text as text (issue 20, items 1-2): run names, tags, notes and recipe
values holding markup, control sequences or any unicode, on the runs table, Results, Compare,
the note and delete dialogs and notifications; and any filter typed into the runs screen.

What is checked is what the app would write to the terminal: the screen as Textual's
compositor renders it, less Textual's own cursor and colour sequences (CSI)."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid_tui.display_text import visible
from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.dialogs.text_prompt import TextPromptScreen
from hybrid_tui.tui.results.compare import CompareScreen
from hybrid_tui.tui.results.screen import ResultsScreen
from tests.cli.test_hostile_text import UNSAFE, hostile, long_text, plant, terminal_safe
from tests.tui.test_tui import runs_loaded, text_of, wait_for

_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # Textual's own: cursor moves, colours, styles
typed = hostile.filter(lambda text: not UNSAFE.search(text))  # what a keyboard can type


def screen_output(app) -> str:
    """The characters the app writes for its whole screen, without Textual's own sequences."""
    update = app.screen._compositor.render_full_update()
    return _CSI.sub("", update.render_segments(app.console))


def screen_safe(app) -> str:
    out = screen_output(app)
    terminal_safe(out)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    from hybrid_tui.tracking import Tracker

    folder = tmp_path_factory.mktemp("hostile-tui")
    patch = pytest.MonkeyPatch()
    patch.setenv("HYBRID_TUI_HOME", str(folder / ".hybrid-tui"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = Tracker(uri)
    base = tracker.start_run("hostile", "base", {"hybrid_tui.mix": "mono 1.00"})
    tracker.log_metrics(base, {"eval/xquad_r/mono/en/map": 0.5}, 10)
    tracker.end_run(base, "FINISHED")
    yield {"uri": uri, "base": base}
    patch.undo()


async def _visit(store, run_id: str, name: str, note: str, filter_text: str) -> None:
    app = HybridTuiApp(tracking_uri=store["uri"])
    async with app.run_test(size=(240, 50)) as pilot:
        runs = await runs_loaded(pilot)
        table = runs.query_one("#runs-table")
        await wait_for(pilot, lambda: run_id in table.rows, what="the planted run")
        assert visible(name) in [str(cell) for cell in table.get_row(run_id)]
        assert visible(name).strip()[:40] in screen_safe(app)

        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("x")  # a finished run: a notification naming it
        await pilot.pause()
        screen_safe(app)
        await pilot.press("N")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="note")
        assert app.screen.query_one("#prompt-input").value == visible(note)
        screen_safe(app)
        await pilot.press("escape")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert visible(name) in text_of(app, "#confirm-question")
        screen_safe(app)
        await pilot.press("n")

        app.open_results(run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
        await wait_for(pilot, lambda: app.screen.detail is not None, what="the run's detail")
        await pilot.pause()
        assert visible(name) in text_of(app, "#results-title")
        screen_safe(app)
        app.pop_screen()

        app.open_compare([store["base"], run_id])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        await wait_for(pilot, lambda: app.screen.query("#compare-config-diff"), what="the diff")
        await pilot.pause()
        assert visible(name) in text_of(app, "#compare-title")
        screen_safe(app)
        app.pop_screen()

        await pilot.pause()
        runs.query_one("#runs-filter").value = filter_text
        await pilot.pause()
        screen_safe(app)
        assert not app._exception


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    name=hostile,
    tag=hostile,
    note=hostile,
    value=hostile,
    filter_text=st.one_of(typed, long_text.filter(lambda text: not UNSAFE.search(text))),
)
def test_the_app_shows_hostile_text_as_text(store, name, tag, note, value, filter_text) -> None:
    run_id = plant(store["uri"], name, tag, note, value)
    asyncio.run(_visit(store, run_id, name, note, filter_text))


def test_enter_on_an_escaped_note_keeps_the_note(store) -> None:
    """The note field shows `\\x1b` for an ESC; saving that unchanged must not rewrite it."""
    from hybrid_tui.tracking import Tracker

    note = "see \x1b]0;title\x07 here"
    run_id = plant(store["uri"], "noted", "t", note, "v")

    async def save_unchanged() -> None:
        app = HybridTuiApp(tracking_uri=store["uri"])
        async with app.run_test(size=(200, 40)) as pilot:
            runs = await runs_loaded(pilot)
            table = runs.query_one("#runs-table")
            await wait_for(pilot, lambda: run_id in table.rows, what="the planted run")
            table.move_cursor(row=table.get_row_index(run_id))
            await pilot.press("N")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="note")
            assert app.screen.query_one("#prompt-input").value == visible(note)
            await pilot.press("enter")
            await pilot.pause(0.5)
            await app.workers.wait_for_complete()

    asyncio.run(save_unchanged())
    assert Tracker(store["uri"]).get_run(run_id).tags["mlflow.note.content"] == note


def test_compose_lists_a_recipe_file_named_like_markup(workdir) -> None:
    """A recipe file named `[red]…` (with an OSC sequence) was listed as `plan…` in Compose's
    picker, its OSC sequence sent to the terminal."""
    (workdir / "recipes").mkdir()
    name = "[red]plan\x1b]0;t\x07.toml"
    (workdir / "recipes" / name).write_text('name = "x"\n', encoding="utf-8")

    async def open_compose() -> None:
        app = HybridTuiApp(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
        async with app.run_test(size=(160, 50)) as pilot:
            await runs_loaded(pilot)
            await pilot.press("n")
            await wait_for(pilot, lambda: app.current_mode == "compose", what="compose")
            await pilot.pause()
            picker = app.screen.query_one("#recipe-file")
            prompts = [str(prompt) for prompt, _ in picker._options]
            assert f"recipes/{visible(name)}" in prompts
            screen_safe(app)
            assert not app._exception

    asyncio.run(open_compose())
