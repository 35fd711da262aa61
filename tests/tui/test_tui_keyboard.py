"""Compose, Live and Results driven from the keyboard at 80×24, as issue 13 found them: focus
always in a field, Tab order, selects opened with enter, save-as that asks, keys right after a
screen change not lost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.compose.screen import ComposeScreen
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from tests.conftest import REPO
from tests.tui.test_tui import _screen_text, runs_loaded, wait_for

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
    "eval-max-questions",
    "eval-languages",
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
    from hybrid_tui.cli.demo import demo_recipe

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
    from hybrid_tui.tui.compose.recipe_files import user_recipes_dir

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
    from hybrid_tui.tui.compose.recipe_files import save_path_for, user_recipes_dir

    assert save_path_for("my mix") == Path(".hybrid-tui/recipes/my-mix.toml")
    user_recipes_dir().mkdir(parents=True)
    (user_recipes_dir() / "my-mix.toml").write_text("name = 'x'\n")
    assert save_path_for("my mix") == Path(".hybrid-tui/recipes/my-mix-2.toml")


def test_ema_is_debiased_like_tensorboard() -> None:
    from hybrid_tui.tui.live.curve_smoothing import smooth_ema

    assert smooth_ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])  # no pull to 0
    assert smooth_ema([1.0, 3.0], 0.0) == [1.0, 3.0]
    smoothed = smooth_ema([4.0, 0.0], 0.5)  # (0.5*4*0.5 + 0) / (1 - 0.25)
    assert smoothed == pytest.approx([4.0, (0.5 * 2.0) / 0.75])
    assert smooth_ema([1.0, float("nan"), 1.0], 0.9)[2] == pytest.approx(1.0)


def test_rolling_throughput_is_total_pairs_over_total_time() -> None:
    from hybrid_tui.tui.live.curve_smoothing import rolling_pairs_per_s

    # 16 pairs per step, steps taking 1 s, 2 s and 0.1 s: 48 pairs in 3.1 s
    assert rolling_pairs_per_s([16.0, 8.0, 160.0]) == pytest.approx(48 / 3.1)
    assert rolling_pairs_per_s([1000.0] * 5 + [10.0] * 20, window=20) == pytest.approx(10.0)
    assert rolling_pairs_per_s([]) is None


def _live_run(store: str, events: list[dict], log_lines: int = 0) -> str:
    """A RUNNING run followed through a fake event file (and trainer log) of this process."""
    import json

    from hybrid_tui.runs.files import RunFiles
    from tests.tui.test_tui import seed_run

    run_id = seed_run(store, "live-fake", status="RUNNING", with_events=True)
    files = RunFiles.for_run(run_id)
    start = {"t": 1e9, "type": "start", "run_id": run_id, "name": "live-fake", "steps": 100}
    files.events.write_text("".join(json.dumps(e) + "\n" for e in [start, *events]))
    log = files.root / "trainer.log"
    log.write_text("".join(f"line {i}\n" for i in range(log_lines)))
    record = {"run_id": run_id, "pid": os.getpid(), "device": "cpu", "log": str(log)}
    files.job.write_text(json.dumps(record))
    return run_id


def _step(step: int, loss: float, rate: float) -> dict:
    return {"t": 1e9 + step, "type": "step", "step": step, "loss": loss, "lr": 1e-3,
            "pairs_per_s": rate, "batch_kind": "mono"}  # fmt: skip


async def test_live_smooths_the_loss_and_the_throughput_and_plots_evals(store) -> None:
    rates = [15.0, 8.0, 36.0, 167.0]
    events = [_step(i + 1, 3.0 - 0.1 * i + (0.3 if i % 2 else 0), rates[i]) for i in range(4)]
    metrics = {
        "eval/xquad_r/mono/avg/map": 0.41,
        "eval/xquad_r/cross/avg/map": 0.22,
        "eval/xquad_r/multi/avg/map": 0.30,
    }
    events.append({"t": 1e9 + 5, "type": "eval", "step": 4, "metrics": metrics})
    run_id = _live_run(store, events)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_live(run_id)
        await wait_for(pilot, lambda: getattr(app.screen, "step", None) == 4, what="the steps")
        live = app.screen
        stats = str(live.query_one("#live-stats").render())
        assert f"{4 / sum(1 / r for r in rates):.3g} pairs/s" in stats  # 17.7, not 167
        from hybrid_tui.tui.live.curve_smoothing import smooth_ema

        smoothed = smooth_ema([e["loss"] for e in events[:4]], 0.9)[-1]
        assert f"loss 3.0000  ·  smoothed {smoothed:.4f}" in stats
        assert "CPU (no GPU)" in str(live.query_one("#live-gpu").render())
        plot = live.eval_plot
        assert plot.display and plot.series["mono"] == {4.0: pytest.approx(41.0)}
        await pilot.press("s")  # 0.9 → 0.99
        assert live.loss_plot.smoothing == 0.99
        await pilot.press("s")  # → off
        assert "smoothed" not in str(live.query_one("#live-stats").render())


async def test_live_shows_a_training_warning_prominently(store) -> None:
    warning = "loss 2.7726 has not moved from ln(batch 16) = 2.7726 after 20 steps"
    events = [_step(1, 2.77, 10.0), {"t": 1e9 + 2, "type": "warning", "message": warning}]
    run_id = _live_run(store, events)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_live(run_id)
        await wait_for(pilot, lambda: getattr(app.screen, "warning", None), what="the warning")
        assert warning in str(app.screen.query_one("#live-stats").render())
        assert any(n.severity == "warning" and n.message == warning for n in app._notifications)


async def test_live_log_follows_its_end_unless_scrolled_up(store) -> None:
    from textual.widgets import Log

    from hybrid_tui.runs.files import RunFiles

    run_id = _live_run(store, [_step(1, 3.0, 10.0)], log_lines=100)
    log_file = RunFiles.for_run(run_id).root / "trainer.log"
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_live(run_id)
        await wait_for(pilot, lambda: app.screen.query(Log), what="Live")
        log = app.screen.query_one(Log)
        await wait_for(pilot, lambda: log.line_count == 60, what="the log tail")
        await pilot.pause(0.2)
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # the end shows
        with log_file.open("a") as handle:
            handle.write("line 100\n")
        await wait_for(pilot, lambda: log.lines[-1] == "line 100", what="a new line")
        await pilot.pause(0.2)
        assert log.scroll_y == log.max_scroll_y  # still following
        log.scroll_home(animate=False, immediate=True)
        with log_file.open("a") as handle:
            handle.write("line 101\n")
        await wait_for(pilot, lambda: log.lines[-1] == "line 101", what="another line")
        await pilot.pause(0.2)
        assert log.scroll_y == 0  # the user scrolled up: left there


async def test_results_at_80x24_scroll_with_the_arrows_and_say_so(store, monkeypatch) -> None:
    import tests.tui.test_tui as seeding
    from hybrid_tui.languages import XQUAD_R_LANGUAGES
    from hybrid_tui.tui.results.language_tables import LanguageTablesView

    monkeypatch.setattr(seeding, "EVAL_LANGUAGES", tuple(XQUAD_R_LANGUAGES))  # all 11 columns
    run_id = seeding.seed_run(store, "eleven-languages")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_results(run_id)
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), what="the tables")
        hint = app.screen.query_one("#results-hint")
        await wait_for(pilot, lambda: "more right" in str(hint.render()), what="the hint")
        assert "←/→" in str(hint.render()) and "↑/↓" in str(hint.render())
        body = app.screen.query_one("#results-body")
        # the hint can come a frame before the layout settles (max_scroll_x still 0 then)
        await wait_for(pilot, lambda: body.max_scroll_x > 0, what="the scrollable width")
        await pilot.press(*["right"] * (body.max_scroll_x + 2), "down")
        await pilot.pause()
        assert body.scroll_x == body.max_scroll_x > 0 and body.scroll_y == 1
        text = str(hint.render())
        assert text.startswith("more left, below, above:")  # nothing more to the right


def _type_fast(app, *keys: str) -> None:
    """Keys as a terminal delivers a burst: all queued before the first is handled."""
    from textual import events

    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_keys_typed_right_after_a_screen_change_are_kept(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        _type_fast(app, "n", "a", "b", "c")
        await wait_for(pilot, lambda: app.current_mode == "compose", what="Compose")
        await pilot.pause(0.3)
        assert app.screen.query_one("#name").value == "demo-hybridabc"
        _type_fast(app, "escape", "r")  # leave the field, then Runs: neither key typed
        await wait_for(pilot, lambda: app.current_mode == "runs", what="Runs")
        await pilot.press("n")
        assert app.screen.query_one("#name").value == "demo-hybridabc"
        await pilot.press("escape")
        _type_fast(app, "l", "s")  # to Live, then one press of its smoothing key
        await wait_for(pilot, lambda: app.current_mode == "live", what="Live")
        await pilot.pause(0.3)
        assert app.screen.loss_plot.smoothing == 0.99


async def test_question_mark_lists_every_key_of_the_screen(store) -> None:
    from hybrid_tui.tui.dialogs.keys_help import KeysHelpScreen

    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("l", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, KeysHelpScreen)
        shown = _screen_text(app)  # on screen, not below a fold
        for description in ("Cancel run", "Results", "Smoothing", "Runs", "Compose", "Queue"):
            assert description in shown
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, KeysHelpScreen)


async def test_every_field_shows_focus(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen

        def look(field_id: str):
            widget = screen.query_one(f"#{field_id}")
            if widget.has_class("-textual-compact") and widget.children:  # a Select: its face
                widget = widget.children[0]
            return (widget.styles.background, widget.styles.text_style)

        for field_id in FORM_ORDER:
            screen.query_one(f"#{field_id}").focus()
            await pilot.pause()
            focused = look(field_id)
            screen.query_one("#seed" if field_id != "seed" else "#lr").focus()
            await pilot.pause()
            assert focused != look(field_id), f"{field_id} looks the same focused and not"
