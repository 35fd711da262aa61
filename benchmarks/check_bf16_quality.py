"""bf16 against fp32 on one recipe: the same seed, the same batches, in one process; per-step
loss and the final evaluation's mAP of each, and their largest differences.

Usage: `check_bf16_quality.py RECIPE [--set KEY=VALUE ...] [--json]` (e.g. recipes/smoke.toml).
Both runs train on the CPU through the trainer's own `setup_training` / `train_step` and evaluate
with `evaluate_model` on the recipe's eval sets; nothing is tracked. It checks quality, not
speed (`bench_train_throughput.py --quick --json` gives the throughput ratio).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


def train_and_evaluate(recipe_path: str, overrides: list[str], precision: str, root: Path) -> dict:
    from hybrid_tui.evaluation.lareqa import evaluate_model
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.training.inputs import prepare_inputs
    from hybrid_tui.training.setup import setup_training
    from hybrid_tui.training.step import train_step

    sets = [*overrides, "train.device=cpu", f"train.precision={precision}"]
    recipe = load_recipe(recipe_path, sets)
    inputs = prepare_inputs(recipe, str(root))
    files = RunFiles.for_run(precision, base=Path(tempfile.mkdtemp(prefix="bf16-quality-")))
    setup = setup_training(inputs, files)
    t0, cpu0 = time.perf_counter(), time.process_time()
    losses = [train_step(setup, setup.sampler.next_batch()) for _ in range(recipe.train.steps)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    metrics = evaluate_model(setup.encoder, setup.eval_sets, recipe.eval)
    return {
        "autocast": str(setup.autocast_dtype),
        "losses": [round(loss, 5) for loss in losses],
        "train_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
        "map": {k: round(v, 5) for k, v in metrics.items() if k.endswith("/avg/map")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args()
    c.setup_env()
    c.print_machine("check_bf16_quality")
    root = c.data_root()
    runs = {}
    for precision in ("fp32", "bf16"):  # each printed when done: a stopped run keeps the first
        runs[precision] = train_and_evaluate(args.recipe, args.overrides, precision, root)
        print(f"   {precision}: {json.dumps(runs[precision])}", flush=True)
    fp32, bf16 = runs["fp32"], runs["bf16"]
    rows = [
        [f"loss, step {i + 1}", a, b, f"{b - a:+.5f}"]
        for i, (a, b) in enumerate(zip(fp32["losses"], bf16["losses"], strict=True))
    ]
    rows += [
        [key, fp32["map"][key], bf16["map"][key], f"{bf16['map'][key] - fp32['map'][key]:+.5f}"]
        for key in fp32["map"]
    ]
    rows.append(["train CPU s", fp32["train_cpu_s"], bf16["train_cpu_s"], ""])
    c.table(["", "fp32", "bf16", "bf16 - fp32"], rows, title=f"bf16 vs fp32, {args.recipe}")
    summary = {
        "recipe": args.recipe,
        "overrides": args.overrides,
        "max_abs_loss_diff": round(
            max(abs(a - b) for a, b in zip(fp32["losses"], bf16["losses"], strict=True)), 6
        ),
        "max_abs_map_diff": round(
            max(abs(bf16["map"][k] - fp32["map"][k]) for k in fp32["map"]), 6
        ),
        **runs,
        "machine": c.machine(),
    }
    print(
        f"largest |loss difference| {summary['max_abs_loss_diff']}, "
        f"largest |mAP difference| {summary['max_abs_map_diff']}",
        flush=True,
    )
    if args.json:
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
