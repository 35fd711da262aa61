"""`queue add --set KEY=V1,V2`: each combination of the listed values is one job (a grid).

The rule for commas: a comma separates values unless it sits inside brackets, braces or quotes,
so `--set 'data.languages=["de","en"],["ar"]'` is two jobs (two TOML lists) and
`--set 'name="a,b"'` is one. Several `--set` options make the cartesian product, in a stable
order: the first option varies slowest, values in the order given.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hybrid_tui.errors import HybridTuiError

OPENERS = {"[": "]", "{": "}"}


def split_values(text: str) -> list[str]:
    """`0,1,2` -> ["0", "1", "2"]; commas inside [], {} or quotes do not split."""
    values, current, closers, quote = [], [], [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in OPENERS:
            closers.append(OPENERS[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif char == "," and not closers:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    values.append("".join(current).strip())
    return values


def expand_grid(sets: Sequence[str]) -> list[list[str]]:
    """`["train.seed=0,1", "train.lr=1e-5,3e-5"]` -> four override lists (`KEY=VALUE` each)."""
    axes = []
    for text in sets:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HybridTuiError(
                f"--set {text!r}: give KEY=VALUE or KEY=V1,V2,..., e.g. train.seed=0,1,2"
            )
        values = split_values(raw)
        if any(value == "" for value in values):
            raise HybridTuiError(f"--set {text!r}: an empty value between commas; remove it")
        axes.append([f"{key}={value}" for value in values])
    return [list(combination) for combination in itertools.product(*axes)]
