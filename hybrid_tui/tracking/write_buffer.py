"""Metric points held in memory and written in batches, about once a second.

One `log_metric` per point costs ~4 ms on sqlite, a `log_batch` of 1000 points ~0.08 s, so the
trainer's points wait here: they are written when a second has passed since the last write, when
1000 points wait, by a timer (so a burst that stops still reaches the store within about a second),
and on `flush()`. Plain data only; the tracker turns points into MLflow's entities when it writes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from hybrid_tui.errors import HybridTuiError

FLUSH_EVERY_S = 1.0
FLUSH_AT_POINTS = 1000  # MLflow's limit of metrics per log_batch

Point = tuple[str, float, int, int]
"""`(key, value, timestamp in ms, step)`."""


class MetricBuffer:
    """Points per run until they are written by `write(run_id, points)`.

    `write` raises `HybridTuiError` for a run that does not exist: those points are dropped (they
    can never be written) and the error is raised after the other runs' points are written. Any
    other error puts the unwritten points back for the next flush.
    """

    def __init__(self, write: Callable[[str, list[Point]], None], where: str) -> None:
        self._write = write
        self._where = where  # named in the warning of a failed background flush
        self._points: dict[str, list[Point]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._timer: threading.Timer | None = None

    def add(self, run_id: str, points: list[Point]) -> None:
        """Hold the points; write everything now if a flush is due."""
        if not points:
            return
        with self._lock:
            self._points.setdefault(run_id, []).extend(points)
            pending = sum(len(p) for p in self._points.values())
            due = time.monotonic() - self._last_flush >= FLUSH_EVERY_S
        if due or pending >= FLUSH_AT_POINTS:
            self.flush()
        else:
            self._flush_later()

    def flush(self) -> None:
        """Write every held point now."""
        with self._flush_lock:
            with self._lock:
                points, self._points = self._points, {}
                self._last_flush = time.monotonic()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            unknown: HybridTuiError | None = None
            items = list(points.items())
            for index, (run_id, run_points) in enumerate(items):
                try:
                    self._write(run_id, run_points)
                except HybridTuiError as err:  # no such run: its points can never be written
                    unknown = unknown or err
                except BaseException:
                    self._put_back(items[index:])  # tried again at the next flush
                    raise
            if unknown is not None:
                raise unknown

    def flush_if_pending(self, run_id: str | None = None) -> None:
        """Flush when points of `run_id` (of any run when None) wait, so a read sees them."""
        with self._lock:
            pending = run_id in self._points if run_id is not None else bool(self._points)
        if pending:
            self.flush()

    def drop(self, run_id: str) -> None:
        """Forget the run's held points (it is being deleted)."""
        with self._lock:
            self._points.pop(run_id, None)

    def _put_back(self, items: list[tuple[str, list[Point]]]) -> None:
        with self._lock:
            for run_id, points in items:
                self._points[run_id] = points + self._points.get(run_id, [])

    def _flush_later(self) -> None:
        """Make sure points logged in a burst do not wait for the next call to be written."""
        with self._lock:
            if self._timer is not None:
                return
            delay = max(0.0, FLUSH_EVERY_S - (time.monotonic() - self._last_flush))
            self._timer = threading.Timer(delay, self._flush_in_background)
            self._timer.daemon = True
            self._timer.start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except Exception as err:  # the points stay held; the next flush tries again
            reason = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            print(f"warning: could not write metrics to {self._where}: {reason}", file=sys.stderr)
