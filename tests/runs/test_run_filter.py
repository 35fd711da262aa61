"""The run filter: MLflow's search syntax picks the same runs as MLflow's own `search_runs`, the
short form means what the README says, and a bad expression is one line saying what is wrong."""

from __future__ import annotations

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.runs.filter import parse_filter
from hybrid_tui.tracking import Tracker
from tests.tui.test_tui import seed_run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    uri = f"sqlite:///{tmp_path_factory.mktemp('filter') / 'mlflow.db'}"
    ids = {
        "big-lr": seed_run(uri, "big-lr", lr=1.0),
        "small-lr": seed_run(uri, "small-lr", lr=1e-3, shift=0.05, mono=0.3, cross=0.7),
        "killed": seed_run(uri, "killed", status="KILLED"),
    }
    tracker = Tracker(uri)
    tracker.set_tags(ids["small-lr"], {"team": "ir"})
    tracker.flush()
    return {"uri": uri, "ids": ids, "tracker": tracker}


MLFLOW_EXPRESSIONS = [
    "metrics.`eval/xquad_r/multi/avg/map` > 0.36",
    "metrics.`eval/xquad_r/multi/avg/map` >= 0.35 and params.`train.lr` = '0.001'",
    "params.`sampler.mono` = '0.5'",
    "params.`sampler.mono` != '0.5'",
    "tags.team = 'ir'",
    "tags.`hybrid_tui.mix` LIKE 'hybrid%'",
    "tags.`mlflow.runName` ILIKE '%LR'",
    "attributes.status = 'FINISHED'",
    "attributes.run_name = 'killed'",
    "metrics.`train/loss` < 0.2 and attributes.status != 'KILLED'",
    "params.\"train.batch_size\" = '16'",
]


@pytest.mark.parametrize("expression", MLFLOW_EXPRESSIONS)
def test_mlflow_syntax_picks_the_runs_mlflow_picks(store: dict, expression: str) -> None:
    tracker = store["tracker"]
    ours = {run.run_id for run in parse_filter(expression)(tracker.list_runs())}
    experiment = tracker.client.get_experiment_by_name("tui-tests").experiment_id
    theirs = {run.info.run_id for run in tracker.client.search_runs([experiment], expression)}
    assert ours == theirs and ours  # each expression matches some run


def test_in_takes_a_list_of_quoted_values(store: dict) -> None:
    """MLflow takes IN for run ids only; here it works on any text field."""
    chosen = parse_filter("attributes.status IN ('KILLED', 'RUNNING') and tags.team IN ('x')")
    assert chosen(store["tracker"].list_runs()) == []
    runs = parse_filter("attributes.status IN ('KILLED', 'RUNNING')")(store["tracker"].list_runs())
    assert [run.name for run in runs] == ["killed"]


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("multi>36", {"small-lr"}),  # as the tables show it: mAP x 100
        ("lr=1e-3", {"small-lr", "killed"}),
        ("lr=1e-3 mono>0", {"small-lr"}),  # the killed run was never evaluated
        ("lr>=0.5 status=FINISHED", {"big-lr"}),
        ("sampler.mono=0.3", {"small-lr"}),
        ("status=KILLED", {"killed"}),
        ("best>0", {"big-lr", "small-lr"}),
        ("train/loss<0.2 name=big-lr", {"big-lr"}),
    ],
)
def test_the_short_form(store: dict, expression: str, names: set[str]) -> None:
    runs = parse_filter(expression)(store["tracker"].list_runs())
    assert {run.name for run in runs} == names


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("metrics.`eval/xquad_r/multi/avg/map` >", "a metric is compared with a number at the end"),
        ("params.`train.lr` > '1'", "params compare with =, !=, LIKE, ILIKE or IN, not >"),
        ("params.`train.lr` = 0.001", "a param is compared with a quoted value"),
        ("tags.a = 'b' or tags.c = 'd'", "expected `and` between clauses at \"or tags.c = 'd'\""),
        ("attributes.colour = 'red'", "unknown attribute 'colour'"),
        ("metrics.`eval/xquad_r/mono/de/map` > 0", "is a per-language metric"),
        ("lr~3", "'lr~3' is not NAME OP VALUE"),
        ("speed>3", "unknown name 'speed'"),
        ("multi>high", "multi is compared with a number, not 'high'"),
        ("  ", "the filter is empty"),
    ],
)
def test_a_bad_expression_is_one_line_saying_what(expression: str, says: str) -> None:
    with pytest.raises(HybridTuiError) as error:
        parse_filter(expression)
    message = str(error.value)
    assert says in message and "\n" not in message
