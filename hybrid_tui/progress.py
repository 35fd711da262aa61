"""One progress-callback type for long work, and its rich rendering for the headless CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

# progress(description, done, total): called as work advances; the caller decides how to show it.
ProgressFn = Callable[[str, int, int], None]


@contextmanager
def rich_progress(transient: bool = False) -> Iterator[ProgressFn]:
    """A `ProgressFn` that draws one rich bar per description (on stderr, so --json stays clean)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[str, int] = {}
    with Progress(*columns, console=Console(stderr=True), transient=transient) as bars:

        def update(description: str, done: int, total: int) -> None:
            if description not in tasks:
                tasks[description] = bars.add_task(description, total=total)
            bars.update(tasks[description], completed=done, total=total)

        yield update


class ProgressLines:
    """A `ProgressFn` for a console that cannot redraw a bar (a log file, a pipe): one line when a
    piece of work starts, at every tenth of it and at its end, so a long encoding is seen to
    advance instead of the console falling silent."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self._tenths: dict[str, int] = {}

    def __call__(self, description: str, done: int, total: int) -> None:
        if total <= 0:
            return
        tenth = min(10, done * 10 // total)
        if description in self._tenths and tenth <= self._tenths[description]:
            return
        self._tenths[description] = tenth
        self._write(f"{description}: {done}/{total}")
