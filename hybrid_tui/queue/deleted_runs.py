"""Which queue jobs' runs were deleted since they ran, so the queue says `deleted` instead of an
id that `show` or Live would no longer find. Read from each job's own sqlite store (a job may
track elsewhere than the app), without importing mlflow; a store that cannot be read says
nothing."""

from __future__ import annotations

from pathlib import Path

from hybrid_tui.tracking.sqlite_reads import SqliteReads, Unreadable
from hybrid_tui.tracking.store import sqlite_path

DELETED_LABEL = "deleted"


def deleted_run_ids(jobs: list) -> set[str]:
    """The run ids of `jobs` whose runs are deleted in the job's tracking store."""
    by_store: dict[Path, list[str]] = {}
    for job in jobs:
        db = sqlite_path(job.tracking_uri or "") if job.run_id else None
        if db is not None:
            by_store.setdefault(Path(job.workdir or ".") / db, []).append(job.run_id)
    deleted: set[str] = set()
    for db, run_ids in by_store.items():
        try:
            deleted |= SqliteReads(db).deleted(run_ids)
        except (Unreadable, OSError):
            pass
    return deleted


def run_label(job, deleted: set[str]) -> str:
    """The queue's run column: the short id, or `deleted`."""
    if not job.run_id:
        return ""
    return DELETED_LABEL if job.run_id in deleted else job.run_id[:8]
