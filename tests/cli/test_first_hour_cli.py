"""Issue 27, the command line in a new user's first hour: `runs` piped or on a narrow terminal
never prints a figure other than the stored one, `show` carries tags and the note, `queue add`
on a CPU-only box speaks of CPU slots, and the trainer's console shows the evaluation advancing.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.tui.test_tui import seed_run

LONG_NAME = "a-very-long-run-name-for-the-xlmr-large-hybrid-mix-sweep-seed-0"
FIGURE_COLUMNS = ("steps", "mono", "cross", "multi", "bias", "best", "at")


@pytest.fixture
def planted(workdir) -> dict[str, str]:
    """Two runs: one with a long name, a 4-digit bias and a 100,000-step history, one plain."""
    from hybrid_tui.tracking import Tracker

    uri = os.environ["MLFLOW_TRACKING_URI"]
    big = seed_run(uri, LONG_NAME, lr=3e-5)
    small = seed_run(uri, "short", lr=1e-4)
    tracker = Tracker(uri)
    tracker.log_metrics(
        big,
        {"eval/xquad_r/bias/avg/rank_distance": 1685.4, "eval/xquad_r/multi/avg/map": 0.87654},
        100000,
    )
    tracker.set_tags(big, {"team": "ir", "mlflow.note.content": "first try\nlr too low?"})
    tracker.flush()
    return {"big": big, "small": small}


def _stored_cells(run_id: str) -> dict[str, str]:
    """Each column's cell as the table formats the stored values."""
    from hybrid_tui.tracking import Tracker

    run = next(
        run
        for run in Tracker(os.environ["MLFLOW_TRACKING_URI"]).list_runs()
        if run.run_id == run_id
    )
    percent = {key: f"{100 * run.headline[key]:.1f}" for key in ("mono", "cross", "multi")}
    return {
        "steps": str(run.steps),
        **percent,
        "bias": f"{run.headline['bias']:.0f}",
        "best": f"{100 * run.best_multi:.1f}",
        "at": str(run.best_multi_step),
        **{key: value for key, value in run.params.items()},
        "lr": run.params["train.lr"],
        "batch": run.params["train.batch_size"],
        "seed": run.params["train.seed"],
    }


def _check_table(out: str, planted: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every figure printed equals the stored one; returns the header's columns after `mix` and
    the lines after the table (the note)."""
    lines = out.splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["run", "name"])
    header = lines[header_at].split()
    tail = header[header.index("mix") + 1 :]
    for run_id in planted.values():
        line = next(line for line in lines if line.strip().startswith(run_id[:8]))
        words = line.split()
        stored = _stored_cells(run_id)
        cells = dict(zip(reversed(tail), reversed(words), strict=False))
        for column, cell in cells.items():
            if column != "started":  # two words ("12-03 08:32"), neither a stored figure
                assert cell == stored[column], (column, line)
    return tail, lines[header_at + 2 :]


@pytest.mark.parametrize("columns", [None, "80"])
def test_runs_piped_never_prints_a_figure_other_than_the_stored_one(
    planted, run_cli, monkeypatch, columns
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    done = run_cli("runs", check_code=0)
    tail, after = _check_table(done.stdout, planted)
    assert tail == ["started", "lr", "batch", "seed", *FIGURE_COLUMNS]  # piped: every column
    assert LONG_NAME in done.stdout and "1685" in done.stdout
    assert not [line for line in after if "hidden" in line]


def _runs_on_a_terminal(width: int, columns: str | None = None) -> str:
    """`hybrid-tui runs` as a terminal `width` cells wide shows it (in process: rich is told the
    output is a terminal)."""
    from rich.console import Console

    from hybrid_tui.cli import output as cli_output

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    original = cli_output._console
    cli_output._console = lambda: console
    try:
        cli_output.list_runs(os.environ["MLFLOW_TRACKING_URI"], None, False, columns)
    finally:
        cli_output._console = original
    return buffer.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 130, 200])
@pytest.mark.parametrize("columns", [None, "sampler.mono,train.lr"])
def test_runs_on_a_narrow_terminal_drops_columns_with_a_note(planted, width, columns) -> None:
    out = _runs_on_a_terminal(width, columns)
    assert max(len(line) for line in out.splitlines()) <= width
    tail, after = _check_table(out, planted)
    params = ["lr", "batch", "seed"] if columns is None else ["sampler.mono", "lr"]
    every = ["started", *params, *FIGURE_COLUMNS]
    hidden = [column for column in every if column not in tail]
    note = " ".join(after)
    if hidden:
        counted = re.search(r"(\d+) columns? hidden at (\d+) columns: ([^(]*)\(", note)
        assert counted, note
        assert int(counted[2]) == width
        named = {name.strip() for name in counted[3].split(",")} - {"model", "status"}
        assert named == set(hidden), note
    else:
        assert "hidden" not in note
    assert {"mono", "cross", "multi", "bias"} <= set(tail)  # the mAP columns are never pushed off
    if columns is not None:
        assert "sampler.mono" in tail or "sampler.mono" in note  # not labelled like the figure
        assert tail.count("mono") == 1


@pytest.mark.parametrize("width", [80, 100, 150, 200])
def test_runs_cuts_only_name_or_model_and_only_when_too_narrow(planted, width) -> None:
    """Status and mix are whole (the mix short below 110 columns); the name is whole, or its
    first 12 cells and `…` when the terminal is too narrow for it."""
    out = _runs_on_a_terminal(width)
    line = next(line for line in out.splitlines() if planted["big"][:8] in line)
    mix = "α.50" if width < 110 else "hybrid α=0.50"
    assert "  FINISHED  " in line and f"  {mix}  " in line, line
    name = line.split()[1]
    assert name == LONG_NAME or (name.endswith("…") and LONG_NAME.startswith(name[:-1])), line
    assert len(name) >= 12, line
    if width == 200:
        assert name == LONG_NAME


def test_show_json_carries_tags_and_note(planted, run_cli) -> None:
    payload = json.loads(run_cli("show", planted["big"][:8], "--json", check_code=0).stdout)
    assert payload["tags"] == {"team": "ir"}  # not mlflow.* or hybrid_tui.* bookkeeping
    assert payload["note"] == "first try\nlr too low?"
    plain = json.loads(run_cli("show", planted["small"][:8], "--json", check_code=0).stdout)
    assert (plain["tags"], plain["note"]) == ({}, "")


def test_show_prints_tags_and_note(planted, run_cli) -> None:
    lines = run_cli("show", planted["big"][:8], check_code=0).stdout.splitlines()
    assert "tags: team=ir" in lines
    at = lines.index("note: first try")
    assert lines[at + 1] == "lr too low?"
    assert "hybrid_tui." not in "\n".join(lines) and "mlflow." not in "\n".join(lines)


@pytest.mark.parametrize("has_gpu", [False, True])
def test_queue_add_names_cpu_slots_on_a_machine_without_gpu(
    workdir, monkeypatch, capsys, has_gpu
) -> None:
    from hybrid_tui import devices
    from hybrid_tui.cli.queue_output import print_added, print_jobs
    from hybrid_tui.jobs.queue_store import JobStore
    from hybrid_tui.queue.submit import queue_recipe_files

    reading = devices.GpuReading(0, "NVIDIA H200", 0.0, 0.0, 143000.0, None, None)
    monkeypatch.setattr(devices, "gpu_readings", lambda indices=None: [reading] if has_gpu else [])
    print_added(queue_recipe_files([str(REPO / "recipes" / "smoke.toml")]))
    said = capsys.readouterr().err
    assert ("(1 GPU, priority 0)" if has_gpu else "(1 CPU slot, priority 0)") in said
    print_jobs(JobStore().jobs(), None, json_output=True)
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    assert job["gpus"] == (1 if has_gpu else 0)
    assert job.get("cpu_slots") == (None if has_gpu else 1)


@pytest.mark.slow
def test_train_console_shows_the_evaluation_advancing(run_cli, data_root: Path) -> None:
    """Piped (a log, the demo's console): after the last step, the encoding and scoring are
    reported as they go, not minutes of silence."""
    smoke = str(REPO / "recipes" / "smoke.toml")
    done = run_cli(
        "train", smoke, "--set", "train.steps=4", "--data-dir", str(data_root), check_code=0
    )
    lines = done.stdout.splitlines()
    last_step = next(i for i, line in enumerate(lines) if line.startswith("step 4/4"))
    after = lines[last_step + 1 :]
    encoding = [line for line in after if line.startswith("Encoding xquad-r: ")]
    assert len(encoding) >= 2, done.stdout  # its start and its end at least
    done_count, total = encoding[-1].rsplit(" ", 1)[1].split("/")
    assert done_count == total and int(total) > 0
    assert any(line.startswith("Scoring xquad-r: ") for line in after), done.stdout
