"""The trainer.log of a trainer attached to a terminal (the demo's, the study's, a foreground
`train`). A detached trainer's whole output is its log; an attached one writes to the terminal,
so without this its run has no log for Live's log pane or a failure's explanation. Its stdout
lines are copied to the log as they are printed, and the progress a terminal shows as bars is
written to the log as the lines a detached trainer prints (`log_only`).

Only the `train` command's process copies (`console_copied` around its work, in `main_entry`):
`run_training` called in another process's own code changes nothing of that process's stdout.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

_allowed = False  # inside `console_copied`: this process is a trainer's own


class ConsoleCopy(io.TextIOBase):
    """This process's stdout, every write also appended to a log file. A log that cannot be
    written (a full disk) stops being copied to; the terminal never misses a line for it."""

    def __init__(self, console: TextIO, log_path: Path) -> None:
        self.console = console
        self.log: TextIO | None = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, text: str) -> int:
        self.console.write(text)
        self.log_text(text)
        return len(text)

    def log_text(self, text: str) -> None:
        if self.log is None:
            return
        try:
            self.log.write(text)
        except (OSError, ValueError):  # no room, or closed
            self.log = None

    def flush(self) -> None:
        self.console.flush()
        if self.log is not None:
            try:
                self.log.flush()
            except (OSError, ValueError):
                self.log = None

    def close_log(self) -> None:
        if self.log is not None:
            try:
                self.log.close()
            except OSError:
                pass
            self.log = None

    def isatty(self) -> bool:
        return self.console.isatty()

    def fileno(self) -> int:
        return self.console.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.console, "encoding", "utf-8")


@contextmanager
def console_copied() -> Iterator[None]:
    """Within: `copy_stdout_to` may copy this process's stdout to a run's log; after: stdout is
    put back and the log closed."""
    global _allowed
    before, _allowed = sys.stdout, True
    try:
        yield
    finally:
        _allowed = False
        copy = sys.stdout
        sys.stdout = before
        if isinstance(copy, ConsoleCopy):
            copy.close_log()


def copy_stdout_to(log_path: Path) -> None:
    """From now on (within `console_copied`), what this process prints on stdout is also
    appended to `log_path`."""
    if not _allowed or isinstance(sys.stdout, ConsoleCopy):
        return
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout = ConsoleCopy(sys.stdout, log_path)
    except OSError:  # no log rather than no training
        pass


def log_only(line: str) -> None:
    """A line for the log and not the terminal (what a progress bar shows there); nothing when
    stdout is not being copied (a detached trainer: its stdout is the log)."""
    if isinstance(sys.stdout, ConsoleCopy):
        sys.stdout.log_text(line + "\n")
