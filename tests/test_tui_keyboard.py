"""Compose, Live and Results driven from the keyboard at 80×24, as issue 13 found them: focus
always in a field, Tab order, selects opened with enter, save-as that asks, keys right after a
screen change not lost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.screens.compose import ComposeScreen
from hybrid_tui.tui.screens.confirm import ConfirmScreen
from tests.conftest import REPO
from tests.test_tui import runs_loaded, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir: Path) -> str:
    """The work dir's tracking URI (a fresh sqlite store)."""
    return os.environ["MLFLOW_TRACKING_URI"]


FORM_ORDER = [
    "recipe-file",
    "name",
    "model-spec",
    "model-pick",
    "mix-mono",
    "mix-cross",
    "mix-multi",
    "data-source",
    "data-dataset",
    "data-languages",
    "data-max-items",
    "batch-size",
    "steps",
    "lr",
    "seed",
    "device",
    "data-dir",
    "save-path",
    "save",
    "launch",
    "add-to-queue",
]


def focused_id(app) -> str | None:
    return app.focused.id if app.focused is not None else None


async def test_typing_a_path_with_l_stays_in_the_field(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n", *"my-l/all")  # typed straight after the screen change
        await pilot.pause()
        assert app.current_mode == "compose"
        assert app.screen.query_one("#name").value == "demo-hybridmy-l/all"
        await pilot.press("escape", "r")  # escape leaves the field; then app keys work
        assert app.current_mode == "runs"
        await pilot.press("n", *"lr")  # back on Compose: keys land in a field again
        await pilot.pause()
        assert app.current_mode == "compose"
        assert focused_id(app) == "name"
        assert app.screen.query_one("#name").value.endswith("my-l/alllr")


async def test_tab_walks_every_field_in_screen_order(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        seen = [focused_id(app)]
        for _ in range(len(FORM_ORDER)):
            await pilot.press("tab")
            seen.append(focused_id(app))
        start = FORM_ORDER.index("name")
        assert seen == (FORM_ORDER[start:] + FORM_ORDER[:start])[: len(seen) - 1] + ["name"]
        backwards = []
        for _ in range(3):
            await pilot.press("shift+tab")
            backwards.append(focused_id(app))
        assert backwards == ["recipe-file", "add-to-queue", "launch"]


async def test_the_form_starts_from_the_demo_recipe(store) -> None:
    from hybrid_tui.demo import demo_recipe

    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        recipe = app.screen.form_recipe()
        demo = demo_recipe()
        assert recipe.name == "demo-hybrid"
        assert recipe.eval.max_questions == demo.eval.max_questions  # a bounded evaluation
        assert recipe.train.warmup_steps == demo.train.warmup_steps


async def test_enter_opens_selects_and_ctrl_l_the_recipe_picker(store, workdir: Path) -> None:
    from hybrid_tui.tui.recipe_files import user_recipes_dir

    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "smoke.toml", workdir / "recipes" / "smoke.toml")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        device = screen.query_one("#device")
        device.focus()
        await pilot.press("enter")
        assert device.expanded
        await pilot.press("escape")
        assert not device.expanded

        await pilot.press("ctrl+s")  # saved into the user's recipes dir ...
        await wait_for(pilot, lambda: (user_recipes_dir() / "demo-hybrid.toml").exists())
        await pilot.press("ctrl+l")  # ... and listed by the picker beside the project's
        picker = screen.query_one("#recipe-file")
        assert picker.expanded
        labels = [str(prompt) for prompt, _ in picker._options]
        assert labels[-2:] == ["recipes/smoke.toml", ".hybrid-tui/recipes/demo-hybrid.toml"]
        await pilot.press("down", "enter")  # the first recipe: recipes/smoke.toml
        await wait_for(pilot, lambda: screen.query_one("#model-spec").value == "tiny-random")
        assert screen.query_one("#name").value == "smoke"


async def test_save_as_never_overwrites_without_asking(store, workdir: Path) -> None:
    (workdir / "recipes").mkdir()
    project = workdir / "recipes" / "smoke.toml"
    shutil.copy(REPO / "recipes" / "smoke.toml", project)
    before = project.read_text()
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#recipe-file").value = str(Path("recipes/smoke.toml"))
        await wait_for(pilot, lambda: screen.query_one("#name").value == "smoke")
        assert screen.query_one("#save-path").value == ".hybrid-tui/recipes/smoke.toml"

        screen.query_one("#save-path").value = "recipes/smoke.toml"
        screen.query_one("#steps").value = "7"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert "recipes/smoke.toml already exists" in str(
            app.screen.query_one("#confirm-question").render()
        )
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        assert project.read_text() == before

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: project.read_text() != before, what="the overwrite")
    assert "steps = 7" in project.read_text()


def test_a_taken_name_gets_a_new_default(workdir: Path) -> None:
    from hybrid_tui.tui.recipe_files import save_path_for, user_recipes_dir

    assert save_path_for("my mix") == Path(".hybrid-tui/recipes/my-mix.toml")
    user_recipes_dir().mkdir(parents=True)
    (user_recipes_dir() / "my-mix.toml").write_text("name = 'x'\n")
    assert save_path_for("my mix") == Path(".hybrid-tui/recipes/my-mix-2.toml")
