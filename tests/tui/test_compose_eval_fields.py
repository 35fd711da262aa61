"""Issue 27 item 12, Compose at 80x24: the evaluation's size is on the form (questions and
languages, starting from the demo's bounded 150 questions, so a launch from the defaults does not
evaluate every question for minutes), checked like every other field and carried into the
recipe a launch trains; and the "save as" path can be read whole (Textual's Pilot)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybrid_tui.recipe import load_recipe
from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.compose.screen import ComposeScreen
from tests.tui.test_live_panes import screen_rows
from tests.tui.test_tui import errors, retype, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir: Path) -> str:
    return os.environ["MLFLOW_TRACKING_URI"]


async def compose(pilot) -> ComposeScreen:
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ComposeScreen), what="Compose")
    await pilot.pause()
    return pilot.app.screen


async def test_the_eval_fields_start_bounded_and_reach_the_launched_recipe(
    store, workdir: Path
) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await compose(pilot)
        assert screen.query_one("#eval-max-questions").value == "150"  # the demo's bound
        assert screen.query_one("#eval-languages").value == ""  # every language
        await retype(pilot, "#eval-max-questions", "40")
        await retype(pilot, "#eval-languages", "de, el,ru")
        # a data dir without the data: the trainer stops before training, after the launch
        # has written the recipe it starts
        await retype(pilot, "#data-dir", str(workdir / "no-data-here"))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: errors(app), timeout=120, what="the launch to be tried")
    (launched,) = (workdir / ".hybrid-tui" / "compose").glob("demo-hybrid-*.toml")
    recipe = load_recipe(launched)
    assert recipe.eval.max_questions == 40
    assert recipe.eval.languages == ["de", "el", "ru"]


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("#eval-max-questions", "lots", "eval.max_questions: 'lots' is not a whole number"),
        ("#eval-max-questions", "0", "max_questions"),
        ("#eval-languages", "de,xx", "unknown evaluation language 'xx'"),
    ],
)
async def test_the_eval_fields_are_checked_like_the_others(store, field, typed, said) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await retype(pilot, field, typed)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: errors(app), what="the field's error")
        assert said in errors(app)[-1]
        assert isinstance(app.screen, ComposeScreen)  # nothing launched


async def test_empty_eval_questions_means_every_question(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await compose(pilot)
        await retype(pilot, "#eval-max-questions", "")
        assert screen.form_recipe().eval.max_questions is None


async def test_the_save_as_path_is_readable_at_80_columns(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await compose(pilot)
        path = screen.query_one("#save-path")
        assert path.value == ".hybrid-tui/recipes/demo-hybrid.toml"
        path.focus()
        path.scroll_visible(animate=False)
        await pilot.pause(0.3)
        row = next(row for row in screen_rows(app) if "save as" in row)
    assert ".hybrid-tui/recipes/demo-hybrid.toml" in row
