"""Rank 0 records a run with a `Tracker`, the other torchrun ranks with a `NullTracker`: both must
offer exactly the run-recording calls `RunTracker` names, with the same signatures, or a call
works on rank 0 and crashes rank 1 (or is silently dropped) an hour into a run."""

from __future__ import annotations

import inspect

from hybrid_tui.tracking import RUN_WRITES, NullTracker, RunTracker, Tracker


def _protocol_methods() -> set[str]:
    return {
        name
        for name, value in vars(RunTracker).items()
        if callable(value) and not name.startswith("_")
    }


def _parameters(function) -> list[tuple[str, object]]:
    """Parameter names and defaults (annotations are strings under `from __future__`)."""
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_protocol_names_exactly_the_run_writes() -> None:
    assert _protocol_methods() == set(RUN_WRITES)


def test_tracker_and_null_tracker_satisfy_it(tmp_path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert isinstance(tracker, RunTracker)
    assert isinstance(NullTracker(), RunTracker)
    assert not isinstance(object(), RunTracker)


def test_each_method_takes_the_protocols_parameters() -> None:
    for name in RUN_WRITES:
        wanted = [param for param, _ in _parameters(getattr(RunTracker, name))]
        for kind in (Tracker, NullTracker):
            got = [param for param, _ in _parameters(getattr(kind, name))]
            assert got == wanted, f"{kind.__name__}.{name}{got} differs from RunTracker's {wanted}"
        tracker_defaults = _parameters(getattr(Tracker, name))
        assert _parameters(getattr(NullTracker, name)) == tracker_defaults, name
