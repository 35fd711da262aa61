"""The MLflow store under a tracker: its sqlite file (checked, created in WAL mode), MLflow's client
on it, experiments, the 'database is locked' retry, and MLflow's errors as the user's one line.

mlflow is imported only inside the functions that need a client.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tracking.sqlite_writes import EXPERIMENT_KIND_TAG, TRAINING_KIND

LOCKED_RETRIES = 6
SERVER_PROBE_TIMEOUT_S = 10.0
RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")
_FIX = "point tracking.uri, --tracking-uri or MLFLOW_TRACKING_URI at a writable folder"

T = TypeVar("T")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///path` URI (None for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def check_sqlite_store(db: Path) -> None:
    """Refuse a store MLflow could not open (it would retry for minutes), before anything runs.

    A missing store is not created here (a read of it creates nothing): its folder is made, so a
    place that cannot hold it fails now, and the first write creates the file.
    """
    try:
        if not db.exists():
            db.parent.mkdir(parents=True, exist_ok=True)
        elif db.is_dir():
            raise HybridTuiError(f"the tracking store {db} is a folder; {_FIX}")
        else:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                con.execute("PRAGMA schema_version")
    except (OSError, sqlite3.Error) as err:
        if is_locked(err):  # busy, not broken: MLflow's calls retry
            return
        reason = getattr(err, "strerror", None) or str(err)
        raise HybridTuiError(f"cannot use the tracking store {db} ({reason}); {_FIX}") from None


def create_sqlite_store(db: Path) -> None:
    """A new store in WAL mode: a copy of an empty store that has MLflow's tables
    (`store_template`), else an empty database in which MLflow creates them (WAL stays set)."""
    from hybrid_tui.tracking.store_template import copy_empty_store

    db.parent.mkdir(parents=True, exist_ok=True)
    if copy_empty_store(db):
        return
    connection = sqlite3.connect(db, timeout=20)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def open_client(uri: str, db: Path | None) -> Any:
    """MLflow's client on `uri`; a missing sqlite store `db` is created first (WAL), and MLflow
    creates its tables in it.

    On a sqlite store the first use runs MLflow's schema migration; two processes doing that on
    one new file at once break it, so it runs under a file lock (`<db>-init.lock`).
    """
    from mlflow.tracking import MlflowClient

    _drop_mlflows_database_error_tracebacks()
    if db is None:
        check_server_answers(uri)
        with _quiet_store_setup():
            return MlflowClient(tracking_uri=uri)
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(f"{db.name}-init.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not db.exists():
                create_sqlite_store(db)
            with _quiet_store_setup():
                client = MlflowClient(tracking_uri=uri)
                client.search_experiments(max_results=1)  # tables and migrations, now
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def check_server_answers(uri: str, timeout_s: float = SERVER_PROBE_TIMEOUT_S) -> None:
    """One quick request to a tracking server before MLflow's client: its client retries a
    refused connection for minutes and then prints a traceback. Any HTTP answer (even 401 or
    404) means the server is there; only no answer is the user's one-line error."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error  # with http, ssl and email: ~50 ms the reads of a local store skip
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise HybridTuiError(
            f"cannot reach the MLflow tracking server at {uri} ({reason}); start it, or point "
            "--tracking-uri or MLFLOW_TRACKING_URI at a running server"
        ) from None


def is_locked(err: BaseException) -> bool:
    return "database is locked" in str(err)


def retrying(call: Callable[[], T]) -> T:
    """Run `call`, retrying a few times (0.1 s, 0.2 s, ...) while sqlite says it is locked."""
    for attempt in range(LOCKED_RETRIES):
        try:
            return call()
        except Exception as err:
            if not is_locked(err) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def unknown_run(run_id: object, uri: str) -> HybridTuiError:
    return HybridTuiError(f"no run {run_id} in {uri}; `{command('runs')}` lists them")


@contextlib.contextmanager
def known_run(run_id: str, uri: str) -> Iterator[None]:
    """Turn MLflow's 'no such run' into the user's one-line error."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST" or (
            err.error_code == "INVALID_PARAMETER_VALUE" and not RUN_ID.fullmatch(str(run_id))
        ):
            raise unknown_run(run_id, uri) from None
        raise


def experiment_id(client: Any, name: str, create: bool, artifacts: str | None) -> str | None:
    """The id of experiment `name`; with `create`, made (or restored) when missing, as a
    model-training experiment (`TRAINING_KIND`, kept when the user set another kind)."""
    from mlflow.exceptions import MlflowException

    experiment = retrying(lambda: client.get_experiment_by_name(name))
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            if not create:
                return None
            retrying(lambda: client.restore_experiment(experiment.experiment_id))
        if create and EXPERIMENT_KIND_TAG not in experiment.tags:  # made before hybrid-tui set it
            retrying(
                lambda: client.set_experiment_tag(
                    experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND
                )
            )
        return experiment.experiment_id
    if not create:
        return None
    kind = {EXPERIMENT_KIND_TAG: TRAINING_KIND}
    try:
        return retrying(
            lambda: client.create_experiment(name, artifact_location=artifacts, tags=kind)
        )
    except MlflowException as err:  # another process created it just now
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return retrying(lambda: client.get_experiment_by_name(name)).experiment_id


def artifacts_beside(db: Path | None, experiment: str) -> str | None:
    """Artifacts of a sqlite store live beside the database, not in the current directory."""
    if db is None:
        return None
    safe = re.sub(r"[^\w.\-]+", "_", experiment).strip("._") or "experiment"
    return (db.parent / "mlartifacts" / safe).as_uri()


def _without_database_error_traceback(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("SQLAlchemy database error")


def _drop_mlflows_database_error_tracebacks() -> None:
    """MLflow logs a traceback for every sqlite error before raising it ('database is locked',
    which `retrying` retries; 'database or disk is full', which the trainer turns into its one
    line): the raised error is handled here, so the log need not hold a traceback of it."""
    logger = logging.getLogger("mlflow.store.db.utils")
    if _without_database_error_traceback not in logger.filters:
        logger.addFilter(_without_database_error_traceback)


@contextlib.contextmanager
def _quiet_store_setup() -> Iterator[None]:
    """MLflow logs 'Creating initial MLflow database tables' at INFO when it builds a store."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
