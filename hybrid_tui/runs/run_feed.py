"""The run list of a screen that stays open on a store: read in steps, newest first, then kept
up to date by reading again only the runs that changed.

A store of thousands of runs (a sweep's aftermath) costs one whole read, in steps, the newest
page first; after that a refresh reads the `runs` table (ids, statuses, times, names: new, ended,
renamed and deleted runs) and the metric points stamped since the last read (an indexed range),
then reads whole only those runs. A store these reads cannot watch (a tracking server) is read
again page by page. Not thread-safe: one worker at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hybrid_tui.tracking.records import RunSummary

FIRST_PAGE = 100  # runs read whole first: more than a terminal shows
STEP = 1000  # then this many at a time
LATE_POINTS_MS = 60_000
"""How far back a refresh looks for metric points: a trainer stamps a point when it logs it and
writes it a second or so later, so a point can land stamped before the last read began."""


class RunFeed:
    """The runs of `tracker` (undeleted, every experiment), newest first."""

    def __init__(self, tracker: Any, first: int = FIRST_PAGE, step: int = STEP) -> None:
        self.tracker = tracker
        self.first, self.step = first, step
        self.total: int | None = None  # runs in the store at the last read (None: not known)
        self._runs: dict[str, RunSummary] = {}
        self._states: dict[str, tuple] = {}
        self._order: list[str] = []
        self._since_ms = 0
        self.read_ids: list[str] = []  # ids read whole by the last read or refresh (a seam)

    def read_all(self) -> Iterator[list[RunSummary]]:
        """Every run, read whole in steps: yields the runs read so far after each step (the
        newest `first` runs, then `step` more at a time)."""
        self.read_ids = []
        started_ms = _now_ms()
        states = self.tracker.run_states()
        if states is None:  # not a store these reads can watch: MLflow's client, page by page
            self._states, self._runs, self._order = {}, {}, []
            for page in self.tracker.run_pages(self.first, self.step):
                for run in page:
                    self._runs[run.run_id] = run
                    self._order.append(run.run_id)
                self.read_ids.extend(run.run_id for run in page)
                yield self.runs()
            self.total = len(self._order)
            return
        self._since_ms = started_ms - LATE_POINTS_MS
        self._states = {state[0]: tuple(state[1:]) for state in states}
        self._order = [state[0] for state in states]
        self.total = len(self._order)
        self._runs = {}
        ids = self._order
        rest = range(self.first, len(ids), self.step)
        for chunk in [ids[: self.first], *(ids[start : start + self.step] for start in rest)]:
            self._read(chunk)
            yield self.runs()

    def refresh(self, also: Iterable[str] = ()) -> list[RunSummary] | None:
        """The runs again after the store changed, having read whole only the runs that are
        new, whose status, times or name changed, that logged metric points since the last
        read, or that are in `also` (e.g. a run just tagged: tags carry no time); None when
        nothing changed. A store that cannot be watched is read again whole."""
        self.read_ids = []
        started_ms = _now_ms()
        states = self.tracker.run_states()
        points = self.tracker.runs_with_points_since(self._since_ms)
        if states is None or points is None:
            before = self.runs()
            after = list(self.read_all())
            runs = after[-1] if after else []
            return None if repr(runs) == repr(before) else runs
        now = {state[0]: tuple(state[1:]) for state in states}
        changed = {run_id for run_id, state in now.items() if self._states.get(run_id) != state}
        changed |= (points | set(also)) & now.keys()
        gone = self._states.keys() - now.keys()
        self._since_ms = started_ms - LATE_POINTS_MS
        if not changed and not gone:
            return None
        for run_id in gone:
            self._runs.pop(run_id, None)
        self._states, self._order = now, [state[0] for state in states]
        self.total = len(self._order)
        self._read([run_id for run_id in self._order if run_id in changed])
        return self.runs()

    def runs(self) -> list[RunSummary]:
        """The runs read so far, newest first."""
        return [self._runs[run_id] for run_id in self._order if run_id in self._runs]

    def _read(self, run_ids: Sequence[str]) -> None:
        for start in range(0, len(run_ids), self.step):
            chunk = run_ids[start : start + self.step]
            for run in self.tracker.list_runs(run_ids=chunk):
                self._runs[run.run_id] = run
            self.read_ids.extend(chunk)


def _now_ms() -> int:
    return int(time.time() * 1000)
