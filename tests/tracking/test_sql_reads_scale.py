"""List reads of a sqlite store that cost what is shown: light rows carry only the params and tags
asked for (what a filter or a sort tests), `run_ids` reads a page whole, and the best
multilingual value comes from each run's own eval set, as MLflow's client reports it."""

from __future__ import annotations

import pytest

from hybrid_tui.tracking import Tracker
from hybrid_tui.tracking.records import RunFields


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three runs: evaluated on XQuAD-R, on MLQA-R only, and never evaluated."""
    from mlflow.entities import Metric, Param, RunTag

    from hybrid_tui.tracking.store import experiment_id

    uri = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'mlflow.db'}"
    tracker = Tracker(uri)
    tracker.create_store()
    client = tracker.client
    experiment = experiment_id(client, "scale", create=True, artifacts=None)
    ids = {}
    for index, (name, dataset) in enumerate((("xq", "xquad_r"), ("ml", "mlqa_r"), ("none", ""))):
        run = client.create_run(experiment, start_time=1_000 + index, run_name=name)
        metrics = [Metric("train/loss", 0.5, 0, 1)]
        if dataset:
            key = f"eval/{dataset}/multi/avg/map"
            points = ((10, 0.3), (20, 0.6 + index / 10), (30, 0.4))  # the best is not the last
            metrics += [Metric(key, value, 0, step) for step, value in points]
            metrics.append(Metric(f"eval/{dataset}/mono/avg/map", 0.7, 0, 30))
        params = [Param("train.lr", "0.001"), Param("train.seed", str(index))]
        params.append(Param("model.spec", "tiny"))
        client.log_batch(run.info.run_id, metrics, params, [RunTag("team", "ir")])
        client.set_terminated(run.info.run_id, "FINISHED")
        ids[name] = run.info.run_id
    return {"uri": uri, "ids": ids}


def test_light_rows_carry_only_what_was_asked(store: dict) -> None:
    fields = RunFields(frozenset({"train.seed"}), frozenset(), metrics=False, best=False)
    runs = Tracker(store["uri"]).list_runs(fields=fields)
    assert [run.name for run in runs] == ["none", "ml", "xq"]  # newest first
    assert [run.params for run in runs] == [
        {"train.seed": "2"},
        {"train.seed": "1"},
        {"train.seed": "0"},
    ]
    assert all(run.tags == {} and run.headline == {} and run.best_multi is None for run in runs)


def test_a_page_read_by_run_ids_is_the_whole_rows_of_those_runs(store: dict) -> None:
    tracker = Tracker(store["uri"])
    whole = {run.run_id: run for run in tracker.list_runs()}
    page = tracker.list_runs(run_ids=[store["ids"]["xq"], store["ids"]["none"]])
    assert [run.name for run in page] == ["none", "xq"]
    assert page == [whole[run.run_id] for run in page]


def test_best_multilingual_value_per_run_as_mlflows_client_reports_it(store: dict) -> None:
    from_file = Tracker(store["uri"]).list_runs()
    from_client = Tracker(store["uri"], direct_reads=False).list_runs()
    best = {run.name: (run.best_multi, run.best_multi_step) for run in from_file}
    assert best == {"xq": (0.6, 20), "ml": (0.7, 20), "none": (None, None)}
    assert best == {run.name: (run.best_multi, run.best_multi_step) for run in from_client}
