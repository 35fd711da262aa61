"""A new sqlite tracking store is a copy of an empty migrated one (MLflow's migrations run once
per MLflow version, not once per store), and is the store MLflow itself would have made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hybrid_tui.tracking import Tracker


def _schema(db: Path) -> tuple[set, dict, list]:
    """Every table, index and trigger, each table's columns, and the migration MLflow stands at.
    (Not the SQL text: MLflow's own migrations word a rebuilt table differently when they run
    twice in one process.)"""
    with sqlite3.connect(db) as connection:
        entries = set(connection.execute("SELECT type, name FROM sqlite_master"))
        columns = {
            table: [row[1:4] for row in connection.execute(f"PRAGMA table_info('{table}')")]
            for kind, table in entries
            if kind == "table"
        }
        version = connection.execute("SELECT * FROM alembic_version").fetchall()
        return entries, columns, version


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HYBRID_TUI_CACHE", str(cache))
    return cache


def test_a_new_store_is_the_one_mlflow_makes(tmp_path: Path, own_cache: Path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    mlflows = tmp_path / "mlflows.db"
    MlflowClient(tracking_uri=f"sqlite:///{mlflows}").search_experiments()
    for name in ("first", "second"):  # the first builds the template, the second copies it
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.chdir(folder)
        Tracker(f"sqlite:///{folder / 'mlflow.db'}").create_store()
        assert _schema(folder / "mlflow.db") == _schema(mlflows)
        with sqlite3.connect(folder / "mlflow.db") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (default,) = MlflowClient(
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}"
        ).search_experiments()
        assert default.name == "Default" and default.artifact_location.startswith(str(folder))
        run_id = Tracker(f"sqlite:///{folder / 'mlflow.db'}").start_run("smoke", run_name="r")
        assert Tracker(f"sqlite:///{folder / 'mlflow.db'}").get_run(run_id).status == "RUNNING"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_only_the_first_new_store_runs_mlflows_migrations(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.store.db.utils as db_utils

    Tracker(f"sqlite:///{tmp_path / 'first.db'}").create_store()
    migrations = []
    migrate = db_utils._initialize_tables
    monkeypatch.setattr(db_utils, "_initialize_tables", lambda e: migrations.append(migrate(e)))
    for name in ("second", "third"):
        Tracker(f"sqlite:///{tmp_path / name / 'mlflow.db'}").create_store()
    assert migrations == []
    assert Tracker(f"sqlite:///{tmp_path / 'third' / 'mlflow.db'}").list_runs() == []


def test_without_a_usable_cache_mlflow_migrates_the_store_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HYBRID_TUI_CACHE", str(blocked))
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = tracker.start_run("smoke", run_name="r")
    assert tracker.get_run(run_id).status == "RUNNING"
    assert _schema(tmp_path / "mlflow.db")[2]
