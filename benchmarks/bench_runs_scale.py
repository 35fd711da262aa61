"""Thousands of runs (issue 22): the read commands, the app's runs screen and the queue on stores of
100, 1000 and 5000 runs.

Stores are built in MLflow's own sqlite schema: MLflow's client creates the empty store (tables,
migrations, the experiment), then the runs go in by SQL inserts, in the shape of real runs (59
params, 10 tags, 43 eval keys logged at 5 evaluations, 100-point training curves), which takes
seconds instead of the client's minutes. Before any figure, one run written by MLflow's client
and one written by the inserts are read back and must agree table by table (same keys, same
values, same row counts per table): the inserts write what the client writes.

Each figure is the median of 3 fresh processes (`--rounds`): `runs`, `runs --json`,
`runs --filter multi>50`, `runs --sort multi`, `show RUN`, `compare A B`; `queue rm` of 100 jobs;
the app's first render of the runs screen (from start until the table holds rows) and its CPU
use while idle on that screen (`--idle-s`, 30 s by default). `--json` prints one JSON line per
figure. Stores are kept in `--store-dir` (default: a temporary folder) and reused.

    .venv/bin/python benchmarks/bench_runs_scale.py [--sizes 100,1000,5000] [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
EVAL_STEPS = (200, 400, 600, 800, 1000)
TRAIN_POINTS = 100
N_PARAMS, N_TAGS = 59, 10
EXPERIMENT = "bench"


# ---------------------------------------------------------------------------- the shape of a run


def eval_keys() -> list[str]:
    """43 eval keys: XQuAD-R's averages (12) and per-language mono and multi mAP (22), the
    per-language bias (nine languages) — the keys a real evaluation logs, in number."""
    keys = [
        f"eval/xquad_r/{setting}/avg/{metric}"
        for setting in ("mono", "cross", "multi")
        for metric in ("map", "recall_1", "recall_10")
    ]
    keys += [f"eval/xquad_r/bias/avg/{m}" for m in ("rank_distance", "mean_rank", "map")]
    keys += [
        f"eval/xquad_r/{setting}/{lang}/map" for setting in ("mono", "multi") for lang in LANGS
    ]
    keys += [f"eval/xquad_r/bias/{lang}/rank_distance" for lang in LANGS[:9]]
    assert len(keys) == 43, len(keys)
    return keys


def run_shape(index: int, rng: random.Random) -> dict:
    """Params, tags and metric points `(key, value, step)` of the `index`th run of a sweep."""
    lr = rng.choice(("1e-05", "2e-05", "3e-05", "5e-05"))
    params = {
        "train.lr": lr,
        "train.batch_size": str(rng.choice((16, 32, 64))),
        "train.seed": str(index % 5),
        "train.steps": "1000",
        "model.spec": "e5-small-offline",
        "sampler.mono": f"{rng.random():.2f}",
    }
    params |= {f"recipe.field_{k:02d}": f"value-{k}" for k in range(N_PARAMS - len(params))}
    tags = {
        "mlflow.runName": f"sweep-{index}",
        "mlflow.user": "bench",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": "hybrid-tui",
        "hybrid_tui.mix": "mono 0.58 / cross 0.25 / multi 0.17",
        "hybrid_tui.model_source": "e5-small-offline",
        "hybrid_tui.recipe": "recipes/smoke.toml",
        "hybrid_tui.device": "cpu",
        "hybrid_tui.kind": "train",
        "sweep": f"s{index % 7}",
    }
    assert len(params) == N_PARAMS and len(tags) == N_TAGS
    points = []
    for step in range(1, TRAIN_POINTS + 1):
        points.append(("train/loss", round(2.0 / step + rng.random() * 0.01, 6), step * 10))
        points.append(("train/lr", float(lr), step * 10))
    quality = rng.random()
    for n, step in enumerate(EVAL_STEPS, 1):
        for key in eval_keys():
            value = 40 * quality if "rank" in key else quality * n / len(EVAL_STEPS)
            points.append((key, round(value, 6), step))
    return {"params": params, "tags": tags, "points": points}


# ---------------------------------------------------------------------------- building stores


def empty_store(path: Path) -> None:
    """MLflow's client creates the store (tables, migrations) and the experiment."""
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{path}")
    tracker.create_store()
    from hybrid_tui.tracking.store import experiment_id

    experiment_id(tracker.client, EXPERIMENT, create=True, artifacts=None)


def insert_runs(path: Path, n_runs: int, seed: int = 0) -> list[str]:
    """`n_runs` FINISHED runs by SQL inserts, in MLflow's schema; their ids, oldest first."""
    rng = random.Random(seed)
    connection = sqlite3.connect(path)
    (experiment,) = connection.execute(
        "SELECT experiment_id FROM experiments WHERE name = ?", (EXPERIMENT,)
    ).fetchone()
    base = int(time.time() * 1000) - n_runs * 60_000
    ids = []
    with connection:
        for index in range(n_runs):
            run_id = uuid.uuid4().hex
            ids.append(run_id)
            write_run(connection, run_id, experiment, base + index * 60_000, run_shape(index, rng))
    connection.close()
    return ids


def write_run(connection: sqlite3.Connection, run_id: str, experiment, start: int, shape) -> None:
    """One run as MLflow's client writes it: `runs`, `params`, `tags`, every point in `metrics`
    and each key's value at its largest step in `latest_metrics`."""
    end = start + 50_000
    connection.execute(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id) VALUES (?, ?, 'UNKNOWN', '', '', 'bench', 'FINISHED', ?, ?, '', "
        "'active', ?, ?)",
        (run_id, shape["tags"]["mlflow.runName"], start, end, f"/tmp/a/{run_id}", experiment),
    )
    connection.executemany(
        "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
        [(key, value, run_id) for key, value in shape["params"].items()],
    )
    connection.executemany(
        "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
        [(key, value, run_id) for key, value in shape["tags"].items()],
    )
    connection.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
        "VALUES (?, ?, ?, ?, ?, 0)",
        [(key, value, start + step, run_id, step) for key, value, step in shape["points"]],
    )
    latest: dict[str, tuple[float, int]] = {}
    for key, value, step in shape["points"]:
        if key not in latest or step >= latest[key][1]:
            latest[key] = (value, step)
    connection.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        [(key, value, start + step, step, run_id) for key, (value, step) in latest.items()],
    )


def client_run(path: Path, shape: dict) -> str:
    """The same run written by MLflow's client (the shape the inserts must match)."""
    from mlflow.entities import Metric, Param, RunTag

    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tracking.store import experiment_id

    client = Tracker(f"sqlite:///{path}").client
    experiment = experiment_id(client, EXPERIMENT, create=True, artifacts=None)
    run = client.create_run(experiment, run_name=shape["tags"]["mlflow.runName"])
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in shape["params"].items()])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in shape["tags"].items()])
    points = [Metric(k, v, run.info.start_time + s, s) for k, v, s in shape["points"]]
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    client.set_terminated(run_id, "FINISHED")
    return run_id


def check_shape(folder: Path) -> None:
    """A run written by the client and the same run written by the inserts read back alike."""
    path = folder / f"shape-{os.getpid()}.db"
    path.unlink(missing_ok=True)
    empty_store(path)
    shape = run_shape(0, random.Random(0))
    by_client = client_run(path, shape)
    connection = sqlite3.connect(path)
    (experiment,) = connection.execute(
        "SELECT experiment_id FROM experiments WHERE name = ?", (EXPERIMENT,)
    ).fetchone()
    by_inserts = uuid.uuid4().hex
    with connection:
        write_run(connection, by_inserts, experiment, int(time.time() * 1000), shape)
    for table, columns in (
        ("params", "key, value"),
        ("tags", "key, value"),
        ("metrics", "key, value, step, is_nan"),
        ("latest_metrics", "key, value, step, is_nan"),
    ):
        rows = [
            sorted(
                connection.execute(
                    f"SELECT {columns} FROM {table} WHERE run_uuid = ?", (run_id,)
                ).fetchall()
            )
            for run_id in (by_client, by_inserts)
        ]
        if table == "tags":  # the client adds its own mlflow.* tags (user, source): ours only
            rows[0] = [row for row in rows[0] if row[0] in shape["tags"]]
        if rows[0] != rows[1]:
            sys.exit(f"the inserted run differs from the client's in {table}")
    runs = connection.execute(
        "SELECT status, lifecycle_stage, experiment_id FROM runs ORDER BY start_time"
    ).fetchall()
    if len(set(runs)) != 1:
        sys.exit(f"the inserted run's row differs from the client's: {runs}")
    connection.close()


def store_of(folder: Path, n_runs: int) -> tuple[Path, list[str]]:
    path = folder / f"runs-{n_runs}.db"
    ids_file = path.with_suffix(".ids")
    if path.exists() and ids_file.exists():
        return path, ids_file.read_text().split()
    path.unlink(missing_ok=True)
    template = folder / "empty.db"
    if not template.exists():
        empty_store(template)
    with sqlite3.connect(template) as source, sqlite3.connect(path) as copy:
        source.backup(copy)  # with what is still in the template's write-ahead log
    ids = insert_runs(path, n_runs)
    ids_file.write_text("\n".join(ids))
    return path, ids


# ---------------------------------------------------------------------------- figures


def command_time(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one command: on a shared machine the CPU
    figure is what the command costs, the wall figure also holds other processes' load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def queue_rm_time(folder: Path, env: dict, jobs: int = 100) -> tuple[float, float]:
    """`queue rm` of `jobs` queued jobs (the jobs go in through the store, one transaction)."""
    sys.path.insert(0, str(c.REPO))
    from hybrid_tui.jobs.queue_store import JobStore, NewJob

    state = folder / f"state-rm-{time.monotonic_ns()}"
    store = JobStore(state / "queue.db")
    new = NewJob("job", "r.toml", "/r.toml", [], 1, 0, str(folder), "sqlite:///x.db")
    added = store.add([new] * jobs)
    argv = [sys.executable, "-m", "hybrid_tui", "queue", "rm", *(str(job.id) for job in added)]
    seconds = command_time(argv, env | {"HYBRID_TUI_HOME": str(state)}, folder)
    shutil.rmtree(state)
    return seconds


APP = r"""
import asyncio, os, sys, time
t0 = time.perf_counter()
from hybrid_tui.tui.app import HybridTuiApp
app = HybridTuiApp(tracking_uri=sys.argv[1])
idle_s = float(sys.argv[2])
async def main():
    async with app.run_test(size=(160, 50)) as pilot:
        from textual.widgets import DataTable
        while True:
            screen = app.screen
            tables = list(screen.query(DataTable)) if screen is not None else []
            if tables and tables[0].row_count:
                break
            await asyncio.sleep(0.005)
        first = time.perf_counter() - t0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle_s)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        print(f"{first:.4f} {cpu:.4f}", flush=True)
asyncio.run(main())
os._exit(0)
"""


def app_figures(uri: str, env: dict, cwd: Path, idle_s: float) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", APP, uri, str(idle_s)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300 + idle_s,
    )
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"the app did not start: {done.stderr.strip()[-600:]}")
    first, cpu = done.stdout.split()[-2:]
    return float(first), float(cpu)


def figures(size: int, folder: Path, rounds: int, idle_s: float, emit) -> None:
    path, ids = store_of(folder, size)
    uri = f"sqlite:///{path}"
    state = folder / "state"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "HYBRID_TUI_HOME": str(state),
        "COLUMNS": "160",
        "PYTHONPATH": str(c.REPO),
    }
    hybrid = [sys.executable, "-m", "hybrid_tui"]
    commands = {
        "runs": ["runs"],
        "runs --json": ["runs", "--json"],
        "runs --filter multi>50": ["runs", "--filter", "multi>50"],
        "runs --sort multi": ["runs", "--sort", "multi"],
        "show": ["show", ids[-1][:8]],
        "compare": ["compare", ids[-1][:8], ids[0][:8]],
    }
    only = os.environ.get("BENCH_ONLY")  # e.g. "runs,show": a subset of the commands
    for name, args in commands.items():
        if only and name not in only.split(","):
            continue
        times = [command_time([*hybrid, *args], env, folder) for _ in range(rounds)]
        emit(size, name, c.median([t[0] for t in times]), [t[0] for t in times])
        emit(size, f"{name} (cpu)", c.median([t[1] for t in times]), [t[1] for t in times])
    if not only or "queue rm 100" in only.split(","):
        times = [queue_rm_time(folder, env) for _ in range(rounds)]
        emit(size, "queue rm 100", c.median([t[0] for t in times]), [t[0] for t in times])
        emit(size, "queue rm 100 (cpu)", c.median([t[1] for t in times]), [t[1] for t in times])
    if idle_s > 0:
        app = [app_figures(uri, env, folder, idle_s) for _ in range(rounds)]
        emit(size, "app first render", c.median([a[0] for a in app]), [a[0] for a in app])
        emit(size, "app idle cpu", c.median([a[1] for a in app]), [a[1] for a in app], "core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=30.0, help="0: no app figures")
    parser.add_argument("--store-dir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="100 runs, 1 round, 5 s idle")
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    args = parser.parse_args()
    c.setup_env()
    if args.quick:
        args.sizes, args.rounds, args.idle_s = "100", 1, 5.0
    folder = args.store_dir or Path(tempfile.mkdtemp(prefix="bench-runs-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not args.json:
        c.print_machine("thousands of runs (bench_runs_scale.py)")
    check_shape(folder)
    rows = []

    def emit(size: int, name: str, value: float, samples: list, unit: str = "s") -> None:
        record = {"runs": size, "figure": name, "median": round(value, 4), "unit": unit}
        record["samples"] = [round(sample, 4) for sample in samples]
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            shown = f"{100 * value:.1f} %" if unit == "core" else f"{value:.3f} s"
            print(f"   {size:>5} runs  {name:<24} {shown}", flush=True)
        rows.append(record)

    for size in (int(part) for part in args.sizes.split(",")):
        figures(size, folder, args.rounds, args.idle_s, emit)


if __name__ == "__main__":
    main()
