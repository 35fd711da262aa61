"""What differs between runs' recipes: the params (recipe fields) whose values are not the same in
every run, side by side. `hybrid-tui compare` prints and returns it; the app's Compare shows it.

Bookkeeping params, which say where a run was tracked rather than how it was trained, are left
out: `name` and `tracking.*` (experiment, run name, store, tags, and so the `--set` overrides
tag, which repeats the fields that the diff already shows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table

from hybrid_tui.display_text import plain
from hybrid_tui.tracking.records import short_id

BOOKKEEPING_PARAMS = frozenset({"name"})
BOOKKEEPING_PREFIXES = ("tracking.",)


def is_bookkeeping(key: str) -> bool:
    return key in BOOKKEEPING_PARAMS or key.startswith(BOOKKEEPING_PREFIXES)


UNSET_PARAM = "None"
"""How a recipe field left unset is logged (`Recipe.flat_params` writes `str(None)`)."""


def config_diff(params: Sequence[Mapping[str, str]]) -> dict[str, list[str | None]]:
    """`{"train.lr": ["1.0", "0.001"], ...}`: each recipe param whose value is not the same in
    every run (one value per run, in the order given; None where a run lacks it or left it
    unset, so the table shows `—` and `--json` null, never Python's `None`), keys sorted."""
    keys = sorted({key for run in params for key in run if not is_bookkeeping(key)})
    diff: dict[str, list[str | None]] = {}
    for key in keys:
        values = [None if run.get(key) == UNSET_PARAM else run.get(key) for run in params]
        if len(set(values)) > 1:
            diff[key] = values
    return diff


def config_diff_table(runs: Sequence[Any], diff: Mapping[str, Sequence[str | None]]) -> Any:
    """The "config diff" as a rich table (one row per differing field, a column per run, headed
    by its name and short id), or one line when the recipes agree. The CLI prints it, the app's
    Compare shows it."""
    if not diff:
        return "config diff: the runs' recipes are the same"
    table = Table(title="config diff", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("param", no_wrap=True)
    for run in runs:
        table.add_column(plain(f"{run.name} {short_id(run.run_id)}"), overflow="fold")
    for key, values in diff.items():  # recipe keys and values are the user's text, never markup
        table.add_row(plain(key), *(plain("—" if value is None else value) for value in values))
    return table
