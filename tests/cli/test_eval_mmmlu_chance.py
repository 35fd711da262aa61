"""`hybrid-tui eval --dataset mmmlu`: chance beside every figure of the table (its last row), and
the per-subject breakdown in `--json` adding up to the averages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mmmlu_fixture import write_copy

EVAL = ("eval", "--dataset", "mmmlu", "--model", "tiny-random")


def test_the_table_has_chance_under_every_column(run_cli, tmp_path: Path) -> None:
    copy = write_copy(tmp_path / "fixture")
    done = run_cli(*EVAL, "--data-dir", str(copy), check_code=0)
    rows = [line.split() for line in done.stdout.splitlines()]
    cells = [[cell for cell in row if cell not in "│┃|"] for row in rows]
    header = next(row for row in cells if row[:3] == ["question", "\\", "options"])
    chance = next(row for row in cells if row[:1] == ["chance"])
    # en, de, sw option columns and multi: one in four; own share: 1/3 of the pool; rank: none.
    assert header[3:] == ["en", "de", "sw", "multi", "own", "share", "rank", "dist."]
    assert chance[1:] == ["0.250", "0.250", "0.250", "0.250", "0.333", "-"]
    assert "multi" in done.stdout and "(chance 0.250)" in done.stdout


def test_per_subject_figures_in_json_add_up_to_the_averages(run_cli, tmp_path: Path) -> None:
    copy = write_copy(tmp_path / "fixture")
    done = run_cli(*EVAL, "--data-dir", str(copy), "--json", check_code=0)
    result = json.loads(done.stdout)
    subjects = result["per_subject"]
    assert {name: s["questions"] for name, s in subjects.items()} == {
        "astronomy": 2,
        "world_religions": 1,
    }
    total = sum(s["questions"] for s in subjects.values())
    for setting in ("mono", "cross", "multi"):
        weighted = sum(s["questions"] * s[setting] for s in subjects.values()) / total
        assert weighted == pytest.approx(result["metrics"][f"eval/mmmlu/{setting}/avg/acc"])
