"""What reads of the tracking store return: `RunSummary` (a row of the run list, with its
`metric_keys.headline` figures) and `RunDetail`.

Both read paths (the sqlite file, MLflow's client) build their records with `summary_of`, so they
agree field by field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.metric_keys import HEADLINE, headline

SUMMARY_METRICS_SQL = "(key LIKE 'eval/%/avg/%' OR key NOT LIKE 'eval/%')"


def is_summary_metric(key: str) -> bool:
    """The latest values a run-list row carries (what `runs --filter` can test): every eval
    set's averages and every non-eval metric (train/..., system/...), not per-language ones."""
    return not key.startswith("eval/") or "/avg/" in key


# What every row needs for its name, model, mix and steps (`summary_of`).
ROW_PARAMS = frozenset({"model.spec", "train.steps"})
ROW_TAGS = frozenset({"mlflow.runName", "hybrid_tui.model_source", "hybrid_tui.mix"})


@dataclass(frozen=True)
class RunFields:
    """What of each run a list read loads. A list of thousands of runs is filtered and sorted
    on what the filter and the sort test, and the rest is read only for the rows shown.
    `params`/`tags`: the keys to load (None: all of them); `metrics`: the latest value of each
    summary metric (the headline figures; `is_summary_metric`); `best`: the best multilingual mAP
    over the run's history (implies `metrics`: its key depends on the eval sets present);
    `figures_only`: of the metrics, only the headline figures' keys (a filter or sort on mono,
    cross, multi or bias reads a few values per run instead of every summary metric), and of
    those only the `figures` named (`runs --sort multi` reads one value per run, not four)."""

    params: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    metrics: bool = True
    best: bool = True
    figures_only: bool = False
    figures: frozenset[str] = frozenset(HEADLINE)


EVERYTHING = RunFields()

SHORT_ID_LENGTH = 8
ERROR_ARTIFACT = "error.txt"
"""The artifact a FAILED run keeps its error in (first line: the reason the app and `show` give)."""


def short_id(run_id: str) -> str:
    """The id the app and `hybrid-tui runs` show; every command takes it (any unique 4+ prefix)."""
    return run_id[:SHORT_ID_LENGTH]


@dataclass
class RunSummary:
    """One row of the run list. `start_time` is in ms since the epoch; `steps` the planned steps;
    `params` every param (the list's param columns and filters pick from them); `best_multi` the
    best multilingual mAP over the run's history (`metric_keys.best_multi_key`) and
    `best_multi_step` the first step that reached it (Omniboard's rolled-up columns); `tags`
    every tag; `latest` the latest value of each `is_summary_metric` key."""

    run_id: str
    name: str
    status: str
    start_time: int | None
    model: str
    mix: str
    steps: int | None
    headline: dict[str, float]
    best_multi: float | None
    best_multi_step: int | None
    params: dict[str, str]
    tags: dict[str, str]
    latest: dict[str, float]


@dataclass
class RunDetail(RunSummary):
    """Everything about one run; `metrics` holds each key's latest value."""

    metrics: dict[str, float]


def summary_of(
    run_id: str,
    name: str | None,
    status: str,
    start_time: int | None,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    history: Sequence[tuple[int, float]] = (),
    figures: Mapping[str, float] | None = None,
) -> RunSummary:
    """The run-list row of a run, from its columns, params, tags, (at least) its summary metrics
    and the `(step, value)` points of its `best_multi_key`. `figures`: its headline figures when
    the reader already picked them (`headline(metrics)` otherwise: the same values)."""
    best = best_point(history)
    return RunSummary(
        run_id=run_id,
        name=name or tags.get("mlflow.runName") or "",
        status=status,
        start_time=int(start_time) if start_time is not None else None,
        model=params.get("model.spec") or tags.get("hybrid_tui.model_source") or "",
        mix=tags.get("hybrid_tui.mix") or "",
        steps=_int_or_none(params.get("train.steps")),
        headline=dict(figures) if figures is not None else headline(metrics) if metrics else {},
        best_multi=best[1] if best else None,
        best_multi_step=best[0] if best else None,
        params=dict(params),
        tags=dict(tags),
        latest={key: value for key, value in metrics.items() if is_summary_metric(key)},
    )


def best_point(points: Sequence[tuple[int, float]]) -> tuple[int, float] | None:
    """The highest `(step, value)` (NaN ignored), the earliest step among equal values."""
    if not points:
        return None
    finite = [(step, value) for step, value in points if value == value]
    if not finite:
        return None
    return min(finite, key=lambda point: (-point[1], point[0]))


def detail_of(
    summary: RunSummary,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> RunDetail:
    fields = summary.__dict__ | {"params": dict(params), "tags": dict(tags)}
    return RunDetail(**fields, metrics=dict(metrics))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# A run id prefix: at least this many characters (local files and the tracker say the same).
MIN_RUN_ID_PREFIX = 4
_AMBIGUOUS_SHOWN = 5


def run_id_too_short(text: str) -> HybridTuiError:
    """The one line for a run id prefix under `MIN_RUN_ID_PREFIX` characters (local files and
    the tracker say the same)."""
    return HybridTuiError(
        f"run id {text or repr(text)} is too short: give {MIN_RUN_ID_PREFIX} or more "
        f"characters of an id from `{command('runs')}`"
    )


def ambiguous_run_prefix(text: str, matches: list[str]) -> HybridTuiError:
    """The one line for a prefix that several runs start with: the first few, cut long enough
    to tell apart."""
    width = max(8, len(text) + 2)
    shown = [f"{run_id[:width]}…" for run_id in matches[:_AMBIGUOUS_SHOWN]]
    if len(matches) > _AMBIGUOUS_SHOWN:
        shown.append(f"and {len(matches) - _AMBIGUOUS_SHOWN} more")
    return HybridTuiError(
        f"run id prefix {text} is ambiguous: {', '.join(shown)}; give more characters"
    )
