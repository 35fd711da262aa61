"""The trainer.log of a trainer attached to a terminal (the demo's, the study's, a foreground
`train`). A detached trainer's whole output is its log; an attached one writes to the terminal,
so without this its run has no log for Live's log pane or a failure's explanation. Its stdout
lines are copied to the log as they are printed, and the progress a terminal shows as bars is
written to the log as the lines a detached trainer prints (`log_only`)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TextIO


class ConsoleCopy(io.TextIOBase):
    """This process's stdout, every write also appended to a log file."""

    def __init__(self, console: TextIO, log_path: Path) -> None:
        self.console = console
        self.log = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, text: str) -> int:
        self.console.write(text)
        self.log.write(text)
        return len(text)

    def log_line(self, line: str) -> None:
        self.log.write(line + "\n")

    def flush(self) -> None:
        self.console.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.console.isatty()

    def fileno(self) -> int:
        return self.console.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.console, "encoding", "utf-8")


def copy_stdout_to(log_path: Path) -> None:
    """From now on, what this process prints on stdout is also appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(sys.stdout, ConsoleCopy):
        sys.stdout = ConsoleCopy(sys.stdout, log_path)


def log_only(line: str) -> None:
    """A line for the log and not the terminal (what a progress bar shows there); nothing when
    stdout is not being copied (a detached trainer: its stdout is the log)."""
    if isinstance(sys.stdout, ConsoleCopy):
        sys.stdout.log_line(line)
