"""The jobs table: one sqlite file per state dir (`<state>/queue.db`), one transaction per change.

Why sqlite and not a file per job: every state change (queued → running with its GPUs, the pid,
the run id, the end) is one `BEGIN IMMEDIATE` transaction in WAL mode, so a kill -9 of the
scheduler (or of a `queue add`) leaves each job wholly before or after a change, never half, and
the CLI, the app and the scheduler can read and write at once. Stdlib only.

A job's reference on the command line is its id (a whole number) or its run's id (or the start
of it) once it has one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import queue_db

QUEUED, RUNNING, FINISHED, FAILED, KILLED, REMOVED = (
    "queued",
    "running",
    "finished",
    "failed",
    "killed",
    "removed",
)
STATES = (QUEUED, RUNNING, FINISHED, FAILED, KILLED, REMOVED)
ENDED = (FINISHED, FAILED, KILLED)
# An MLflow run status -> the state of the job that ran it.
RUN_STATUS_STATE = {"FINISHED": FINISHED, "FAILED": FAILED, "KILLED": KILLED}

_SCHEMA = """
create table if not exists jobs (
    id integer primary key autoincrement,
    name text not null,
    source text not null,
    recipe_path text not null,
    overrides text not null default '[]',
    gpus integer not null default 1,
    priority integer not null default 0,
    position integer not null,
    state text not null,
    created real not null,
    started real,
    ended real,
    devices text not null default '',
    cuda_visible_devices text,
    pid integer,
    start_ticks integer,
    token text,
    run_id text,
    log_path text,
    error text,
    data_dir text,
    workdir text not null,
    tracking_uri text not null,
    tags text not null default '{}'
);
create index if not exists jobs_state on jobs (state, priority, position);
"""

LOCAL, SLURM = "local", "slurm"
# Columns added after the first release: a queue.db made before them gains them when opened.
_ADDED_COLUMNS = {
    "backend": "text not null default 'local'",
    "slurm_id": "text",
    "slurm_state": "text",
    "slurm_steps": "integer not null default 0",
    "resubmits": "integer not null default 0",
    "cancel_asked": "integer not null default 0",
}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """The migration of an older queue.db: one transaction, so two processes opening it at once
    add each column once."""
    have = {row[1] for row in conn.execute("pragma table_info(jobs)")}
    if have >= _ADDED_COLUMNS.keys():
        return
    conn.execute("begin immediate")
    try:
        have = {row[1] for row in conn.execute("pragma table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in have:
                conn.execute(f"alter table jobs add column {name} {kind}")
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def queue_db_path() -> Path:
    return queue_db()


@dataclass(frozen=True)
class NewJob:
    """A validated job about to be queued (see `submit`)."""

    name: str
    source: str
    recipe_path: str
    overrides: list[str]
    gpus: int
    priority: int
    workdir: str
    tracking_uri: str
    data_dir: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueJob:
    """One row of the jobs table. `devices` is what the job was given: GPU indices (`0,1`) or a
    CPU slot (`cpu1`); '' while queued. `token` names its launch files (announce, log)."""

    id: int
    name: str
    source: str
    recipe_path: str
    overrides: list[str]
    gpus: int
    priority: int
    position: int
    state: str
    created: float
    started: float | None
    ended: float | None
    devices: str
    cuda_visible_devices: str | None
    pid: int | None
    start_ticks: int | None
    token: str | None
    run_id: str | None
    log_path: str | None
    error: str | None
    data_dir: str | None
    workdir: str
    tracking_uri: str
    tags: dict[str, str]
    # The Slurm backend's: `slurm_state` is the last state the scheduler saw; `slurm_steps`: the
    # trainer runs under srun (cancel signals the steps, not the batch shell); `resubmits`:
    # times it was submitted again from its checkpoint after a time limit or preemption.
    backend: str = LOCAL
    slurm_id: str | None = None
    slurm_state: str | None = None
    slurm_steps: int = 0
    resubmits: int = 0
    cancel_asked: int = 0

    def wait_s(self, now: float | None = None) -> float:
        """Seconds between queueing and starting (so far, while queued)."""
        end = self.started if self.started is not None else (self.ended or now or time.time())
        return max(0.0, end - self.created)

    def run_s(self, now: float | None = None) -> float | None:
        """Seconds it ran (so far, while running); None if it never started."""
        if self.started is None:
            return None
        return max(0.0, (self.ended or now or time.time()) - self.started)

    def as_json(self) -> dict:
        """What `queue ls --json` prints for the job."""
        return {
            "id": self.id,
            "name": self.name,
            "recipe": self.source,
            "overrides": self.overrides,
            "state": self.state,
            "gpus": self.gpus,
            "devices": self.devices,
            "cuda_visible_devices": self.cuda_visible_devices,
            "priority": self.priority,
            "run_id": self.run_id,
            "pid": self.pid,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "wait_s": round(self.wait_s(), 1),
            "run_s": None if self.run_s() is None else round(self.run_s(), 1),
            "log": self.log_path,
            "error": self.error,
            "tracking_uri": self.tracking_uri,
            "tags": self.tags,
            "backend": self.backend,
            "slurm_id": self.slurm_id,
            "slurm_state": self.slurm_state,
            "resubmits": self.resubmits,
        }


def _job(row: sqlite3.Row) -> QueueJob:
    # columns a newer version added are left out: an older scheduler still reads the table
    values = {key: row[key] for key in row.keys() if key in QueueJob.__dataclass_fields__}
    values["overrides"] = json.loads(values["overrides"])
    values["tags"] = json.loads(values["tags"])
    return QueueJob(**values)


def _find(ref: str, jobs: Sequence[QueueJob], path: Path) -> QueueJob:
    """The job `ref` names among `jobs`: its id, or its run id (or a unique start of it). A job id
    wins; digits that are no job's id can still start a run id (`70950109...`: one run id in
    ~40 begins with 8 digits)."""
    ref = ref.strip()
    found = [job for job in jobs if job.id == int(ref)] if ref.isdigit() else []
    if not found:
        found = [job for job in jobs if job.run_id and ref and job.run_id.startswith(ref)]
    if len(found) > 1:
        raise HybridTuiError(f"{ref!r} matches runs of jobs {', '.join(str(j.id) for j in found)}")
    if not found:
        raise HybridTuiError(f"no queue job {ref!r} in {path}; `{command('queue ls')}` lists them")
    return found[0]


class JobStore:
    """The queue of one state dir. Each method opens its own short connection, so any thread
    (the app's workers) or process may use the store at the same time."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else queue_db_path()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=full")
            conn.executescript(_SCHEMA)
            _add_missing_columns(conn)
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change: all of it reaches the file, or none of it."""
        with self._connect() as conn:
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    # ------------------------------------------------------------------ reading

    def jobs(self, states: Sequence[str] | None = None) -> list[QueueJob]:
        """Jobs in the order they were added (all, or those in `states`)."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute("select * from jobs order by id").fetchall()
        jobs = [_job(row) for row in rows]
        return [job for job in jobs if states is None or job.state in states]

    def queued(self) -> list[QueueJob]:
        """Queued jobs in the order they will start: highest priority, then oldest (position)."""
        return sorted(self.jobs([QUEUED]), key=lambda job: (-job.priority, job.position))

    def get(self, ref: str) -> QueueJob:
        """A job by id, or by its run id (or a unique start of it)."""
        return _find(ref, self.jobs(), self.path)

    # ------------------------------------------------------------------ changes

    def add(self, new_jobs: Sequence[NewJob]) -> list[QueueJob]:
        """Queue every job in one transaction (all of a grid, or none)."""
        now = time.time()
        ids = []
        with self._transaction() as conn:
            (last,) = conn.execute("select coalesce(max(position), 0) from jobs").fetchone()
            for offset, job in enumerate(new_jobs, 1):
                cursor = conn.execute(
                    "insert into jobs (name, source, recipe_path, overrides, gpus, priority, "
                    "position, state, created, workdir, tracking_uri, data_dir, tags) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.name,
                        job.source,
                        job.recipe_path,
                        json.dumps(job.overrides),
                        job.gpus,
                        job.priority,
                        last + offset,
                        QUEUED,
                        now,
                        job.workdir,
                        job.tracking_uri,
                        job.data_dir,
                        json.dumps(job.tags, sort_keys=True),
                    ),
                )
                ids.append(cursor.lastrowid)
        by_id = {job.id: job for job in self.jobs()}
        return [by_id[i] for i in ids]

    def remove(self, refs: Sequence[str]) -> list[QueueJob]:
        """Mark jobs removed (their runs stay in MLflow). All references are checked first, on
        one read of the table in the same transaction; a running job is refused (cancel its run
        first), so nothing is removed half-way."""
        with self._transaction() as conn:
            rows = conn.execute("select * from jobs order by id").fetchall()
            every = [_job(row) for row in rows]
            jobs = [_find(ref, every, self.path) for ref in refs]
            for job in jobs:
                if job.state == RUNNING:
                    raise HybridTuiError(
                        f"job {job.id} is running (run {job.run_id or 'starting'}); cancel it "
                        f"first with `{command('cancel ' + (job.run_id or 'RUN_ID'))}`"
                    )
            now = time.time()
            conn.executemany(
                "update jobs set state = ?, ended = coalesce(ended, ?) where id = ?",
                [(REMOVED, now, job.id) for job in jobs],
            )
        return jobs

    def move(self, job_id: int, offset: int) -> bool:
        """Move a queued job one place earlier (-1) or later (+1) in the start order: it takes
        its neighbour's priority and place. False if it cannot move."""
        with self._transaction() as conn:
            rows = conn.execute(
                "select id, priority, position from jobs where state = ? "
                "order by priority desc, position",
                (QUEUED,),
            ).fetchall()
            order = [row["id"] for row in rows]
            if job_id not in order:
                return False
            index = order.index(job_id)
            other = index + offset
            if not 0 <= other < len(order):
                return False
            order[index], order[other] = order[other], order[index]
            conn.execute(
                "update jobs set priority = ? where id = ?", (rows[other]["priority"], job_id)
            )
            # the same positions, handed out along the new order (priorities stay sorted)
            for position, moved in zip(sorted(r["position"] for r in rows), order, strict=True):
                conn.execute("update jobs set position = ? where id = ?", (position, moved))
        return True

    def claim(
        self,
        job_id: int,
        devices: str,
        cuda_visible: str | None,
        token: str,
        log_path: str,
        backend: str = LOCAL,
    ) -> bool:
        """queued -> running with its devices, before the trainer is spawned (or submitted to
        Slurm): a scheduler killed right after this finds the job running without a pid (or
        Slurm id) and looks for its process (by `token`) instead of starting it again. False if
        the job is no longer queued."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "update jobs set state = ?, started = ?, devices = ?, cuda_visible_devices = ?, "
                "token = ?, log_path = ?, error = null, backend = ? where id = ? and state = ?",
                (
                    RUNNING,
                    time.time(),
                    devices,
                    cuda_visible,
                    token,
                    log_path,
                    backend,
                    job_id,
                    QUEUED,
                ),
            )
            return cursor.rowcount == 1

    def set_slurm(
        self,
        job_id: int,
        slurm_id: str | None,
        state: str | None,
        steps: bool | None = None,
        started: bool = False,
    ) -> None:
        """The job's Slurm id and the last state seen (the scheduler's, each pass); `started`:
        Slurm started it now, so its wait ends here (it was pending in Slurm until now)."""
        with self._transaction() as conn:
            conn.execute(
                "update jobs set slurm_id = ?, slurm_state = ?, "
                "slurm_steps = coalesce(?, slurm_steps), started = coalesce(?, started) "
                "where id = ?",
                (
                    slurm_id,
                    state,
                    None if steps is None else int(steps),
                    time.time() if started else None,
                    job_id,
                ),
            )

    def resubmitting(self, job_id: int, token: str, log_path: str) -> bool:
        """A running Slurm job stopped by Slurm (time limit, preemption) is submitted again: a
        new launch token and log, no Slurm id until sbatch answers, one more resubmit."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "update jobs set token = ?, log_path = ?, slurm_id = null, slurm_state = null, "
                "resubmits = resubmits + 1 where id = ? and state = ?",
                (token, log_path, job_id, RUNNING),
            )
            return cursor.rowcount == 1

    def ask_cancel(self, job_id: int) -> None:
        """Record that the user cancelled the job (so its KILLED run is not taken for Slurm's
        time-limit warning and resubmitted)."""
        with self._transaction() as conn:
            conn.execute("update jobs set cancel_asked = 1 where id = ?", (job_id,))

    def refuse(self, job_id: int, error: str) -> bool:
        """queued -> failed without starting (it can never run on this scheduler)."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "update jobs set state = ?, ended = ?, error = ? where id = ? and state = ?",
                (FAILED, time.time(), error, job_id, QUEUED),
            )
            return cursor.rowcount == 1

    def set_process(self, job_id: int, pid: int, start_ticks: int | None) -> None:
        with self._transaction() as conn:
            conn.execute(
                "update jobs set pid = ?, start_ticks = ? where id = ?", (pid, start_ticks, job_id)
            )

    def set_run(self, job_id: int, run_id: str, log_path: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "update jobs set run_id = ?, log_path = ? where id = ?", (run_id, log_path, job_id)
            )

    def finish(self, job_id: int, state: str, error: str | None = None) -> bool:
        """running -> finished / failed / killed. False if it was not running any more."""
        assert state in ENDED, state
        with self._transaction() as conn:
            cursor = conn.execute(
                "update jobs set state = ?, ended = ?, error = ? where id = ? and state = ?",
                (state, time.time(), error, job_id, RUNNING),
            )
            return cursor.rowcount == 1

    def requeue(self, job_id: int) -> bool:
        """running -> queued for a job whose trainer never started (the scheduler stopped
        between claiming it and spawning it)."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "update jobs set state = ?, started = null, devices = '', "
                "cuda_visible_devices = null, pid = null, start_ticks = null, token = null, "
                "log_path = null, slurm_id = null, slurm_state = null "
                "where id = ? and state = ? and run_id is null",
                (QUEUED, job_id, RUNNING),
            )
            return cursor.rowcount == 1
