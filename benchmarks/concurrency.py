"""Concurrent writers: 4 trainers log to one sqlite store while readers poll it.

Four detached trainers (`jobs.launch`, tiny-random on a generated JSONL file, every step logged,
no evaluation) write to one sqlite tracking store. Meanwhile this process polls the store the way
the TUI does (`Tracker.list_runs` and `Tracker.metric_history(run, "train/loss", after_step)` every
0.5 s) and, unless `--no-ui`, `hybrid-tui ui` (the real MLflow UI, on a free local port) is asked for
the run list and each run's loss history over HTTP every 2 s. After `--duration` seconds every
trainer is cancelled (SIGTERM: checkpoint, end KILLED) and the benchmark checks:
- 'database is locked' reaching a user: in a trainer's log (its stdout/stderr), as a non-zero
  trainer exit code, as an exception in a reader poll, or as a UI error response;
- lost metric points: every step 1..N of `train/loss` is in the store for each run, N being the
  last step the trainer reported in its event file.
Prints one table per side. `--quick`: 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TRAINERS = 4
LOCKED = "database is locked"


def _recipe(folder: Path, data: Path, index: int) -> Path:
    text = f"""name = "concurrency-{index}"

[model]
spec = "tiny-random"
max_query_length = 16
max_passage_length = 16

[data]
source = "jsonl"
dataset = "{data}"

[sampler]
mono = 1.0
cross = 0.0

[train]
batch_size = 8
steps = 1000000
lr = 1e-3
seed = {index}
device = "cpu"
log_every = 1
checkpoint_every = 0

[eval]
datasets = []

[tracking]
experiment = "concurrency"
"""
    path = folder / f"trainer-{index}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _data(folder: Path) -> Path:
    rows = [
        json.dumps({"id": i, "lang": "en", "query": f"question {i}", "passage": f"passage {i}"})
        for i in range(200)
    ]
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _http(url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Ui:
    """`hybrid-tui ui` on a free port, polled like a browser tab on the runs page."""

    def __init__(self, uri: str, log: Path) -> None:
        self.port = c.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.requests = self.errors = self.locked = 0
        self.latencies: list[float] = []
        self.last_errors: list[str] = []
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hybrid_tui",
                "ui",
                "--tracking-uri",
                uri,
                "--port",
                str(self.port),
            ],
            stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.experiment_id: str | None = None

    def ready(self, timeout: float = 180) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _http(f"{self.base}/api/2.0/mlflow/experiments/search", {"max_results": 10})
                return True
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(1)
        return False

    def poll(self) -> None:
        started = time.perf_counter()
        try:
            if self.experiment_id is None:
                found = _http(
                    f"{self.base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=concurrency"
                )
                self.experiment_id = found["experiment"]["experiment_id"]
            runs = _http(
                f"{self.base}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [self.experiment_id], "max_results": 100},
            ).get("runs", [])
            self.requests += 1
            for run in runs:
                run_id = run["info"]["run_id"]
                _http(
                    f"{self.base}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=train/loss"
                )
                self.requests += 1
        except Exception as err:  # noqa: BLE001 - every failure a user would see counts
            text = str(err)
            if isinstance(err, urllib.error.HTTPError):
                text += " " + err.read().decode(errors="replace")[:300]
            self.errors += 1
            self.locked += LOCKED in text
            self.last_errors = (self.last_errors + [text[:200]])[-3:]
        self.latencies.append(time.perf_counter() - started)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.locked += LOCKED in self.log.read_text(errors="replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 s instead of --duration")
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of concurrent load")
    parser.add_argument("--no-ui", action="store_true", help="do not run the MLflow UI reader")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    duration = 60.0 if args.quick else args.duration
    c.setup_env()

    work = Path(tempfile.mkdtemp(prefix="hybrid-tui-concurrency-"))
    os.chdir(work)
    os.environ["HYBRID_TUI_HOME"] = str(work / ".hybrid-tui")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["OMP_NUM_THREADS"] = "1"  # 4 trainers on a few cores: no thread oversubscription
    os.environ["PYTHONWARNINGS"] = "ignore"

    from hybrid_tui import jobs
    from hybrid_tui.events import EventTail
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    tracker.create_store()  # WAL and MLflow's tables before the trainers start together
    data = _data(work)
    ui = None if args.no_ui else Ui(uri, work / "ui.log")
    launched = [jobs.launch(_recipe(work, data, i), data_dir=None) for i in range(TRAINERS)]
    ui_ready = ui.ready() if ui else False
    print(f"{TRAINERS} trainers started; load for {duration:.0f}s (store {uri})", file=sys.stderr)

    polls = poll_errors = poll_locked = 0
    poll_latency: list[float] = []
    after = {job.run_id: -1 for job in launched}
    reader_errors: list[str] = []
    end = time.monotonic() + duration
    next_ui = time.monotonic()
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            tracker.list_runs()
            for run_id in after:
                points = tracker.metric_history(run_id, "train/loss", after_step=after[run_id])
                if points:
                    after[run_id] = points[-1][0]
            polls += 1
        except Exception as err:  # noqa: BLE001 - what the TUI would have to show
            poll_errors += 1
            poll_locked += LOCKED in str(err)
            reader_errors = (reader_errors + [f"{type(err).__name__}: {err}"[:200]])[-3:]
        poll_latency.append(time.perf_counter() - started)
        if ui_ready and time.monotonic() >= next_ui:
            ui.poll()
            next_ui = time.monotonic() + 2.0
        time.sleep(0.5)

    for job in launched:
        jobs.cancel(job.run_id, timeout_s=120)
    codes = {}
    for job in launched:
        try:
            _, status = os.waitpid(job.pid, 0)
            codes[job.run_id] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            codes[job.run_id] = None
    if ui:
        ui.stop()

    rows, lost_total, locked_total = [], 0, poll_locked + (ui.locked if ui else 0)
    final = Tracker(uri)
    for job in launched:
        files = RunFiles.for_run(job.run_id)
        steps = [e["step"] for e in EventTail(files.events).read_new() if e["type"] == "step"]
        last = max(steps, default=0)
        stored = [step for step, _ in final.metric_history(job.run_id, "train/loss")]
        missing = sorted(set(range(1, last + 1)) - set(stored))
        log = files.log.read_text(errors="replace") if files.log.exists() else ""
        locked = log.count(LOCKED)
        locked_total += locked
        lost_total += len(missing)
        rows.append(
            [
                job.run_id[:8],
                final.get_run(job.run_id).status,
                str(codes[job.run_id]),
                str(last),
                str(len(stored)),
                str(len(missing)),
                str(locked),
                str(log.count("Traceback")),
            ]
        )
    print()
    print(f"machine: {c.machine()}")
    print(f"duration {duration:.0f}s, {TRAINERS} trainers, store {uri}")
    print()
    print("trainers (exit code after cancel: 0 = clean; status KILLED = cancelled cleanly)")
    c.table(  # prints the table
        ["run", "status", "exit", "steps", "points", "lost", "locked in log", "tracebacks"], rows
    )
    median = statistics.median(poll_latency) if poll_latency else float("nan")
    readers = [
        [
            "TUI-style reader (list_runs + metric_history x4, every 0.5 s)",
            str(polls),
            str(poll_errors),
            str(poll_locked),
            f"{median * 1000:.0f}",
            f"{max(poll_latency, default=0) * 1000:.0f}",
        ]
    ]
    if ui:
        readers.append(
            [
                "mlflow ui (runs/search + get-history x4, every 2 s)"
                + ("" if ui_ready else " [never came up]"),
                str(ui.requests),
                str(ui.errors),
                str(ui.locked),
                f"{statistics.median(ui.latencies) * 1000:.0f}" if ui.latencies else "-",
                f"{max(ui.latencies, default=0) * 1000:.0f}",
            ]
        )
    print()
    print("readers")
    header = ["reader", "polls", "errors", "locked", "median ms", "max ms"]
    c.table(header, readers)
    for text in reader_errors + (ui.last_errors if ui else []):
        print(f"  error: {text}")
    verdict = "PASS" if locked_total == 0 and lost_total == 0 else "FAIL"
    print()
    print(
        f"{verdict}: 'database is locked' reaching a user: {locked_total}; lost points: {lost_total}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "duration_s": duration,
                    "trainers": rows,
                    "readers": readers,
                    "locked": locked_total,
                    "lost": lost_total,
                },
                indent=1,
            )
        )
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
