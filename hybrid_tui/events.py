"""The trainer's live event stream: one JSON object per line in `<state>/runs/<id>/events.jsonl`.

The trainer appends with `EventWriter`; the TUI and tests follow the file with `EventTail`, which
only ever returns whole lines (a line still being written waits for the next call). Stdlib only.

Event types: `phase` (message: what the trainer does before step 1, from `training.phases`),
`start` (run_id, name, steps, start_step), `step` (step, loss, lr, pairs_per_s,
batch_kind), `eval` (step, metrics), `progress` (description, done, total), `log` (message),
`warning` (message: a NaN/inf or flat loss, from `training.loss_watch`), `end` (status, error?).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


def _plain(value: object) -> object:
    """JSON for values `json` does not know: numpy scalars (`.item()`), paths, anything else as str."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


class EventWriter:
    """Appends events to a JSON-lines file, one flushed line per `write` (safe from threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if str(path) != os.devnull:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 (kept open for the run; see close())
        self._lock = threading.Lock()

    def write(self, type: str, **fields: object) -> None:  # noqa: A002 (the event's field name)
        """Append `{"t": unix time, "type": type, **fields}` as one line and flush it."""
        event = {"t": time.time(), "type": type, **fields}
        line = json.dumps(event, default=_plain, ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            self._file.write(data)  # one write of a whole line: readers never see half a line
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventTail:
    """Follows an event file by byte offset: `read_new()` returns the complete lines since last time.

    A missing file reads as no events; a line that is not a JSON object is skipped; a file that
    shrank (replaced or truncated) is read again from its start.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0

    def read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:
                    self.offset = 0
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []  # only part of a line so far
        self.offset += end + 1
        events = []
        for raw in data[: end + 1].splitlines():
            if not raw.strip():
                continue
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(event, dict):
                events.append(event)
        return events
