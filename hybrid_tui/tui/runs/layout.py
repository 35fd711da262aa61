"""How the runs table fits its terminal: the figures keep their width, the name and the mix give
way (cut with …), recomputed on every resize, so an 80-column SSH terminal shows steps to bias
whatever the runs are called and whatever size the terminal had before. Also what tells runs of
one recipe apart (the seed) and whether a run carries the user's tags or note.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.text import Text

from hybrid_tui.runs.labels import NOTE_TAG
from hybrid_tui.tag_rule import RESERVED_PREFIXES

FLEXIBLE = ("name", "mix")  # the text columns that are cut when the figures need the room
MIN_FLEXIBLE = 5  # "smok…": enough to recognise a name


def fit_widths(
    natural: Mapping[str, int], must_show: Sequence[str], budget: int, padding: int = 1
) -> dict[str, int]:
    """Every column's content width: its `natural` one, but the `FLEXIBLE` columns shrink so
    that every column of `must_show` (in table order, the flexible ones among them) fits in
    `budget` terminal cells, each column also taking `2 * padding` (but the last one's right
    padding, a blank). The longer of name and mix
    gives way first, down to `MIN_FLEXIBLE`."""
    fixed = sum(natural[key] for key in must_show if key not in FLEXIBLE)
    room = (
        budget - fixed - 2 * padding * len(must_show) + padding
    )  # the last one's right pad may go
    widths = dict(natural)
    while sum(widths[key] for key in FLEXIBLE) > room:
        widest = max(FLEXIBLE, key=lambda key: widths[key])
        if widths[widest] <= MIN_FLEXIBLE:
            break
        widths[widest] -= 1
    return widths


def cut(text: Text, width: int, keep: str = "") -> Text:
    """`text` in at most `width` cells, ending in … when cut; `keep` (e.g. " s2") is appended
    and never cut, so the part that tells runs apart stays."""
    head = text.copy()
    head.truncate(max(width - len(keep), 1), overflow="ellipsis")
    return head + Text(keep) if keep else head


def seed_suffixes(runs: Iterable[Any]) -> dict[str, str]:
    """ " s0", " s1"… by run id, for runs that share a name with runs of another seed (three
    seeds of one recipe); runs that a name (or name and seed) already tells apart get none."""
    seeds: dict[str, set[str]] = defaultdict(set)
    runs = list(runs)
    for run in runs:
        seeds[run.name].add(run.params.get("train.seed") or "")
    return {
        run.run_id: f" s{run.params['train.seed']}"
        for run in runs
        if len(seeds[run.name]) > 1 and run.params.get("train.seed")
    }


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a user set (`hybrid-tui tag`, t), not MLflow's or the trainer's own."""
    return {key: value for key, value in tags.items() if not key.startswith(RESERVED_PREFIXES)}


def has_labels(tags: Mapping[str, str]) -> bool:
    """Whether the run carries a note or a tag of the user's (the runs table marks it ✎)."""
    return bool(tags.get(NOTE_TAG, "").strip()) or bool(user_tags(tags))


def count_line(total: int, shown: int, marked: int, labelled: bool) -> str:
    """The line under the table: how many runs (of how many, when filtered), how many marked,
    and what ✎ means when a run has it."""
    count = f"{total} runs" if shown == total else f"{shown} of {total} runs (filtered)"
    legend = " · ✎ tags or a note (enter)" if labelled else ""
    return f"{count} · {marked} marked for compare{legend}"
