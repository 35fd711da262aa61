"""One progress-callback type for long work, and its rich rendering for the headless CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# progress(description, done, total): called as work advances; the caller decides how to show it.
ProgressFn = Callable[[str, int, int], None]


@contextmanager
def rich_progress(transient: bool = False) -> Iterator[ProgressFn]:
    """A `ProgressFn` that draws one rich bar per description (on stderr, so --json stays clean)."""
    from rich.console import Console
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
