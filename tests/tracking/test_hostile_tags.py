"""Hostile or careless tags (issue 20, items 6 and 7): one rule (`tag_rule`) for `hybrid-tui tag`
and a recipe's `[tracking] tags`.

`hybrid-tui tag RUN ../x=1` used to print a 63-line MLflow traceback; a value over MLflow's 8000
characters was cut while the command said `tagged`; a recipe could overwrite the run's own
`hybrid_tui.mix`. Now each is one line, exit 2, and nothing written (no tag, no run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import apply_overrides, recipe_from_dict
from tests.conftest import REPO, nothing_half_written, one_error_line, one_line, tracked_runs

SMOKE = REPO / "recipes" / "smoke.toml"

# (key, value, what the one line must say)
BAD_TAGS = {
    "path-up": ("../x", "1", ["'../x'", "reads as a file path", "drop the leading /"]),
    "control-character": ("a\x01b", "1", ["'a\\x01b'", "character MLflow refuses"]),
    "semicolon": ("a;b", "1", ["'a;b'", "character MLflow refuses", "_ - . : /"]),
    "key-300-characters": ("k" * 300, "1", ["300 characters", "limit of 250", "shorten it"]),
    "value-8001-characters": ("long", "v" * 8001, ["'long'", "8001 characters", "8000"]),
    "trainer-own": ("hybrid_tui.mix", "x", ["'hybrid_tui.mix'", "trackers' own"]),
    "mlflow-own": ("mlflow.user", "x", ["'mlflow.user'", "trackers' own"]),
}


@pytest.fixture
def a_run(workdir: Path) -> str:
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    return tracker.start_run("tags", "tagged-run", {"team": "ir"})


def _tags(run_id: str) -> dict[str, str]:
    from hybrid_tui.tracking import Tracker

    return Tracker(os.environ["MLFLOW_TRACKING_URI"]).get_run(run_id).tags


@pytest.mark.parametrize("case", list(BAD_TAGS))
def test_a_bad_tag_is_one_line_and_nothing_is_written(case: str, a_run: str, run_cli) -> None:
    """A good pair beside the bad one is not written either: all are checked first."""
    key, value, says = BAD_TAGS[case]
    before = _tags(a_run)
    done = run_cli("tag", a_run[:8], "stage=2", f"{key}={value}", timeout=120)
    line = one_error_line(done)
    assert all(part in line for part in says), line
    assert len(line) < 300, line  # a long key or value is not echoed whole
    assert _tags(a_run) == before


def test_a_good_tag_is_still_written(a_run: str, run_cli) -> None:
    run_cli("tag", a_run[:8], "stage=2", "team name=ir/eval", check_code=0, timeout=120)
    tags = _tags(a_run)
    assert tags["stage"] == "2" and tags["team name"] == "ir/eval"


def test_a_note_over_the_limit_is_refused_not_cut(a_run: str, run_cli) -> None:
    done = run_cli("note", a_run[:8], "n" * 8001, timeout=120)
    line = one_error_line(done)
    assert "the note has 8001 characters" in line and "8000" in line, line
    assert "mlflow.note.content" not in _tags(a_run)


# ---------------------------------------------------------------- the same rule in a recipe


@pytest.mark.parametrize("case", list(BAD_TAGS))
def test_a_bad_recipe_tag_is_one_line(case: str) -> None:
    key, value, says = BAD_TAGS[case]
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict({"tracking": {"tags": {key: value}}}, source="recipe r.toml")
    one_line(err, "recipe r.toml", "tracking.tags", *says)


def test_a_recipe_cannot_overwrite_the_runs_mix_through_set() -> None:
    with pytest.raises(HybridTuiError) as err:
        apply_overrides({}, ["tracking.tags.hybrid_tui.mix=mono"], source="recipe r.toml")
    one_line(err, "tracking.tags", "'hybrid_tui.mix'", "trackers' own")


def test_a_recipe_with_a_reserved_tag_creates_no_run(run_cli, workdir: Path) -> None:
    text = SMOKE.read_text(encoding="utf-8") + 'tags = { "hybrid_tui.mix" = "mono" }\n'
    (workdir / "sneaky.toml").write_text(text, encoding="utf-8")
    done = run_cli("train", "sneaky.toml", timeout=120)
    line = one_error_line(done)
    assert "sneaky.toml" in line and "'hybrid_tui.mix'" in line, line
    assert not (workdir / "mlflow.db").exists() or tracked_runs(workdir) == []
    nothing_half_written(workdir)


def test_a_recipe_hybrid_tui_saved_loads_again() -> None:
    """The tags hybrid-tui itself writes into a recipe (the --set record, a study's labels)
    are allowed there, so a run's saved recipe.toml can be trained again."""
    import tomllib

    from hybrid_tui.recipe import OVERRIDES_TAG
    from hybrid_tui.study.plan import PlannedRun, recipe_for

    recipe = apply_overrides({"tracking": {"tags": {"team": "ir"}}}, ["train.lr=1e-4"])
    study = recipe_for(recipe, "s1", PlannedRun("hybrid", 1, 0.5, 0.5))
    again = recipe_from_dict(tomllib.loads(study.to_toml()))
    assert again.tracking.tags[OVERRIDES_TAG] == "train.lr=0.0001"
    assert again.tracking.tags["hybrid_tui.study"] == "s1" and again.tracking.tags["team"] == "ir"
