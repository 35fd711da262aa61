"""Param columns of the run lists (`hybrid-tui runs` and the app's runs table): which recipe
fields are shown beside the figures, under what heading, and how they sort.

Two runs that differ only in lr or seed look the same by name and mix; these columns tell them
apart. `hybrid-tui runs --columns train.lr,train.seed` picks others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError

DEFAULT_PARAM_COLUMNS = ("train.lr", "train.batch_size", "train.seed")
LABELS = {"train.lr": "lr", "train.batch_size": "batch", "train.seed": "seed"}


def column_label(key: str) -> str:
    """The heading of a param column: a short name for the usual ones, else the whole key
    (`sampler.mono`, never `mono`: that is the headline figure's column)."""
    return LABELS.get(key, key)


def parse_columns(text: str, runs: Iterable = ()) -> tuple[str, ...]:
    """`"train.lr,train.seed"` → the param keys, checked: each is a recipe field or a param some
    run has; anything else is one line naming it."""
    from hybrid_tui.recipe import check_override_key

    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    if not keys:
        raise HybridTuiError(
            "--columns is empty: give param keys separated by commas, e.g. train.lr,train.seed"
        )
    logged = {key for run in runs for key in run.params}
    for key in keys:
        if key in logged:
            continue
        try:
            check_override_key(key)
        except HybridTuiError:
            raise HybridTuiError(
                f"--columns: no param {key!r}; give recipe keys such as train.lr, train.seed, "
                f"sampler.mono (`{command('show RUN --json')}` lists a run's params)"
            ) from None
    return keys


def param_sort_value(value: str | None) -> tuple:
    """(missing, then numbers as numbers before text)."""
    if value is None:
        return (True, 0, 0.0, "")
    try:
        return (False, 0, float(value), "")
    except ValueError:
        return (False, 1, 0.0, value.lower())


FIGURES = ("mono", "cross", "multi", "bias")
SORT_KEYS = ("run", "name", "status", "model", "mix", "steps", *FIGURES, "best", "at", "started")
TEXT_KEYS = ("run", "name", "status", "model", "mix")


def sort_key(run: Any, column: str) -> tuple:
    """`(missing, ...)` for a column (a `SORT_KEYS` name or a param key): numbers as numbers,
    text case-insensitively."""
    if column in FIGURES:
        value = (run.headline or {}).get(column)
    elif column in ("steps", "best", "at", "started"):
        attribute = {"best": "best_multi", "at": "best_multi_step", "started": "start_time"}
        value = getattr(run, attribute.get(column, column))
    elif column in TEXT_KEYS:
        return (False, (run.run_id if column == "run" else str(getattr(run, column) or "")).lower())
    else:
        return param_sort_value(run.params.get(column))
    return (value is None, value if value is not None else 0)


def sorted_runs(runs: list, column: str, descending: bool | None = None) -> list:
    """Runs sorted by a column (missing values last either way); figures, steps and start time
    default to descending, text to ascending."""
    column = {label: key for key, label in LABELS.items()}.get(column, column)  # lr: train.lr
    if column not in SORT_KEYS and not any(column in run.params for run in runs):
        from hybrid_tui.recipe import check_override_key

        try:
            check_override_key(column)
        except HybridTuiError:
            raise HybridTuiError(
                f"--sort: unknown column {column!r}; one of {', '.join(SORT_KEYS)}, lr, batch, "
                "seed, or a param key such as sampler.mono"
            ) from None
    if descending is None:
        descending = column not in TEXT_KEYS
    keys = {run.run_id: sort_key(run, column) for run in runs}
    present = [run for run in runs if not keys[run.run_id][0]]
    missing = [run for run in runs if keys[run.run_id][0]]
    present.sort(key=lambda run: keys[run.run_id][1:], reverse=descending)
    return present + missing  # runs without the value last, either way


def param_cells(params: dict[str, str], keys: Sequence[str]) -> list[str]:
    return [params.get(key, "") for key in keys]


_MIX_PART = re.compile(r"\b(mono|cross|multi) (\d*\.?\d+)")
_INITIAL = {"mono": "m", "cross": "c", "multi": "x"}


def compact_mix(label: str) -> str:
    """The mix label for narrow terminals: "mono 0.58 / cross 0.25 / multi 0.17" → "m.58 c.25
    x.17", "hybrid α=0.80" → "α.80", " +schedule" → "+s"; a label it does not know stays."""
    short = label.replace(" +schedule", " +s")
    if _MIX_PART.search(short):
        parts = [
            _INITIAL[name] + _no_leading_zero(value) for name, value in _MIX_PART.findall(short)
        ]
        return " ".join(parts) + (" +s" if short.endswith("+s") else "")
    hybrid = re.match(r"hybrid α=(\d*\.?\d+)(.*)$", short)
    if hybrid:
        return "α" + _no_leading_zero(hybrid[1]) + hybrid[2]
    return short


def _no_leading_zero(value: str) -> str:
    return value[1:] if value.startswith("0.") else value
