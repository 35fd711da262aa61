"""The read commands (`runs`, `show`, `compare`) on a sqlite store: what they print, and that they
never import mlflow (~2 s) unless `runs` finds a dead trainer's run to mark FAILED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_tui.jobs import process_start_ticks
from hybrid_tui.run_files import RunFiles
from hybrid_tui.tracking import Tracker

REPO = Path(__file__).resolve().parent.parent

# the command as the console entry runs it, then whether mlflow was imported on the way
COMMAND = """
import sys
from hybrid_tui import cli
sys.argv = ["hybrid-tui", *sys.argv[1:]]
code = 0
try:
    cli.main()
except SystemExit as exit:
    code = exit.code or 0
print("mlflow imported" if "mlflow" in sys.modules else "mlflow not imported", file=sys.stderr)
sys.exit(code)
"""


def _record_trainer(state: Path, run_id: str, pid: int) -> None:
    """The job record a trainer writes (`training_parts.write_job_record`)."""
    files = RunFiles.for_run(run_id, base=state)
    files.root.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "pid": pid, "start_ticks": process_start_ticks(pid)}
    files.job.write_text(json.dumps(record | {"log": str(files.log)}))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _seed(root: Path) -> dict:
    """A store with two evaluated runs and one RUNNING run whose trainer (this process) lives."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = Tracker(uri)
    ids = {}
    for name, value in (("base", 0.4), ("other", 0.5)):
        run_id = tracker.start_run("cli-reads", name, {"hybrid_tui.mix": "mono 1"})
        tracker.log_params(run_id, {"model.spec": "tiny-random", "train.steps": 3})
        metrics = {f"eval/xquad_r/{s}/avg/map": value for s in ("mono", "cross", "multi")}
        metrics |= {"eval/xquad_r/mono/de/map": value, "eval/xquad_r/mono/en/map": value + 0.1}
        metrics |= {f"eval/xquad_r/cross/{x}-{y}/map": value for x in "de en" for y in "de en"}
        tracker.log_metrics(run_id, metrics, 3)
        tracker.end_run(run_id, "FINISHED")
        ids[name] = run_id
    ids["live"] = tracker.start_run("cli-reads", "live", {})
    _record_trainer(root / "state", ids["live"], os.getpid())
    tracker.flush()
    return {"uri": uri, "ids": ids, "root": root}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _seed(tmp_path_factory.mktemp("cli-reads"))


def hybrid_tui(store: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "COLUMNS": "160"}
    env["HYBRID_TUI_HOME"] = str(store["root"] / "state")
    return subprocess.run(
        [sys.executable, "-c", COMMAND, *args],
        capture_output=True,
        text=True,
        cwd=store["root"],
        env=env,
        timeout=300,
    )


def _ok_without_mlflow(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "mlflow not imported", done.stderr
    return done.stdout


def test_runs_lists_every_run_without_importing_mlflow(store: dict) -> None:
    out = _ok_without_mlflow(hybrid_tui(store, "runs"))
    for name, run_id in store["ids"].items():
        assert name in out and run_id[:8] in out
    assert "RUNNING" in out and "FINISHED" in out  # the live trainer's run is left RUNNING
    runs = json.loads(_ok_without_mlflow(hybrid_tui(store, "runs", "--json")))
    assert {run["run_id"] for run in runs} == set(store["ids"].values())


def test_show_and_compare_print_tables_without_importing_mlflow(store: dict) -> None:
    base, other = store["ids"]["base"], store["ids"]["other"]
    shown = _ok_without_mlflow(hybrid_tui(store, "show", base))
    assert f"({base})" in shown and "tiny-random" in shown and "40.0" in shown
    payload = json.loads(_ok_without_mlflow(hybrid_tui(store, "show", base, "--json")))
    assert payload["params"]["model.spec"] == "tiny-random"
    assert payload["metrics"]["eval/xquad_r/mono/en/map"] == pytest.approx(0.5)
    compared = _ok_without_mlflow(hybrid_tui(store, "compare", base, other))
    assert other[:12] in compared and "+10.0" in compared


def test_runs_marks_a_dead_trainers_run_failed(tmp_path: Path) -> None:
    """The one case where `runs` writes (and so imports mlflow)."""
    seeded = _seed(tmp_path)
    tracker = Tracker(seeded["uri"])
    dead = tracker.start_run("cli-reads", "dead", {})
    _record_trainer(tmp_path / "state", dead, _dead_pid())
    done = hybrid_tui(seeded, "runs", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "mlflow imported"
    statuses = {run["run_id"]: run["status"] for run in json.loads(done.stdout)}
    assert statuses[dead] == "FAILED" and statuses[seeded["ids"]["live"]] == "RUNNING"
