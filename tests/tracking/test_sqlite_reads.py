"""Reads of a sqlite store straight from its file: the same answers as MLflow's own client, and no
mlflow import (nor any file created) on the way."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tracking import RunDetail, RunSummary, Tracker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Several runs: finished with eval tables, one with a NaN and a long param, one RUNNING with a
    step logged out of order, one in a second experiment, a deleted one, and two whose ids share
    their first 8 characters."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('reads') / 'mlflow.db'}"
    tracker = Tracker(uri)
    ids = {}
    for i, name in enumerate(("alpha", "beta")):
        run_id = tracker.start_run("reads", name, {"hybrid_tui.mix": f"mono {i}"})
        tracker.log_params(run_id, {"model.spec": "tiny-random", "train.steps": 10 + i})
        for step in range(1, 11):
            tracker.log_metrics(run_id, {"train/loss": 1.0 / step}, step)
        tracker.log_metrics(
            run_id, {"eval/xquad_r/mono/avg/map": 0.5 + i, "eval/xquad_r/mono/de/map": 0.4}, 10
        )
        tracker.end_run(run_id, "FINISHED")
        ids[name] = run_id
    odd = tracker.start_run("reads", None, {"note": "n" * 9000})  # MLflow names it
    tracker.log_params(odd, {"long": "x" * 7000, "train.steps": "not a number"})
    tracker.log_metrics(odd, {"train/loss": math.nan, "eval/xquad_r/bias/avg/rank_distance": 3}, 5)
    tracker.log_metrics(odd, {"train/lr": 0.1}, 7)
    tracker.log_metrics(odd, {"train/lr": 0.2}, 3)  # an earlier step logged later: 0.1 stays latest
    ids["odd"] = odd
    ids["other"] = tracker.start_run("second-experiment", "other", {})
    ids["gone"] = tracker.start_run("reads", "gone", {})
    tracker.end_run(ids["gone"], "KILLED")
    tracker.delete_run(ids["gone"])
    twins = [tracker.start_run("reads", f"twin-{i}", {}) for i in range(2)]
    tracker.flush()
    return {"uri": uri, "ids": ids, "twins": share_a_prefix(uri, twins, "beefcafe")}


def _comparable(detail: RunSummary) -> dict:
    """The summary or detail as a dict whose NaN values compare equal."""

    def same_nan(values: dict) -> dict:
        return {
            k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()
        }

    fields = dict(detail.__dict__)
    if isinstance(detail, RunDetail):
        fields["metrics"] = same_nan(detail.metrics)
    fields["headline"] = same_nan(detail.headline)
    fields["latest"] = same_nan(detail.latest)
    return fields


def test_get_run_from_the_file_equals_mlflows_client(store: dict) -> None:
    direct = Tracker(store["uri"])
    client = Tracker(store["uri"], direct_reads=False)
    for name in ("alpha", "beta", "odd", "other"):
        run_id = store["ids"][name]
        assert _comparable(direct.get_run(run_id)) == _comparable(client.get_run(run_id)), name
    assert direct._client is None  # every answer above came from the file

    odd = direct.get_run(store["ids"]["odd"])
    assert math.isnan(odd.metrics["train/loss"]) and odd.metrics["train/lr"] == 0.1
    assert 500 <= len(odd.params["long"]) <= 6000 and odd.steps is None and odd.name
    assert odd.status == "RUNNING" and odd.headline == {"bias": 3.0}
    assert direct.get_run(store["ids"]["beta"]).headline == {"mono": 1.5}


def test_a_deleted_run_is_unknown_to_both_paths(store: dict) -> None:
    gone = store["ids"]["gone"]
    for tracker in (Tracker(store["uri"]), Tracker(store["uri"], direct_reads=False)):
        with pytest.raises(HybridTuiError, match=f"no run {gone} in"):
            tracker.get_run(gone)
        with pytest.raises(HybridTuiError, match=f"no run {gone} in"):
            tracker.metric_history(gone, "train/loss")
        assert gone not in {run.run_id for run in tracker.list_runs()}


def test_the_run_list_and_histories_agree_with_mlflows_client(store: dict) -> None:
    direct = Tracker(store["uri"])
    client = Tracker(store["uri"], direct_reads=False)
    assert [_comparable(run) for run in direct.list_runs()] == [
        _comparable(run) for run in client.list_runs()
    ]
    running = {"experiment": "reads", "status": "RUNNING"}
    assert [_comparable(run) for run in direct.list_runs(**running)] == [
        _comparable(run) for run in client.list_runs(**running)
    ]
    for key in ("train/loss", "train/lr"):
        for run_id in store["ids"].values():
            if run_id != store["ids"]["gone"]:
                ours, theirs = (
                    direct.metric_history(run_id, key),
                    client.metric_history(run_id, key),
                )
                assert repr(ours) == repr(theirs), (run_id, key)  # repr: nan == nan
    assert direct._client is None


MISSING_STORE = """
import sys
from pathlib import Path
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tracking import Tracker
db = Path(sys.argv[1])
tracker = Tracker(f"sqlite:///{db}")
assert tracker.list_runs() == [] and tracker.list_runs(status="RUNNING") == []
for read in (lambda: tracker.get_run("0123456789abcdef0123456789abcdef"),
             lambda: tracker.metric_history("0123456789abcdef0123456789abcdef", "train/loss")):
    try:
        read()
        raise SystemExit("an unknown run was read")
    except HybridTuiError as err:
        assert "no run 0123456789abcdef0123456789abcdef" in str(err), err
print("mlflow" in sys.modules, db.exists())
"""


def test_reading_a_missing_store_creates_nothing_and_imports_no_mlflow(tmp_path: Path) -> None:
    db = tmp_path / "new" / "mlflow.db"
    done = subprocess.run(
        [sys.executable, "-c", MISSING_STORE, str(db)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.split() == ["False", "False"], done.stdout + done.stderr
    tracker = Tracker(f"sqlite:///{db}")
    tracker.end_run(tracker.start_run("hybrid-tui", "first"), "FINISHED")  # a write creates it
    assert [run.name for run in Tracker(f"sqlite:///{db}").list_runs()] == ["first"]


def test_a_file_without_mlflows_tables_reads_as_an_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).close()  # an empty database, e.g. one a writer is just setting up
    tracker = Tracker(f"sqlite:///{db}")
    assert tracker.list_runs() == []
    with pytest.raises(HybridTuiError, match="no run"):
        tracker.get_run("0123456789abcdef0123456789abcdef")
    assert tracker._client is None and sqlite3.connect(db).execute(
        "SELECT count(*) FROM sqlite_master"
    ).fetchone() == (0,)


def share_a_prefix(uri: str, run_ids: list[str], prefix: str) -> list[str]:
    """Give fresh runs (no params or metrics yet) ids that start alike: uuids rarely do."""
    renamed = [prefix + run_id[len(prefix) :] for run_id in run_ids]
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as connection:
        for old, new in zip(run_ids, renamed, strict=True):
            for table in ("runs", "tags"):
                connection.execute(
                    f"UPDATE {table} SET run_uuid = ? WHERE run_uuid = ?", (new, old)
                )
    return renamed


@pytest.mark.parametrize("direct_reads", [True, False], ids=["file", "client"])
def test_a_unique_prefix_names_a_run_and_a_shared_one_is_refused(
    store: dict, direct_reads: bool
) -> None:
    tracker = Tracker(store["uri"], direct_reads=direct_reads)
    alpha = store["ids"]["alpha"]
    assert tracker.resolve_run_id(alpha) == alpha
    assert tracker.resolve_run_id(alpha[:8]) == alpha
    assert tracker.get_run(alpha[:5]).run_id == alpha
    twin = store["twins"][0]
    assert tracker.resolve_run_id(twin) == twin  # a whole id is never ambiguous
    with pytest.raises(HybridTuiError) as ambiguous:
        tracker.get_run("beefcafe")
    assert str(ambiguous.value) == (
        f"run id prefix beefcafe is ambiguous: {sorted(store['twins'])[0][:10]}…, "
        f"{sorted(store['twins'])[1][:10]}…; give more characters"
    )
    with pytest.raises(HybridTuiError, match=r"^run id abc is too short: give 4 or more"):
        tracker.get_run("abc")
    for unknown in ("ffff0000", store["ids"]["gone"][:8]):  # a deleted run's prefix too
        with pytest.raises(HybridTuiError, match=f"^no run {unknown} in .* lists them$"):
            tracker.resolve_run_id(unknown)


def test_delete_run_takes_a_prefix(store: dict) -> None:
    tracker = Tracker(store["uri"])
    doomed = tracker.start_run("reads", "doomed", {})
    tracker.delete_run(doomed[:8])
    assert doomed not in {run.run_id for run in tracker.list_runs()}
    with pytest.raises(HybridTuiError, match=f"no run {doomed}"):
        tracker.get_run(doomed)
