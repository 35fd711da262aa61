"""Runs in MLflow: the only module that imports mlflow, and only inside functions.

`Tracker(uri)` wraps one `MlflowClient` (no global MLflow state, so several trackers can live in
one process). Metrics are buffered and written with `log_batch` about once a second: one
`log_metric` per point costs ~4 ms on sqlite, a batch of 1000 points ~0.08 s. A new sqlite store is
created in WAL mode (fewer writer stalls, no 'database is locked' for readers), and calls that
still meet a locked database are retried briefly. The live curve asks for "steps after N" straight
from the sqlite file (read-only, well under a millisecond) and through the client otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hybrid_tui.errors import HybridTuiError

DEFAULT_EXPERIMENT = "hybrid-tui"
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
HEADLINE_KEYS = {
    "mono": "mono/avg/map",
    "cross": "cross/avg/map",
    "multi": "multi/avg/map",
    "bias": "bias/avg/rank_distance",
}
PREFERRED_DATASET = "xquad_r"
FLUSH_EVERY_S = 1.0
FLUSH_AT_POINTS = 1000  # MLflow's limit of metrics per log_batch
_BATCH_PARAMS_TAGS = 100  # MLflow's limit of params (or tags) per log_batch
_PARAM_VALUE_MAX = 6000  # MLflow's limit on a param value's length
_TAG_VALUE_MAX = 8000
_PAGE = 1000
_LOCKED_RETRIES = 6
_SUMMARY_TAGS = ("hybrid_tui.mix", "hybrid_tui.model_source", "mlflow.runName")
_SUMMARY_PARAMS = ("model.spec", "train.steps")
_RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")

T = TypeVar("T")


@dataclass
class RunSummary:
    """One row of the run list. `start_time` is in ms since the epoch; `steps` the planned steps."""

    run_id: str
    name: str
    status: str
    start_time: int | None
    model: str
    mix: str
    steps: int | None
    headline: dict[str, float]


@dataclass
class RunDetail(RunSummary):
    """Everything about one run; `metrics` holds each key's latest value."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """`{"mono", "cross", "multi", "bias"}` averages of the first eval set present (xquad_r first).

    Keys whose metric is missing are left out.
    """
    datasets = sorted({key.split("/")[1] for key in metrics if key.startswith("eval/")})
    if not datasets:
        return {}
    dataset = PREFERRED_DATASET if PREFERRED_DATASET in datasets else datasets[0]
    found = {
        name: metrics.get(f"eval/{dataset}/{suffix}") for name, suffix in HEADLINE_KEYS.items()
    }
    return {name: value for name, value in found.items() if value is not None}


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///path` URI (None for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _is_locked(err: BaseException) -> bool:
    return "database is locked" in str(err)


def _retrying(call: Callable[[], T]) -> T:
    """Run `call`, retrying a few times (0.1 s, 0.2 s, ...) while sqlite says it is locked."""
    for attempt in range(_LOCKED_RETRIES):
        try:
            return call()
        except Exception as err:
            if not _is_locked(err) or attempt == _LOCKED_RETRIES - 1:
                raise
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


class Tracker:
    """Runs, params, metrics, tags and artifacts in one MLflow tracking store."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        db = sqlite_path(uri)
        self._db = db.resolve() if db is not None else None
        if self._db is not None:
            self._check_sqlite_store(self._db)
        from mlflow.tracking import MlflowClient

        with _quiet_store_setup():
            self.client = MlflowClient(tracking_uri=uri)
        self._buffer: dict[str, list] = {}
        self._buffer_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._timer: threading.Timer | None = None
        self._known_runs: set[str] = set()

    @classmethod
    def _check_sqlite_store(cls, db: Path) -> None:
        """Create a missing store; refuse one MLflow could not open (it would retry for minutes)."""
        fix = "point tracking.uri, --tracking-uri or MLFLOW_TRACKING_URI at a writable folder"
        try:
            if not db.exists():
                cls._create_sqlite_store(db)
            elif db.is_dir():
                raise HybridTuiError(f"the tracking store {db} is a folder; {fix}")
            else:
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                    con.execute("PRAGMA schema_version")
        except (OSError, sqlite3.Error) as err:
            if _is_locked(err):  # busy, not broken: MLflow's calls retry
                return
            reason = getattr(err, "strerror", None) or str(err)
            raise HybridTuiError(f"cannot use the tracking store {db} ({reason}); {fix}") from None

    @staticmethod
    def _create_sqlite_store(db: Path) -> None:
        """An empty database in WAL mode; MLflow creates its tables in it (WAL stays set)."""
        db.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(db, timeout=20)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        experiment: str | None = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        """Create a RUNNING run in `experiment` (created if missing); return its id."""
        experiment_id = self._experiment_id(experiment or DEFAULT_EXPERIMENT, create=True)
        clean = {key: _tag_value(value) for key, value in (tags or {}).items()}
        run = _retrying(
            lambda: self.client.create_run(experiment_id, tags=clean, run_name=run_name)
        )
        self._known_runs.add(run.info.run_id)
        return run.info.run_id

    def resume_run(self, run_id: str) -> None:
        """Mark an ended run RUNNING again (the trainer picks it up from its checkpoint)."""
        self._mlflow_run(run_id)
        _retrying(lambda: self.client.update_run(run_id, status="RUNNING"))

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Flush buffered metrics, then end the run as FINISHED, FAILED or KILLED."""
        if status not in END_STATUSES:
            raise ValueError(f"status must be one of {END_STATUSES}, not {status!r}")
        self.flush()
        with self._known_run(run_id):
            _retrying(lambda: self.client.set_terminated(run_id, status))

    def delete_run(self, run_id: str) -> None:
        """Remove the run from every list (MLflow keeps it as 'deleted' until garbage-collected)."""
        self._mlflow_run(run_id)
        self._drop_buffered(run_id)
        _retrying(lambda: self.client.delete_run(run_id))
        self._known_runs.discard(run_id)

    # ------------------------------------------------------------------ logging

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Params as strings (cut to MLflow's length limit), in batches of MLflow's size limit."""
        from mlflow.entities import Param

        items = [Param(str(k), _cut(str(v), _PARAM_VALUE_MAX)) for k, v in params.items()]
        for start in range(0, len(items), _BATCH_PARAMS_TAGS):
            chunk = items[start : start + _BATCH_PARAMS_TAGS]
            with self._known_run(run_id):
                _retrying(lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(str(k), _tag_value(v)) for k, v in tags.items()]
        for start in range(0, len(items), _BATCH_PARAMS_TAGS):
            chunk = items[start : start + _BATCH_PARAMS_TAGS]
            with self._known_run(run_id):
                _retrying(lambda chunk=chunk: self.client.log_batch(run_id, tags=chunk))

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Buffer the points; they reach the store within about a second, or at flush/end_run."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        points = [Metric(str(k), float(v), now, int(step)) for k, v in metrics.items()]
        if not points:
            return
        with self._buffer_lock:
            self._buffer.setdefault(run_id, []).extend(points)
            pending = sum(len(p) for p in self._buffer.values())
            due = time.monotonic() - self._last_flush >= FLUSH_EVERY_S
        if due or pending >= FLUSH_AT_POINTS:
            self.flush()
        else:
            self._flush_later()

    def flush(self) -> None:
        """Write every buffered metric now (one `log_batch` per run and 1000 points)."""
        with self._flush_lock:
            with self._buffer_lock:
                buffer, self._buffer = self._buffer, {}
                self._last_flush = time.monotonic()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            unknown: HybridTuiError | None = None
            items = list(buffer.items())
            for index, (run_id, points) in enumerate(items):
                try:
                    self._write_points(run_id, points)
                except HybridTuiError as err:  # no such run: its points can never be written
                    unknown = unknown or err
                except BaseException:
                    self._put_back(items[index:])  # tried again at the next flush
                    raise
            if unknown is not None:
                raise unknown

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """`text` as the artifact file `path` (e.g. `recipe.toml`, `error.txt`)."""
        with self._known_run(run_id):
            _retrying(lambda: self.client.log_text(run_id, text, path))

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None:
        with self._known_run(run_id):
            _retrying(lambda: self.client.log_artifact(run_id, str(local_path), artifact_path))

    # ------------------------------------------------------------------ reading

    def list_runs(
        self, experiment: str | None = None, status: str | None = None
    ) -> list[RunSummary]:
        """Runs newest first, of one experiment or of all; `status` keeps e.g. only RUNNING ones."""
        from mlflow.entities import ViewType

        self._flush_if_pending()
        fast = self._runs_from_sqlite(experiment, status)
        if fast is not None:
            return fast
        if experiment is None:
            experiment_ids = self._all_experiment_ids()
        else:
            found = self._experiment_id(experiment, create=False)
            experiment_ids = [found] if found is not None else []
        if not experiment_ids:
            return []
        filter_string = f"attributes.status = '{status}'" if status else ""
        runs: list[RunSummary] = []
        token = None
        while True:
            page = _retrying(
                lambda token=token: self.client.search_runs(
                    experiment_ids,
                    filter_string=filter_string,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=_PAGE,
                    order_by=["attributes.start_time DESC"],
                    page_token=token,
                )
            )
            runs.extend(_summary(run) for run in page)
            token = page.token
            if not token:
                return runs

    def get_run(self, run_id: str) -> RunDetail:
        """Params, latest metric values and tags of one run."""
        self._flush_if_pending(run_id)
        run = self._mlflow_run(run_id)
        summary = _summary(run)
        return RunDetail(
            **summary.__dict__,
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags=dict(run.data.tags),
        )

    def metric_history(
        self, run_id: str, key: str, after_step: int = -1
    ) -> list[tuple[int, float]]:
        """`(step, value)` for steps after `after_step`, in step order, the latest value per step."""
        self._flush_if_pending(run_id)
        rows = self._history_from_sqlite(run_id, key, after_step)
        if rows is None:
            with self._known_run(run_id):
                metrics = _retrying(lambda: self.client.get_metric_history(run_id, key))
            rows = sorted((m.step, m.timestamp, m.value) for m in metrics if m.step > after_step)
        elif not rows and run_id not in self._known_runs:
            self._mlflow_run(run_id)  # an unknown id must say so, not look like "no new steps"
        latest: dict[int, float] = {}
        for step, _, value in rows:
            latest[int(step)] = float(value)
        return list(latest.items())

    # ------------------------------------------------------------------ internals

    def _history_from_sqlite(self, run_id: str, key: str, after_step: int) -> list | None:
        """Rows `(step, timestamp, value)` read straight from the file (~0.1 ms for new steps)."""
        rows = self._read_sqlite(
            "SELECT step, timestamp, CASE WHEN is_nan THEN NULL ELSE value END FROM metrics "
            "WHERE run_uuid = ? AND key = ? AND step > ? ORDER BY step, timestamp",
            (run_id, key, int(after_step)),
        )
        if rows is None:
            return None
        return [(step, ts, math.nan if value is None else value) for step, ts, value in rows]

    def _read_sqlite(self, query: str, args: tuple) -> list | None:
        """Rows of a read-only query on the sqlite file; None when that is not possible."""
        if self._db is None:
            return None
        try:
            connection = sqlite3.connect(f"{self._db.as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return None
        try:
            return connection.execute(query, args).fetchall()
        except sqlite3.Error:
            return None
        finally:
            connection.close()

    def _runs_from_sqlite(self, experiment: str | None, status: str | None) -> list | None:
        """The run list in a few queries (search_runs loads every metric of every run: ~3 s for
        100 evaluated runs, this ~10 ms); None when the file cannot be read this way."""
        where = "r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
        args: tuple = ()
        if experiment is not None:
            where += " AND e.name = ?"
            args += (experiment,)
        if status is not None:
            where += " AND r.status = ?"
            args += (status,)
        chosen = (
            f"SELECT r.run_uuid FROM runs r JOIN experiments e USING (experiment_id) WHERE {where}"
        )
        runs = self._read_sqlite(
            "SELECT r.run_uuid, r.name, r.status, r.start_time FROM runs r "
            f"JOIN experiments e USING (experiment_id) WHERE {where} "
            "ORDER BY r.start_time DESC, r.run_uuid",
            args,
        )
        tags = self._read_sqlite(
            f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({chosen}) "
            f"AND key IN ({', '.join('?' * len(_SUMMARY_TAGS))})",
            args + _SUMMARY_TAGS,
        )
        params = self._read_sqlite(
            f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({chosen}) "
            f"AND key IN ({', '.join('?' * len(_SUMMARY_PARAMS))})",
            args + _SUMMARY_PARAMS,
        )
        metrics = self._read_sqlite(
            "SELECT run_uuid, key, CASE WHEN is_nan THEN NULL ELSE value END FROM latest_metrics "
            f"WHERE run_uuid IN ({chosen}) AND key LIKE 'eval/%/avg/%'",
            args,
        )
        if runs is None or tags is None or params is None or metrics is None:
            return None
        data: dict[str, tuple[dict, dict, dict]] = {row[0]: ({}, {}, {}) for row in runs}
        for table, rows in enumerate((tags, params, metrics)):
            for run_id, key, value in rows:
                if run_id in data:
                    data[run_id][table][key] = math.nan if value is None else value
        summaries = []
        for run_id, name, run_status, start_time in runs:
            run_tags, run_params, run_metrics = data[run_id]
            summaries.append(
                _summary_of(run_id, name, run_status, start_time, run_params, run_tags, run_metrics)
            )
        return summaries

    def _mlflow_run(self, run_id: str):
        """The MLflow run, or `HybridTuiError` when the store has no (undeleted) run with that id."""
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise self._unknown(run_id)
        with self._known_run(run_id):
            run = _retrying(lambda: self.client.get_run(run_id))
        if run.info.lifecycle_stage == "deleted":
            raise self._unknown(run_id)
        self._known_runs.add(run_id)
        return run

    @contextlib.contextmanager
    def _known_run(self, run_id: str) -> Iterator[None]:
        """Turn MLflow's 'no such run' into the user's one-line error."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                err.error_code == "INVALID_PARAMETER_VALUE" and not _RUN_ID.fullmatch(str(run_id))
            ):
                raise self._unknown(run_id) from None
            raise

    def _unknown(self, run_id: object) -> HybridTuiError:
        return HybridTuiError(f"no run {run_id} in {self.uri}; `hybrid-tui runs` lists them")

    def _experiment_id(self, name: str, create: bool) -> str | None:
        from mlflow.exceptions import MlflowException

        experiment = _retrying(lambda: self.client.get_experiment_by_name(name))
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                if not create:
                    return None
                _retrying(lambda: self.client.restore_experiment(experiment.experiment_id))
            return experiment.experiment_id
        if not create:
            return None
        try:
            return _retrying(
                lambda: self.client.create_experiment(name, artifact_location=self._artifacts(name))
            )
        except MlflowException as err:  # another process created it just now
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return _retrying(lambda: self.client.get_experiment_by_name(name)).experiment_id

    def _artifacts(self, experiment: str) -> str | None:
        """Artifacts of a sqlite store live beside the database, not in the current directory."""
        if self._db is None:
            return None
        safe = re.sub(r"[^\w.\-]+", "_", experiment).strip("._") or "experiment"
        return (self._db.parent / "mlartifacts" / safe).as_uri()

    def _all_experiment_ids(self) -> list[str]:
        ids: list[str] = []
        token = None
        while True:
            page = _retrying(
                lambda token=token: self.client.search_experiments(
                    max_results=_PAGE, page_token=token
                )
            )
            ids.extend(experiment.experiment_id for experiment in page)
            token = page.token
            if not token:
                return ids

    def _write_points(self, run_id: str, points: list) -> None:
        for start in range(0, len(points), FLUSH_AT_POINTS):
            chunk = points[start : start + FLUSH_AT_POINTS]
            with self._known_run(run_id):
                _retrying(lambda chunk=chunk: self.client.log_batch(run_id, metrics=chunk))

    def _put_back(self, items: list[tuple[str, list]]) -> None:
        with self._buffer_lock:
            for run_id, points in items:
                self._buffer[run_id] = points + self._buffer.get(run_id, [])

    def _drop_buffered(self, run_id: str) -> None:
        with self._buffer_lock:
            self._buffer.pop(run_id, None)

    def _flush_if_pending(self, run_id: str | None = None) -> None:
        with self._buffer_lock:
            pending = run_id in self._buffer if run_id is not None else bool(self._buffer)
        if pending:
            self.flush()

    def _flush_later(self) -> None:
        """Make sure points logged in a burst do not wait for the next call to be written."""
        with self._buffer_lock:
            if self._timer is not None:
                return
            delay = max(0.0, FLUSH_EVERY_S - (time.monotonic() - self._last_flush))
            self._timer = threading.Timer(delay, self._flush_in_background)
            self._timer.daemon = True
            self._timer.start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except Exception as err:  # the points stay buffered; the next flush tries again
            print(f"warning: could not write metrics to {self.uri}: {err}", file=sys.stderr)


# ---------------------------------------------------------------- helpers


def _summary(run) -> RunSummary:
    info, data = run.info, run.data
    return _summary_of(
        info.run_id,
        info.run_name,
        info.status,
        info.start_time,
        data.params,
        data.tags,
        data.metrics,
    )


def _summary_of(run_id, name, status, start_time, params, tags, metrics) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        name=name or tags.get("mlflow.runName") or "",
        status=status,
        start_time=int(start_time) if start_time is not None else None,
        model=params.get("model.spec") or tags.get("hybrid_tui.model_source") or "",
        mix=tags.get("hybrid_tui.mix") or "",
        steps=_int_or_none(params.get("train.steps")),
        headline=headline(metrics),
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _tag_value(value: Any) -> str:
    return _cut(str(value), _TAG_VALUE_MAX)


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
