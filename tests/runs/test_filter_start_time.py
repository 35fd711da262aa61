"""`attributes.start_time` in a filter is a number (ms since the epoch), unquoted, compared as
MLflow's `search_runs` compares it: the same filter text picks the same runs in both."""

from __future__ import annotations

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.runs.filter import parse_filter
from hybrid_tui.tracking import Tracker

STARTS = (1_000, 2_000, 2_000, 3_000)
FILTERS = [
    "attributes.start_time > 1500",
    "attributes.start_time >= 2000",
    "attributes.start_time = 2000",
    "attributes.start_time != 2000",
    "attributes.start_time < 2000.5",
    "attributes.start_time <= 1000 and attributes.status = 'FINISHED'",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from hybrid_tui.tracking.store import experiment_id

    uri = f"sqlite:///{tmp_path_factory.mktemp('start') / 'mlflow.db'}"
    tracker = Tracker(uri)
    tracker.create_store()
    experiment = experiment_id(tracker.client, "start", create=True, artifacts=None)
    for index, start in enumerate(STARTS):
        run = tracker.client.create_run(experiment, start_time=start, run_name=f"r{index}")
        tracker.client.set_terminated(run.info.run_id, "FINISHED")
    return uri, experiment


@pytest.mark.parametrize("text", FILTERS)
def test_start_time_picks_the_runs_mlflow_picks(store: tuple[str, str], text: str) -> None:
    uri, experiment = store
    tracker = Tracker(uri)
    ours = {run.run_id for run in parse_filter(text)(tracker.list_runs())}
    theirs = {run.info.run_id for run in tracker.client.search_runs([experiment], text)}
    assert ours == theirs
    assert ours  # each filter keeps some run


@pytest.mark.parametrize(
    "text", ["attributes.start_time = '2000'", "attributes.start_time LIKE '2%'"]
)
def test_start_time_against_text_is_one_line_naming_a_number(text: str) -> None:
    with pytest.raises(HybridTuiError, match="start_time"):
        parse_filter(text)
