"""Param columns of the run lists (`hybrid-tui runs` and the app's runs table): which recipe
fields are shown beside the figures, under what heading, and how they sort.

Two runs that differ only in lr or seed look the same by name and mix; these columns tell them
apart. `hybrid-tui runs --columns train.lr,train.seed` picks others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hybrid_tui.errors import HybridTuiError

DEFAULT_PARAM_COLUMNS = ("train.lr", "train.batch_size", "train.seed")
LABELS = {"train.lr": "lr", "train.batch_size": "batch", "train.seed": "seed"}


def column_label(key: str) -> str:
    """The heading of a param column: a short name for the usual ones, else the last part."""
    return LABELS.get(key, key.rsplit(".", 1)[-1])


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
                "sampler.mono (`hybrid-tui show RUN --json` lists a run's params)"
            ) from None
    return keys


def param_sort_value(value: str | None) -> tuple:
    """Missing last, numbers as numbers, anything else as text after the numbers."""
    if value is None:
        return (2, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value.lower())


def param_cells(params: dict[str, str], keys: Sequence[str]) -> list[str]:
    return [params.get(key, "") for key in keys]
