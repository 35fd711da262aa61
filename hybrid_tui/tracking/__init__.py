"""Runs in MLflow: the only package that imports mlflow, and only inside functions; reads of a
sqlite store never import it (the CLI's `runs`, `show` and `compare` skip its ~2 s import).

`Tracker` is the face; the modules beside it each do one job:
- `store`: the sqlite file (checked, created in WAL mode), MLflow's client, the 'database is
  locked' retry, MLflow's errors as one line;
- `write_buffer`: metric points written in batches about once a second;
- `sqlite_reads`: runs, one run and metric histories read straight from a sqlite file;
- `client_reads`: the same reads through MLflow's client, for other stores;
- `records`: what reads return (`RunSummary`, `RunDetail`);
- `null_tracker`: `NullTracker`, the write methods as no-ops, for non-main torchrun ranks;
- `run_tracker`: `RunTracker`, the protocol both satisfy (what run-recording code may call).
"""

from __future__ import annotations

from hybrid_tui.metric_keys import headline
from hybrid_tui.tracking.null_tracker import NullTracker
from hybrid_tui.tracking.records import RunDetail, RunSummary
from hybrid_tui.tracking.run_tracker import RunTracker
from hybrid_tui.tracking.store import sqlite_path
from hybrid_tui.tracking.tracker import (
    DEFAULT_EXPERIMENT,
    END_STATUSES,
    MIN_RUN_ID_PREFIX,
    RUN_WRITES,
    Tracker,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "END_STATUSES",
    "MIN_RUN_ID_PREFIX",
    "NullTracker",
    "RUN_WRITES",
    "RunDetail",
    "RunSummary",
    "RunTracker",
    "Tracker",
    "headline",
    "sqlite_path",
]
