"""`Tracker`: the one face of the tracking store for the trainer, the CLI and the TUI.

It wraps one `MlflowClient` (no global MLflow state, so several trackers can live in one process),
made on the first write (or the first read of a store that is not a sqlite file): reads of a sqlite
store come straight from its file (`SqliteReads`) and never import mlflow, which alone costs ~2 s.
Metric points wait in a `MetricBuffer` and are written about once a second.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hybrid_tui.tag_rule import TAG_VALUE_MAX
from hybrid_tui.tracking import sqlite_reads, sqlite_writes, store
from hybrid_tui.tracking.client_reads import ClientReads
from hybrid_tui.tracking.records import (
    EVERYTHING,
    MIN_RUN_ID_PREFIX,
    RunDetail,
    RunFields,
    RunSummary,
    ambiguous_run_prefix,
    run_id_too_short,
)
from hybrid_tui.tracking.sqlite_reads import RunState, SqliteReads, StoreChanges, Unreadable
from hybrid_tui.tracking.store import RUN_ID, known_run, retrying, unknown_run
from hybrid_tui.tracking.write_buffer import FLUSH_AT_POINTS, MetricBuffer, Point

DEFAULT_EXPERIMENT = "hybrid-tui"
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
RUN_WRITES = (
    "start_run",
    "resume_run",
    "end_run",
    "mark_failed",
    "log_params",
    "set_tags",
    "log_metrics",
    "flush",
    "log_text",
    "log_artifact",
    "log_artifacts",
)
"""The methods a trainer records a run with (`NullTracker` has exactly these, as no-ops)."""
_BATCH_PARAMS_TAGS = 100  # MLflow's limit of params (or tags) per log_batch
_PARAM_VALUE_MAX = 6000  # MLflow's limit on a param value's length
_TAG_VALUE_MAX = TAG_VALUE_MAX  # the trainer's own tags are cut; users' are refused (tag_rule)


class Tracker:
    """Runs, params, metrics, tags and artifacts in one MLflow tracking store.

    `direct_reads=False` reads a sqlite store through MLflow's client too, as for any other store
    (the tests check that both paths agree).
    """

    def __init__(self, uri: str, *, direct_reads: bool = True) -> None:
        self.uri = uri
        db = store.sqlite_path(uri)
        self._db: Path | None = db.resolve() if db is not None else None
        if self._db is not None:
            store.check_sqlite_store(self._db)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._reads = SqliteReads(self._db) if self._db is not None and direct_reads else None
        self._client_reads = ClientReads(lambda: self.client, uri)
        self._metrics = MetricBuffer(self._write_points, uri)
        self._known_runs: set[str] = set()

    @property
    def client(self) -> Any:
        """The `MlflowClient`, made (and a missing sqlite store created) on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = store.open_client(self.uri, self._db)
            return self._client

    def create_store(self) -> None:
        """Create a missing store now (WAL, MLflow's tables): before several trainers start on it
        at once, so they do not race to create its tables."""
        _ = self.client

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        experiment: str | None = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        """Create a RUNNING run in `experiment` (created if missing); return its id. The run is
        the OS user's (`mlflow.user`, as MLflow's fluent API records it; its client alone says
        "unknown").

        On a sqlite store whose experiment exists, the run is written straight into the file
        (`sqlite_writes`, no mlflow import); otherwise MLflow's client creates it."""
        name = experiment or DEFAULT_EXPERIMENT
        clean = {sqlite_writes.USER_TAG: _os_user()}
        clean |= {key: _tag_value(value) for key, value in (tags or {}).items()}
        if self._db is not None and run_name:
            run_id = sqlite_writes.create_run(self._db, name, run_name, clean)
            if run_id:
                self._known_runs.add(run_id)
                return run_id
        client = self.client
        experiment_id = store.experiment_id(
            client, name, create=True, artifacts=store.artifacts_beside(self._db, name)
        )
        run = retrying(lambda: client.create_run(experiment_id, tags=clean, run_name=run_name))
        self._known_runs.add(run.info.run_id)
        return run.info.run_id

    def resume_run(self, run_id: str) -> None:
        """Mark an ended run RUNNING again (the trainer picks it up from its checkpoint)."""
        self._require_run(run_id)
        retrying(lambda: self.client.update_run(run_id, status="RUNNING"))

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Flush buffered metrics, then end the run as FINISHED, FAILED or KILLED."""
        if status not in END_STATUSES:
            raise ValueError(f"status must be one of {END_STATUSES}, not {status!r}")
        self.flush()
        with known_run(run_id, self.uri):
            retrying(lambda: self.client.set_terminated(run_id, status))

    def mark_failed(self, run_id: str) -> bool:
        """End the run FAILED even when its waiting metric points cannot be written (a full
        disk): they are dropped. MLflow's client first, then on a sqlite store the direct path
        (MLflow's client may be what broke). False when neither could write the end."""
        with contextlib.suppress(Exception):
            self.flush()
        self._metrics.drop(run_id)
        try:
            with known_run(run_id, self.uri):
                retrying(lambda: self.client.set_terminated(run_id, "FAILED"))
            return True
        except Exception:  # noqa: BLE001 - the store could not be written; try the direct path
            return self._db is not None and sqlite_writes.end_run(self._db, run_id, "FAILED")

    def delete_run(self, run_id: str) -> None:
        """Remove the run (a whole id or a unique prefix) from every list; MLflow keeps it as
        'deleted' until garbage-collected."""
        run_id = self.resolve_run_id(run_id)
        self._metrics.drop(run_id)
        retrying(lambda: self.client.delete_run(run_id))
        self._known_runs.discard(run_id)

    # ------------------------------------------------------------------ logging

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Params as strings (cut to MLflow's length limit), in batches of MLflow's size limit."""
        from mlflow.entities import Param

        items = [Param(str(k), _cut(str(v), _PARAM_VALUE_MAX)) for k, v in params.items()]
        self._log_batch(run_id, "params", items)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._log_batch(run_id, "tags", [RunTag(str(k), _tag_value(v)) for k, v in tags.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Buffer the points; they reach the store within about a second, or at flush/end_run."""
        now = int(time.time() * 1000)
        self._metrics.add(run_id, [(str(k), float(v), now, int(step)) for k, v in metrics.items()])

    def flush(self) -> None:
        """Write every buffered metric now (one `log_batch` per run and 1000 points)."""
        self._metrics.flush()

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """`text` as the artifact file `path` (e.g. `recipe.toml`, `error.txt`)."""
        with known_run(run_id, self.uri):
            retrying(lambda: self.client.log_text(run_id, text, path))

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None:
        with known_run(run_id, self.uri):
            retrying(lambda: self.client.log_artifact(run_id, str(local_path), artifact_path))

    def log_artifacts(self, run_id: str, folder: str | Path, artifact_path: str) -> None:
        """Every file under `folder` as the run's artifacts under `artifact_path`."""
        with known_run(run_id, self.uri):
            retrying(lambda: self.client.log_artifacts(run_id, str(folder), artifact_path))

    def local_artifact(self, run_id: str, path: str, into: str | Path) -> Path | None:
        """A run's artifact file `path`: read in place when the store keeps artifacts on this
        disk (sqlite store, a `file:` location or an absolute path: no mlflow import, for the
        read-only commands), else downloaded under `into`; None when the run has none there."""
        if self._reads is not None:
            try:
                folder = _local_folder(self._reads.artifact_uri(run_id))
            except Unreadable:
                folder = None
            if folder is not None:
                local = folder / path
                return local if local.is_file() else None
        return self.download_artifact(run_id, path, into)

    def download_artifact(self, run_id: str, path: str, into: str | Path) -> Path | None:
        """A run's artifact file `path` copied under `into`; None when the run has none there."""
        from mlflow.exceptions import MlflowException

        with known_run(run_id, self.uri):
            try:
                local = self.client.download_artifacts(run_id, path, str(into))
            except (MlflowException, OSError):
                return None
        return Path(local) if Path(local).is_file() else None

    # ------------------------------------------------------------------ reading

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        fields: RunFields = EVERYTHING,
        run_ids: Sequence[str] | None = None,
    ) -> list[RunSummary]:
        """Runs newest first, of one experiment or of all; `status` keeps e.g. only RUNNING ones,
        `run_ids` only those runs. A sqlite store loads only `fields` (other stores: all)."""
        self._metrics.flush_if_pending()
        if self._reads is not None:
            try:
                return self._reads.runs(experiment, status, fields, run_ids)
            except Unreadable:
                pass
        runs = self._client_reads.runs(experiment, status)
        if run_ids is not None:
            wanted = set(run_ids)
            runs = [run for run in runs if run.run_id in wanted]
        return runs

    def store_changes(self) -> StoreChanges | None:
        """A watch that tells whether the store changed (a sqlite store; None for others)."""
        return StoreChanges(self._db) if self._reads is not None else None

    def run_states(self) -> list[RunState] | None:
        """Each shown run's `(id, status, start_time, end_time, name)`, newest first, from the
        `runs` table alone: what a run list compares to find the runs that changed (a sqlite
        store; None for others, or a file these reads cannot read)."""
        if self._reads is None:
            return None
        self._metrics.flush_if_pending()
        try:
            return sqlite_reads.run_states(self._reads)
        except Unreadable:
            return None

    def runs_with_points_since(self, since_ms: int) -> set[str] | None:
        """Ids of the runs that logged a metric point stamped after `since_ms` (an indexed read
        of the new points only); None where `run_states` is None."""
        if self._reads is None:
            return None
        try:
            return sqlite_reads.runs_with_points_since(self._reads, since_ms)
        except Unreadable:
            return None

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]] | None:
        """Every tag of the runs `run_ids`, by run id (tags carry no time: a screen compares
        those it shows); None where `run_states` is None."""
        if self._reads is None:
            return None
        try:
            return sqlite_reads.tags_of(self._reads, run_ids)
        except Unreadable:
            return None

    def run_pages(self, first: int, size: int) -> Iterator[list[RunSummary]]:
        """Every run, newest first, a page at a time from MLflow's client (`search_runs` with
        `max_results` and page tokens): `first` runs, then `size` at a time. For tracking
        servers, where one read of every run crosses the network."""
        self._metrics.flush_if_pending()
        yield from self._client_reads.pages(first, size)

    def get_run(self, run_id: str) -> RunDetail:
        """Params, latest metric values and tags of one run: a whole id or a unique prefix (the
        answer's `run_id` is the whole id)."""
        run_id = self.resolve_run_id(run_id)
        self._metrics.flush_if_pending(run_id)
        detail = None
        if self._reads is not None:
            try:
                detail = self._reads.run(run_id)
                if detail is None:  # deleted since it was resolved
                    raise unknown_run(run_id, self.uri)
            except Unreadable:
                pass
        if detail is None:
            detail = self._client_reads.run(run_id)
        self._known_runs.add(run_id)
        return detail

    def resolve_run_id(self, text: str) -> str:
        """The whole id of the undeleted run that `text` names: the id itself, or a prefix of
        `MIN_RUN_ID_PREFIX` or more characters that only one run's id starts with (`hybrid-tui
        runs` prints 8). Unknown, ambiguous and too short: the user's one line."""
        if not isinstance(text, str) or not RUN_ID.fullmatch(text):
            raise unknown_run(text, self.uri)
        if len(text) < MIN_RUN_ID_PREFIX:
            raise run_id_too_short(text)
        matches = self._run_ids(text)
        if text in matches:
            return text
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise unknown_run(text, self.uri)
        raise ambiguous_run_prefix(text, matches)

    def metric_history(
        self, run_id: str, key: str, after_step: int = -1
    ) -> list[tuple[int, float]]:
        """`(step, value)` for steps after `after_step`, in step order, the latest value per step."""
        self._metrics.flush_if_pending(run_id)
        rows = None
        if self._reads is not None:
            try:
                rows = self._reads.history(run_id, key, after_step)
            except Unreadable:
                pass
        if rows is None:
            rows = self._client_reads.history(run_id, key, after_step)
        if not rows and run_id not in self._known_runs:
            self._require_run(run_id)  # an unknown id must say so, not look like "no new steps"
        latest: dict[int, float] = {}
        for step, _, value in rows:
            latest[int(step)] = float(value)
        return list(latest.items())

    # ------------------------------------------------------------------ internals

    def _require_run(self, run_id: str) -> None:
        """The one-line `HybridTuiError` unless the store has an undeleted run of exactly this id."""
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise unknown_run(run_id, self.uri)
        if run_id not in self._run_ids(run_id):
            raise unknown_run(run_id, self.uri)
        self._known_runs.add(run_id)

    def _run_ids(self, prefix: str) -> list[str]:
        """Ids of undeleted runs starting with `prefix`: from the file when it can be read."""
        if self._reads is not None:
            try:
                return self._reads.run_ids(prefix)
            except Unreadable:
                pass
        return self._client_reads.run_ids(prefix)

    def _log_batch(self, run_id: str, field: str, items: list) -> None:
        for start in range(0, len(items), _BATCH_PARAMS_TAGS):
            chunk = items[start : start + _BATCH_PARAMS_TAGS]
            with known_run(run_id, self.uri):
                retrying(lambda chunk=chunk: self.client.log_batch(run_id, **{field: chunk}))

    def _write_points(self, run_id: str, points: list[Point]) -> None:
        """What the buffer calls: `log_batch` in chunks of MLflow's limit."""
        from mlflow.entities import Metric

        metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in points]
        for start in range(0, len(metrics), FLUSH_AT_POINTS):
            chunk = metrics[start : start + FLUSH_AT_POINTS]
            with known_run(run_id, self.uri):
                retrying(lambda chunk=chunk: self.client.log_batch(run_id, metrics=chunk))


def _os_user() -> str:
    """The login name, as MLflow's default run context finds it ("unknown" when it cannot)."""
    import getpass

    try:
        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "unknown"


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _tag_value(value: Any) -> str:
    return _cut(str(value), _TAG_VALUE_MAX)


def _local_folder(artifact_uri: str | None) -> Path | None:
    """The folder on this disk that an artifact location names: `file:///...`, or an absolute
    path without a scheme (what MLflow's client records for an experiment created without an
    artifact location, e.g. `/home/me/mlruns/1/<run>/artifacts`); None for anything else."""
    if not artifact_uri:
        return None
    from urllib.parse import unquote, urlparse

    if artifact_uri.startswith("file:"):
        return Path(unquote(urlparse(artifact_uri).path))
    if artifact_uri.startswith("/"):  # a path, never a scheme (`s3://`, `mlflow-artifacts:`)
        return Path(artifact_uri)
    return None
