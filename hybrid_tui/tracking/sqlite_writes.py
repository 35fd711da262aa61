"""Creating a run straight in an MLflow sqlite file, without importing mlflow (~2 s of a trainer's
start): so `hybrid-tui train --detach` can print its run id fast.

The rows are the ones MLflow's `SqlAlchemyStore.create_run` writes (a `runs` row, RUNNING, with
the artifact URI `<experiment artifacts>/<run id>/artifacts`, and its tags, `mlflow.runName`
included), plus the experiment's kind tag when it has none (as `store.experiment_id` sets it). Only on a store at the schema version they follow (`SCHEMA_VERSION`, MLflow's alembic
head) whose experiment exists and is active; anything else answers None and MLflow's client
creates the run (a new store, a new experiment, another MLflow version).

`end_run` is the last resort of a trainer whose MLflow client cannot end its run: it sets only the
status and end time, columns every MLflow schema has.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from pathlib import Path

SCHEMA_VERSION = (
    "dc11669786a5"  # tests/tracking/test_tracking.py checks it is the installed MLflow's head
)
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
"""MLflow 3's kind of a model-training experiment: its UI opens the runs view, not the GenAI one
(traces, evaluations). Set on every experiment a run starts in, unless the user chose a kind."""


def create_run(db: Path, experiment: str, run_name: str, tags: dict[str, str]) -> str | None:
    """Create a RUNNING run named `run_name` in `experiment`; its id, or None (nothing written)
    when this store is not one these statements know."""
    if not db.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                run_id = _insert_run(con, experiment, run_name, tags)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT" if run_id else "ROLLBACK")
            return run_id
    except sqlite3.Error:
        return None


def _insert_run(
    con: sqlite3.Connection, experiment: str, run_name: str, tags: dict[str, str]
) -> str | None:
    if con.execute("SELECT version_num FROM alembic_version").fetchall() != [(SCHEMA_VERSION,)]:
        return None
    found = con.execute(
        "SELECT experiment_id, artifact_location FROM experiments "
        "WHERE name = ? AND workspace = 'default' AND lifecycle_stage = 'active'",
        (experiment,),
    ).fetchone()
    if found is None or not found[1]:
        return None
    experiment_id, artifacts = found
    con.execute(
        "INSERT OR IGNORE INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?)",
        (EXPERIMENT_KIND_TAG, TRAINING_KIND, experiment_id),
    )
    run_name = tags.get(RUN_NAME_TAG, run_name)
    run_id = uuid.uuid4().hex
    con.execute(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id, deleted_time) "
        "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
        (
            run_id,
            run_name,
            tags.get(USER_TAG, "unknown"),
            int(time.time() * 1000),
            f"{artifacts.rstrip('/')}/{run_id}/artifacts",
            experiment_id,
        ),
    )
    all_tags = {RUN_NAME_TAG: run_name, **tags}
    con.executemany(
        "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
        [(key, value, run_id) for key, value in all_tags.items()],
    )
    return run_id


def end_run(db: Path, run_id: str, status: str) -> bool:
    """Set the run's status and end time as MLflow's `set_terminated` does; False when the store
    cannot be written (a full disk) or has no such run."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as con:
            updated = con.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                (status, int(time.time() * 1000), run_id),
            ).rowcount
    except sqlite3.Error:
        return False
    return updated == 1
