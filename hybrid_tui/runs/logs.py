"""A trainer's log as the other parts read it: its last lines, and its one error line."""

from __future__ import annotations

import os
from pathlib import Path


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a text file ('' if it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def error_line(log_path: Path) -> str | None:
    """The trainer's `error: ...` line (bad input), or the last line of a crash."""
    lines = tail(log_path, 30).splitlines()
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1].strip() if lines else None
