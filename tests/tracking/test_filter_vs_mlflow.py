"""`hybrid-tui runs --filter` picks the same runs as MLflow's own `search_runs`, on a store of a
few hundred varied runs written by MLflow's client: every operator and key kind the full syntax
and the short form accept. `runs` filters light rows read from the file (`runs.listing`), so this
checks those reads as much as the rule.

Where MLflow has no such operator (NOT LIKE, IN on text fields, a param compared as a number),
its side is built from its own searches: NOT LIKE is "has the key" minus LIKE, IN a union of `=`.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.conftest import cli_in_process

pytestmark = pytest.mark.xdist_group("filter-vs-mlflow")  # the 240-run store is built once
RUNS = 240
EXPERIMENT = "filter-vs-mlflow"
LRS = ("0.001", "0.0003", "1e-05")
MULTI = "eval/xquad_r/multi/avg/map"
MONO, CROSS = "eval/xquad_r/mono/avg/map", "eval/xquad_r/cross/avg/map"
BIAS = "eval/xquad_r/bias/avg/rank_distance"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs of every status, some never evaluated, some without lr or team; each multilingual
    history rises, so the best value is the latest (what MLflow searches)."""
    from mlflow.entities import Metric, Param, RunTag

    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tracking.store import experiment_id

    folder = tmp_path_factory.mktemp("filter-vs-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = Tracker(uri)
    tracker.create_store()
    client = tracker.client
    experiment = experiment_id(client, EXPERIMENT, create=True, artifacts=None)
    rng = random.Random(22)
    for index in range(RUNS):
        name = f"sweep-{index}" if index % 4 else f"Base-{index}"
        run = client.create_run(experiment, run_name=name)
        params = [Param("train.steps", str(rng.choice((100, 1000))))]
        params.append(Param("sampler.mono", rng.choice(("0.3", "0.5"))))
        if index % 9:
            params.append(Param("train.lr", rng.choice(LRS)))
        tags = [RunTag("team", rng.choice(("ir", "nlp", "IR-core")))] if index % 5 else []
        metrics = [Metric("train/loss", rng.randint(1, 999) / 1000, 0, 10)]
        if index % 7:
            multi = 0.5 if index % 50 == 1 else rng.randint(100, 900) / 1000
            for step, value in ((100, multi - 0.05), (200, multi)):  # rising: best = latest
                metrics.append(Metric(MULTI, round(value, 3), 0, step))
            metrics.append(Metric(MONO, rng.randint(100, 900) / 1000, 0, 200))
            metrics.append(Metric(CROSS, rng.randint(100, 900) / 1000, 0, 200))
            metrics.append(Metric(BIAS, float(rng.randint(0, 40)), 0, 200))
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        client.set_terminated(run.info.run_id, rng.choice(("FINISHED", "FINISHED", "KILLED")))
    return {"uri": uri, "client": client, "experiment": experiment, "folder": folder}


def ours(store: dict, expression: str) -> set[str]:
    """The runs `hybrid-tui runs --filter EXPRESSION --json` lists."""
    done = cli_in_process(
        store["folder"],
        "runs",
        "--tracking-uri",
        store["uri"],
        "--experiment",
        EXPERIMENT,
        "--filter",
        expression,
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {run["run_id"] for run in json.loads(done.stdout)}


def mlflows(store: dict, expression: str) -> set[str]:
    runs = store["client"].search_runs([store["experiment"]], expression, max_results=50_000)
    return {run.info.run_id for run in runs}


FULL_SYNTAX = [
    *(f"metrics.`{MULTI}` {op} 0.5" for op in ("=", "!=", ">", ">=", "<", "<=")),
    f'metrics."{MONO}" > 0.4',
    f"metric.`{BIAS}` <= 20",
    "metrics.`train/loss` < 0.3 and attributes.status != 'KILLED'",
    "params.`train.lr` = '0.001'",
    "params.`train.lr` != '0.001'",
    "param.`train.lr` LIKE '%e-05'",
    "parameter.`sampler.mono` = '0.3'",
    "parameters.`train.steps` ILIKE '1%0'",
    "tags.team = 'ir'",
    "tags.team != 'ir'",
    "tags.team LIKE 'ir%'",
    "tag.team ILIKE 'ir%'",
    "tags.\"mlflow.runName\" LIKE 'Base-%'",
    "attributes.status = 'KILLED'",
    "attributes.status != 'FINISHED'",
    "attr.status LIKE 'FIN%'",
    "attributes.status ILIKE 'kill%'",
    "attributes.run_name = 'sweep-5'",
    "attributes.run_name != 'sweep-5'",
    "run.run_name LIKE 'sweep-1%'",
    "attributes.run_name ILIKE 'base-%'",
    f"metrics.`{MULTI}` >= 0.3 and params.`train.lr` = '0.0003' and tags.team = 'nlp'",
]


@pytest.mark.parametrize("expression", FULL_SYNTAX)
def test_the_full_syntax_picks_the_runs_mlflow_picks(store: dict, expression: str) -> None:
    expected = mlflows(store, expression)
    assert ours(store, expression) == expected
    assert expected  # each expression picks some run, so an empty answer cannot pass


def test_run_ids_by_equality_like_and_in(store: dict) -> None:
    ids = sorted(mlflows(store, "attributes.status = 'KILLED'"))[:3]
    listed = ", ".join(f"'{run_id}'" for run_id in ids)
    for expression in (
        f"attributes.run_id = '{ids[0]}'",
        f"attributes.run_id != '{ids[0]}'",
        f"attributes.run_id LIKE '{ids[1][:6]}%'",
        f"attributes.run_id IN ({listed})",
    ):
        assert ours(store, expression) == mlflows(store, expression), expression


def test_not_like_is_has_the_key_minus_like(store: dict) -> None:
    for kind, key, pattern in (("params", "train.lr", "%e-05"), ("tags", "team", "ir%")):
        having = mlflows(store, f"{kind}.`{key}` LIKE '%'")
        liked = mlflows(store, f"{kind}.`{key}` LIKE '{pattern}'")
        assert ours(store, f"{kind}.`{key}` NOT LIKE '{pattern}'") == having - liked
        assert having - liked


def test_in_on_text_fields_is_a_union_of_equalities(store: dict) -> None:
    for kind, key, values in (
        ("params", "train.lr", ("0.001", "1e-05")),
        ("tags", "team", ("nlp", "IR-core")),
        ("attributes", "status", ("KILLED", "FAILED")),
    ):
        union = set().union(*(mlflows(store, f"{kind}.`{key}` = '{v}'") for v in values))
        listed = ", ".join(f"'{value}'" for value in values)
        assert ours(store, f"{kind}.`{key}` IN ({listed})") == union and union


SHORT_FORM = [  # (short form, the same in MLflow's syntax: figures as shown, mAP x 100)
    *((f"multi{op}50", f"metrics.`{MULTI}` {op} 0.5") for op in ("=", "!=", ">", ">=", "<", "<=")),
    ("mono>=45.5", f"metrics.`{MONO}` >= 0.455"),
    ("cross<30", f"metrics.`{CROSS}` < 0.3"),
    ("bias>20", f"metrics.`{BIAS}` > 20"),
    ("best>60", f"metrics.`{MULTI}` > 0.6"),  # every history rises: the best is the latest
    ("train/loss<0.25", "metrics.`train/loss` < 0.25"),
    ("lr=0.001", "params.`train.lr` = '0.001'"),
    ("lr!=0.001", "params.`train.lr` != '0.001'"),
    ("steps=1000", "params.`train.steps` = '1000'"),
    ("sampler.mono=0.3", "params.`sampler.mono` = '0.3'"),
    ("status=KILLED", "attributes.status = 'KILLED'"),
    ("status!=KILLED", "attributes.status != 'KILLED'"),
    ("name=sweep-5", "attributes.run_name = 'sweep-5'"),
    ("multi>40 lr=1e-05 status=FINISHED", None),
]


@pytest.mark.parametrize(("short", "full"), SHORT_FORM)
def test_the_short_form_picks_what_its_mlflow_spelling_picks(
    store: dict, short: str, full: str | None
) -> None:
    if full is None:
        full = (
            f"metrics.`{MULTI}` > 0.4 and params.`train.lr` = '1e-05' "
            "and attributes.status = 'FINISHED'"
        )
    expected = mlflows(store, full)
    assert ours(store, short) == expected and expected


def test_a_param_compared_as_a_number_is_the_union_of_its_values(store: dict) -> None:
    """MLflow compares params as text; the short form compares numbers as numbers."""
    for short, values in (("lr>0.0002", ("0.001", "0.0003")), ("lr<=0.0003", ("0.0003", "1e-05"))):
        union = set().union(*(mlflows(store, f"params.`train.lr` = '{v}'") for v in values))
        assert ours(store, short) == union and union
