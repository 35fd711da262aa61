"""`hybrid-tui runs` on more runs than a screen holds: the first 50 in the order asked and a line
saying how many there are (`--limit N`, `--all` for more); `--json` gives every run. The filter
and the sort see every run, not only the 50 shown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

RUNS = 55


@pytest.fixture
def many_runs(workdir: Path) -> list[str]:
    """`RUNS` runs named run-00 (oldest) to run-54 (newest); every third one KILLED."""
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tracking.store import experiment_id

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    tracker.create_store()
    client = tracker.client
    experiment = experiment_id(client, "paging", create=True, artifacts=None)
    ids = []
    for index in range(RUNS):
        run = client.create_run(
            experiment, start_time=1_700_000_000_000 + index * 60_000, run_name=f"run-{index:02d}"
        )
        client.set_terminated(run.info.run_id, "KILLED" if index % 3 == 0 else "FINISHED")
        ids.append(run.info.run_id)
    return ids


def names_in(out: str) -> list[str]:
    return [word for line in out.splitlines() for word in line.split() if word.startswith("run-")]


def test_runs_shows_the_newest_fifty_and_says_how_many_there_are(many_runs, run_cli) -> None:
    done = run_cli("runs", check_code=0)
    assert names_in(done.stdout) == [f"run-{index:02d}" for index in range(54, 4, -1)]
    assert "50 of 55 runs shown; --limit N or --all shows more" in done.stdout


def test_limit_and_all(many_runs, run_cli) -> None:
    done = run_cli("runs", "--limit", "3", check_code=0)
    assert names_in(done.stdout) == ["run-54", "run-53", "run-52"]
    assert "3 of 55 runs shown" in done.stdout
    done = run_cli("runs", "--all", check_code=0)
    assert len(names_in(done.stdout)) == RUNS and "shown" not in done.stdout


def test_json_lists_every_run_newest_first(many_runs, run_cli) -> None:
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)
    assert [run["run_id"] for run in listed] == many_runs[::-1]
    limited = json.loads(run_cli("runs", "--json", "-n", "2", check_code=0).stdout)
    assert [run["name"] for run in limited] == ["run-54", "run-53"]


def test_the_sort_and_the_filter_see_every_run_not_only_the_page(many_runs, run_cli) -> None:
    done = run_cli("runs", "--sort", "name", "--limit", "3", check_code=0)
    assert names_in(done.stdout) == ["run-00", "run-01", "run-02"]  # the oldest: past the page
    done = run_cli("runs", "--filter", "status=KILLED", "--asc", "--limit", "2", check_code=0)
    assert names_in(done.stdout) == ["run-00", "run-03"]
    assert "2 of 19 runs shown" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--limit", "0"), "--limit 0: give a number of runs of 1 or more (or --all)"),
        (("--limit", "3", "--all"), "give --limit N or --all, not both"),
    ],
)
def test_a_bad_limit_is_one_line(many_runs, run_cli, args: tuple, says: str) -> None:
    done = run_cli("runs", *args, check_code=2)
    assert done.stderr.strip() == f"error: {says}"
    assert done.stdout == ""
