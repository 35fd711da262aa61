"""`hybrid-tui compare`'s config diff, `runs --columns`, `tag`, `note` and `delete`, as a user
runs them (`python -m hybrid_tui ...` in a work dir with its own store)."""

from __future__ import annotations

import json

import pytest

from tests.test_tui import seed_run


@pytest.fixture
def lr_runs(workdir) -> list[str]:
    import os

    uri = os.environ["MLFLOW_TRACKING_URI"]
    return [seed_run(uri, "lr-one", lr=1.0), seed_run(uri, "lr-small", lr=1e-3)]


def test_compare_json_holds_the_differing_recipe_fields(lr_runs, run_cli) -> None:
    done = run_cli("compare", lr_runs[0][:8], lr_runs[1][:8], "--json", check_code=0)
    payload = json.loads(done.stdout)
    assert payload["config_diff"] == {"train.lr": ["1.0", "0.001"]}


def test_compare_prints_the_config_diff_table(lr_runs, run_cli) -> None:
    done = run_cli("compare", *lr_runs, check_code=0)
    lines = done.stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if line.strip() == "config diff")
    table = "\n".join(lines[title : title + 6])
    assert f"lr-one {lr_runs[0][:8]}" in table and f"lr-small {lr_runs[1][:8]}" in table
    rows = [line.split() for line in lines[title:]]
    assert ["train.lr", "1.0", "0.001"] in rows
    assert "sampler.mono" not in done.stdout  # the same in both runs: not in the diff
