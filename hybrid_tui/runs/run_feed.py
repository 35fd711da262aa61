"""The run list of a screen that stays open on a store: the newest runs first, the older ones
when they are needed, then kept up to date by reading again only the runs that changed.

A store of thousands of runs (a sweep's aftermath) costs what is shown: the first read lists
every run's id, status, times and name from the `runs` table and reads the newest page; older
runs are read a step at a time as the user scrolls to them, or all at once for a sort or a
filter. A refresh reads the `runs` table again (new, ended, renamed and deleted runs) and the
metric points stamped since the last read (an indexed range), then reads whole only those runs.
A store these reads cannot watch (a tracking server) is read through MLflow's client a page at a
time, and read again whole on a refresh. Not thread-safe: one worker at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hybrid_tui.runs.columns import DEFAULT_PARAM_COLUMNS
from hybrid_tui.tracking.records import EVERYTHING, ROW_PARAMS, RunFields, RunSummary

FIRST_PAGE = 100  # runs read first: more than a terminal shows
STEP = 500  # older runs read at a time
LATE_POINTS_MS = 60_000
"""How far back a refresh looks for metric points: a trainer stamps a point when it logs it and
writes it a second or so later, so a point can land stamped before the last read began."""
TABLE_FIELDS = RunFields(ROW_PARAMS | frozenset(DEFAULT_PARAM_COLUMNS), None)
"""What the runs table shows and its actions use: every tag and summary metric, the best value,
the params of its columns (a run has dozens more: a filter on one reads it, `params_of`)."""


class RunFeed:
    """The runs of `tracker` (undeleted, every experiment), newest first. `runs()` is the newest
    runs read so far (no gap); `complete` says whether that is every run."""

    def __init__(
        self,
        tracker: Any,
        first: int | None = None,
        step: int | None = None,
        fields: RunFields = TABLE_FIELDS,
    ) -> None:
        self.tracker = tracker
        self.first, self.step, self.fields = first or FIRST_PAGE, step or STEP, fields
        self._runs: dict[str, RunSummary] = {}
        self._states: dict[str, tuple] = {}
        self._order: list[str] = []
        self._since_ms = 0
        self._pages: Iterator[list[RunSummary]] | None = None  # MLflow's client, page by page
        self._pages_done = False
        self.read_ids: list[str] = []  # ids read by the last call (a seam for tests)

    @property
    def total(self) -> int | None:
        """Runs in the store at the last look (None: not known until every page is read)."""
        if self._pages is not None and not self._pages_done:
            return None
        return len(self._order)

    @property
    def complete(self) -> bool:
        return self.total is not None and len(self.runs()) >= self.total

    def read_first(self) -> list[RunSummary]:
        """Every run's state, and the newest `first` runs read (with `fields`)."""
        self.read_ids, self._runs = [], {}
        started_ms = _now_ms()
        states = self.tracker.run_states()
        if states is None:  # not a store these reads can watch: MLflow's client, page by page
            self._states, self._order, self._pages_done = {}, [], False
            self._pages = self.tracker.run_pages(self.first, self.step)
            self._next_page()
            return self.runs()
        self._pages = None
        self._since_ms = started_ms - LATE_POINTS_MS
        self._states = {state[0]: tuple(state[1:]) for state in states}
        self._order = [state[0] for state in states]
        self._read(self._order[: self.first], self.fields)
        return self.runs()

    def read_more(self, count: int | None = None) -> list[RunSummary]:
        """The runs, having read the next `count` older ones (None: every one left), a step at
        a time."""
        self.read_ids = []
        if self._pages is not None:
            while not self._pages_done and (count is None or len(self.read_ids) < count):
                self._next_page()
            return self.runs()
        unread = self._order[len(self.runs()) :]
        self._read(unread if count is None else unread[:count], self.fields)
        return self.runs()

    def refresh(
        self, also: Iterable[str] = (), shown: Sequence[str] = ()
    ) -> list[RunSummary] | None:
        """The runs again after the store changed, having read whole only the runs that are
        new, whose status, times or name changed, that logged metric points since the last
        read, that are in `also`, or that are `shown` and whose tags changed (tags carry no
        time: only the runs on screen are compared); older runs not read yet are left for
        later. None when nothing changed. A store that cannot be watched is read again, as far
        as it was read."""
        self.read_ids = []
        started_ms = _now_ms()
        states = self.tracker.run_states()
        points = self.tracker.runs_with_points_since(self._since_ms)
        if states is None or points is None:
            return self._read_again()
        now = {state[0]: tuple(state[1:]) for state in states}
        order = [state[0] for state in states]
        changed = {run_id for run_id, state in now.items() if self._states.get(run_id) != state}
        changed |= (points | set(also)) & now.keys()
        changed |= self._tags_changed([run_id for run_id in shown if run_id in self._runs])
        gone = self._states.keys() - now.keys()
        self._since_ms = started_ms - LATE_POINTS_MS
        if not changed and not gone:
            return None
        # the runs read so far stay the newest ones: new runs among them are read, older unread
        # ones wait for the user to reach them
        reach = next(
            (
                at
                for at, run_id in enumerate(order)
                if run_id in self._states and run_id not in self._runs
            ),
            len(order),
        )
        for run_id in gone:
            self._runs.pop(run_id, None)
        self._states, self._order = now, order
        self._read([run_id for run_id in order[:reach] if run_id in changed], EVERYTHING)
        return self.runs()

    def _tags_changed(self, run_ids: Sequence[str]) -> set[str]:
        tags = self.tracker.tags_of(run_ids) if run_ids else None
        if tags is None:
            return set()
        return {run_id for run_id in run_ids if tags.get(run_id, {}) != self._runs[run_id].tags}

    def runs(self) -> list[RunSummary]:
        """The newest runs read so far, newest first, up to the first one not read."""
        runs = []
        for run_id in self._order:
            run = self._runs.get(run_id)
            if run is None:
                break
            runs.append(run)
        return runs

    def _read(self, run_ids: Sequence[str], fields: RunFields) -> None:
        for start in range(0, len(run_ids), self.step):
            chunk = run_ids[start : start + self.step]
            found = self.tracker.list_runs(fields=fields, run_ids=chunk)
            for run in found:
                self._runs[run.run_id] = run
            self.read_ids.extend(chunk)
            if len(found) < len(chunk):  # deleted since the states were read
                missing = set(chunk) - {run.run_id for run in found}
                self._order = [run_id for run_id in self._order if run_id not in missing]

    def _next_page(self) -> None:
        page = next(self._pages, None) if self._pages is not None else None
        if page is None:
            self._pages_done = True
            return
        for run in page:
            self._runs[run.run_id] = run
            self._order.append(run.run_id)
        self.read_ids.extend(run.run_id for run in page)

    def _read_again(self) -> list[RunSummary] | None:
        before = self.runs()
        self.read_first()
        read_ids = list(self.read_ids)
        if len(self.runs()) < len(before):
            self.read_more(len(before) - len(self.runs()))
        self.read_ids = read_ids + self.read_ids
        after = self.runs()
        return None if repr(after) == repr(before) else after


def params_of(tracker: Any, keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """The params `keys` of every run, by run id: what a filter on a param that the first read
    left out needs (one read of those keys' rows, not of every param)."""
    fields = RunFields(frozenset(keys), frozenset(), metrics=False, best=False)
    return {run.run_id: run.params for run in tracker.list_runs(fields=fields)}


def _now_ms() -> int:
    return int(time.time() * 1000)
