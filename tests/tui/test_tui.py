"""The terminal app, driven by the keys a user presses (Textual's Pilot), on a temporary store.

Runs are seeded through the project's own `Tracker` (no training) except in the slow test, which
launches `recipes/smoke.toml` from Compose and watches it train.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.compose.screen import ComposeScreen
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.live.curve_plot import thin_curve
from hybrid_tui.tui.live.screen import LiveScreen
from hybrid_tui.tui.results.compare import CompareScreen
from hybrid_tui.tui.results.language_tables import LanguageTablesView
from hybrid_tui.tui.results.screen import ResultsScreen
from hybrid_tui.tui.runs.screen import RunsScreen
from tests.conftest import REPO

pytestmark = pytest.mark.anyio  # async tests run on asyncio through anyio's pytest plugin

EVAL_LANGUAGES = ("de", "en", "th")
TRAIN_LANGUAGES = ("de", "en")


# ---------------------------------------------------------------------------- seeding


def eval_metrics(shift: float = 0.0, dataset: str = "xquad_r") -> dict[str, float]:
    """A realistic set of evaluation keys (the scheme of `evaluate.py`)."""
    metrics: dict[str, float] = {}
    prefix = f"eval/{dataset}"
    for i, x in enumerate(EVAL_LANGUAGES):
        metrics[f"{prefix}/mono/{x}/map"] = 0.50 + 0.10 * i + shift
        metrics[f"{prefix}/mono/{x}/recall_1"] = 0.40 + 0.10 * i + shift
        metrics[f"{prefix}/multi/{x}/map"] = 0.30 + 0.05 * i + shift
        metrics[f"{prefix}/multi/{x}/recall_10"] = 0.60 + 0.05 * i
        metrics[f"{prefix}/bias/{x}/rank_distance"] = 3.0 + i - 10 * shift
        for j, y in enumerate(EVAL_LANGUAGES):
            metrics[f"{prefix}/bias/{x}-{y}/mean_rank"] = 2.0 + i + j
            if x != y:
                metrics[f"{prefix}/cross/{x}-{y}/map"] = 0.20 + 0.10 * i + 0.05 * j + shift
                metrics[f"{prefix}/cross/{x}-{y}/recall_1"] = 0.10 + 0.10 * i + shift
    for setting in ("mono", "cross", "multi"):
        values = [v for k, v in metrics.items() if f"/{setting}/" in k and k.endswith("/map")]
        metrics[f"{prefix}/{setting}/avg/map"] = sum(values) / len(values)
    metrics[f"{prefix}/bias/avg/rank_distance"] = 4.0 - 10 * shift
    return metrics


def seed_run(
    uri: str,
    name: str,
    mono: float = 0.5,
    cross: float = 0.5,
    shift: float = 0.0,
    status: str = "FINISHED",
    steps: int = 20,
    with_events: bool = False,
    lr: float = 1e-3,
) -> str:
    """A tracked run as the trainer leaves it (params, tags, curve, final metrics), no training."""
    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker

    recipe = recipe_from_dict(
        {
            "name": name,
            "model": {"spec": "tiny-random"},
            "data": {"dataset": "mlqa-r", "languages": list(TRAIN_LANGUAGES)},
            "sampler": {"mono": mono, "cross": cross, "multi": 0.0},
            "train": {"steps": steps, "batch_size": 16, "lr": lr},
            "eval": {"datasets": ["xquad-r"], "languages": list(EVAL_LANGUAGES)},
            "tracking": {"experiment": "tui-tests"},
        }
    )
    tracker = Tracker(uri)
    run_id = tracker.start_run(
        "tui-tests",
        name,
        {
            "hybrid_tui.recipe_name": name,
            "hybrid_tui.mix": recipe.sampler.describe(),
            "hybrid_tui.train_languages": ",".join(TRAIN_LANGUAGES),
            "hybrid_tui.model_source": "packaged:tiny-random",
        },
    )
    tracker.log_params(run_id, recipe.flat_params())
    events = []
    for step in range(1, steps + 1):
        loss, lr = 3.0 / step + shift, 1e-3 * (1 - step / (steps + 1))
        tracker.log_metrics(run_id, {"train/loss": loss, "train/lr": lr}, step)
        events.append(
            {
                "t": 1e9 + step,
                "type": "step",
                "step": step,
                "loss": loss,
                "lr": lr,
                "pairs_per_s": 100.0,
                "batch_kind": "mono",
            }
        )
    if status == "FINISHED":
        tracker.log_metrics(run_id, eval_metrics(shift), steps)
    tracker.flush()
    if status != "RUNNING":
        tracker.end_run(run_id, status)
    if with_events:
        path = RunFiles.for_run(run_id).events
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [{"t": 1e9, "type": "start", "run_id": run_id, "name": name, "steps": steps}]
        lines += events + [{"t": 1e9 + steps + 1, "type": "end", "status": status}]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return run_id


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir: Path) -> str:
    """The work dir's tracking URI (a fresh sqlite store)."""
    return os.environ["MLFLOW_TRACKING_URI"]


@pytest.fixture
def two_runs(store: str) -> list[str]:
    return [
        seed_run(store, "mono-heavy", mono=0.8, cross=0.2),
        seed_run(store, "cross-heavy", mono=0.2, cross=0.8, shift=0.05),
    ]


# ---------------------------------------------------------------------------- helpers


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def runs_loaded(pilot) -> RunsScreen:
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: screen.loaded, what="the runs to load")
    await pilot.pause()
    return screen


async def retype(pilot, selector: str, text: str) -> None:
    """Click an input, erase it and type `text`, key by key."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await pilot.press("end", *["backspace"] * (len(widget.value) + 1))
    await pilot.press(*text)
    await pilot.pause()


def row_ids(screen: RunsScreen) -> list[str]:
    return [key.value for key in screen.query_one("#runs-table").rows]


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_opens_on_small_and_large_terminals(two_runs, store, size) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=size) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        assert table.row_count == 2
        names = {str(table.get_cell(run_id, "name")) for run_id in two_runs}
        assert names == {"mono-heavy", "cross-heavy"}
        footer_keys = {key for key, b in app.active_bindings.items() if b.binding.show}
        assert {"r", "n", "l", "c", "C", "d", "enter"} <= footer_keys
        for key, mode in (("n", "compose"), ("l", "live"), ("r", "runs")):
            await pilot.press("escape", key)
            assert app.current_mode == mode
        assert not errors(app)


async def test_command_palette_offers_the_screens(two_runs, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("ctrl+p", *"Compose")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "compose", what="Compose")
        await pilot.press("escape", "r")  # leave the field, then the footer keys work
        assert app.current_mode == "runs"
        await pilot.press("ctrl+p", *"Results")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="Results")


async def test_empty_store_says_how_to_start(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        assert "No runs yet" in text_of(app, "#runs-empty")


async def test_runs_sort_and_filter(two_runs, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"cross", "enter")
        assert [run.name for run in screen.visible_runs()] == ["cross-heavy"]
        await pilot.press("escape")
        assert len(screen.visible_runs()) == 2
        while screen.sort_column != "mono":
            await pilot.press("s")
        assert [run.name for run in screen.visible_runs()] == ["cross-heavy", "mono-heavy"]


async def test_compose_validates_the_mix_as_you_type(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, ComposeScreen)
        await retype(pilot, "#mix-mono", "3")
        await retype(pilot, "#mix-cross", "1")
        assert "α = 0.75" in text_of(app, "#mix-summary")
        await retype(pilot, "#mix-multi", "1")
        assert "α: n/a" in text_of(app, "#mix-summary")
        await retype(pilot, "#mix-multi", "0")

        await retype(pilot, "#mix-mono", "-1")
        summary = text_of(app, "#mix-summary")
        assert "invalid mix" in summary and "sampler.mono" in summary
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: errors(app), what="an error notification")
        assert "sampler.mono" in errors(app)[-1]

        await retype(pilot, "#mix-mono", "0")
        await retype(pilot, "#mix-cross", "0")
        assert "all zero" in text_of(app, "#mix-summary")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(errors(app)) == 2, what="a second error")
        assert "all zero" in errors(app)[-1]
        assert isinstance(app.screen, ComposeScreen)  # still there, nothing launched


async def test_compose_rejects_an_unknown_model(store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        await retype(pilot, "#model-spec", "./no-such-model")
        await wait_for(
            pilot, lambda: "does not exist" in text_of(app, "#model-status"), what="model status"
        )
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: errors(app), what="an error notification")
        assert "no-such-model does not exist" in errors(app)[-1]
        await wait_for(pilot, lambda: not app.screen.launching, what="the launch to give up")
        assert isinstance(app.screen, ComposeScreen)


async def test_compose_saves_and_loads_recipes(store, workdir: Path) -> None:
    from hybrid_tui.recipe import load_recipe

    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "smoke.toml", workdir / "recipes" / "smoke.toml")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        screen = app.screen
        screen.query_one("#recipe-file").value = "recipes/smoke.toml"  # as picked in the list
        await pilot.pause()
        assert screen.query_one("#model-spec").value == "tiny-random"
        await retype(pilot, "#name", "my-mix")
        await retype(pilot, "#mix-mono", "0.7")
        await retype(pilot, "#mix-cross", "0.3")
        assert screen.query_one("#save-path").value == ".hybrid-tui/recipes/my-mix.toml"
        await pilot.press("ctrl+s")
        await pilot.pause()
    saved = load_recipe(workdir / ".hybrid-tui" / "recipes" / "my-mix.toml")
    assert saved.sampler.mono == 0.7 and saved.sampler.alpha == pytest.approx(0.7)
    assert saved.model.spec == "tiny-random" and saved.train.steps == 20


async def test_compose_keeps_a_several_dataset_recipe_whole(store, workdir: Path) -> None:
    """A paper recipe trains on [[data.sources]]: Compose greys out the one-dataset fields and
    what it saves or launches still has every source."""
    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "paper" / "xlmr-hybrid.toml", workdir / "recipes" / "p.toml")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        screen = app.screen
        screen.query_one("#recipe-file").value = "recipes/p.toml"
        await pilot.pause()
        assert screen.query_one("#data-dataset").disabled
        await retype(pilot, "#steps", "1000")
        recipe = screen.form_recipe()
        assert [s.name for s in recipe.data.sources] == ["mlqa-r", "mmarco"]
        assert recipe.train.steps == 1000 and recipe.data.hard_negatives == 1
        screen.load(REPO / "recipes" / "smoke.toml")
        await pilot.pause()
        assert not screen.query_one("#data-dataset").disabled


async def test_results_show_the_language_tables(two_runs, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(two_runs[0]))
        await pilot.press("enter")
        assert isinstance(app.screen, ResultsScreen)
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), what="the tables")
        view = app.screen.query_one(LanguageTablesView)
        assert view.tables.mono["en"] == pytest.approx(0.6)
        shown = _screen_text(app)
        assert "th*" in shown and "60.0" in shown  # mono en, in the CLI's unit (mAP × 100)
        app.screen.query_one("#results-body").scroll_end(animate=False)
        await pilot.pause(0.2)
        assert "* not seen in training" in _screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


def _screen_text(app) -> str:
    """Every character on screen, as the terminal would show it (from Textual's screenshot)."""
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape(" ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))).replace(
        "\xa0", " "
    )


def _decimals(text: str) -> list[str]:
    import re

    return re.findall(r"[+-]?\d+\.\d\b", text)


async def test_cli_and_app_show_the_same_numbers_for_one_run(two_runs, store, run_cli) -> None:
    """One renderer: `hybrid-tui show` and the app's Results print the same cells, in order."""
    printed = run_cli("show", two_runs[0], check_code=0).stdout
    expected = _decimals(printed.split("\n", 1)[1])  # after the run's title line
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(160, 120)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(two_runs[0]))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), what="the tables")
        await pilot.pause(0.2)
        shown = _decimals(_screen_text(app))
    assert len(expected) > 20 and shown == expected


async def test_mark_two_runs_and_compare(two_runs, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("C")  # nothing marked yet: a hint, no screen
        assert isinstance(app.screen, RunsScreen)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(two_runs[0]))
        await pilot.press("c")
        table.move_cursor(row=table.get_row_index(two_runs[1]))
        await pilot.press("c")
        assert screen.marked == two_runs
        await pilot.press("C")
        assert isinstance(app.screen, CompareScreen)
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), what="the deltas")
        delta = app.screen.query_one(LanguageTablesView).tables
        assert delta.is_delta
        assert delta.mono["en"] == pytest.approx(0.05)
        assert not errors(app)


async def test_delete_asks_first(two_runs, store) -> None:
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, RunsScreen)
        assert screen.query_one("#runs-table").row_count == 2
        await pilot.press("d", "y")
        await wait_for(
            pilot, lambda: screen.query_one("#runs-table").row_count == 1, what="the deletion"
        )


async def test_live_shows_the_whole_curve_of_an_older_run(store) -> None:
    with_events = seed_run(store, "local", with_events=True)
    from_store = seed_run(store, "elsewhere", steps=30)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(with_events))
        await pilot.press("l")
        live = app.screen
        assert isinstance(live, LiveScreen)
        await wait_for(pilot, lambda: live.loss_plot.points == 20, what="the event-file curve")
        assert live.status == "FINISHED"
        await pilot.press("r")
        table.move_cursor(row=table.get_row_index(from_store))
        await pilot.press("l")
        await wait_for(pilot, lambda: live.loss_plot.points == 30, what="the stored curve")
        assert live.lr_plot.points == 30
        await pilot.press("enter")
        assert isinstance(app.screen, ResultsScreen)


async def test_a_crashed_trainer_is_reported_not_raised(store) -> None:
    from hybrid_tui.runs.files import RunFiles

    run_id = seed_run(store, "crashes", status="FAILED", with_events=True)
    events = RunFiles.for_run(run_id).events
    lines = events.read_text().splitlines()[:-1]
    lines.append(
        json.dumps(
            {
                "t": 2e9,
                "type": "end",
                "status": "FAILED",
                "error": "RuntimeError: CUDA out of memory",
            }
        )
    )
    events.write_text("\n".join(lines) + "\n")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: errors(app), what="the crash message")
        assert "CUDA out of memory" in errors(app)[-1]
        assert app.screen.status == "FAILED"
        assert app.is_running


def test_thinning_keeps_the_extremes() -> None:
    steps = list(range(10_000))
    values = [1.0] * 10_000
    values[1234], values[8765] = 50.0, -3.0
    thin_steps, thin_values = thin_curve(steps, values, buckets=80)
    assert len(thin_steps) <= 160
    assert 50.0 in thin_values and -3.0 in thin_values
    assert thin_steps == sorted(thin_steps)
    assert thin_curve([1, 2], [3.0, 4.0], buckets=80) == ([1, 2], [3.0, 4.0])


@pytest.mark.slow
async def test_launch_smoke_from_compose_and_watch_it_train(
    store, workdir: Path, data_root: Path
) -> None:
    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "smoke.toml", workdir / "recipes" / "smoke.toml")
    baseline = seed_run(store, "baseline", shift=-0.05)
    app = HybridTuiApp(tracking_uri=store, data_dir=str(data_root))
    async with app.run_test(size=(100, 32)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        compose = app.screen
        compose.query_one("#recipe-file").value = "recipes/smoke.toml"
        await pilot.pause()
        assert compose.query_one("#model-spec").value == "tiny-random"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.current_mode == "live", 300, "the trainer to start")
        live = app.screen
        assert isinstance(live, LiveScreen)
        run_id = app.live_run_id
        await wait_for(pilot, lambda: live.run_id == run_id, 5, "Live to follow the new run")
        await wait_for(pilot, lambda: live.loss_plot.points > 0, 120, "the first loss points")
        first = live.loss_plot.points
        await wait_for(pilot, lambda: live.status in ("FINISHED", "FAILED"), 300, "the end")
        assert live.status == "FINISHED", (live.error, errors(app))
        assert live.loss_plot.points >= first and live.loss_plot.points == 20
        await pilot.press("enter")
        assert isinstance(app.screen, ResultsScreen)
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), 30, "the tables")
        assert set(app.screen.query_one(LanguageTablesView).tables.mono) == set(EVAL_LANGUAGES)

        await pilot.press("escape", "r")
        runs = await runs_loaded(pilot)
        await wait_for(pilot, lambda: run_id in row_ids(runs), 10, "the run in the list")
        table = runs.query_one("#runs-table")
        for marked in (baseline, run_id):
            table.move_cursor(row=table.get_row_index(marked))
            await pilot.press("c")
        await pilot.press("C")
        assert isinstance(app.screen, CompareScreen)
        await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), 30, "the deltas")
        assert not errors(app)

    # a new app (the user reopens it): the finished run's whole curve is still there
    again = HybridTuiApp(tracking_uri=store)
    async with again.run_test(size=(100, 32)) as pilot:
        again.open_live(run_id)
        await pilot.pause()
        await wait_for(pilot, lambda: again.screen.loss_plot.points == 20, 10, "the curve")


# ---------------------------------------------------------------------------- queue, devices


def _queue_smoke_jobs(*sets: str, priority: int = 0) -> list:
    from hybrid_tui.queue.submit import queue_recipe_files

    return queue_recipe_files([str(REPO / "recipes" / "smoke.toml")], list(sets), priority=priority)


async def queue_loaded(pilot):
    from hybrid_tui.tui.queue.screen import QueueScreen

    await pilot.press("j")
    screen = pilot.app.screen
    assert isinstance(screen, QueueScreen)
    await wait_for(pilot, lambda: screen.loaded, what="the queue to load")
    await pilot.pause()
    return screen


def queue_rows(screen) -> list[int]:
    return [int(key.value) for key in screen.query_one("#queue-table").rows]


async def test_queue_screen_shows_reorders_and_removes_jobs(store) -> None:
    from hybrid_tui.jobs.queue_store import JobStore

    seeds = _queue_smoke_jobs("train.seed=0,1,2")
    (urgent,) = _queue_smoke_jobs("train.seed=9", priority=3)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await queue_loaded(pilot)
        assert queue_rows(screen) == [urgent.id, *(job.id for job in seeds)]  # start order
        assert "not running" in text_of(app, "#queue-status")
        table = screen.query_one("#queue-table")
        assert str(table.get_row(str(seeds[0].id))[2]) == "train.seed=0"
        assert str(table.get_row(str(urgent.id))[3]) == "queued"

        table.move_cursor(row=3)  # seed 2, last: move it up one place
        await pilot.press("shift+up")
        await wait_for(
            pilot, lambda: queue_rows(screen)[2] == seeds[2].id, what="the job to move up"
        )
        assert [job.id for job in JobStore().queued()] == queue_rows(screen)

        table.move_cursor(row=table.get_row_index(str(seeds[0].id)))
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert JobStore().get(str(seeds[0].id)).state == "queued"
        await pilot.press("d", "y")
        await wait_for(
            pilot,
            lambda: JobStore().get(str(seeds[0].id)).state == "removed",
            what="the job to be removed",
        )
        await wait_for(
            pilot,
            lambda: str(screen.query_one("#queue-table").get_row(str(seeds[0].id))[3]) == "removed",
            what="the table to show it",
        )
        assert not errors(app)


async def test_compose_adds_the_recipe_to_the_queue(store, workdir: Path) -> None:
    from hybrid_tui.jobs.queue_store import JobStore
    from hybrid_tui.recipe import load_recipe

    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "smoke.toml", workdir / "recipes" / "smoke.toml")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        compose = app.screen
        compose.query_one("#recipe-file").value = "recipes/smoke.toml"
        await pilot.pause()
        await retype(pilot, "#steps", "7")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: JobStore().jobs(), what="the job in the queue")
        (job,) = JobStore().jobs()
        await wait_for(
            pilot, lambda: f"queued job {job.id}" in text_of(app, "#compose-status"), what="status"
        )
        assert app.current_mode == "compose"  # nothing launched
        queued = load_recipe(job.recipe_path)
        assert queued.train.steps == 7 and queued.tracking.uri == store
        await pilot.press("escape")
        screen = await queue_loaded(pilot)
        assert queue_rows(screen) == [job.id]


@pytest.fixture
def busy_trainer(workdir: Path):
    """A live process recorded as a direct trainer on the CPU (as `jobs` finds trainers)."""
    import subprocess
    import sys

    from hybrid_tui.runs.files import RunFiles, process_start_ticks

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    files = RunFiles.for_run("f" * 32)
    files.root.mkdir(parents=True)
    record = {
        "run_id": files.run_id,
        "pid": process.pid,
        "start_ticks": process_start_ticks(process.pid),
        "log": str(files.log),
        "name": "busy",
        "device": "cpu",
        "cuda_visible_devices": None,
    }
    files.job.write_text(json.dumps(record))
    yield files.run_id
    process.kill()
    process.wait()


async def test_launching_onto_a_busy_device_asks_first(store, workdir, busy_trainer) -> None:
    (workdir / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "smoke.toml", workdir / "recipes" / "smoke.toml")
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        compose = app.screen
        compose.query_one("#recipe-file").value = "recipes/smoke.toml"  # device = cpu
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        question = text_of(app, "#confirm-question")
        assert f"run {busy_trainer[:8]} (busy) on the CPU" in question
        await pilot.press("n")
        assert app.screen is compose and not compose.launching
        assert "not launched" in text_of(app, "#compose-status")

        await retype(pilot, "#model-spec", "./no-such-model")  # so that "yes" fails fast
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: errors(app), what="the launch to be tried")
        assert "no-such-model does not exist" in errors(app)[-1]


async def test_live_shows_the_run_device(store, monkeypatch: pytest.MonkeyPatch) -> None:
    from hybrid_tui.devices import GpuReading
    from hybrid_tui.runs.files import RunFiles

    on_cpu = seed_run(store, "on-cpu", with_events=True)
    on_gpu = seed_run(store, "on-gpu", with_events=True)
    for run_id, device, visible in ((on_cpu, "cpu", None), (on_gpu, "cuda:0", "1")):
        record = {"run_id": run_id, "pid": 0, "device": device, "cuda_visible_devices": visible}
        RunFiles.for_run(run_id).job.write_text(json.dumps(record))
    asked = []

    def fake_readings(indices=None):  # this machine has no GPU: NVML's answer, faked
        asked.append(list(indices))
        return [
            GpuReading(i, "NVIDIA H200", 87.0, 12.3 * 1024, 139.8 * 1024, 61.0, 350.0)
            for i in indices
        ]

    monkeypatch.setattr("hybrid_tui.tui.live.screen.gpu_readings", fake_readings)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_live(on_cpu)
        await wait_for(pilot, lambda: app.screen.query("#live-gpu"), what="Live")
        await wait_for(pilot, lambda: "CPU (no GPU)" in text_of(app, "#live-gpu"), what="cpu")
        assert asked == []
        app.open_live(on_gpu)
        await wait_for(pilot, lambda: "GPU 1" in text_of(app, "#live-gpu"), what="gpu line")
        assert text_of(app, "#live-gpu") == (
            "GPU 1 NVIDIA H200  util 87%  mem 12.3/139.8 GiB  61°C  350 W"
        )
        assert asked == [[1]]  # the GPU its CUDA_VISIBLE_DEVICES named, not every GPU
