"""MLflow logging overhead per training step: Tracker (buffered log_batch) vs none vs naive log_metric.

Three sides run the real training step (`training.step.train_step`, e5-small-offline, batch 32,
fp32 CPU, MLQA-R, the `setup_training` optimiser), interleaved round by round on the same model:
- none: `train_step` only;
- hybrid-tui: `train_step` + `StepMeter.record` + `Tracker.log_metrics(run, step_metrics(...), step)`
  every step (the trainer's `log_every = 1` default), into a fresh sqlite store (WAL, as Tracker
  creates it); Tracker writes one `log_batch` about once a second, from a timer thread;
- naive: `train_step` + `mlflow.log_metric(key, value, step)` for each key, every step, into a
  second fresh sqlite store (MLflow's defaults), the way most training scripts log.
The overhead is the median of per-round ratios (side time / none time) - 1. A 4-5 s step makes a
few-ms cost invisible in wall-clock noise, so the cost is also measured directly: the time spent
inside the logging calls per step and in Tracker's background flushes (which compete for the same
2 cores), divided by the median step time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
from bench_train_throughput import build_hybrid  # noqa: E402

GOAL = 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps-per-round", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 4)
    k = args.steps_per_round or (2 if args.quick else 3)
    c.setup_env()
    c.print_machine("bench_logging")
    tmp = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    import mlflow

    from hybrid_tui.tracking import Tracker
    from hybrid_tui.training.run_record import StepMeter, step_metrics
    from hybrid_tui.training.step import train_step

    setup = build_hybrid(c.data_root(), 1000, tmp)
    tracker = Tracker(f"sqlite:///{tmp / 'tracker.db'}")
    run_id = tracker.start_run("bench-logging", "tracker")
    flush_times: list[float] = []
    buffer = tracker._metrics  # the MetricBuffer: its timer thread and `add` call its flush
    real_flush = buffer.flush

    def timed_flush() -> None:
        t0 = time.perf_counter()
        real_flush()
        flush_times.append(time.perf_counter() - t0)

    buffer.flush = timed_flush
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'naive.db'}")
    mlflow.set_experiment("bench-logging-naive")
    naive_run = mlflow.start_run(run_name="naive")
    meter = StepMeter(setup.recipe.train.batch_size, Counter())
    state = {"step": 0}
    call_cost = {"hybrid-tui": [], "naive": []}

    def one_step(mode: str) -> None:
        batch = setup.sampler.next_batch()
        loss = train_step(setup, batch)
        state["step"] += 1
        step = state["step"]
        meter.kinds[batch.kind] += 1
        if mode == "none":
            return
        t0 = time.perf_counter()
        record = meter.record(step, loss, setup.scheduler.get_last_lr()[0], batch.kind)
        metrics = step_metrics(record, meter)
        if mode == "hybrid-tui":
            tracker.log_metrics(run_id, metrics, step)
        else:
            for key, value in metrics.items():
                mlflow.log_metric(key, value, step=step)
        call_cost[mode].append(time.perf_counter() - t0)

    def side(mode: str):
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(k):
                one_step(mode)
            return (time.perf_counter() - t0) / k

        return run

    one_step("none")  # warm-up
    one_step("hybrid-tui")
    one_step("naive")
    call_cost = {"hybrid-tui": [], "naive": []}
    flush_times.clear()
    print(
        f"   {rounds} rounds x {k} real steps per side; {len(step_metrics(meter.record(0, 0.0, 0.0, 'mono'), meter))} metrics per step",
        flush=True,
    )
    res = c.interleave({m: side(m) for m in ("none", "hybrid-tui", "naive")}, rounds, label=True)
    buffer.flush = real_flush
    tracker.end_run(run_id)
    mlflow.end_run()
    del naive_run

    step_s = c.median(res["none"])
    rows = []
    for mode in ("hybrid-tui", "naive"):
        wall = c.median([m / n for m, n in zip(res[mode], res["none"], strict=False)]) - 1
        per_step_call = sum(call_cost[mode]) / len(call_cost[mode])
        background = sum(flush_times) / len(call_cost[mode]) if mode == "hybrid-tui" else 0.0
        direct = (per_step_call + background) / step_s
        rows.append(
            [
                mode,
                f"{1000 * c.median(res[mode]):.0f}",
                f"{100 * wall:+.2f}%",
                f"{1e3 * per_step_call:.3f}",
                f"{1e3 * background:.3f}",
                f"{100 * direct:.3f}%",
                c.verdict(direct <= GOAL) if mode == "hybrid-tui" else "(baseline)",
            ]
        )
    print()
    c.table(
        [
            "side",
            "ms/step (median)",
            "wall overhead vs none (noisy)",
            "ms in log calls/step",
            "ms in background flush/step",
            "direct overhead",
            f"goal <= {100 * GOAL:.0f}%",
        ],
        [["none", f"{1000 * step_s:.0f}", "0", "0", "0", "0", ""], *rows],
        title="Logging overhead per real training step",
    )
    hyb_call = sum(call_cost["hybrid-tui"]) / len(call_cost["hybrid-tui"])
    naive_call = sum(call_cost["naive"]) / len(call_cost["naive"])
    print(
        f"naive per-point log_metric costs {naive_call / max(hyb_call, 1e-9):.0f}x Tracker.log_metrics "
        f"in the loop ({len(flush_times)} background log_batch flushes, median "
        f"{1000 * c.median(flush_times):.1f} ms each)"
    )
    micro(tmp)


def micro(tmp: Path, steps: int = 300) -> None:
    """The logging calls alone (no training), interleaved: what each costs the loop per step."""
    import mlflow

    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp / 'micro.db'}")
    run_id = tracker.start_run("bench-logging-micro", "tracker")
    keys = [
        "train/loss",
        "train/lr",
        "train/pairs_per_s",
        "train/batch_kind/mono",
        "train/batch_kind/cross",
    ]
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'micro-naive.db'}")
    mlflow.set_experiment("bench-logging-micro")
    mlflow.start_run()
    state = {"step": 0}

    def hybrid() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            state["step"] += 1
            tracker.log_metrics(run_id, {k: 0.5 for k in keys}, state["step"])
        tracker.flush()
        return (time.perf_counter() - t0) / steps

    def naive() -> float:
        t0 = time.perf_counter()
        for _ in range(max(1, steps // 10)):
            state["step"] += 1
            for key in keys:
                mlflow.log_metric(key, 0.5, step=state["step"])
        return (time.perf_counter() - t0) / max(1, steps // 10)

    res = c.interleave({"hybrid-tui": hybrid, "naive": naive}, 3)
    mlflow.end_run()
    tracker.end_run(run_id)
    h, n = c.median(res["hybrid-tui"]), c.median(res["naive"])
    print()
    c.table(
        ["logging alone (5 metrics/step)", "ms per step incl. flushes", "ratio"],
        [
            ["hybrid-tui Tracker.log_metrics (+ final flush)", f"{1000 * h:.3f}", "1.0x"],
            ["naive mlflow.log_metric per point", f"{1000 * n:.3f}", f"{n / h:.0f}x slower"],
        ],
        title="Micro-benchmark: logging calls without training",
    )


if __name__ == "__main__":
    main()
