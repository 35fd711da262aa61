"""The app's Compare marks the cells where two runs differ significantly (question as the unit),
as `hybrid-tui compare` does, once the tests have run in the screen's worker."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.results.compare import CompareScreen
from hybrid_tui.tui.results.language_tables import LanguageTablesView
from tests.cli.test_compare_significance import QUESTIONS, _plant
from tests.conftest import tracker_of
from tests.tui.test_tui import errors, wait_for

pytestmark = pytest.mark.anyio


async def test_compare_marks_significant_cells(workdir) -> None:
    rng = np.random.default_rng(5)
    tracker = tracker_of(workdir)
    mono = rng.uniform(0.3, 0.9, (2, len(QUESTIONS)))
    multi = rng.uniform(0.2, 0.7, (2, len(QUESTIONS)))
    base = _plant(tracker, "base", mono, multi)
    other = _plant(tracker, "other", mono, multi + rng.normal(0.05, 0.03, len(QUESTIONS)))
    app = HybridTuiApp(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(CompareScreen([base, other]))

        def marked_view():
            views = app.screen.query(LanguageTablesView)
            return next((v for v in views if v.marked), None)

        await wait_for(pilot, lambda: marked_view() is not None, 60, "the significance marks")
        view = marked_view()
        assert ("multi", "en") in view.marked and ("mono", "en") not in view.marked
        assert view.note.startswith("† significant after Holm (5 %); question as the unit")
        assert not errors(app)
