"""The run list of `hybrid-tui runs` at any size: filtered and sorted on only what the filter and
the sort test, then read whole only for the rows shown (a page), or streamed in chunks (`--json`).

Thousands of runs (a sweep's aftermath) cost what is shown: the rules stay those of `run_filter`
and `sorted_runs`, applied to light rows (`RunFields`) that hold every value they look at.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hybrid_tui.runs.columns import FIGURES, LABELS, SORT_KEYS, sorted_runs
from hybrid_tui.runs.filter import RunFilter
from hybrid_tui.tracking.records import ROW_PARAMS, ROW_TAGS, RunFields, RunSummary

DEFAULT_LIMIT = 50  # rows `runs` prints unless told (--limit N, --all); `--json` gives all
CHUNK = 500  # runs read whole at a time while `--json` streams


@dataclass(frozen=True)
class RunList:
    """The runs a listing chose, in order, as light rows (`RunFields`), and every run it looked
    at (before the filter)."""

    chosen: list[RunSummary]
    every: list[RunSummary]


def fields_for(
    run_filter: RunFilter | None, sort: str | None, param_columns: Sequence[str] = ()
) -> RunFields:
    """What the filter, the sort and the `--columns` check need of every run (nothing but the
    runs table for the default newest-first list)."""
    if run_filter is None and sort is None:
        return RunFields(frozenset(param_columns), frozenset(), metrics=False, best=False)
    params, tags = set(param_columns), set()
    if _tests_row_fields(run_filter, sort):
        params, tags = params | ROW_PARAMS, set(ROW_TAGS)
    metrics = best = False
    figures_only = True  # every metric tested is a headline figure (mono, cross, multi, bias)
    figures: set[str] = set()  # which of them
    if sort is not None:
        column = {label: key for key, label in LABELS.items()}.get(sort, sort)
        if column in FIGURES:
            metrics = True
            figures.add(column)
        elif column in ("best", "at"):
            best = True
        elif column not in SORT_KEYS:
            params.add(column)
    for clause in run_filter.clauses if run_filter is not None else ():
        if clause.kind in ("metric", "short_metric"):
            best = best or clause.key == "best"
            metrics = True
            figures_only = figures_only and clause.kind == "short_metric" and clause.key in FIGURES
            figures.add(clause.key)
        elif clause.kind in ("param", "short_param"):
            params.add(clause.key)
        elif clause.kind == "tag":
            tags.add(clause.key)
    return RunFields(
        frozenset(params),
        frozenset(tags),
        metrics or best,
        best,
        figures_only and not best,
        frozenset(figures) & frozenset(FIGURES),
    )


def _tests_row_fields(run_filter: RunFilter | None, sort: str | None) -> bool:
    """Whether the filter or the sort looks at a row's name, model, mix or steps (built from the
    `ROW_PARAMS` and `ROW_TAGS`); a filter or sort on figures needs none of them."""
    if sort is not None and sort in ("name", "model", "mix", "steps"):
        return True
    return any(
        (clause.kind, clause.key) in (("short_text", "name"), ("attribute", "run_name"))
        for clause in (run_filter.clauses if run_filter is not None else ())
    )


def choose_runs(
    tracker: Any,
    experiment: str | None,
    run_filter: RunFilter | None,
    sort: str | None,
    descending: bool | None,
    param_columns: Sequence[str] = (),
) -> RunList:
    """The runs the filter keeps, in the order asked (newest first by default), as light rows."""
    runs = tracker.list_runs(
        experiment=experiment, fields=fields_for(run_filter, sort, param_columns)
    )
    every = runs
    if sort is not None:
        runs = sorted_runs(runs, sort, descending)
    elif descending is False:
        runs = runs[::-1]  # oldest first
    if run_filter is not None:
        runs = run_filter(runs)
    return RunList(runs, every)


def whole_runs(tracker: Any, chosen: Sequence[RunSummary]) -> Iterator[RunSummary]:
    """The `chosen` runs read whole (every param, tag and summary metric), in their order, a
    chunk at a time. A run deleted meanwhile is left out."""
    for start in range(0, len(chosen), CHUNK):
        ids = [run.run_id for run in chosen[start : start + CHUNK]]
        found = {run.run_id: run for run in tracker.list_runs(run_ids=ids)}
        yield from (found[run_id] for run_id in ids if run_id in found)
