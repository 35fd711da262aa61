"""Training throughput (pairs/s): hybrid-tui's training step vs sentence-transformers' MNRL loop.

hybrid-tui sides: the real trainer path, `training.setup.setup_training` on an e5-small-offline
recipe (fp32, CPU, batch 32, max lengths 64/128, AdamW as the trainer builds it, grad clip 1.0),
then `training.step.train_step(setup, batch)`; once with the default `model.padding_free = "auto"`
(the packed forward, `hybrid_tui.models.padding_free.forward`) and once with `padding_free = false` (the standard
padded forward, the kernels sentence-transformers runs).

Baseline: sentence-transformers 6 on the same prepared model folder, in the loop its
`SentenceTransformerTrainer` runs per step, written out by hand so that both sides can be
interleaved in one process: the data collator's `model.preprocess(texts, prompt=..., max_length=...)`
per column ("query: " / 64 tokens, "passage: " / 128 tokens), `MultipleNegativesRankingLoss`
(scale 20 = temperature 0.05), backward, grad-norm clip 1.0, and the optimiser the Trainer picks by
default with torch >= 2.8 (`adamw_torch_fused`), lr 3e-5, weight decay 0.01. The Trainer's own
bookkeeping (dataloader, callbacks, logging) is left out, which can only make the baseline faster.
It runs its best attention for the device (`st_attention`: flash_attention_2, which
sentence-transformers 5+ runs unpadded, with flash-attn on CUDA in bf16; SDPA otherwise), and the
header and JSON say which ran.

All sides train on the same batches (MLQA-R pairs drawn by hybrid-tui's sampler, α = 0.5),
alternating rounds of K steps (one step per side per round by default: on a shared machine the
load then changes little between the sides of a round); the figure is the median over rounds of
pairs/s, the ratio the median of per-round ratios. The CPU time each side's steps take (this
process's, all threads) is reported beside it: a cross-check that moves less with other
processes' load than wall-clock time does. `--json` ends the output with one JSON line (ratios, pairs/s, the
real-token fraction of the batches, the machine). At fp32 (the default) one more side runs the
padding-free trainer with `train.precision = "bf16"` (bf16 autocast around the encoder, fp32
weights, optimiser and loss; on the fp32 side's model, `bf16_twin`), and the JSON line's `bf16`
block gives its pairs/s beside fp32's and the median of per-round ratios bf16/fp32, in wall
and in CPU time. `--precision bf16` runs every side under bf16 autocast
(sentence-transformers' Trainer with `bf16=True` autocasts the same way); `--device cuda` runs
on a GPU, timed with CUDA synchronisation.
`--profile` adds a per-phase breakdown (tokenize / forward+loss / backward / clip / optimiser) and
torch.profiler's top operators for the sides.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

GOAL = 1.6
BATCH = 32
PF, PADDED, ST, FROZEN, PF_BF16 = (
    "hybrid-tui",
    "hybrid-tui padded",
    "sentence-transformers",
    "hybrid-tui+frozen",
    "hybrid-tui bf16",
)


def build_hybrid(
    data_root: Path,
    steps_total: int,
    tmp: Path,
    freeze_embeddings: bool = False,
    padding_free: bool | str = "auto",
    device: str = "cpu",
    precision: str = "fp32",
):
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.training.inputs import prepare_inputs
    from hybrid_tui.training.setup import setup_training

    recipe = recipe_from_dict(
        {
            "name": "bench-throughput",
            "model": {
                "spec": "e5-small-offline",
                "max_query_length": 64,
                "max_passage_length": 128,
                "freeze_embeddings": freeze_embeddings,
                "padding_free": padding_free,
            },
            "data": {"source": "lareqa", "dataset": "mlqa-r"},
            "sampler": {"mono": 0.5, "cross": 0.5},
            "train": {
                "batch_size": BATCH,
                "steps": max(10_000, steps_total),
                "precision": precision,
                "device": device,
                "seed": 0,
                "checkpoint_every": 0,
            },
        },
        "bench",
    )
    pairs = load_training_pairs(recipe.data, str(data_root))
    inputs = prepare_inputs(recipe, str(data_root), pairs=pairs, eval_sets=[])
    files = RunFiles.for_run("bench", base=tmp)
    setup = setup_training(inputs, files)
    return setup


def st_attention(device: str, precision: str) -> str:
    """sentence-transformers at its best here: `flash_attention_2` where flash-attn is importable,
    CUDA is present and the step runs in bf16 (sentence-transformers 5+ then unpads the batch
    itself: transformers' flattening collator, XLM-R's position offsets included); SDPA
    otherwise (flash attention has no fp32 kernel)."""
    if not device.startswith("cuda") or precision == "fp32":
        return "sdpa"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return "sdpa"
    return "flash_attention_2"


def st_attention_status(model) -> str:
    """Which attention the loaded sentence-transformers model runs, and whether it unpads."""
    first = model[0]
    config = getattr(first, "auto_model", getattr(first, "model", None)).config
    unpadded = bool(getattr(first, "can_flatten_inputs", False))
    return f"{config._attn_implementation}, {'unpadded' if unpadded else 'padded'}"


def build_st(
    model_path: Path,
    lr: float,
    weight_decay: float,
    fused: bool = True,
    device: str = "cpu",
    precision: str = "fp32",
):
    """sentence-transformers' MNRL training pieces on `model_path`, with `st_attention`'s
    attention (`st_attention_status(model)` says which ran)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(
        str(model_path),
        device=device,
        model_kwargs={"attn_implementation": st_attention(device, precision)},
    )
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


def st_step(
    model,
    loss_fn,
    optimizer,
    queries,
    passages,
    phases=None,
    autocast=contextlib.nullcontext,
    prompts: tuple[str | None, str | None] = ("query: ", "passage: "),
) -> float:
    import torch

    t0 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    q = model.preprocess(queries, prompt=prompts[0], max_length=64)
    p = model.preprocess(passages, prompt=prompts[1], max_length=128)
    q, p = _to_device(q, model.device), _to_device(p, model.device)
    t1 = time.perf_counter()
    with autocast():
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


def _to_device(features: dict, device) -> dict:
    """What the Trainer's `_prepare_inputs` does with the collator's batch (a no-op on CPU)."""
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def hybrid_step_phases(setup, batch, phases) -> float:
    """The same work as `training.step.train_step` (grad_accum_steps = 1, fp32), split into
    phases for the profile only; the benchmark itself times the real `train_step`."""
    import torch

    from hybrid_tui.training.loss import info_nce
    from hybrid_tui.training.step import batch_texts

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


def real_token_fraction(encoder, texts) -> float:
    """Real tokens / padded tokens over the benchmark's batches, as the trainer tokenizes them."""
    real = padded = 0
    for queries, passages in texts:
        for features in (encoder.tokenize(queries, "query"), encoder.tokenize(passages, "passage")):
            real += int(features["attention_mask"].sum())
            padded += features["attention_mask"].numel()
    return real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 rounds of 1 step (sanity check)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps-per-round", type=int, default=None)
    parser.add_argument("--profile", action="store_true", help="phase breakdown + torch.profiler")
    parser.add_argument(
        "--frozen-variant",
        action="store_true",
        help="also time hybrid-tui with model.freeze_embeddings = true (a recipe option; NOT the "
        "same training as the baseline, which trains the word embeddings)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: autocast on every side (at fp32, one bf16 side runs beside the others)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args()
    rounds = args.rounds or (6 if args.quick else 15)
    k = args.steps_per_round or 1
    warmup = 1 if args.quick else 2

    c.setup_env()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU is visible")
    if args.profile and args.device != "cpu":
        sys.exit("--profile times phases on the CPU only")
    torch.manual_seed(0)
    c.print_machine("bench_train_throughput")
    root = c.data_root()
    from hybrid_tui.models import resolve_model
    from hybrid_tui.training.step import batch_texts, train_step

    model_path = resolve_model("e5-small-offline").path
    n_batches = warmup + rounds * k

    def hybrid_setup(precision: str = args.precision, **options):
        tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
        return build_hybrid(
            root, n_batches, tmp, device=args.device, precision=precision, **options
        )

    setup = hybrid_setup()
    padded_setup = hybrid_setup(padding_free=False)
    batches = [setup.sampler.next_batch() for _ in range(n_batches)]
    texts = [batch_texts(setup, b) for b in batches]
    fraction = real_token_fraction(setup.encoder, texts)
    st_model, st_loss, st_opt = build_st(
        model_path,
        setup.recipe.train.lr,
        setup.recipe.train.weight_decay,
        device=args.device,
        precision=args.precision,
    )
    st_attention_ran = st_attention_status(st_model)
    on_gpu = args.device == "cuda"

    def st_autocast():
        if args.precision == "bf16":
            return torch.autocast(args.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()

    print(
        f"   model {model_path} | batch {BATCH} | max len 64/128 | {args.precision} "
        f"{args.device} | {len(setup.pairs.items)} MLQA-R items | {rounds} rounds x {k} steps "
        f"(+{warmup} warm-up) per side, same batches every side | real tokens "
        f"{100 * fraction:.1f}% of padded tokens\n   {PF}: {setup.encoder.padding_free_status}"
        f"\n   {PADDED}: {padded_setup.encoder.padding_free_status}"
        f"\n   {ST}: attention {st_attention_ran}",
        flush=True,
    )
    setups = {PF: setup, PADDED: padded_setup}
    if args.precision == "fp32":
        setups[PF_BF16] = bf16_twin(setup)
    if args.frozen_variant:
        setups[FROZEN] = hybrid_setup(freeze_embeddings=True)

    def st_once(i: int) -> None:
        st_step(st_model, st_loss, st_opt, *texts[i], autocast=st_autocast)

    for i in range(warmup):
        for s in setups.values():
            train_step(s, batches[i])
        st_once(i)
    sync()

    cursor = dict.fromkeys([*setups, ST], warmup)
    cpu_seconds: dict[str, list[float]] = {name: [] for name in cursor}

    def timed(which: str, one_step) -> float:
        start = cursor[which]
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(start, start + k):
            one_step(i)
        sync()
        dt = time.perf_counter() - t0
        cpu_seconds[which].append((time.process_time() - c0) / k)
        cursor[which] += k
        return k * BATCH / dt

    sides = {
        name: (lambda name=name, s=s: timed(name, lambda i: train_step(s, batches[i])))
        for name, s in setups.items()
    }
    sides[ST] = lambda: timed(ST, st_once)
    results = c.interleave(sides, rounds, label=True)
    medians = {name: c.median(values) for name, values in results.items()}
    ratios = {
        name: c.median([h / b for h, b in zip(values, results[ST], strict=False)])
        for name, values in results.items()
    }
    cpu_ratios = {  # ST's CPU seconds per step over this side's, per round
        name: c.median([b / h for h, b in zip(values, cpu_seconds[ST], strict=False)])
        for name, values in cpu_seconds.items()
    }
    labels = {
        PF: "hybrid-tui train_step, padding-free (default)",
        PADDED: "hybrid-tui train_step, padded (padding_free = false)",
        FROZEN: "hybrid-tui, freeze_embeddings=true (what-if, different training)",
        PF_BF16: 'hybrid-tui train_step, padding-free, train.precision = "bf16"',
        ST: "sentence-transformers MNRL (manual Trainer loop, fused AdamW)",
    }
    rows = [
        [labels[name], f"{medians[name]:.2f}", f"{1000 * BATCH / medians[name]:.0f}"]
        + [f"{ratios[name]:.3f}x", f"{c.median(cpu_seconds[name]):.2f}", f"{cpu_ratios[name]:.3f}x"]
        for name in [*setups, ST]
    ]
    print()
    c.table(
        [
            "side",
            "pairs/s (median)",
            "ms/step",
            "ratio vs ST (median of per-round ratios)",
            "CPU s/step",
            "CPU-time ratio vs ST",
        ],
        rows,
        title=f"Training throughput, batch {BATCH}, {args.precision} {args.device}, "
        f"{rounds} rounds x {k} steps",
    )
    ratio = ratios[PF]
    print(f"goal >= {GOAL:.2f}x: {c.verdict(ratio >= GOAL)} (ratio {ratio:.3f}x)", flush=True)
    if PF_BF16 in results:
        bf16 = bf16_beside_fp32(results, cpu_seconds)
        print(
            f"bf16 vs fp32 (padding-free trainer): {bf16['pairs_per_s_bf16']:.2f} vs "
            f"{bf16['pairs_per_s_fp32']:.2f} pairs/s, ratio {bf16['ratio']:.3f}x "
            f"(CPU time {bf16['cpu_time_ratio']:.3f}x)",
            flush=True,
        )

    if args.profile:
        profile(setup, padded_setup, st_model, st_loss, st_opt)
    if args.json:
        summary = {
            "ratio_vs_sentence_transformers": round(ratio, 4),
            "padded_ratio": round(ratios[PADDED], 4),
            "cpu_time_ratio_vs_sentence_transformers": round(cpu_ratios[PF], 4),
            "cpu_time_padded_ratio": round(cpu_ratios[PADDED], 4),
            "bf16": bf16_beside_fp32(results, cpu_seconds) if PF_BF16 in results else None,
            "real_token_fraction": round(fraction, 4),
            "pairs_per_s": {name: round(value, 3) for name, value in medians.items()},
            "rounds": rounds,
            "steps_per_round": k,
            "batch": BATCH,
            "device": args.device,
            "precision": args.precision,
            "padding_free": setup.encoder.padding_free_status,
            "sentence_transformers_attention": st_attention_ran,
            "goal": GOAL,
            "machine": c.machine(),
        }
        print(json.dumps(summary), flush=True)


def bf16_twin(setup):
    """The padding-free side under `train.precision = "bf16"` (the autocast dtype the trainer
    picks for it), sharing the fp32 side's model and optimiser: one more e5-small training state
    would add ~2 GB to a benchmark that already holds three (an 11.6 GB `--quick` run was
    OOM-killed on the shared 23 GB machine), and a step's time does not depend on the weights'
    values."""
    import dataclasses

    from hybrid_tui.devices import pick_precision

    return dataclasses.replace(setup, autocast_dtype=pick_precision("bf16", setup.device))


def bf16_beside_fp32(
    results: dict[str, list[float]], cpu_seconds: dict[str, list[float]]
) -> dict[str, float]:
    """The padding-free trainer's pairs/s at fp32 and bf16 (medians over the same rounds), the
    median of per-round ratios bf16/fp32, and the same ratio in CPU time per step (fp32's over
    bf16's: above 1 when bf16 is faster), which moves less with other processes' load."""
    fp32, bf16 = results[PF], results[PF_BF16]
    cpu32, cpu16 = cpu_seconds[PF], cpu_seconds[PF_BF16]
    return {
        "pairs_per_s_fp32": round(c.median(fp32), 3),
        "pairs_per_s_bf16": round(c.median(bf16), 3),
        "ratio": round(c.median([b / f for f, b in zip(fp32, bf16, strict=True)]), 4),
        "cpu_time_ratio": round(c.median([f / b for f, b in zip(cpu32, cpu16, strict=True)]), 4),
    }


def profile(setup, padded_setup, st_model, st_loss, st_opt) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    from hybrid_tui.training.step import batch_texts

    extra = [setup.sampler.next_batch() for _ in range(7)]
    phases: dict[str, dict[str, list]] = {PF: {}, PADDED: {}, ST: {}}
    for b in extra[:4]:
        q, p = batch_texts(setup, b)
        hybrid_step_phases(setup, b, phases[PF])
        hybrid_step_phases(padded_setup, b, phases[PADDED])
        st_step(st_model, st_loss, st_opt, q, p, phases[ST])
    rows = []
    for name in phases[PF]:
        ms = [1000 * c.median(phases[side][name]) for side in (PF, PADDED, ST)]
        rows.append([name, *(f"{m:.0f}" for m in ms), f"{ms[0] / ms[2]:.2f}"])
    totals = [1000 * sum(c.median(v) for v in phases[side].values()) for side in (PF, PADDED, ST)]
    rows.append(["total", *(f"{m:.0f}" for m in totals), f"{totals[0] / totals[2]:.2f}"])
    print()
    c.table(
        ["phase", "padding-free ms", "padded ms", "ST ms", "time ratio pf/ST"],
        rows,
        title="Where a step's time goes (median of 4 steps each)",
    )
    for label, fn, batch in (
        (PF, lambda b: hybrid_step_phases(setup, b, {}), extra[4]),
        (PADDED, lambda b: hybrid_step_phases(padded_setup, b, {}), extra[5]),
        (ST, lambda b: st_step(st_model, st_loss, st_opt, *batch_texts(setup, b)), extra[6]),
    ):
        with tprofile(activities=[ProfilerActivity.CPU]) as prof:
            fn(batch)
        print(f"\n-- torch.profiler, one step, {label} (top 12 by self CPU time)")
        print(
            prof.key_averages().table(
                sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40
            )
        )
    word_embedding_cost(setup, totals[0] / 1000)
    print(
        f"hybrid-tui optimizer: fused={setup.optimizer.defaults.get('fused')}, "
        f"foreach={setup.optimizer.defaults.get('foreach')}"
    )
    del torch


def word_embedding_cost(setup, step_s: float) -> None:
    """What the dense word-embedding gradient costs per step, op by op, on a copy of the matrix
    (the setup's own weights and optimiser are not touched): the standard lookup's backward
    (a fresh zeroed gradient each step, as the padded path and sentence-transformers pay) and the
    padding-free path's (the same values written into a kept buffer)."""
    import torch

    from hybrid_tui.models.padding_free.forward import _word_embeddings

    table = setup.encoder.model.get_input_embeddings()
    weight = table.weight
    n_all = sum(p.numel() for p in setup.encoder.parameters())
    print(
        f"\nparameters: {n_all / 1e6:.1f}M, of which word embeddings {weight.numel() / 1e6:.1f}M "
        f"({100 * weight.numel() / n_all:.0f}%), {tuple(weight.shape)}"
    )
    copy = torch.nn.Embedding(*weight.shape, padding_idx=table.padding_idx)
    copy.weight.data.copy_(weight.detach())
    optimizer = torch.optim.AdamW(copy.parameters(), lr=3e-5, weight_decay=0.01, fused=True)
    ids = torch.randint(0, weight.shape[0], (3000,))
    grad_out = torch.randn(3000, weight.shape[1])

    def standard() -> None:  # autograd's embedding backward: a fresh dense gradient
        copy(ids).backward(grad_out)

    def kept() -> None:  # hybrid_tui.models.padding_free.forward's lookup: the kept buffer, zeroed
        _word_embeddings(copy, ids).backward(grad_out)

    ops = {
        "backward, standard (fresh zeroed 250k x 384 + index_add)": standard,
        "backward, padding-free (kept buffer zeroed + index_add)": kept,
        "grad-norm of it (clip_grad_norm_'s share)": lambda: torch.linalg.vector_norm(
            copy.weight.grad
        ),
        "scale it by the clip factor": lambda: copy.weight.grad.mul_(0.5),
        "fused AdamW on it": optimizer.step,
        "zero_grad(set_to_none=True)": lambda: optimizer.zero_grad(set_to_none=True),
    }
    times: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(5):  # in a step's order: backward, clip, optimiser, zero_grad
        for backward in (standard, kept):
            for name, op in ops.items():
                if op in (standard, kept) and op is not backward:
                    continue
                t0 = time.perf_counter()
                op()
                times[name].append(time.perf_counter() - t0)
    rows = [[name, f"{1000 * c.median(values):.0f}"] for name, values in times.items()]
    rest = sum(c.median(values) for values in list(times.values())[2:])
    for label, name in (("standard", 0), ("padding-free", 1)):
        total = c.median(list(times.values())[name]) + rest
        rows.append(
            [f"total, {label}", f"{1000 * total:.0f} ({100 * total / step_s:.0f}% of the step)"]
        )
    c.table(
        ["word-embedding gradient, per step", "ms (median)"],
        rows,
        title=f"(% of the padding-free step, {1000 * step_s:.0f} ms)",
    )


if __name__ == "__main__":
    main()
