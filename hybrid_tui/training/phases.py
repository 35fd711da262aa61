"""What a trainer is doing before its first step: loading data, finding and loading the model,
preparing the first batch. Each phase is a line in the trainer's log and a `phase` event that
Live shows until the first step arrives, so a slow start (a big dataset, a model download, a
slow first batch) reads as work in progress, not as a hang.

Phases said before the run exists (it has no event file yet) are kept and written to the event
file, with their own times, once it does.
"""

from __future__ import annotations

import time

from hybrid_tui.events import EventWriter
from hybrid_tui.training.distributed import rank_and_world


class StartupPhases:
    """Says each phase once: printed (the main rank only) and written as an event."""

    def __init__(self) -> None:
        self.quiet = rank_and_world()[0] != 0  # one log per torchrun job, as for steps
        self._events: EventWriter | None = None
        self._before_run: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"{message} ...", flush=True)
        if self._events is None:
            self._before_run.append((time.time(), message))
        else:
            self._events.write("phase", message=message)

    def attach(self, events: EventWriter) -> None:
        """From now on phases go to the run's event file; the earlier ones go there first."""
        for when, message in self._before_run:
            events.write("phase", message=message, t=when)
        self._before_run.clear()
        self._events = events
