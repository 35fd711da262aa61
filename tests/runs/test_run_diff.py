"""The config diff: the recipe fields that differ between runs, bookkeeping left out."""

from __future__ import annotations

from hybrid_tui.recipe import recipe_from_dict
from hybrid_tui.runs.diff import config_diff


def _params(name: str = "run", **train) -> dict[str, str]:
    return recipe_from_dict({"name": name, "train": train}).flat_params()


def test_only_the_fields_that_differ_side_by_side() -> None:
    diff = config_diff([_params(lr=1.0, seed=1), _params(lr=1e-3, seed=1), _params(seed=1)])
    assert diff == {"train.lr": ["1.0", "0.001", "3e-05"]}


def test_bookkeeping_params_and_the_overrides_tag_are_left_out() -> None:
    one = _params("one", lr=1e-3) | {
        "tracking.run_name": "a",
        "tracking.tags.hybrid_tui.overrides": "x",
    }
    other = _params("other", lr=1e-3) | {
        "tracking.run_name": "b",
        "tracking.experiment": "elsewhere",
    }
    assert "name" in one and one["name"] != other["name"]
    assert config_diff([one, other]) == {}


def test_a_field_one_run_lacks_is_none_there() -> None:
    diff = config_diff([{"train.lr": "0.1", "eval.every": "5"}, {"train.lr": "0.1"}])
    assert diff == {"eval.every": ["5", None]}
