"""`runs --filter multi>50` and `runs --sort multi` on a sqlite store read only each run's
headline figures (a few keys of `latest_metrics`), and choose exactly the runs, in exactly the
order, that the Python rule chooses over whole rows: NaN values, missing figures, ties, runs
never evaluated, several eval sets in one store and in one run."""

from __future__ import annotations

import math
import random

import pytest

from hybrid_tui.runs.columns import sorted_runs
from hybrid_tui.runs.filter import parse_filter
from hybrid_tui.runs.listing import choose_runs, fields_for
from hybrid_tui.tracking import Tracker

FIGURE_KEYS = {
    "mono": "mono/avg/map",
    "cross": "cross/avg/map",
    "multi": "multi/avg/map",
    "bias": "bias/avg/rank_distance",
}
FILTERS = [
    "multi>50",
    "multi>=50.5",
    "multi=50.5",
    "multi!=50.5",
    "mono<40",
    "bias<=2",
    "cross>10 multi<70",
    "multi>50 seed=3",
    "multi>50 status=FINISHED",
]
SORTS = ["multi", "mono", "cross", "bias"]


def _build(uri: str, eval_sets: list[str], runs: int, seed: int) -> None:
    """`runs` runs with figures drawn so that ties, NaN and missing keys are common."""
    from mlflow.entities import Metric, Param

    from hybrid_tui.tracking.store import experiment_id

    tracker = Tracker(uri)
    tracker.create_store()
    client = tracker.client
    experiment = experiment_id(client, "figures", create=True, artifacts=None)
    rng = random.Random(seed)
    values = [0.3, 0.505, 0.5049, 0.5051, 0.6, 0.6, math.nan, 1.5, 2.0]
    for index in range(runs):
        run = client.create_run(experiment, start_time=1_000 + index // 3, run_name=f"r{index}")
        metrics = [Metric("train/loss", rng.random(), 0, 1)]
        for eval_set in rng.sample(eval_sets, rng.randint(0, len(eval_sets))):
            for key in FIGURE_KEYS.values():
                if rng.random() < 0.8:  # some figures missing
                    value = rng.choice(values)
                    metrics.append(Metric(f"eval/{eval_set}/{key}", value, 0, 5))
            metrics.append(Metric(f"eval/{eval_set}/multi/avg/recall_1", 0.1, 0, 5))
            metrics.append(Metric(f"eval/{eval_set}/multi/de/map", 0.9, 0, 5))
        params = [Param("train.seed", str(index % 5))]
        client.log_batch(run.info.run_id, metrics, params, [])
        client.set_terminated(run.info.run_id, rng.choice(["FINISHED", "FAILED"]))


@pytest.fixture(scope="module", params=["one eval set", "several eval sets"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('figures') / 'mlflow.db'}"
    if request.param == "one eval set":
        _build(uri, ["xquad_r"], runs=60, seed=1)
    else:
        _build(uri, ["xquad_r", "mlqa_r", "my_set"], runs=90, seed=2)
    return uri


def _python_rule(tracker: Tracker, filter_text: str | None, sort: str | None) -> list[str]:
    """The runs the filter and sort choose from whole rows (every summary metric)."""
    runs = tracker.list_runs()
    if sort is not None:
        runs = sorted_runs(runs, sort)
    if filter_text is not None:
        runs = parse_filter(filter_text)(runs)
    return [run.run_id for run in runs]


@pytest.mark.parametrize("filter_text", FILTERS)
def test_a_figure_filter_chooses_the_runs_the_python_rule_chooses(
    store: str, filter_text: str
) -> None:
    tracker = Tracker(store)
    chosen = choose_runs(tracker, None, parse_filter(filter_text), None, None).chosen
    expected = _python_rule(tracker, filter_text, None)
    assert [run.run_id for run in chosen] == expected
    assert 0 < len(expected) < len(tracker.list_runs())  # the filter keeps some, not all


@pytest.mark.parametrize("sort", SORTS)
def test_a_figure_sort_orders_runs_as_the_python_rule_does(store: str, sort: str) -> None:
    tracker = Tracker(store)
    chosen = choose_runs(tracker, None, None, sort, None).chosen
    assert [run.run_id for run in chosen] == _python_rule(tracker, None, sort)
    oldest_first = choose_runs(tracker, None, parse_filter("multi>40"), sort, False).chosen
    expected = [
        run.run_id
        for run in parse_filter("multi>40")(sorted_runs(tracker.list_runs(), sort, False))
    ]
    assert [run.run_id for run in oldest_first] == expected


def test_figure_rows_carry_the_tested_figures_and_nothing_else(store: str) -> None:
    tracker = Tracker(store)
    fields = fields_for(parse_filter("multi>50"), "mono")
    whole = {run.run_id: run for run in tracker.list_runs()}
    light = tracker.list_runs(fields=fields)
    assert [run.run_id for run in light] == list(whole)
    for run in light:
        tested = {k: v for k, v in whole[run.run_id].headline.items() if k in ("multi", "mono")}
        assert _same(run.headline, tested)  # cross and bias, not tested, were not read
        assert "train/loss" not in run.latest  # only the figures' keys were read
        assert run.params == {} and run.tags == {}


def _same(ours: dict[str, float], theirs: dict[str, float]) -> bool:
    return ours.keys() == theirs.keys() and all(
        ours[key] == theirs[key] or (math.isnan(ours[key]) and math.isnan(theirs[key]))
        for key in ours
    )


def test_a_filter_on_params_only_reads_no_figures(store: str) -> None:
    light = Tracker(store).list_runs(fields=fields_for(parse_filter("seed=3"), None))
    assert all(run.headline == {} and run.latest == {} for run in light)
    assert {run.params["train.seed"] for run in light} == {str(seed) for seed in range(5)}
