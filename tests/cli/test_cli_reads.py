"""The read commands (`runs`, `show`, `compare`) on a sqlite store: what they print, that they
never import mlflow (~2 s) nor write (a dead trainer's run is shown, `reconcile` marks it), and that they
and `cancel` take the 8-character ids `runs` prints (any unique prefix of 4 or more)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybrid_tui import command_name
from hybrid_tui.runs.files import RunFiles, process_start_ticks
from hybrid_tui.tracking import Tracker
from tests.tracking.test_sqlite_reads import share_a_prefix

REPO = Path(__file__).resolve().parents[2]

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


_HELD_OPEN: list = []  # event streams this process holds, as the trainers it stands in for


def _record_trainer(state: Path, run_id: str, pid: int) -> None:
    """The job record a trainer writes (`training.run_record.write_job_record`). A trainer holds
    its run's event stream open for writing: when this process stands in for one, it does too."""
    files = RunFiles.for_run(run_id, base=state)
    files.root.mkdir(parents=True, exist_ok=True)
    if pid == os.getpid():
        _HELD_OPEN.append(open(files.events, "ab"))  # noqa: SIM115 (held for the session)
    record = {"run_id": run_id, "pid": pid, "start_ticks": process_start_ticks(pid)}
    files.job.write_text(json.dumps(record | {"log": str(files.log)}))


def trainer_stand_in(events: Path, env: dict | None = None) -> subprocess.Popen:
    """A sleeping process that, as a trainer does, holds the run's event stream `events` open for
    writing (what `trainer_process` checks before a signal); returned once it holds it."""
    events.parent.mkdir(parents=True, exist_ok=True)
    holds_events = "import sys, time; f = open(sys.argv[1], 'ab'); time.sleep(600)"
    process = subprocess.Popen([sys.executable, "-c", holds_events, str(events)], env=env)
    fds = Path(f"/proc/{process.pid}/fd")
    for _ in range(1500):
        if any(fd.resolve() == events.resolve() for fd in fds.iterdir()):
            break
        time.sleep(0.02)
    return process


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _seed(root: Path) -> dict:
    """A store with two evaluated runs, one RUNNING run whose trainer (this process) lives, and
    two runs whose ids both start with `beefcafe`."""
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
    twins = [tracker.start_run("cli-reads", f"twin-{i}", {}) for i in range(2)]
    ids["twin-0"], ids["twin-1"] = share_a_prefix(uri, twins, "beefcafe")
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


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    """Exit code 2 and one `error:` line (beside the line `COMMAND` adds), no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    *lines, imported = [line for line in done.stderr.splitlines() if line.strip()]
    assert imported == "mlflow not imported" and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in done.stderr
    return lines[0]


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


def test_runs_shows_a_dead_trainers_run_and_reconcile_marks_it(tmp_path: Path) -> None:
    """`runs` only reads (no mlflow import, no write): a dead trainer's run is shown RUNNING with
    its trainer gone; `reconcile` marks it FAILED and leaves the live trainer's run alone."""
    seeded = _seed(tmp_path)
    tracker = Tracker(seeded["uri"])
    dead = tracker.start_run("cli-reads", "dead", {})
    _record_trainer(tmp_path / "state", dead, _dead_pid())
    live = seeded["ids"]["live"]
    listed = json.loads(_ok_without_mlflow(hybrid_tui(seeded, "runs", "--json")))
    shown = {run["run_id"]: (run["status"], run["trainer_gone"]) for run in listed}
    assert shown[dead] == ("RUNNING", True) and shown[live] == ("RUNNING", False)
    assert "RUNNING · trainer gone" in _ok_without_mlflow(hybrid_tui(seeded, "runs"))
    done = hybrid_tui(seeded, "reconcile", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed"] == [dead]
    statuses = {run["run_id"]: run["status"] for run in json.loads(done_runs(seeded))}
    assert statuses[dead] == "FAILED" and statuses[live] == "RUNNING"


def done_runs(seeded: dict) -> str:
    return _ok_without_mlflow(hybrid_tui(seeded, "runs", "--json"))


def test_show_and_compare_take_the_ids_runs_prints(store: dict) -> None:
    base, other = store["ids"]["base"], store["ids"]["other"]
    assert f"({base})" in _ok_without_mlflow(hybrid_tui(store, "show", base[:8]))
    shown = json.loads(_ok_without_mlflow(hybrid_tui(store, "show", base[:4], "--json")))
    assert shown["run_id"] == base and shown["params"]["model.spec"] == "tiny-random"
    compared = hybrid_tui(store, "compare", base[:8], other[:8], "--json")
    payload = json.loads(_ok_without_mlflow(compared))
    assert payload["base"] == base and list(payload["deltas"]) == [other]


@pytest.mark.parametrize("command", ["show", "compare", "cancel"])
def test_an_ambiguous_or_unknown_id_is_one_error_line(store: dict, command: str) -> None:
    before = ["compare", store["ids"]["base"][:8]] if command == "compare" else [command]
    twins = sorted([store["ids"]["twin-0"], store["ids"]["twin-1"]])
    ambiguous = _one_error_line(hybrid_tui(store, *before, "beefcafe"))
    assert ambiguous == (
        f"error: run id prefix beefcafe is ambiguous: {twins[0][:10]}…, {twins[1][:10]}…; "
        "give more characters"
    )
    unknown = _one_error_line(hybrid_tui(store, *before, "ffff0000"))
    with contextlib.chdir(store["root"]):  # the hint as typed where the command ran
        runs = command_name.command("runs")
    assert unknown == f"error: no run ffff0000 in {store['uri']}; `{runs}` lists them"
    too_short = _one_error_line(hybrid_tui(store, *before, "abc"))
    assert too_short.startswith("error: run id abc is too short: give 4 or more characters")


def test_cancel_takes_a_prefix_and_stops_that_runs_trainer(tmp_path: Path) -> None:
    seeded = _seed(tmp_path)
    run_id = Tracker(seeded["uri"]).start_run("cli-reads", "to-cancel", {})
    trainer = trainer_stand_in(RunFiles.for_run(run_id, base=tmp_path / "state").events)
    try:
        _record_trainer(tmp_path / "state", run_id, trainer.pid)
        done = hybrid_tui(seeded, "cancel", run_id[:8])
        assert _ok_without_mlflow(done).strip() == f"cancelled {run_id}"
        assert trainer.wait(timeout=30) == -signal.SIGTERM
    finally:
        if trainer.poll() is None:
            trainer.kill()
    finished = seeded["ids"]["base"]
    line = _one_error_line(hybrid_tui(seeded, "cancel", finished[:8]))
    assert line == f"error: run {finished} has no live trainer on this machine"
