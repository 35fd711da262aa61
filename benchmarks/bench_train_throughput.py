"""Training throughput (pairs/s): hybrid-tui's training step vs sentence-transformers' MNRL loop.

hybrid-tui side: the real trainer path, `training_parts.setup_training` on an e5-small-offline
recipe (fp32, CPU, batch 32, max lengths 64/128, AdamW as the trainer builds it, grad clip 1.0),
then `training_parts.train_step(setup, batch)`.

Baseline: sentence-transformers 6 on the same prepared model folder, in the loop its
`SentenceTransformerTrainer` runs per step, written out by hand so that both sides can be
interleaved in one process: the data collator's `model.preprocess(texts, prompt=..., max_length=...)`
per column ("query: " / 64 tokens, "passage: " / 128 tokens), `MultipleNegativesRankingLoss`
(scale 20 = temperature 0.05), backward, grad-norm clip 1.0, and the optimiser the Trainer picks by
default with torch >= 2.8 (`adamw_torch_fused`), lr 3e-5, weight decay 0.01. The Trainer's own
bookkeeping (dataloader, callbacks, logging) is left out, which can only make the baseline faster.

Both sides train on the same batches (MLQA-R pairs drawn by hybrid-tui's sampler, α = 0.5),
alternating rounds of K steps; the figure is the median over rounds of pairs/s.
`--profile` adds a per-phase breakdown (tokenize / forward+loss / backward / clip / optimiser) and
torch.profiler's top operators for both sides.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

GOAL = 1.25
BATCH = 32


def build_hybrid(data_root: Path, steps_total: int, tmp: Path, freeze_embeddings: bool = False):
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.run_files import RunFiles
    from hybrid_tui.train import TrainingInputs
    from hybrid_tui.training_parts import setup_training

    recipe = recipe_from_dict(
        {
            "name": "bench-throughput",
            "model": {
                "spec": "e5-small-offline",
                "max_query_length": 64,
                "max_passage_length": 128,
                "freeze_embeddings": freeze_embeddings,
            },
            "data": {"source": "lareqa", "dataset": "mlqa-r"},
            "sampler": {"mono": 0.5, "cross": 0.5},
            "train": {
                "batch_size": BATCH,
                "steps": max(10_000, steps_total),
                "precision": "fp32",
                "device": "cpu",
                "seed": 0,
                "checkpoint_every": 0,
            },
        },
        "bench",
    )
    pairs = load_training_pairs(recipe.data, str(data_root))
    inputs = TrainingInputs(recipe, pairs, [], "bench", str(data_root))
    files = RunFiles.for_run("bench", base=tmp)
    setup = setup_training(inputs, files, tracker=None, run_id="bench")
    return setup


def build_st(model_path: Path, lr: float, weight_decay: float, fused: bool = True):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(str(model_path), device="cpu")
    model.train()
    loss = MultipleNegativesRankingLoss(model, scale=20.0)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        fused=fused,
    )
    return model, loss, optimizer


def st_step(model, loss_fn, optimizer, queries, passages, phases=None) -> float:
    import torch

    t0 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    q = model.preprocess(queries, prompt="query: ", max_length=64)
    p = model.preprocess(passages, prompt="passage: ", max_length=128)
    t1 = time.perf_counter()
    loss = loss_fn([q, p], labels=None)
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    t4 = time.perf_counter()
    optimizer.step()
    t5 = time.perf_counter()
    if phases is not None:
        for name, dt in zip(
            ("tokenize", "forward+loss", "backward", "clip", "optimizer"),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
            strict=False,
        ):
            phases.setdefault(name, []).append(dt)
    return float(loss.detach())


def hybrid_step_phases(setup, batch, phases) -> float:
    """The same work as `training_parts.train_step` (grad_accum_steps = 1, fp32), split into
    phases for the profile only; the benchmark itself times the real `train_step`."""
    import torch

    from hybrid_tui.loss import info_nce
    from hybrid_tui.training_parts import batch_texts

    encoder, tau = setup.encoder, setup.recipe.train.temperature
    t0 = time.perf_counter()
    queries, passages = batch_texts(setup, batch)
    setup.optimizer.zero_grad(set_to_none=True)
    qf, pf = encoder.tokenize(queries, "query"), encoder.tokenize(passages, "passage")
    t1 = time.perf_counter()
    loss = info_nce(encoder(qf), encoder(pf), tau)
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(encoder.parameters(), setup.recipe.train.max_grad_norm)
    t4 = time.perf_counter()
    setup.optimizer.step()
    setup.scheduler.step()
    t5 = time.perf_counter()
    for name, dt in zip(
        ("tokenize", "forward+loss", "backward", "clip", "optimizer"),
        (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
        strict=False,
    ):
        phases.setdefault(name, []).append(dt)
    return float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 steps (sanity check)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps-per-round", type=int, default=None)
    parser.add_argument("--profile", action="store_true", help="phase breakdown + torch.profiler")
    parser.add_argument(
        "--frozen-variant",
        action="store_true",
        help="also time hybrid-tui with model.freeze_embeddings = true (a recipe option; NOT the "
        "same training as the baseline, which trains the word embeddings)",
    )
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    k = args.steps_per_round or (2 if args.quick else 3)
    warmup = 1 if args.quick else 2

    c.setup_env()
    import torch

    torch.manual_seed(0)
    c.print_machine("bench_train_throughput")
    root = c.data_root()
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    from hybrid_tui.models import resolve_model
    from hybrid_tui.training_parts import batch_texts, train_step

    model_path = resolve_model("e5-small-offline").path
    n_batches = warmup + rounds * k
    setup = build_hybrid(root, n_batches, tmp)
    batches = [setup.sampler.next_batch() for _ in range(n_batches)]
    texts = [batch_texts(setup, b) for b in batches]
    st_model, st_loss, st_opt = build_st(
        model_path, setup.recipe.train.lr, setup.recipe.train.weight_decay
    )
    print(
        f"   model {model_path} | batch {BATCH} | max len 64/128 | fp32 cpu | "
        f"{len(setup.pairs.items)} MLQA-R items | {rounds} rounds x {k} steps "
        f"(+{warmup} warm-up) per side, same batches both sides",
        flush=True,
    )
    frozen_setup = None
    if args.frozen_variant:
        frozen_setup = build_hybrid(
            root, n_batches, Path(tempfile.mkdtemp(prefix="bench-train-")), freeze_embeddings=True
        )

    for i in range(warmup):
        train_step(setup, batches[i])
        st_step(st_model, st_loss, st_opt, *texts[i])
        if frozen_setup:
            train_step(frozen_setup, batches[i])

    cursor = {
        "hybrid-tui": warmup,
        "sentence-transformers": warmup,
        "hybrid-tui+frozen": warmup,
    }

    def run_hybrid(which: str = "hybrid-tui", s=setup) -> float:
        start = cursor[which]
        t0 = time.perf_counter()
        for i in range(start, start + k):
            train_step(s, batches[i])
        dt = time.perf_counter() - t0
        cursor[which] += k
        return k * BATCH / dt

    def run_st() -> float:
        start = cursor["sentence-transformers"]
        t0 = time.perf_counter()
        for i in range(start, start + k):
            st_step(st_model, st_loss, st_opt, *texts[i])
        dt = time.perf_counter() - t0
        cursor["sentence-transformers"] += k
        return k * BATCH / dt

    sides = {"hybrid-tui": run_hybrid, "sentence-transformers": run_st}
    if frozen_setup:
        sides["hybrid-tui+frozen"] = lambda: run_hybrid("hybrid-tui+frozen", frozen_setup)
    results = c.interleave(sides, rounds, label=True)
    ratios = [
        h / s for h, s in zip(results["hybrid-tui"], results["sentence-transformers"], strict=False)
    ]
    med_h, med_s = c.median(results["hybrid-tui"]), c.median(results["sentence-transformers"])
    ratio = c.median(ratios)
    rows = [
        ["hybrid-tui train_step", f"{med_h:.2f}", f"{1000 * BATCH / med_h:.0f}", f"{ratio:.3f}x"],
        [
            "sentence-transformers MNRL (manual Trainer loop, fused AdamW)",
            f"{med_s:.2f}",
            f"{1000 * BATCH / med_s:.0f}",
            "1.000x",
        ],
    ]
    if frozen_setup:
        med_z = c.median(results["hybrid-tui+frozen"])
        zr = c.median(
            [
                f / s
                for f, s in zip(
                    results["hybrid-tui+frozen"], results["sentence-transformers"], strict=False
                )
            ]
        )
        rows.insert(
            -1,
            [
                "hybrid-tui, freeze_embeddings=true (what-if, different training)",
                f"{med_z:.2f}",
                f"{1000 * BATCH / med_z:.0f}",
                f"{zr:.3f}x",
            ],
        )
    print()
    c.table(
        ["side", "pairs/s (median)", "ms/step", "ratio vs ST (median of per-round ratios)"],
        rows,
        title=f"Training throughput, batch {BATCH}, {rounds} rounds x {k} steps",
    )
    print(f"goal >= {GOAL:.2f}x: {c.verdict(ratio >= GOAL)} (ratio {ratio:.3f}x)", flush=True)

    if args.profile:
        profile(setup, st_model, st_loss, st_opt, root, n_batches)


def profile(setup, st_model, st_loss, st_opt, root, start) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    from hybrid_tui.training_parts import batch_texts

    extra = [setup.sampler.next_batch() for _ in range(6)]
    ph_h: dict[str, list] = {}
    ph_s: dict[str, list] = {}
    for b in extra[:4]:
        q, p = batch_texts(setup, b)
        hybrid_step_phases(setup, b, ph_h)
        st_step(st_model, st_loss, st_opt, q, p, ph_s)
    rows = []
    for name in ph_h:
        h, s = c.median(ph_h[name]), c.median(ph_s[name])
        rows.append([name, f"{1000 * h:.0f}", f"{1000 * s:.0f}", f"{h / s:.2f}"])
    th = sum(c.median(v) for v in ph_h.values())
    ts = sum(c.median(v) for v in ph_s.values())
    rows.append(["total", f"{1000 * th:.0f}", f"{1000 * ts:.0f}", f"{th / ts:.2f}"])
    print()
    c.table(
        ["phase", "hybrid-tui ms", "ST ms", "time ratio h/s"],
        rows,
        title="Where a step's time goes (median of 4 steps each)",
    )
    for label, fn in (
        ("hybrid-tui", lambda b: hybrid_step_phases(setup, b, {})),
        (
            "sentence-transformers",
            lambda b: st_step(st_model, st_loss, st_opt, *batch_texts(setup, b)),
        ),
    ):
        with tprofile(activities=[ProfilerActivity.CPU]) as prof:
            fn(extra[4] if label == "hybrid-tui" else extra[5])
        print(f"\n-- torch.profiler, one step, {label} (top 12 by self CPU time)")
        print(
            prof.key_averages().table(
                sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40
            )
        )
    n_emb = setup.encoder.model.get_input_embeddings().weight.numel()
    n_all = sum(p.numel() for p in setup.encoder.parameters())
    print(
        f"parameters: {n_all / 1e6:.1f}M, of which word embeddings {n_emb / 1e6:.1f}M "
        f"({100 * n_emb / n_all:.0f}%); AdamW touches all of them every step"
    )
    print(
        f"hybrid-tui optimizer: fused={setup.optimizer.defaults.get('fused')}, "
        f"foreach={setup.optimizer.defaults.get('foreach')}"
    )
    del torch


if __name__ == "__main__":
    main()
