"""The one rule for a run's tags, whoever sets them: `hybrid-tui tag`, the runs screen's t key,
or a recipe's `[tracking] tags` (checked when the recipe is read, before any run exists).

MLflow's own rule for keys (letters, digits, `_ - . : /` and spaces; no `..`, leading `/` or other
path tricks; at most 250 characters) would otherwise surface as a long MLflow traceback, and a
sqlite store written directly (`tracking.sqlite_writes`) would not check it at all. Values over
MLflow's 8000 characters are refused rather than cut silently. Keys starting with `mlflow.` or
`hybrid_tui.` are MLflow's and the trainer's own bookkeeping (the run's name, its mix, its device):
a user setting one would overwrite it. Stdlib only, so `recipe.py` can use it at start-up.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection

TAG_KEY_MAX = 250  # MLflow's MAX_ENTITY_KEY_LENGTH
TAG_VALUE_MAX = 8000  # MLflow's MAX_TAG_VAL_LENGTH
RESERVED_PREFIXES = ("mlflow.", "hybrid_tui.")
_KEY_CHARACTERS = re.compile(r"[/\w.\- :]*")  # MLflow's validate_param_and_metric_name (POSIX)


def tag_problem(key: str, value: str, allowed: Collection[str] = ()) -> str | None:
    """What is wrong with the tag `key = value` (None when nothing is): a phrase that names the
    problem and the fix. `allowed` are reserved keys the caller may set after all (the tags
    hybrid-tui itself writes into a recipe it saves)."""
    shown = shown_key(key)
    if not key.strip():
        return "a tag key is empty; give each tag a name (e.g. team=ir)"
    if len(key) > TAG_KEY_MAX:
        return (
            f"tag {shown}: the key has {len(key)} characters, over MLflow's limit of "
            f"{TAG_KEY_MAX}; shorten it"
        )
    if not _KEY_CHARACTERS.fullmatch(key):
        return (
            f"tag {shown}: the key has a character MLflow refuses; use letters, digits, "
            "spaces and _ - . : /"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        return (
            f"tag {shown}: the key reads as a file path ({normal!r}); drop the leading /, "
            "the .. and doubled or trailing slashes"
        )
    if key.startswith(RESERVED_PREFIXES) and key not in allowed:
        return (
            f"tag {shown}: keys starting with mlflow. or hybrid_tui. are the trackers' own; "
            "pick another key"
        )
    return value_problem(value, f"the value of tag {shown}")


def value_problem(value: str, what: str) -> str | None:
    """A value over MLflow's limit (MLflow would cut it without a word); `what` names it."""
    if len(value) > TAG_VALUE_MAX:
        return (
            f"{what} has {len(value)} characters, over MLflow's limit of {TAG_VALUE_MAX} for a "
            "tag value; shorten it"
        )
    return None


def shown_key(key: str) -> str:
    """The key as an error shows it: quoted with escapes (a control character stays visible),
    and cut when long."""
    return repr(key if len(key) <= 40 else key[:40] + "…")
