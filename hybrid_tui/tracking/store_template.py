"""A new sqlite tracking store as a copy of an empty one that already has MLflow's tables.

MLflow builds the tables of a new store by running its whole chain of schema migrations
(alembic), about 1.5 s of CPU each time; every new project, study folder or test store paid it.
The migrated empty store is made once per MLflow version in the cache (`paths.cache_dir()`,
under a file lock) and copied into place; MLflow then opens it as an existing store and adds its
default experiment as it does for any store. Where no template can be made or read, the caller
falls back to MLflow's own migration.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from hybrid_tui.atomic_files import exclusive
from hybrid_tui.paths import cache_dir


def template_path() -> Path:
    """The empty migrated store for the installed MLflow (a new version gets a new template)."""
    from importlib.metadata import version

    return cache_dir() / "mlflow-stores" / f"empty-mlflow-{version('mlflow')}.db"


def copy_empty_store(db: Path) -> bool:
    """Write `db` (absent) as a copy of the template, in WAL mode, atomically (a temp file
    renamed into place). False, and nothing written, when no template is available."""
    try:
        template = _template()
    except (OSError, sqlite3.Error, ImportError):
        return False
    staging = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{template}?mode=ro", uri=True)) as source,
            contextlib.closing(sqlite3.connect(staging)) as target,
        ):
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        os.replace(staging, db)
    except (OSError, sqlite3.Error):
        return False
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            leftover.unlink(missing_ok=True)
    return True


def _template() -> Path:
    path = template_path()
    if path.exists():
        return path
    with exclusive(path):
        if not path.exists():
            _build(path)
    return path


def _build(path: Path) -> None:
    """MLflow's own table creation (all migrations) on an empty file, renamed into place."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{staging}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    os.replace(staging, path)
