"""A deleted run's local folder (`<state>/runs/<id>`: model, checkpoint, logs; GBs for a real
model): how big it is, and removing it safely. Deleting a run in MLflow leaves this folder, so
`delete` and the app's delete dialog say it is kept and offer to remove it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import runs_dir
from hybrid_tui.runs.files import RunFiles


def local_folder(run_id: str) -> Path | None:
    """The run's folder under the state dir's `runs/`, or None where it has none. A folder that
    is a link, or that resolves outside `runs/`, is refused: removing it would reach elsewhere."""
    runs = runs_dir()
    folder = RunFiles.for_run(run_id).root
    if not folder.exists() and not folder.is_symlink():
        return None
    resolved = folder.resolve()
    if folder.is_symlink() or resolved.parent != runs.resolve() or not resolved.is_dir():
        raise HybridTuiError(
            f"{folder} is not a plain folder inside {runs}; remove it by hand if it is safe"
        )
    return resolved


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder`, links not followed."""
    total = 0
    for parent, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                pass
    return total


def human_size(size: int) -> str:
    """`1.2 GB`, `340 MB`, `12 KB`, `0 B` (decimal units, as `du -h --si`)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def shown_path(path: Path) -> str:
    """The path relative to the working directory where it lies under it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def describe(folder: Path) -> str:
    """`.hybrid-tui/runs/<id> (1.2 GB)`."""
    return f"{shown_path(folder)} ({human_size(folder_size(folder))})"


def remove_folder(folder: Path) -> None:
    """Remove a folder `local_folder` returned (checked there: a plain folder inside runs/)."""
    runs = runs_dir().resolve()
    if folder.is_symlink() or folder.resolve().parent != runs:
        raise HybridTuiError(f"{folder} is not a plain folder inside {runs}; not removed")
    shutil.rmtree(folder)
