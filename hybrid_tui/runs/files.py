"""Where a run's local files live: events, job record, trainer log, checkpoint, final model.

MLflow holds the record of every run; these files are what a local trainer needs beside it (the
live event stream, its pid, resumable state). They live in the state dir's `runs/` folder
(`paths.runs_dir`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import runs_dir
from hybrid_tui.tracking.records import MIN_RUN_ID_PREFIX, ambiguous_run_prefix, run_id_too_short


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run's local files (nothing is created by building this)."""

    run_id: str
    root: Path

    @classmethod
    def for_run(cls, run_id: str, base: Path | None = None) -> RunFiles:
        return cls(run_id=run_id, root=runs_dir(base) / run_id)

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def job(self) -> Path:
        return self.root / "job.json"

    @property
    def log(self) -> Path:
        return self.root / "trainer.log"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def recipe(self) -> Path:
        return self.root / "recipe.toml"


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks (Linux), kept in the job record to tell a live
    trainer from a process that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


_RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")  # MLflow's run id shape


def local_run_id(text: str) -> str:
    """The whole id of the run with local files here (`<state>/runs/<id>`) that `text` names: the
    id itself, or a prefix of 4 or more characters that only one such run starts with. What
    `train --resume` and `eval --run` need; unknown, ambiguous and too short: one line each, in
    the words of the tracker's `resolve_run_id`."""
    runs = runs_dir()
    if len(text) < MIN_RUN_ID_PREFIX:
        raise run_id_too_short(text)
    matches = []
    if _RUN_ID.fullmatch(text):
        try:
            matches = sorted(entry.name for entry in runs.iterdir() if entry.name.startswith(text))
        except OSError:
            pass
    if text in matches or len(matches) == 1:
        return text if text in matches else matches[0]
    if not matches:
        raise HybridTuiError(
            f"no local files for run {text} under {runs}; run this in the directory the run was "
            "started from, or set HYBRID_TUI_HOME to that directory's .hybrid-tui folder"
        )
    raise ambiguous_run_prefix(text, matches)
