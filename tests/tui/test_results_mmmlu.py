"""The app's Results shows a run's MMMLU results as `hybrid-tui show` prints them: accuracy per
question language and option language (the cross pair grid, mono on its diagonal), multi with
the language-bias figures (own-language share, rank distance) and chance beside them.

The run's keys come from a real scoring of the hub-layout fixture (`evaluate_choice_embeddings`
on seeded embeddings), logged through the project's own tracker as the trainer logs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.results.language_tables import ChoiceTablesView
from hybrid_tui.tui.results.screen import ResultsScreen
from tests.mmmlu_fixture import QUESTIONS, write_copy
from tests.tui.test_tui import _screen_text, runs_loaded, wait_for

pytestmark = pytest.mark.anyio

LANGS = ["en", "de", "sw"]
TRAINED = ("en", "de")  # sw is zero-shot: marked unseen


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _mmmlu_metrics(root: Path) -> dict[str, float]:
    """Every `eval/mmmlu/...` key of one scoring of the fixture (seeded embeddings)."""
    from hybrid_tui.data.mmmlu import load_mmmlu
    from hybrid_tui.evaluation.mmmlu import evaluate_choice_embeddings

    items = load_mmmlu(write_copy(root), LANGS)
    rng = np.random.default_rng(3)
    n = len(QUESTIONS)
    questions = {x: rng.normal(size=(n, 8)).astype(np.float32) for x in LANGS}
    options = {y: rng.normal(size=(n, 4, 8)).astype(np.float32) for y in LANGS}
    return evaluate_choice_embeddings(items, questions, options).metrics


def _seed_mmmlu_run(uri: str, metrics: dict[str, float]) -> str:
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    run_id = tracker.start_run(
        "tui-tests",
        "mmmlu-run",
        {"hybrid_tui.mix": "mono=0.5 cross=0.5", "hybrid_tui.train_languages": ",".join(TRAINED)},
    )
    tracker.log_params(run_id, {"model.spec": "tiny-random"})
    tracker.log_metrics(run_id, metrics, 20)
    tracker.flush()
    tracker.end_run(run_id, "FINISHED")
    return run_id


def _figures(text: str) -> list[str]:
    return re.findall(r"\d+\.\d{3}\b", text)


async def test_results_show_the_mmmlu_grid_bias_and_chance(workdir: Path, run_cli) -> None:
    import os

    metrics = _mmmlu_metrics(workdir / "mmmlu")
    uri = os.environ["MLFLOW_TRACKING_URI"]
    run_id = _seed_mmmlu_run(uri, metrics)
    printed = run_cli("show", run_id, check_code=0).stdout
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=(160, 60)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("enter")
        assert isinstance(app.screen, ResultsScreen)
        await wait_for(pilot, lambda: app.screen.query(ChoiceTablesView), what="the MMMLU table")
        await pilot.pause(0.2)
        shown = _screen_text(app)
    cells = " ".join(re.sub("[│┃]", " ", shown).split())  # the table's cells, in reading order
    assert "MMMLU by option retrieval: accuracy" in shown
    assert "question \\ options" in shown and "sw*" in shown  # sw never trained on
    for column in ("multi", "own share", "rank dist.", "chance"):
        assert column in shown
    # Each figure a user reads, as logged: a cross pair, a mono cell, multi, the bias figures.
    for key in (
        "eval/mmmlu/cross/de-sw/acc",
        "eval/mmmlu/mono/en/acc",
        "eval/mmmlu/multi/sw/acc",
        "eval/mmmlu/bias/de/own_share",
    ):
        assert f"{metrics[key]:.3f}" in shown, key
    # The cross pair grid: de's row reads de->en, de (mono), de->sw, then multi and own share.
    row = [
        metrics["eval/mmmlu/cross/de-en/acc"],
        metrics["eval/mmmlu/mono/de/acc"],
        metrics["eval/mmmlu/cross/de-sw/acc"],
        metrics["eval/mmmlu/multi/de/acc"],
        metrics["eval/mmmlu/bias/de/own_share"],
        metrics["eval/mmmlu/bias/de/rank_distance"],
    ]
    assert " ".join(f"{v:.3f}" for v in row) in cells
    # Chance beside them: one in four for every option column, 1/3 of the pool is de's own.
    assert "chance 0.250 0.250 0.250 0.250 0.333 -" in cells
    averages = (
        f"cross {metrics['eval/mmmlu/cross/avg/acc']:.3f} (chance 0.250); multi "
        f"{metrics['eval/mmmlu/multi/avg/acc']:.3f} (chance 0.250)"
    )
    assert averages in cells
    # One renderer: `hybrid-tui show` prints the same figures, in the same order.
    expected = _figures(printed.split("\n", 1)[1])
    assert len(expected) > 20 and _figures(shown) == expected
