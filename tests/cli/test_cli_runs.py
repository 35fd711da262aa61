"""`hybrid-tui compare`'s config diff, `runs --columns`, `tag`, `note` and `delete`, as a user
runs them (`python -m hybrid_tui ...` in a work dir with its own store)."""

from __future__ import annotations

import json

import pytest

from hybrid_tui.command_name import command
from tests.tui.test_tui import seed_run


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


def _header_and_rows(out: str, run_ids: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The header's columns after `mix`, and each run's cells under them (aligned from the right:
    the mix label has spaces, every cell after it is one word)."""
    lines = [line.split() for line in out.splitlines() if line.split()]
    header = next(words for words in lines if words[:2] == ["run", "name"])
    tail = header[header.index("mix") + 1 :]
    rows = {words[0]: words[-len(tail) :] for words in lines}
    return tail, {run_id: rows[run_id[:8]] for run_id in run_ids}


def test_runs_shows_lr_batch_and_seed_by_default(lr_runs, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # below 110 columns they make way for the figures
    done = run_cli("runs", check_code=0)
    header, rows = _header_and_rows(done.stdout, lr_runs)
    assert {"lr", "batch", "seed", "steps"} <= set(header)
    lr = header.index("lr")
    assert rows[lr_runs[0]][lr] == "1.0" and rows[lr_runs[1]][lr] == "0.001"
    assert rows[lr_runs[0]][header.index("batch")] == "16"


def test_runs_columns_picks_the_params(lr_runs, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    done = run_cli("runs", "--columns", "sampler.mono,train.lr", check_code=0)
    header, rows = _header_and_rows(done.stdout, lr_runs)
    assert "sampler.mono" in header and "batch" not in header
    # the param's column keeps its dotted name: "mono" alone is the headline figure's
    assert rows[lr_runs[0]][header.index("sampler.mono")] == "0.5"
    assert rows[lr_runs[1]][header.index("lr")] == "0.001"


def test_runs_columns_names_an_unknown_param(lr_runs, run_cli) -> None:
    done = run_cli("runs", "--columns", "train.lr,train.speed", check_code=2)
    assert done.stderr.strip().splitlines() == [
        "error: --columns: no param 'train.speed'; give recipe keys such as train.lr, "
        f"train.seed, sampler.mono (`{command('show RUN --json')}` lists a run's params)"
    ]
    assert done.stdout == ""


def _evaluated_twice(uri: str, run_id: str, earlier: float, step: int) -> None:
    """An earlier evaluation (at `step`) whose multilingual mAP is `earlier`."""
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    tracker.log_metrics(run_id, {"eval/xquad_r/multi/avg/map": earlier}, step)
    tracker.flush()


def test_runs_shows_the_best_multilingual_map_and_its_step(lr_runs, run_cli, monkeypatch) -> None:
    import os

    monkeypatch.setenv("COLUMNS", "160")
    _evaluated_twice(os.environ["MLFLOW_TRACKING_URI"], lr_runs[0], 0.9, 5)
    done = run_cli("runs", check_code=0)
    header, rows = _header_and_rows(done.stdout, lr_runs)
    best, at, multi = header.index("best"), header.index("at"), header.index("multi")
    assert (rows[lr_runs[0]][best], rows[lr_runs[0]][at]) == ("90.0", "5")
    assert rows[lr_runs[0]][multi] == "35.0"  # the latest value stays in multi
    assert rows[lr_runs[1]][best] == rows[lr_runs[1]][multi] and rows[lr_runs[1]][at] == "20"
    listed = {run["run_id"]: run for run in json.loads(run_cli("runs", "--json").stdout)}
    assert listed[lr_runs[0]]["best_multi"] == pytest.approx(0.9)
    assert listed[lr_runs[0]]["best_multi_step"] == 5


def test_runs_filter_keeps_the_matching_runs(lr_runs, run_cli) -> None:
    expression = "metrics.`eval/xquad_r/multi/avg/map` > 0.3 and params.`train.lr` = '0.001'"
    listed = json.loads(run_cli("runs", "--filter", expression, "--json", check_code=0).stdout)
    assert [run["run_id"] for run in listed] == [lr_runs[1]]
    shown = run_cli("runs", "--filter", "lr=1.0", check_code=0).stdout
    assert lr_runs[0][:8] in shown and lr_runs[1][:8] not in shown
    none = run_cli("runs", "--filter", "multi>99", check_code=0).stdout
    assert none.strip() == "no run of 2 matches the filter multi>99"


def test_a_bad_filter_is_one_line_and_exit_2(lr_runs, run_cli) -> None:
    done = run_cli("runs", "--filter", "params.`train.lr` > 1", check_code=2)
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: filter: params compare with =, !=, LIKE, ILIKE or IN, not > at '1'; e.g. "
        "metrics.`eval/xquad_r/multi/avg/map` > 0.5 and params.`train.lr` = '0.001', or the "
        "short form multi>50 lr=1e-3 (figures as the tables show them: mAP x 100)"
    ]


def test_runs_sort_both_ways(lr_runs, run_cli) -> None:
    def order(*args: str) -> list[str]:
        listed = json.loads(run_cli("runs", "--json", *args, check_code=0).stdout)
        return [run["run_id"] for run in listed]

    assert order("--sort", "lr") == [lr_runs[0], lr_runs[1]]  # figures: largest first
    assert order("--sort", "lr", "--asc") == [lr_runs[1], lr_runs[0]]
    assert order("--sort", "name", "--desc") == [lr_runs[1], lr_runs[0]]  # lr-small, lr-one
    assert order("--sort", "name") == [lr_runs[0], lr_runs[1]]
    assert order("--asc") == [lr_runs[0], lr_runs[1]]  # oldest first
    done = run_cli("runs", "--sort", "speed", check_code=2)
    assert done.stderr.startswith("error: --sort: unknown column 'speed'")


def _tracker():
    import os

    from hybrid_tui.tracking import Tracker

    return Tracker(os.environ["MLFLOW_TRACKING_URI"])


def test_tag_and_note_are_mlflow_tags(lr_runs, run_cli) -> None:
    done = run_cli("tag", lr_runs[0][:8], "team=ir", "stage=try 2", check_code=0)
    assert done.stdout.strip() == f"tagged {lr_runs[0][:8]}: team=ir, stage=try 2"
    run_cli("note", lr_runs[0][:6], "lr 1.0: the loss never moved", check_code=0)
    tags = _tracker().get_run(lr_runs[0]).tags
    assert tags["team"] == "ir" and tags["stage"] == "try 2"
    assert tags["mlflow.note.content"] == "lr 1.0: the loss never moved"  # the MLflow UI's note
    found = run_cli("runs", "--filter", "tags.team = 'ir'", "--json", check_code=0).stdout
    assert [run["run_id"] for run in json.loads(found)] == [lr_runs[0]]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["team"], "error: tag 'team' is not KEY=VALUE (e.g. team=ir)"),
        (["mlflow.user=me"], "error: tag 'mlflow.user': keys starting with mlflow. or"),
        (["a=1", "a=2"], "error: tag 'a' is given twice; give each key once"),
    ],
)
def test_a_bad_tag_is_one_line_and_nothing_is_written(lr_runs, run_cli, args, says) -> None:
    done = run_cli("tag", lr_runs[0], *args, check_code=2)
    assert done.stderr.startswith(says) and len(done.stderr.strip().splitlines()) == 1
    assert "a" not in _tracker().get_run(lr_runs[0]).tags


def test_delete_asks_first_unless_yes(lr_runs, run_cli, workdir) -> None:
    import subprocess
    import sys

    def delete(*args: str, answer: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hybrid_tui", "delete", *args],
            input=answer,
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=120,
        )

    kept = delete(lr_runs[0][:8], answer="n\n")
    assert kept.returncode == 1 and "nothing deleted" in kept.stdout
    assert f"delete {lr_runs[0][:8]} (lr-one, FINISHED)?" in kept.stdout
    assert len(_tracker().list_runs()) == 2
    no_answer = delete(lr_runs[0][:8], answer="")
    assert no_answer.returncode == 2 and "nothing deleted: no answer" in no_answer.stderr
    gone = delete(lr_runs[0][:8], answer="y\n")
    assert gone.returncode == 0 and f"deleted {lr_runs[0][:8]} (lr-one" in gone.stdout
    assert [run.run_id for run in _tracker().list_runs()] == [lr_runs[1]]
    run_cli("delete", lr_runs[1], "--yes", check_code=0)
    assert _tracker().list_runs() == []


def test_delete_refuses_a_running_run_and_deletes_none(lr_runs, run_cli, workdir) -> None:
    import os

    from tests.cli.test_cli_reads import _record_trainer

    live = seed_run(os.environ["MLFLOW_TRACKING_URI"], "live", status="RUNNING")
    _record_trainer(workdir / ".hybrid-tui", live, os.getpid())  # its trainer: this process
    done = run_cli("delete", lr_runs[0], live[:8], "--yes", check_code=2)
    assert done.stderr.strip() == (
        f"error: run {live[:8]} (live) is still RUNNING; stop it first "
        f"({command('cancel ' + live[:8])}), then delete it"
    )
    assert len(_tracker().list_runs()) == 3  # the finished one was not deleted either
