"""Start-up and live-view latency: `hybrid-tui --help`, TUI first frame, trainer-to-screen latency.

1. `hybrid-tui --help` wall time vs `python -c pass`: fresh subprocesses, the two alternated,
   median of N each (the ratio is against the bare interpreter start).
2. TUI time to first frame: in a fresh subprocess, from before `import hybrid_tui.tui.app` until
   `App.run_test()` has mounted the first screen (the Runs screen), vs the same subprocess with a
   bare `textual.app.App` (the floor Textual itself sets); alternated, median of N.
3. Trainer-to-screen latency of the live curve: a separate writer process appends `step` events
   with `EventWriter.write` at random moments; a reader calls `EventTail.read_new()` every `POLL_S`
   (the Live screen's interval, read from `tui/screens/live.py`) and records, per event, the time
   it was seen minus the event's own `t`. Baseline: the same reader polling as fast as it can
   (what the file system and parsing cost alone). Then the same inside the real app: the Live
   screen following a run whose events file the writer fills, the latency being the moment the
   screen's `step` attribute shows the event (headless `run_test`; terminal paint not included).
4. Read commands on a sqlite store of a few runs: `hybrid-tui runs`, `show RUN` and `compare A B`,
   fresh subprocesses, median of N each, against `--help` in the same rounds (the issue's target:
   0.5 s each; they used to pay MLflow's ~2 s import). Whether each loaded mlflow is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

PY = sys.executable
HELP_GOAL_NOTE = "no numeric goal in the issue"

FIRST_FRAME = r"""
import time, asyncio, os, sys
t0 = time.perf_counter()
mode = sys.argv[1]
if mode == "app":
    from hybrid_tui.tui.app import HybridTuiApp
    app = HybridTuiApp(tracking_uri=sys.argv[2])
else:
    from textual.app import App
    from textual.widgets import Static
    class Bare(App):
        def compose(self):
            yield Static("hello")
    app = Bare()
t_import = time.perf_counter() - t0
async def main():
    async with app.run_test() as pilot:
        t_ready = time.perf_counter() - t0
        print(f"{t_import:.4f} {t_ready:.4f} {type(app.screen).__name__}", flush=True)
        await pilot.press("q")
asyncio.run(main())
os._exit(0)
"""

WRITER = r"""
import random, sys, time
from hybrid_tui.events import EventWriter
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
w = EventWriter(path)
time.sleep(0.5)
for i in range(1, n + 1):
    time.sleep(rng.uniform(0.05, 0.6))
    w.write("step", step=i, loss=1.0 / i, lr=3e-5, pairs_per_s=7.0, batch_kind="mono")
w.write("end", status="FINISHED")
w.close()
"""


def help_time(n: int) -> None:
    exe = shutil.which("hybrid-tui", path=str(Path(PY).parent)) or shutil.which("hybrid-tui")
    cmd = [exe, "--help"] if exe else [PY, "-m", "hybrid_tui", "--help"]

    def timed(argv) -> float:
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=os.environ.copy())
        dt = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
        return dt

    timed(cmd)  # warm the page cache and .pyc files once
    res = c.interleave({"help": lambda: timed(cmd), "pass": lambda: timed([PY, "-c", "pass"])}, n)
    h, p = c.median(res["help"]), c.median(res["pass"])
    c.table(
        ["command", "median s", "ratio vs python -c pass", "extra over bare start"],
        [
            [" ".join(Path(x).name for x in cmd), f"{h:.3f}", f"{h / p:.2f}x", f"{h - p:.3f}s"],
            ["python -c pass", f"{p:.3f}", "1.00x", "0"],
        ],
        title=f"1. CLI start-up (median of {n} fresh processes each, alternated)",
    )


READ_TARGET_S = 0.5

LOADS_MLFLOW = r"""
import sys
from hybrid_tui import cli
sys.argv = ["hybrid-tui", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print("mlflow" in sys.modules, file=sys.stderr)
"""


def _store_of_a_few_runs(tmp: Path, n_runs: int = 4) -> tuple[str, list[str]]:
    """A sqlite store with `n_runs` FINISHED runs, each with params, a loss curve and eval tables."""
    from hybrid_tui.tracking import Tracker

    uri = f"sqlite:///{tmp / 'reads.db'}"
    tracker = Tracker(uri)
    langs = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
    run_ids = []
    for i in range(n_runs):
        run_id = tracker.start_run("bench-reads", f"run-{i}", {"hybrid_tui.mix": "mono 0.5"})
        tracker.log_params(run_id, {"model.spec": "tiny-random", "train.steps": 100})
        for step in range(1, 101):
            tracker.log_metrics(run_id, {"train/loss": 1.0 / step, "train/lr": 1e-4}, step)
        evals = {f"eval/xquad_r/{s}/avg/map": 0.1 * (i + 1) for s in ("mono", "cross", "multi")}
        for x in langs:
            evals[f"eval/xquad_r/mono/{x}/map"] = 0.3 + 0.01 * i
            evals[f"eval/xquad_r/multi/{x}/map"] = 0.2 + 0.01 * i
            evals[f"eval/xquad_r/bias/{x}/rank_distance"] = 3.0
            for y in langs:
                evals[f"eval/xquad_r/cross/{x}-{y}/map"] = 0.25 + 0.01 * i
        tracker.log_metrics(run_id, evals, 100)
        tracker.end_run(run_id, "FINISHED")
        run_ids.append(run_id)
    return uri, run_ids


def read_commands(n: int, tmp: Path) -> None:
    uri, run_ids = _store_of_a_few_runs(tmp)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HYBRID_TUI_HOME": str(tmp / "state")}
    env["COLUMNS"] = "120"
    commands = {
        "--help": ["--help"],
        "runs": ["runs"],
        "show RUN": ["show", run_ids[0]],
        "compare A B": ["compare", run_ids[0], run_ids[1]],
    }
    loads_mlflow: dict[str, bool] = {}

    def timed(name: str) -> float:
        argv = [PY, "-c", LOADS_MLFLOW, *commands[name]]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp)
        dt = time.perf_counter() - t0
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        if done.returncode != 0 or last not in ("True", "False"):
            raise SystemExit(f"{name} failed: {done.stdout[-300:]} {done.stderr[-800:]}")
        loads_mlflow[name] = last == "True"
        return dt

    for name in commands:
        timed(name)  # warm the page cache and .pyc files once
    res = c.interleave({name: (lambda name=name: timed(name)) for name in commands}, n)
    rows = []
    for name in commands:
        wall = c.median(res[name])
        target = "" if name == "--help" else c.verdict(wall <= READ_TARGET_S)
        rows.append([f"hybrid-tui {name}", f"{wall:.3f}", target, str(loads_mlflow[name])])
    c.table(
        ["command", "median s", f"target <= {READ_TARGET_S} s", "imports mlflow"],
        rows,
        title=f"4. Read commands on a sqlite store of {len(run_ids)} runs (fresh processes, "
        f"median of {n}, alternated)",
    )


def first_frame(n: int, tmp: Path) -> None:
    try:
        import hybrid_tui.tui.app  # noqa: F401
    except Exception as err:  # the TUI is being written by others: say so, do not fail
        print(
            f"2. TUI first frame: SKIPPED (hybrid_tui.tui.app not importable: {type(err).__name__}: {err})"
        )
        return
    uri = f"sqlite:///{tmp / 'tui.db'}"
    env = {**os.environ, "HYBRID_TUI_HOME": str(tmp / "state")}

    def run(mode: str):
        t0 = time.perf_counter()
        done = subprocess.run(
            [PY, "-c", FIRST_FRAME, mode, uri],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=120,
        )
        wall = time.perf_counter() - t0
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode != 0 or len(line.split()) != 3:
            raise RuntimeError(f"{mode}: rc {done.returncode}: {done.stderr[-800:]}")
        imp, ready, screen = line.split()
        return float(imp), float(ready), screen, wall

    try:
        run("app")
    except Exception as err:
        print(f"2. TUI first frame: SKIPPED (the app did not start headless: {err})")
        return
    out = {"app": [], "bare": []}
    for r in range(n):
        for mode in ("app", "bare") if r % 2 == 0 else ("bare", "app"):
            out[mode].append(run(mode))
    a_ready = c.median([x[1] for x in out["app"]])
    b_ready = c.median([x[1] for x in out["bare"]])
    c.table(
        ["process", "import s", "first screen mounted s", "ratio vs bare Textual", "first screen"],
        [
            [
                "hybrid-tui app",
                f"{c.median([x[0] for x in out['app']]):.3f}",
                f"{a_ready:.3f}",
                f"{a_ready / b_ready:.2f}x",
                out["app"][0][2],
            ],
            [
                "bare textual App",
                f"{c.median([x[0] for x in out['bare']]):.3f}",
                f"{b_ready:.3f}",
                "1.00x",
                out["bare"][0][2],
            ],
        ],
        title=f"2. TUI time to first frame (run_test, from process code start; median of {n}; "
        "interpreter start itself not included)",
    )


def poll_interval() -> float:
    try:
        from hybrid_tui.tui.live.screen import POLL_S

        return float(POLL_S)
    except Exception:
        print("   (tui/screens/live.py has no POLL_S; assuming 0.25 s)")
        return 0.25


def tail_latency(n_events: int, tmp: Path) -> None:
    from hybrid_tui.events import EventTail

    poll = poll_interval()

    def measure(interval: float, seed: int) -> list[float]:
        path = tmp / f"events-{seed}.jsonl"
        writer = subprocess.Popen([PY, "-c", WRITER, str(path), str(n_events), str(seed)])
        tail = EventTail(path)
        lat: list[float] = []
        done = False
        next_poll = time.perf_counter()
        while not done:
            for ev in tail.read_new():
                if ev["type"] == "step":
                    lat.append(time.time() - ev["t"])
                elif ev["type"] == "end":
                    done = True
            if interval:
                next_poll += interval  # like set_interval: fixed cadence
                time.sleep(max(0.0, next_poll - time.perf_counter()))
            else:
                time.sleep(0.0005)
        writer.wait()
        return lat

    res = {"poll": [], "tight": []}
    for r in range(2):
        res["poll"] += measure(poll, 2 * r)
        res["tight"] += measure(0.0, 2 * r + 1)

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    p, t = res["poll"], res["tight"]
    c.table(
        ["reader", "events", "median ms", "p95 ms", "max ms", "ratio (median) vs tight"],
        [
            [
                f"EventTail.read_new every {poll:.2f} s (Live screen)",
                len(p),
                f"{1000 * c.median(p):.1f}",
                f"{1000 * pct(p, 0.95):.1f}",
                f"{1000 * max(p):.1f}",
                f"{c.median(p) / c.median(t):.0f}x",
            ],
            [
                "EventTail.read_new every 0.5 ms (floor)",
                len(t),
                f"{1000 * c.median(t):.2f}",
                f"{1000 * pct(t, 0.95):.2f}",
                f"{1000 * max(t):.2f}",
                "1x",
            ],
        ],
        title=f"3a. Trainer-to-reader latency (separate writer process; expected ~{1000 * poll / 2:.0f} ms "
        "median from the poll interval alone)",
    )


def app_latency(n_events: int, tmp: Path) -> None:
    try:
        from hybrid_tui.tui.app import HybridTuiApp
        from hybrid_tui.tui.live.screen import LiveScreen
    except Exception as err:
        print(f"3b. Live screen latency: SKIPPED ({type(err).__name__}: {err})")
        return
    state = tmp / "live-state"
    os.environ["HYBRID_TUI_HOME"] = str(state)
    run_id = "bench" + "0" * 27
    events = state / "runs" / run_id / "events.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_text(
        json.dumps(
            {
                "t": time.time(),
                "type": "start",
                "run_id": run_id,
                "name": "bench",
                "steps": n_events,
                "start_step": 0,
            }
        )
        + "\n"
    )
    (events.parent / "job.json").write_text(json.dumps({"run_id": run_id, "pid": os.getpid()}))
    lat: list[float] = []

    async def main() -> None:
        app = HybridTuiApp(tracking_uri=f"sqlite:///{tmp / 'live.db'}")
        async with app.run_test(size=(120, 40)) as pilot:
            app.open_live(run_id)
            await pilot.pause(0.3)
            screen = app.screen
            if not isinstance(screen, LiveScreen):
                raise RuntimeError(f"open_live showed {type(screen).__name__}")
            writer = subprocess.Popen([PY, "-c", WRITER + "\n", str(events), str(n_events), "7"])
            # events.jsonl already has a start line: the writer appends (EventWriter opens 'ab')
            seen = 0
            deadline = time.time() + 120
            while seen < n_events and time.time() < deadline:
                await asyncio.sleep(0.002)
                step = getattr(screen, "step", None) or 0
                if step > seen:
                    now = time.time()
                    # every step up to this one is now on screen (a poll can bring several);
                    # each one's latency uses the writer's own timestamp, read back from the file
                    for line in events.read_text().splitlines():
                        ev = json.loads(line)
                        if ev.get("type") == "step" and seen < ev["step"] <= step:
                            lat.append(now - ev["t"])
                    seen = step
            writer.wait()
            await pilot.press("q")

    try:
        asyncio.run(main())
    except Exception as err:
        print(
            f"3b. Live screen latency: SKIPPED (the Live screen could not follow a run headless: "
            f"{type(err).__name__}: {err})"
        )
        return
    if not lat:
        print("3b. Live screen latency: no step reached the screen (see the Live screen's polling)")
        return
    lat.sort()
    c.table(
        ["path", "steps seen", "median ms", "p95 ms", "max ms"],
        [
            [
                "EventWriter.write -> LiveScreen.step updated (headless run_test)",
                len(lat),
                f"{1000 * c.median(lat):.1f}",
                f"{1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.1f}",
                f"{1000 * lat[-1]:.1f}",
            ]
        ],
        title="3b. Trainer-to-screen latency inside the app (paint to a real terminal not included)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only-reads", action="store_true", help="Only section 4 (the read commands)."
    )
    args = parser.parse_args()
    c.setup_env()
    c.print_machine("bench_startup")
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    n = 4 if args.quick else 10
    if args.only_reads:
        read_commands(3, tmp)
        return
    help_time(n)
    print()
    first_frame(3 if args.quick else 7, tmp)
    print()
    tail_latency(15 if args.quick else 40, tmp)
    print()
    app_latency(10 if args.quick else 30, tmp)
    print()
    read_commands(3, tmp)


if __name__ == "__main__":
    main()
