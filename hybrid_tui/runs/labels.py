"""Tags and a free-text note on a run, and which runs may be deleted: what `hybrid-tui tag`,
`note` and `delete` and the runs screen's t, N and d keys share.

Both are MLflow tags: the note is `mlflow.note.content`, the tag the MLflow UI shows as the
run's description. Writing goes through the `Tracker` (and so imports MLflow).
"""

from __future__ import annotations

from collections.abc import Iterable

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tag_rule import RESERVED_PREFIXES, tag_problem, value_problem

NOTE_TAG = "mlflow.note.content"


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a user set (`hybrid-tui tag`, a recipe's `tracking.tags`), without MLflow's and
    the trainer's own bookkeeping, sorted by key."""
    return {key: tags[key] for key in sorted(tags) if not key.startswith(RESERVED_PREFIXES)}


def run_note(tags: dict[str, str]) -> str:
    """The run's note ('' when it has none)."""
    return tags.get(NOTE_TAG, "")


def parse_tags(pairs: Iterable[str]) -> dict[str, str]:
    """`["team=ir", "stage=try 2"]` → `{"team": "ir", "stage": "try 2"}`; anything else is one
    line naming the bad pair. Every pair is checked (`tag_rule`) before any is written."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise HybridTuiError(f"tag {pair!r} is not KEY=VALUE (e.g. team=ir)")
        if problem := tag_problem(key, value):
            note = f" (the note has its own command: {command('note RUN TEXT')})"
            raise HybridTuiError(problem + (note if key.startswith(RESERVED_PREFIXES) else ""))
        if key in tags:
            raise HybridTuiError(f"tag {key!r} is given twice; give each key once")
        tags[key] = value
    if not tags:
        raise HybridTuiError("give one or more KEY=VALUE tags (e.g. team=ir)")
    return tags


def tag_run(tracker, run_id: str, tags: dict[str, str]) -> str:
    """Set the tags on the run (an id or a unique prefix); returns the whole id."""
    run_id = tracker.resolve_run_id(run_id)
    tracker.set_tags(run_id, tags)
    tracker.flush()
    return run_id


def note_run(tracker, run_id: str, text: str) -> str:
    """Set the run's note (MLflow's description; an empty text clears it)."""
    if problem := value_problem(text, "the note"):
        raise HybridTuiError(problem)
    return tag_run(tracker, run_id, {NOTE_TAG: text})


def deletable(tracker, run_ids: Iterable[str]) -> list:
    """The runs (`RunDetail`s) the ids name, every one checked before any is deleted: unknown,
    ambiguous or still RUNNING (its trainer would go on writing) is one line."""
    details = []
    for run_id in run_ids:
        detail = tracker.get_run(run_id)
        if detail.status == "RUNNING":
            raise HybridTuiError(
                f"run {detail.run_id[:8]} ({detail.name}) is still RUNNING; stop it first "
                f"({command('cancel ' + detail.run_id[:8])}), then delete it"
            )
        if detail.run_id not in {d.run_id for d in details}:
            details.append(detail)
    return details
