"""Gradient all-reduce under torchrun: the trainer's bucketed all-reduce vs one per parameter.

Two gloo processes on this machine (`torch.multiprocessing` spawn, CPU) each hold gradients
shaped like a real encoder's parameters (the architecture built from its config on the meta
device, then real tensors of those shapes: no weights are needed to time a reduce). Each round
times `training.distributed.all_reduce_gradients` (25 MB buckets, `BUCKET_BYTES`) and the loop
it replaced (`dist.all_reduce` on every gradient in turn), alternating which goes first; the
figure is the median over rounds and the median of per-round ratios, as rank 0 measures them
(both ranks wait for each other in every collective). Twice: every parameter trained, and
`model.freeze_embeddings = true` (the demo recipe's setting: no word-embedding gradient, so
the ~200 small tensors dominate). gloo on 2 loaded CPU cores only shows the launch count's
share; on GPUs (NCCL) the per-launch cost is what DDP's bucketing exists for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
import _synthetic as syn  # noqa: E402

# the encoders' published configs, as gpu_check.py builds them (data/gpu_check_models.json)
ARCHITECTURES = {arch.name: arch for arch in syn.architectures()}


def gradient_holder(architecture: str, freeze_embeddings: bool):
    """A module whose parameters have the encoder's shapes and random gradients (the word
    embeddings without one when frozen, as `BiEncoder.freeze_embeddings` leaves them)."""
    import torch
    import transformers

    config = dict(ARCHITECTURES[architecture].config)
    config = transformers.AutoConfig.for_model(config.pop("model_type"), **config)
    with torch.device("meta"):
        model = transformers.AutoModel.from_config(config, **syn._without_pooler_kwargs(config))
    frozen = "embeddings.word_embeddings.weight"
    holder = torch.nn.ParameterList()
    for name, param in model.named_parameters():
        real = torch.nn.Parameter(torch.empty(param.shape))
        if not (freeze_embeddings and name == frozen):
            real.grad = torch.randn(param.shape)
        holder.append(real)
    return holder


def per_parameter(model) -> None:
    """The trainer's all-reduce before the buckets: one collective per gradient."""
    import torch.distributed as dist

    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)


def rank_main(rank: int, world: int, port: int, args, out: str) -> None:
    import torch
    import torch.distributed as dist

    from hybrid_tui.training.distributed import all_reduce_gradients, gradient_buckets

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = {}
    for frozen in (False, True):
        model = gradient_holder(args.model, frozen)
        sides = {
            "bucketed": lambda model=model: all_reduce_gradients(model, world),
            "per-parameter": lambda model=model: per_parameter(model),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(args.rounds + 1):  # round 0 warms up
            for name in list(sides) if r % 2 else list(sides)[::-1]:
                dist.barrier()
                t0 = time.perf_counter()
                sides[name]()
                if r:
                    times[name].append(time.perf_counter() - t0)
        grads = [p for p in model.parameters() if p.grad is not None]
        results["frozen" if frozen else "all"] = {
            "gradients": len(grads),
            "megabytes": round(sum(p.grad.numel() * 4 for p in grads) / 2**20, 1),
            "buckets": len(gradient_buckets(model)),
            "ms": {name: round(1000 * c.median(values), 2) for name, values in times.items()},
            "speedup": round(
                c.median(
                    [p / b for p, b in zip(times["per-parameter"], times["bucketed"], strict=True)]
                ),
                3,
            ),
        }
        del model
    if rank == 0:
        Path(out).write_text(json.dumps(results))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), default="e5-small")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="5 rounds (sanity check)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 15)
    c.setup_env()
    import torch.multiprocessing as mp

    c.print_machine("bench_allreduce")
    out = Path(tempfile.mkdtemp(prefix="bench-allreduce-")) / "rank0.json"
    mp.spawn(rank_main, args=(2, c.free_port(), args, str(out)), nprocs=2, join=True)
    results = json.loads(out.read_text())
    rows = [
        [
            {"all": "every parameter", "frozen": "freeze_embeddings"}[kind],
            r["gradients"],
            r["megabytes"],
            r["buckets"],
            r["ms"]["per-parameter"],
            r["ms"]["bucketed"],
            f"{r['speedup']:.2f}x",
        ]
        for kind, r in results.items()
    ]
    c.table(
        [
            "gradients of",
            "tensors",
            "MB",
            "buckets",
            "per-parameter ms",
            "bucketed ms",
            "speed-up (median of per-round)",
        ],
        rows,
        title=f"Gradient all-reduce, {args.model}, gloo, 2 ranks on this machine, "
        f"{args.rounds} rounds (median)",
    )
    if args.json:
        print(
            json.dumps(
                {"model": args.model, "rounds": args.rounds, **results, "machine": c.machine()}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
