"""Polling until something a test waits for happens (a trainer's step, a queue job's end, a
Slurm state), with one clear failure naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], what: str, timeout: float = 300.0, every: float = 0.2
) -> T:
    """`predicate()`'s first truthy value, asked every `every` seconds; an AssertionError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
