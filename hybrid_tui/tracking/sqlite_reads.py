"""Reads straight from an MLflow sqlite file, read-only, without importing mlflow.

`search_runs` loads every metric of every run (~3 s for 100 evaluated runs) and importing mlflow
alone costs ~2 s; these queries answer the run list, one run and "steps after N" of a curve in
milliseconds. They follow MLflow's schema: `runs` (deleted runs have `lifecycle_stage =
'deleted'`), `experiments`, `params`, `tags`, `metrics` (every point) and `latest_metrics` (the
value at each key's largest step, as MLflow's `get_run` reports it); a NaN is stored as 0 with
`is_nan` set. A missing file, or one without MLflow's tables yet, reads as an empty store (a read
never creates them). A file these queries cannot read (another schema, a lock, not a database)
raises `Unreadable`: then MLflow's client is asked.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from hybrid_tui.metric_keys import (
    AVERAGE,
    HEADLINE,
    best_multi_key,
    datasets_in,
    eval_key,
    headline_dataset,
)
from hybrid_tui.tracking.records import (
    EVERYTHING,
    SUMMARY_METRICS_SQL,
    RunDetail,
    RunFields,
    RunSummary,
    detail_of,
    summary_of,
)

_NOT_DELETED = "lifecycle_stage != 'deleted'"
_VALUE = "CASE WHEN is_nan THEN NULL ELSE value END"
_HAS_RUNS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"


class Unreadable(Exception):
    """The file cannot be read with these queries; MLflow's client can still try."""


class StoreChanges:
    """Whether anything was committed to the store since the last look, in O(1): `PRAGMA
    data_version` on one read-only connection kept open (it changes with every commit of any
    other connection). A screen that refreshes on a timer re-reads only after a change."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def version(self) -> int | None:
        """A number that differs after any commit; None when the store cannot be watched (then
        a reader should read)."""
        with self._lock:
            try:
                if self._connection is None:
                    if not self.db.exists():
                        return None
                    self._connection = sqlite3.connect(
                        f"{self.db.as_uri()}?mode=ro", uri=True, timeout=5, check_same_thread=False
                    )
                return self._connection.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                self.close()
                return None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SqliteReads:
    """Read-only queries on the sqlite file `db` of a tracking store."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def runs(
        self,
        experiment: str | None,
        status: str | None,
        fields: RunFields = EVERYTHING,
        run_ids: Sequence[str] | None = None,
    ) -> list[RunSummary]:
        """Undeleted runs of undeleted experiments (one, or all; only `run_ids` when given),
        newest first, with the `fields` asked for (params and tags not asked for are left out)."""
        where = "r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
        args: tuple = ()
        if experiment is not None:
            where += " AND e.name = ?"
            args += (experiment,)
        if status is not None:
            where += " AND r.status = ?"
            args += (status,)
        if run_ids is not None:
            where += f" AND r.run_uuid IN ({', '.join('?' * len(run_ids))})"
            args += tuple(run_ids)
        with self._reading() as rows_of:
            return _summaries(rows_of, where, args, fields)

    def run(self, run_id: str) -> RunDetail | None:
        """One undeleted run with all its params, tags and latest metric values; None if none."""
        with self._reading() as rows_of:
            found = rows_of(
                f"SELECT name, status, start_time FROM runs WHERE run_uuid = ? AND {_NOT_DELETED}",
                (run_id,),
            )
            if not found:
                return None
            params = dict(rows_of("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
            tags = dict(rows_of("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
            latest = rows_of(
                f"SELECT key, {_VALUE} FROM latest_metrics WHERE run_uuid = ?", (run_id,)
            )
            metrics = {key: math.nan if value is None else value for key, value in latest}
            history = rows_of(
                "SELECT step, value FROM metrics WHERE run_uuid = ? AND key = ? AND NOT is_nan",
                (run_id, best_multi_key(metrics) or ""),
            )
        name, status, start_time = found[0]
        summary = summary_of(run_id, name, status, start_time, params, tags, metrics, history)
        return detail_of(summary, params, metrics, tags)

    def artifact_uri(self, run_id: str) -> str | None:
        """Where the run's artifacts live (as MLflow recorded it); None for an unknown run."""
        with self._reading() as rows_of:
            found = rows_of("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,))
        return found[0][0] if found else None

    def run_ids(self, prefix: str) -> list[str]:
        """Ids of undeleted runs that start with `prefix` (case as given), sorted."""
        with self._reading() as rows_of:
            rows = rows_of(
                f"SELECT run_uuid FROM runs WHERE {_NOT_DELETED} AND substr(run_uuid, 1, ?) = ? "
                "ORDER BY run_uuid",
                (len(prefix), prefix),
            )
        return [run_id for (run_id,) in rows]

    def deleted(self, run_ids: list[str]) -> set[str]:
        """Which of `run_ids` are deleted runs of this store (`hybrid-tui delete`, d on Runs)."""
        if not run_ids:
            return set()
        marks = ", ".join("?" * len(run_ids))
        with self._reading() as rows_of:
            rows = rows_of(
                "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'deleted' "
                f"AND run_uuid IN ({marks})",
                tuple(run_ids),
            )
        return {run_id for (run_id,) in rows}

    def experiments(self) -> list[tuple[str, str]]:
        """`(experiment id, name)` of the undeleted experiments, oldest first."""
        with self._reading() as rows_of:
            rows = rows_of(
                f"SELECT experiment_id, name FROM experiments WHERE {_NOT_DELETED} "
                "ORDER BY experiment_id",
                (),
            )
        return [(str(experiment_id), name) for experiment_id, name in rows]

    def history(self, run_id: str, key: str, after_step: int) -> list[tuple[int, int, float]]:
        """Points `(step, timestamp, value)` of one metric after `after_step`, in step order."""
        with self._reading() as rows_of:
            rows = rows_of(
                f"SELECT step, timestamp, {_VALUE} FROM metrics "
                "WHERE run_uuid = ? AND key = ? AND step > ? ORDER BY step, timestamp",
                (run_id, key, int(after_step)),
            )
        return [(step, ts, math.nan if value is None else value) for step, ts, value in rows]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Callable[[str, tuple], list]]:
        """`rows(query, args)` on one read-only connection (one snapshot for a whole answer)."""
        if not self.db.exists():
            yield lambda query, args: []  # no store yet: no runs (a read creates nothing)
            return
        try:
            connection = sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error as err:
            raise Unreadable(str(err)) from None
        try:
            connection.execute("BEGIN")
            if not connection.execute(_HAS_RUNS).fetchone():
                yield lambda query, args: []  # MLflow has not set the store up yet: no runs
            else:
                yield lambda query, args: connection.execute(query, args).fetchall()
        except sqlite3.Error as err:
            raise Unreadable(str(err)) from None
        finally:
            connection.close()


Rows = Callable[[str, tuple], list]


def _summaries(rows_of: Rows, where: str, args: tuple, fields: RunFields) -> list[RunSummary]:
    """The run-list rows of the runs `where` chooses: one query per table, each on its index
    (a key list on the `(key, run_uuid)` primary keys; the best-value points by `key IN` on
    MLflow's `(run_uuid, key, step)` index, never a scan of every metric point)."""
    runs = rows_of(
        "SELECT r.run_uuid, r.name, r.status, r.start_time FROM runs r "
        f"JOIN experiments e USING (experiment_id) WHERE {where} "
        "ORDER BY r.start_time DESC, r.run_uuid",
        args,
    )
    if not runs:
        return []
    chosen = f"SELECT r.run_uuid FROM runs r JOIN experiments e USING (experiment_id) WHERE {where}"
    data: dict[str, tuple[dict, dict, dict]] = {row[0]: ({}, {}, {}) for row in runs}
    tables = [("tags", fields.tags), ("params", fields.params)]
    for index, (table, keys) in enumerate(tables):
        if keys is not None and not keys:
            continue
        only = "" if keys is None else f" AND key IN ({', '.join('?' * len(keys))})"
        query = f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({chosen}){only}"
        for run_id, key, value in rows_of(query, args + tuple(keys or ())):
            data[run_id][index][key] = value
    figures: dict[str, dict[str, float]] | None = None  # None: `summary_of` picks them
    if fields.metrics and fields.figures_only and not fields.best:
        figures = {}
        for run_id, (metrics, named) in _headline_metrics(
            rows_of, chosen, args, fields.figures
        ).items():
            data[run_id][2].update(metrics)
            figures[run_id] = named
    elif fields.metrics or fields.best:
        query = (
            f"SELECT run_uuid, key, {_VALUE} FROM latest_metrics "
            f"WHERE run_uuid IN ({chosen}) AND {SUMMARY_METRICS_SQL}"
        )
        for run_id, key, value in rows_of(query, args):
            data[run_id][2][key] = math.nan if value is None else value
    best_keys = {
        run_id: best_multi_key(metrics) if fields.best else None
        for run_id, (_, _, metrics) in data.items()
    }
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    wanted = sorted({key for key in best_keys.values() if key})
    if wanted:
        query = (
            f"SELECT run_uuid, key, step, value FROM metrics WHERE run_uuid IN ({chosen}) "
            f"AND key IN ({', '.join('?' * len(wanted))}) AND NOT is_nan"
        )
        for run_id, key, step, value in rows_of(query, args + tuple(wanted)):
            points.setdefault((run_id, key), []).append((step, value))
    summaries = []
    for run_id, name, run_status, start_time in runs:
        tags, params, metrics = data[run_id]
        history = points.get((run_id, best_keys[run_id] or ""), [])
        named = None if figures is None else figures.get(run_id, {})
        summaries.append(
            summary_of(run_id, name, run_status, start_time, params, tags, metrics, history, named)
        )
    return summaries


# A summary key's eval-set part: the key without its last part (`rtrim` stops at the last '/'),
# so that each run's eval sets come back as a few distinct rows, not one row per key.
_KEY_PREFIX = "rtrim(key, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.')"


def _headline_metrics(
    rows_of: Rows, chosen: str, args: tuple, figures: frozenset[str]
) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """Each run's latest values of the headline `figures` asked for (`metric_keys.headline`), by
    key and by figure name: its eval sets from the distinct prefixes of its summary eval keys,
    then only those figures' keys of the eval set the headline comes from (one indexed lookup a
    run per figure). The same values `headline` picks from every summary key."""
    keys = [key for (key,) in rows_of(_EVAL_KEYS, ()) if key is not None]
    store_sets = datasets_in(key for key in keys if "/avg/" in key.lower()[4:])  # SQL's LIKE
    if len(store_sets) == 1:  # one eval set in the whole store: each run's headline is from it
        dataset_of = dict.fromkeys(_run_ids(rows_of, chosen, args), store_sets[0])
    else:
        dataset_of = _headline_sets(rows_of, chosen, args)
    wanted = {
        eval_key(dataset, setting, AVERAGE, metric): (dataset, name)
        for dataset in set(dataset_of.values())
        if dataset is not None
        for name, (setting, metric) in HEADLINE.items()
        if name in figures
    }
    found: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    if not wanted:
        return found
    query = (
        f"SELECT run_uuid, key, {_VALUE} FROM latest_metrics WHERE run_uuid IN ({chosen}) "
        f"AND key IN ({', '.join('?' * len(wanted))})"
    )
    for run_id, key, value in rows_of(query, args + tuple(wanted)):
        dataset, name = wanted[key]
        if dataset_of.get(run_id) == dataset:
            by_key, by_name = found.setdefault(run_id, ({}, {}))
            by_key[key] = by_name[name] = math.nan if value is None else value
    return found


# The distinct eval keys of the store, by a loose index scan of MLflow's (key, run_uuid) primary
# key: one index search per distinct key, not one row per run.
_EVAL_KEYS = (
    "WITH RECURSIVE k(key) AS (SELECT min(key) FROM latest_metrics WHERE key >= 'eval/' "
    "UNION ALL SELECT (SELECT min(key) FROM latest_metrics WHERE key > k.key) FROM k "
    "WHERE k.key < 'eval0') SELECT key FROM k WHERE key < 'eval0'"
)  # 'eval/' <= key < 'eval0': the keys that start with 'eval/'


def _run_ids(rows_of: Rows, chosen: str, args: tuple) -> list[str]:
    return [run_id for (run_id,) in rows_of(chosen, args)]


def _headline_sets(rows_of: Rows, chosen: str, args: tuple) -> dict[str, str | None]:
    """Each run's headline eval set, from the distinct prefixes of its summary eval keys."""
    prefixes: dict[str, list[str]] = {}
    query = (
        f"SELECT DISTINCT run_uuid, {_KEY_PREFIX} FROM latest_metrics "
        f"WHERE run_uuid IN ({chosen}) AND key GLOB 'eval/*' AND {SUMMARY_METRICS_SQL}"
    )
    for run_id, prefix in rows_of(query, args):
        prefixes.setdefault(run_id, []).append(prefix + "x" if prefix.endswith("/") else prefix)
    return {run_id: headline_dataset(keys) for run_id, keys in prefixes.items()}


# ---------------------------------------------------------------------------- what changed

RunState = tuple[str, str, int | None, int | None, str | None]
"""`(run id, status, start_time, end_time, name)`: what tells a run list that a run changed."""

# Each distinct metric key of the store, by a loose index scan of MLflow's (key, run_uuid)
# primary key of `latest_metrics`: one index search per key, not one row per run.
_METRIC_KEYS = (
    "WITH RECURSIVE k(key) AS (SELECT min(key) FROM latest_metrics "
    "UNION ALL SELECT (SELECT min(key) FROM latest_metrics WHERE key > k.key) FROM k "
    "WHERE k.key IS NOT NULL) SELECT key FROM k WHERE key IS NOT NULL"
)


def run_states(reads: SqliteReads) -> list[RunState]:
    """The shown runs' states (undeleted runs of undeleted experiments), newest first, in the
    run list's order: one read of the `runs` table, none of params, tags or metrics. A run list
    compares them with the last read's to find new, ended, renamed and deleted runs."""
    with reads._reading() as rows_of:
        rows = rows_of(
            "SELECT r.run_uuid, r.status, r.start_time, r.end_time, r.name FROM runs r "
            "JOIN experiments e USING (experiment_id) "
            "WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' "
            "ORDER BY r.start_time DESC, r.run_uuid",
            (),
        )
    return [tuple(row) for row in rows]


def runs_with_points_since(reads: SqliteReads, since_ms: int) -> set[str]:
    """Ids of the runs (deleted ones too) that logged a metric point stamped after `since_ms`:
    per metric key, a range on MLflow's `(key, timestamp, ...)` primary key of `metrics`, so
    the cost is the new points, not the history."""
    with reads._reading() as rows_of:
        keys = [key for (key,) in rows_of(_METRIC_KEYS, ())]
        found: set[str] = set()
        for start in range(0, len(keys), 500):  # sqlite's limit on bound values
            chunk = keys[start : start + 500]
            rows = rows_of(
                "SELECT DISTINCT run_uuid FROM metrics "
                f"WHERE key IN ({', '.join('?' * len(chunk))}) AND timestamp > ?",
                (*chunk, int(since_ms)),
            )
            found.update(run_id for (run_id,) in rows)
    return found


def tags_of(reads: SqliteReads, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Every tag of the runs `run_ids` (by MLflow's `run_uuid` index): tags carry no time, so a
    screen compares those of the runs it shows to see a tag written elsewhere."""
    found: dict[str, dict[str, str]] = {}
    with reads._reading() as rows_of:
        for start in range(0, len(run_ids), 500):  # sqlite's limit on bound values
            chunk = tuple(run_ids[start : start + 500])
            rows = rows_of(
                "SELECT run_uuid, key, value FROM tags "
                f"WHERE run_uuid IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for run_id, key, value in rows:
                found.setdefault(run_id, {})[key] = value
    return found
