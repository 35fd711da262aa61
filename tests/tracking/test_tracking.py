"""The tracker against a real MLflow sqlite store: runs, buffered metrics, fast reads, errors."""

from __future__ import annotations

import inspect
import math
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tracking import (
    RUN_WRITES,
    NullTracker,
    RunDetail,
    RunSummary,
    Tracker,
    headline,
    write_buffer,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store") / "sub" / "mlflow.db"  # the folder does not exist yet


@pytest.fixture(scope="module")
def tracker(db: Path) -> Tracker:
    """One store for the module: creating MLflow's tables costs seconds."""
    return Tracker(f"sqlite:///{db}")


def _eval_metrics(dataset: str, mono: float, cross: float, multi: float, bias: float) -> dict:
    return {
        f"eval/{dataset}/mono/avg/map": mono,
        f"eval/{dataset}/cross/avg/map": cross,
        f"eval/{dataset}/multi/avg/map": multi,
        f"eval/{dataset}/bias/avg/rank_distance": bias,
        f"eval/{dataset}/mono/en/map": mono + 0.1,
        f"eval/{dataset}/cross/en-de/map": cross + 0.1,
    }


def _trained_run(tracker: Tracker, name: str, experiment: str = "hybrid-tui", steps: int = 200):
    run_id = tracker.start_run(experiment, name, {"hybrid_tui.mix": "mono 0.5 · cross 0.5"})
    tracker.log_params(run_id, {"model.spec": "tiny-random", "train.steps": steps})
    for step in range(1, steps + 1):
        tracker.log_metrics(run_id, {"train/loss": 1.0 / step, "train/lr": 0.001}, step)
    tracker.log_metrics(
        run_id,
        _eval_metrics("mlqa_r", 0.1, 0.2, 0.3, 4.0) | _eval_metrics("xquad_r", 0.5, 0.6, 0.7, 2.5),
        steps,
    )
    return run_id


def test_a_new_store_is_created_in_wal_mode(tracker: Tracker, db: Path) -> None:
    tracker.end_run(tracker.start_run("hybrid-tui", "first-write"), "FINISHED")
    assert db.is_file()
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_finished_run_lists_with_its_model_mix_steps_and_headline(tracker: Tracker) -> None:
    run_id = _trained_run(tracker, "round-trip")
    tracker.end_run(run_id, "FINISHED")

    (summary,) = [run for run in tracker.list_runs() if run.run_id == run_id]
    assert isinstance(summary, RunSummary)
    assert (summary.name, summary.status, summary.model, summary.mix, summary.steps) == (
        "round-trip",
        "FINISHED",
        "tiny-random",
        "mono 0.5 · cross 0.5",
        200,
    )
    assert summary.headline == {
        "mono": 0.5,
        "cross": 0.6,
        "multi": 0.7,
        "bias": 2.5,
    }  # xquad_r first
    assert summary.start_time is not None and abs(summary.start_time / 1000 - time.time()) < 120

    detail = tracker.get_run(run_id)
    assert isinstance(detail, RunDetail)
    assert detail.headline == summary.headline and detail.steps == 200
    assert detail.metrics["train/loss"] == pytest.approx(1 / 200)  # the latest value
    assert detail.metrics["eval/mlqa_r/cross/en-de/map"] == pytest.approx(0.3)
    assert detail.params["model.spec"] == "tiny-random"
    assert detail.tags["hybrid_tui.mix"] == "mono 0.5 · cross 0.5"


def test_the_fast_run_list_matches_mlflows_search(tracker: Tracker) -> None:
    _trained_run(tracker, "compare-a", experiment="other-experiment", steps=3)
    fast = tracker.list_runs()
    fast_other = tracker.list_runs(experiment="other-experiment")
    client_only = Tracker(tracker.uri, direct_reads=False)  # as for a non-sqlite store
    assert client_only.list_runs() == fast
    assert client_only.list_runs(experiment="other-experiment") == fast_other
    assert [run.name for run in fast_other] == ["compare-a"]
    assert tracker.list_runs(experiment="no-such-experiment") == []
    assert client_only.list_runs(experiment="no-such-experiment") == []


def test_list_runs_is_newest_first_and_filters_by_status(tracker: Tracker) -> None:
    first = tracker.start_run("status-test", "first", {})
    second = tracker.start_run("status-test", "second", {})
    tracker.end_run(first, "KILLED")
    ids = [run.run_id for run in tracker.list_runs(experiment="status-test")]
    assert ids == [second, first]
    running = [run.run_id for run in tracker.list_runs(status="RUNNING")]
    assert second in running and first not in running
    assert all(run.status == "RUNNING" for run in tracker.list_runs(status="RUNNING"))

    tracker.resume_run(first)
    assert tracker.get_run(first).status == "RUNNING"
    tracker.end_run(first, "FAILED")
    tracker.end_run(second, "FINISHED")
    statuses = {run.run_id: run.status for run in tracker.list_runs(experiment="status-test")}
    assert statuses == {first: "FAILED", second: "FINISHED"}


def test_metric_history_returns_only_newer_steps_and_agrees_with_mlflow(tracker: Tracker) -> None:
    run_id = _trained_run(tracker, "history", steps=150)
    tracker.flush()
    history = tracker.metric_history(run_id, "train/loss")
    assert [step for step, _ in history] == list(range(1, 151))
    reference = sorted(
        (m.step, m.value) for m in tracker.client.get_metric_history(run_id, "train/loss")
    )
    assert history == reference

    newer = tracker.metric_history(run_id, "train/loss", after_step=140)
    assert newer == reference[140:]
    assert tracker.metric_history(run_id, "train/loss", after_step=150) == []
    assert tracker.metric_history(run_id, "no/such/key") == []

    # the client path (stores that are not sqlite files) gives the same answers
    client_only = Tracker(tracker.uri, direct_reads=False)
    assert client_only.metric_history(run_id, "train/loss", after_step=140) == newer


def test_the_latest_value_of_a_repeated_step_wins_and_nan_survives(tracker: Tracker) -> None:
    run_id = tracker.start_run("hybrid-tui", "repeats", {})
    tracker.log_metrics(run_id, {"train/loss": 2.0}, 1)
    tracker.flush()
    time.sleep(0.01)
    tracker.log_metrics(run_id, {"train/loss": 1.5}, 1)  # a resumed run logs step 1 again
    tracker.log_metrics(run_id, {"train/loss": math.nan}, 2)
    tracker.end_run(run_id, "FINISHED")
    (one, two) = tracker.metric_history(run_id, "train/loss")
    assert one == (1, 1.5) and two[0] == 2 and math.isnan(two[1])


def test_metrics_are_buffered_until_flush_or_end(tracker: Tracker, monkeypatch) -> None:
    monkeypatch.setattr(write_buffer, "FLUSH_EVERY_S", 60.0)
    run_id = tracker.start_run("hybrid-tui", "buffered", {})
    tracker.flush()  # the last flush is now: nothing is due for a minute
    tracker.log_metrics(run_id, {"train/loss": 1.0}, 1)
    tracker.log_metrics(run_id, {"train/loss": 0.5}, 2)

    def stored() -> list[int]:
        return [m.step for m in tracker.client.get_metric_history(run_id, "train/loss")]

    assert stored() == []
    tracker.flush()
    assert sorted(stored()) == [1, 2]
    tracker.log_metrics(run_id, {"train/loss": 0.25}, 3)
    assert sorted(stored()) == [1, 2]
    tracker.end_run(run_id, "FINISHED")
    assert sorted(stored()) == [1, 2, 3]


def test_a_burst_of_metrics_is_written_within_about_a_second(tracker: Tracker, monkeypatch) -> None:
    monkeypatch.setattr(write_buffer, "FLUSH_EVERY_S", 0.2)
    run_id = tracker.start_run("hybrid-tui", "timer", {})
    tracker.flush()
    tracker.log_metrics(run_id, {"eval/xquad_r/mono/avg/map": 0.4}, 10)
    deadline = time.monotonic() + 5
    while not tracker.client.get_metric_history(run_id, "eval/xquad_r/mono/avg/map"):
        assert time.monotonic() < deadline, "the buffered point never reached the store"
        time.sleep(0.05)
    tracker.end_run(run_id, "FINISHED")


def test_many_and_long_params_are_chunked_and_cut(tracker: Tracker) -> None:
    run_id = tracker.start_run("hybrid-tui", "params", {"long.tag": "t" * 9000})
    params = {f"p{i}": i for i in range(250)} | {"long": "x" * 7000}
    tracker.log_params(run_id, params)
    tracker.log_metrics(run_id, {f"m{i}": float(i) for i in range(2500)}, 0)  # > one batch
    tracker.set_tags(run_id, {f"tag{i}": i for i in range(150)})
    tracker.end_run(run_id, "FINISHED")
    detail = tracker.get_run(run_id)
    assert detail.params["p249"] == "249" and len(detail.params) == 251
    assert 500 <= len(detail.params["long"]) <= 6000
    assert len(detail.tags["long.tag"]) <= 8000 and detail.tags["tag149"] == "149"
    assert len([key for key in detail.metrics if key.startswith("m")]) == 2500
    assert detail.headline == {} and detail.model == "" and detail.steps is None


def test_artifacts_live_beside_the_database(tracker: Tracker, db: Path, tmp_path: Path) -> None:
    run_id = tracker.start_run("hybrid-tui", "artifacts", {})
    tracker.log_text(run_id, "name = 'x'\n", "recipe.toml")
    table = tmp_path / "xquad-r.csv"
    table.write_text("a,b\n")
    tracker.log_artifact(run_id, table, "tables")
    tracker.end_run(run_id, "FINISHED")
    found = {p.relative_to(db.parent).as_posix() for p in db.parent.rglob("*") if p.is_file()}
    assert any(p.endswith(f"{run_id}/artifacts/recipe.toml") for p in found), found
    assert any(p.endswith(f"{run_id}/artifacts/tables/xquad-r.csv") for p in found), found


@pytest.mark.parametrize("run_id", ["0123456789abcdef0123456789abcdef", "not a run id!"])
def test_an_unknown_run_id_is_a_one_line_error(tracker: Tracker, run_id: str) -> None:
    calls = [
        lambda: tracker.get_run(run_id),
        lambda: tracker.metric_history(run_id, "train/loss"),
        lambda: tracker.resume_run(run_id),
        lambda: tracker.end_run(run_id, "FAILED"),
        lambda: tracker.delete_run(run_id),
        lambda: tracker.log_text(run_id, "x", "error.txt"),
        lambda: tracker.set_tags(run_id, {"a": "b"}),
    ]
    for call in calls:
        with pytest.raises(
            HybridTuiError, match=rf"no run .* `{re.escape(command('runs'))}` lists"
        ):
            call()


def test_points_for_an_unknown_run_do_not_block_later_flushes(tracker: Tracker) -> None:
    good = tracker.start_run("hybrid-tui", "good", {})
    tracker.log_metrics("0123456789abcdef0123456789abcdef", {"train/loss": 1.0}, 1)
    tracker.log_metrics(good, {"train/loss": 1.0}, 1)
    with pytest.raises(HybridTuiError):
        tracker.flush()
    tracker.end_run(good, "FINISHED")
    assert tracker.metric_history(good, "train/loss") == [(1, 1.0)]


def test_delete_run_removes_it_from_the_list(tracker: Tracker) -> None:
    run_id = tracker.start_run("delete-test", "doomed", {})
    tracker.end_run(run_id, "FINISHED")
    assert [run.run_id for run in tracker.list_runs(experiment="delete-test")] == [run_id]
    tracker.delete_run(run_id)
    assert tracker.list_runs(experiment="delete-test") == []
    assert run_id not in {run.run_id for run in tracker.list_runs()}
    with pytest.raises(HybridTuiError):
        tracker.get_run(run_id)


WRITER = """
import sys, time
from hybrid_tui.tracking import Tracker
tracker = Tracker(sys.argv[1])
run_id = tracker.start_run("concurrent", "writer", {"hybrid_tui.mix": "m"})
print(run_id, flush=True)
for step in range(1, 201):
    tracker.log_metrics(run_id, {"train/loss": 1.0 / step}, step)
    if step % 10 == 0:
        tracker.flush()
    time.sleep(0.002)
tracker.end_run(run_id, "FINISHED")
"""


def test_a_reader_follows_a_writer_in_another_process(tracker: Tracker) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, tracker.uri], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    run_id = writer.stdout.readline().strip()
    reader = Tracker(tracker.uri)  # a second tracker in this process too, like the TUI's
    errors: list[BaseException] = []

    def list_in_background() -> None:
        try:
            while writer.poll() is None:
                reader.list_runs()
                time.sleep(0.01)
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    lister = threading.Thread(target=list_in_background)
    lister.start()
    seen: list[tuple[int, float]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen += tracker.metric_history(run_id, "train/loss", after_step=seen[-1][0] if seen else -1)
        if tracker.get_run(run_id).status == "FINISHED":
            seen += tracker.metric_history(
                run_id, "train/loss", after_step=seen[-1][0] if seen else -1
            )
            break
        time.sleep(0.02)
    assert writer.wait(timeout=30) == 0
    lister.join()
    assert not errors, errors
    assert [step for step, _ in seen] == list(range(1, 201))


def test_headline_takes_the_first_dataset_present() -> None:
    assert headline({}) == {}
    assert headline({"train/loss": 1.0}) == {}
    only_mlqa = headline(_eval_metrics("mlqa_r", 0.1, 0.2, 0.3, 4.0))
    assert only_mlqa == {"mono": 0.1, "cross": 0.2, "multi": 0.3, "bias": 4.0}
    partial = headline({"eval/xquad_r/mono/avg/map": 0.5, "eval/mlqa_r/cross/avg/map": 0.2})
    assert partial == {"mono": 0.5}


def _public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and name[0] != "_"}


def test_the_null_tracker_has_exactly_the_trackers_write_methods() -> None:
    assert _public_methods(NullTracker) == set(RUN_WRITES)
    # every public Tracker method is either a run write (NullTracker needs it) or one of these
    others = {
        "list_runs",
        "get_run",
        "metric_history",
        "resolve_run_id",
        "delete_run",
        "create_store",
        "download_artifact",
        "local_artifact",  # reads: an artifact in place from a local store (compare, the study)
        "store_changes",  # reads: has anything been committed since (the runs screen)
        # reads of the runs screen's feed: what changed since the last read, remote paging
        "run_states",
        "runs_with_points_since",
        "tags_of",
        "run_pages",
    }
    assert _public_methods(Tracker) == set(RUN_WRITES) | others
    for name in RUN_WRITES:
        ours = inspect.signature(getattr(NullTracker, name)).parameters
        theirs = inspect.signature(getattr(Tracker, name)).parameters
        assert list(ours.values()) == list(theirs.values()), name


def test_the_null_tracker_does_nothing_but_a_typo_raises() -> None:
    null = NullTracker()
    assert null.start_run("hybrid-tui", "rank-1", {"a": "b"}) is None
    null.log_params("run", {"a": 1})
    null.log_metrics("run", {"train/loss": 1.0}, step=1)
    null.end_run("run", "FINISHED")
    with pytest.raises(AttributeError):
        null.log_metric("run", {"train/loss": 1.0}, 1)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        null.log_metrics("run", {"train/loss": 1.0})  # type: ignore[call-arg]


def test_trainers_creating_one_new_store_at_once_all_write(tmp_path) -> None:
    """MLflow migrates a new sqlite store on first use; four processes doing it together on one
    file must all get a working store (they did not before the init lock)."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    script = (
        "import sys\nfrom hybrid_tui.tracking import Tracker\n"
        "t = Tracker(sys.argv[1])\nrun = t.start_run('race', 'r')\n"
        "t.log_metrics(run, {'m': 1.0}, 1)\nt.end_run(run)\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script, uri], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [child.communicate(timeout=300)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    from hybrid_tui.tracking import Tracker

    assert [run.status for run in Tracker(uri).list_runs()] == ["FINISHED"] * 4


# ------------------------------------------------------- runs created without importing mlflow


def test_a_run_written_straight_to_sqlite_reads_back_as_mlflows_own(tracker: Tracker, db: Path):
    """`train --detach` announces its run before importing mlflow (`sqlite_writes`): that run
    must be the one MLflow's own `create_run` would have made."""
    from hybrid_tui.tracking import sqlite_writes, store

    client = tracker.client
    experiment = store.experiment_id(
        client, "direct", create=True, artifacts=store.artifacts_beside(db, "direct")
    )
    tags = {"hybrid_tui.recipe_name": "smoke", "hybrid_tui.mix": "hybrid α=0.50"}
    theirs = client.create_run(experiment, tags=tags, run_name="same")
    mine_id = sqlite_writes.create_run(db, "direct", "same", tags)
    assert mine_id and mine_id != theirs.info.run_id
    mine = client.get_run(mine_id)
    for field in ("status", "lifecycle_stage", "user_id", "run_name", "experiment_id"):
        assert getattr(mine.info, field) == getattr(theirs.info, field), field
    assert mine.info.end_time is None and mine.info.start_time > 0
    assert mine.info.artifact_uri == theirs.info.artifact_uri.replace(theirs.info.run_id, mine_id)
    assert mine.data.tags == client.get_run(theirs.info.run_id).data.tags
    listed = {run.run_id: run for run in tracker.list_runs()}
    assert listed[mine_id].status == "RUNNING" and listed[mine_id].name == "same"
    client.log_param(mine_id, "train.lr", "0.001")  # MLflow writes to it as to its own
    tracker.end_run(mine_id, "FINISHED")
    assert tracker.get_run(mine_id).status == "FINISHED"


def test_the_direct_run_follows_the_installed_mlflows_schema(tracker: Tracker, db: Path) -> None:
    from hybrid_tui.tracking import sqlite_writes

    _ = tracker.client  # MLflow created this store at its own schema head
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (sqlite_writes.SCHEMA_VERSION,)
        ], "MLflow's schema moved: check sqlite_writes' statements, then update SCHEMA_VERSION"


def test_a_store_the_direct_path_does_not_know_is_left_to_mlflow(tracker: Tracker, db: Path):
    from hybrid_tui.tracking import sqlite_writes

    _ = tracker.client

    def run_count() -> int:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT count(*) FROM runs").fetchone()[0]

    before = run_count()
    assert sqlite_writes.create_run(db, "no-such-experiment", "x", {}) is None
    assert sqlite_writes.create_run(db.parent / "missing.db", "direct", "x", {}) is None
    assert run_count() == before
    new_experiment = tracker.start_run("made-by-mlflow", "x", {})  # the fallback creates it
    assert tracker.get_run(new_experiment).status == "RUNNING"
    assert run_count() == before + 1
