"""The table `hybrid-tui runs` prints, laid out so that no figure is ever cut.

A cropped figure is a wrong number (bias 1685 shown as `16`), worse than none. So: piped or
redirected, every column is printed whole, however wide the rows get; on a terminal, `name` and
`model` give up characters first (with `…`), then whole columns make way, least important first,
and one note line names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FIGURES = ("steps", "mono", "cross", "multi", "bias", "best", "at")
SHRINKABLE = {"name": 12, "model": 12}  # cut with … down to this many cells, before any drop
NARROW = 110  # below: the mix label is written short ("m.58 c.25 x.17")


@dataclass(frozen=True)
class RunsLayout:
    """Which columns are shown, how wide each is, and the ones that made way."""

    columns: tuple[str, ...]
    widths: dict[str, int]
    hidden: tuple[str, ...]


def column_order(param_keys: Sequence[str]) -> tuple[str, ...]:
    return ("run", "name", "status", "model", "mix", "started", *param_keys, *FIGURES)


def drop_order(param_keys: Sequence[str], chosen: bool) -> tuple[str, ...]:
    """Least important first. Default param columns go before the best/at pair; params the user
    chose (`--columns`) stay longer, but never push the mAP columns off."""
    params = tuple(reversed(param_keys))
    if chosen:
        first = ("started", "model", "at", "best", *params)
    else:
        first = ("started", *params, "model", "at", "best")
    return (*first, "steps", "status", "bias", "cross", "mono", "mix", "multi")


def table_width(widths: Sequence[int]) -> int:
    """The printed width of a SIMPLE_HEAD table without edge padding and with collapsed padding:
    one space at each edge, two between columns."""
    return sum(widths) + 2 * len(widths)


def fit(
    natural: dict[str, int],
    order: Sequence[str],
    drops: Sequence[str],
    width: int | None,
) -> RunsLayout:
    """The layout for a terminal `width` cells wide (None: no limit, every column whole)."""
    shown = [column for column in order if column in natural]
    hidden: list[str] = []
    if width is None:
        return RunsLayout(tuple(shown), dict(natural), ())
    pending = [column for column in drops if column in shown]
    while True:
        widths = {column: natural[column] for column in shown}
        excess = table_width(list(widths.values())) - width
        for column in ("model", "name"):
            if excess <= 0 or column not in widths:
                continue
            floor = min(natural[column], SHRINKABLE[column])
            give = min(excess, widths[column] - floor)
            widths[column] -= give
            excess -= give
        if excess <= 0 or not pending:
            return RunsLayout(tuple(shown), widths, tuple(hidden))
        dropped = pending.pop(0)
        shown.remove(dropped)
        hidden.append(dropped)
