"""The app's Compare draws two runs' MMMLU difference grid (other − base) as `hybrid-tui compare`
prints it: per pair and per language, the averages and the own-language share, each the
difference of the two runs' logged values; once the per-question tests have run, the mono and
cross cells that differ carry a † and the note says multi and the bias figures are not tested."""

from __future__ import annotations

import re

import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.results.compare import CompareScreen
from hybrid_tui.tui.results.language_tables import DifferenceTablesView
from tests.cli.test_mmmlu_show_compare import plant, scored
from tests.conftest import tracker_of
from tests.tui.test_tui import _screen_text, errors, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_compare_shows_the_mmmlu_difference_grid(workdir) -> None:
    tracker = tracker_of(workdir)
    base_metrics, base_rows = scored(4, 0.1)
    other_metrics, other_rows = scored(4, 1.5)
    base = plant(tracker, "base", base_metrics, base_rows)
    other = plant(tracker, "other", other_metrics, other_rows)

    def diff(key: str) -> str:
        return f"{other_metrics[key] - base_metrics[key]:+.3f}"

    app = HybridTuiApp(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    async with app.run_test(size=(160, 50)) as pilot:
        await app.push_screen(CompareScreen([base, other]))

        def marked_view():
            views = app.screen.query(DifferenceTablesView)
            return next((v for v in views if v.dataset == "mmmlu" and v.marked), None)

        await wait_for(pilot, lambda: marked_view() is not None, 60, "the MMMLU grid, tested")
        await pilot.pause(0.2)
        view = marked_view()
        shown = _screen_text(app)
        assert not errors(app)
    gain = other_metrics["eval/mmmlu/cross/de-sw/acc"] - base_metrics["eval/mmmlu/cross/de-sw/acc"]
    assert view.tables.is_delta and view.tables.figures["cross"]["de-sw"] == pytest.approx(gain)
    assert ("cross", ("de", "sw")) in view.marked and ("cross", "avg") in view.marked
    assert not any(setting in ("multi", "bias") for setting, _ in view.marked)
    cells = " ".join(re.sub("[│┃]", " ", shown).split())
    assert "MMMLU by option retrieval: Δ accuracy (other − base)" in shown
    row = [
        diff("eval/mmmlu/cross/de-en/acc") + "†",
        diff("eval/mmmlu/mono/de/acc") + "†",
        diff("eval/mmmlu/cross/de-sw/acc") + "†",
        diff("eval/mmmlu/multi/de/acc"),
        diff("eval/mmmlu/bias/de/own_share"),
        diff("eval/mmmlu/bias/de/rank_distance"),
    ]
    assert "de " + " ".join(row) in cells
    assert (
        f"cross {diff('eval/mmmlu/cross/avg/acc')}†; multi {diff('eval/mmmlu/multi/avg/acc')}; "
        f"own-language share of multi picks {diff('eval/mmmlu/bias/avg/own_share')}"
    ) in cells
    assert "multi, own-language share and rank distance not tested" in cells
