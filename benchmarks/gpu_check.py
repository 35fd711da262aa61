"""The GPU check: training throughput of three rivals on a bare GPU machine, as one JSON line.

Runs where only torch (CUDA), transformers, sentence-transformers, tokenizers, safetensors and a
few small libraries are installed: no model download, no data set, no MLflow, faiss, Textual or
pydantic (a lent GPU machine reaches no package registry). It needs none of them: the models are
the exact e5-small / XLM-R base / LaBSE architectures with random weights
(`data/gpu_check_models.json`; throughput needs no trained weights), and the batches are
made-up words with MLQA-R's real token lengths (`data/mlqa_r_token_lengths.json`), see
`_synthetic`. Every side tokenizes, truncates (64 / 128 tokens) and pads those texts itself.

Sides, each one full optimiser step per batch (InfoNCE / MNRL at temperature 0.05 over in-batch
negatives, grad-norm clip 1.0, fused AdamW lr 3e-5, weight decay 0.01):
- `project_padding_free`: the project's own `training.step.train_step` and `BiEncoder` with the
  padding-free forward (`models.padding_free`); attention kernel in `project_attention`.
- `padded_hf`: the same `train_step` with `padding_free = false`: transformers' own forward over
  the padded batch (SDPA).
- `sentence_transformers`: sentence-transformers' MNRL step (`bench_train_throughput.st_step`)
  at its best setting here (`st_attention`: flash_attention_2, which sentence-transformers 5+
  runs unpadded, where flash-attn is installed and the step is bf16; SDPA otherwise).
LaBSE's published sentence-transformers head has a 768x768 dense layer after pooling; every side
here pools and normalises only (a negligible difference in work).

fp32 and bf16 (autocast; the project's own where its path offers it on this device, else this
script's `torch.autocast` around `train_step`: `bf16_autocast` says which), batch 32 and 128,
and the project's gradient caching at batch 1024 in chunks of 128 (`train.grad_accum_steps`).
Each row: pairs/s, tokens/s (real tokens, padding not counted), ms/step, peak memory, MFU.
Also the eval encode rate: `BiEncoder.encode` over MLQA-R-length candidate sentences, and
`padding_free_vs_padded_max_abs_diff`: both project sides' fp32 embeddings of one batch before
training (same weights), so this device's packed attention kernel is checked, not only timed.

MFU = useful training FLOP/s / the device's peak for the precision. Useful FLOPs of a step,
summed over its query and passage texts with n real tokens each (after truncation), for an
encoder of L layers, hidden size h, FFN size f:
    forward(n) = L * (2 * n * (4 * h^2 + 2 * h * f) + 4 * n^2 * h)
    step       = 3 * sum over texts of forward(n)
(the linear layers' weights, 2 FLOPs a multiply-add; QK^T and AV over the n x n real pairs;
backward = 2x forward; embeddings, LayerNorm, softmax, the loss and biases left out; padding
never counts, and gradient caching's extra forward is overhead, not useful work). Peak: the
data-sheet dense figure for known GPUs (`SPEC_TFLOPS`), else the measured rate of one large
matrix product (`matmul_tflops`, reported either way).

    python benchmarks/gpu_check.py [--out FILE] [--budget-s 330]     (a CUDA GPU)
    python benchmarks/gpu_check.py --cpu-dry-run                      (CPU, tiny sizes, CI)

The last line of stdout is the JSON; progress goes to stderr. Exit status 1 when any row
failed (the JSON is printed and written either way), 2 when no CUDA GPU is visible.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the project, not installed
import _common as c  # noqa: E402
import _synthetic as syn  # noqa: E402
from _project_step import LR, WEIGHT_DECAY, StepSetup, adamw, sampler_batches, step_flops  # noqa: E402

SIDES = ("project_padding_free", "padded_hf", "sentence_transformers")
EVAL_BATCH = 64  # the recipe's eval.batch_size default
# dense TFLOP/s from NVIDIA's data sheets (SXM): bf16 tensor cores, fp32 without TF32 (torch's
# default matmul precision, "highest", keeps fp32 matmuls off TF32)
SPEC_TFLOPS = {
    "H200": {"bf16": 989.4, "fp32": 66.9},
    "H100 80GB HBM3": {"bf16": 989.4, "fp32": 66.9},
}


@dataclass(frozen=True)
class Plan:
    """Sizes: the real check, or the CPU dry run's tiny ones."""

    device: str
    batches: tuple[int, ...]
    cached_batch: int
    cached_chunk: int
    warmup: int
    steps: int
    cached_steps: int
    eval_texts: int
    matmul_size: int

    @classmethod
    def for_mode(cls, dry_run: bool) -> Plan:
        if dry_run:
            return cls("cpu", (4, 8), 16, 8, 1, 1, 1, 48, 256)
        return cls("cuda", (32, 128), 1024, 128, 3, 10, 3, 8192, 8192)


class Check:
    """Runs the rows, keeps the results, stops starting rows once the budget is spent."""

    def __init__(self, plan: Plan, budget_s: float, precisions: list[str]) -> None:
        import torch

        self.torch = torch
        self.plan, self.budget_s, self.precisions = plan, budget_s, precisions
        self.start = time.perf_counter()
        self.rows: list[dict] = []
        self.eval_rows: list[dict] = []
        self.st_attention: dict[str, str] = {}
        self.reference: dict[str, object] = {}
        self.padding_free_diff: dict[str, float] = {}
        self.peak_tflops: dict[str, float] = {}
        self.matmul: dict[str, float] = {}
        self.peak_source: str | None = None
        self.project_attention: str | None = None
        self.texts = syn.TextBatches(seed=0)
        self.on_gpu = plan.device == "cuda"
        self.bf16_by_project = self._project_autocasts()

    # ------------------------------------------------------------ helpers

    def log(self, message: str) -> None:
        print(
            f"gpu_check [{time.perf_counter() - self.start:5.1f}s] {message}",
            file=sys.stderr,
            flush=True,
        )

    def over_budget(self) -> bool:
        return time.perf_counter() - self.start > self.budget_s

    def sync(self) -> None:
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def reset_peak_memory(self) -> None:
        if self.on_gpu:
            self.torch.cuda.reset_peak_memory_stats()

    def free_memory(self) -> None:
        """Give a finished side's (or a failed row's) GPU memory back (a full collection takes
        about a second with transformers loaded: not per row, and not on the CPU)."""
        if self.on_gpu:
            gc.collect()
            self.torch.cuda.empty_cache()

    def peak_memory_mib(self) -> float:
        if self.on_gpu:
            return round(self.torch.cuda.max_memory_allocated() / 2**20, 1)
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    def autocast(self, precision: str):
        if precision == "bf16":
            return self.torch.autocast(self.plan.device, dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def _project_autocasts(self) -> bool:
        """Whether `train_step` autocasts to bf16 on this device by itself (its `_autocast`)."""
        from hybrid_tui.training import step

        probe = SimpleNamespace(autocast_dtype=self.torch.bfloat16, device=self.plan.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about a CUDA autocast without CUDA
            context = getattr(step, "_autocast", lambda s: None)(probe)
        return isinstance(context, self.torch.autocast) and context.device == self.plan.device

    def matmul_tflops(self, precision: str) -> float:
        """One large matrix product's rate (median of 5 after 2 warm-ups)."""
        torch, n = self.torch, self.plan.matmul_size
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        a = torch.randn(n, n, device=self.plan.device, dtype=dtype)
        b = torch.randn(n, n, device=self.plan.device, dtype=dtype)
        times = []
        for i in range(7):
            self.sync()
            t0 = time.perf_counter()
            a @ b
            self.sync()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        return 2 * n**3 / c.median(times) / 1e12

    # ------------------------------------------------------------ one row

    def timed(self, row: dict, step, config: dict, batch: int, steps: int, warmup: int) -> None:
        """`warmup` + `steps` steps on fresh batches; fills the row's rates, memory and MFU."""
        batches = [self.texts.batch(batch) for _ in range(warmup + steps)]
        work = batches[warmup:]
        tokens = sum(
            sum(syn.real_lengths(q, syn.MAX_QUERY_LENGTH))
            + sum(syn.real_lengths(p, syn.MAX_PASSAGE_LENGTH))
            for q, p in work
        )
        flops = sum(
            step_flops(
                config,
                syn.real_lengths(q, syn.MAX_QUERY_LENGTH)
                + syn.real_lengths(p, syn.MAX_PASSAGE_LENGTH),
            )
            for q, p in work
        )
        prepared = step.prepare(batches)
        self.reset_peak_memory()
        for i in range(warmup):
            step(prepared[i])
        self.sync()
        t0 = time.perf_counter()
        for i in range(warmup, warmup + steps):
            loss = step(prepared[i])
        self.sync()
        seconds = time.perf_counter() - t0
        peak = self.peak_tflops[row["precision"]]
        row.update(
            pairs_per_s=round(steps * batch / seconds, 2),
            tokens_per_s=round(tokens / seconds, 1),
            step_ms=round(1000 * seconds / steps, 2),
            peak_mem_mib=self.peak_memory_mib(),
            mfu=round(flops / seconds / (peak * 1e12), 4),
            loss=round(float(loss), 4),
            steps=steps,
        )

    def row(self, model: str, side: str, precision: str, batch: int, chunks: int, run) -> None:
        row = {
            "model": model,
            "side": side,
            "precision": precision,
            "batch": batch,
            "grad_cache_chunks": chunks,
        }
        if self.over_budget():
            row["skipped"] = f"the {self.budget_s:.0f} s budget was spent"
        else:
            try:
                run(row)
            except Exception as err:  # noqa: BLE001 - one failed row must not stop the check
                row["error"] = first_line(err)
                self.free_memory()
        self.rows.append(row)
        shown = {
            k: row[k]
            for k in ("pairs_per_s", "tokens_per_s", "mfu", "error", "skipped")
            if k in row
        }
        self.log(f"{model} {side} {precision} batch {batch} x{chunks}: {shown}")

    # ------------------------------------------------------------ the sides

    def project_side(self, arch, folder: Path, padding_free: bool) -> None:
        """`train_step` on the project's `BiEncoder`, padding-free or padded."""
        from transformers import AutoModel, AutoTokenizer

        from hybrid_tui.models.encoder import BiEncoder
        from hybrid_tui.training.step import train_step

        torch = self.torch
        side = SIDES[0] if padding_free else SIDES[1]
        kwargs = syn._without_pooler_kwargs(SimpleNamespace(model_type=arch.config["model_type"]))
        model = AutoModel.from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation="sdpa", **kwargs
        )
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        encoder = BiEncoder(model, tokenizer, syn.conventions(arch), padding_free=padding_free).to(
            self.plan.device
        )
        self.same_embeddings(arch.name, encoder, padding_free)
        encoder.train()
        optimizer = adamw(encoder.parameters())
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        if padding_free:
            from hybrid_tui.models.padding_free.forward import default_attention

            self.project_attention = f"{default_attention(torch.device(self.plan.device))} ({encoder.padding_free_status})"

        def make_step(precision: str, chunks: int):
            def step(batch):
                setup = step.setup
                if precision == "bf16" and not self.bf16_by_project:
                    with self.autocast("bf16"):
                        return train_step(setup, batch)
                return train_step(setup, batch)

            def prepare(text_batches):
                pairs, batches = sampler_batches(text_batches)
                own_bf16 = precision == "bf16" and self.bf16_by_project
                step.setup = StepSetup(
                    encoder,
                    optimizer,
                    scheduler,
                    pairs,
                    self.plan.device,
                    torch.bfloat16 if own_bf16 else None,
                    grad_accum_steps=chunks,
                    precision=precision,
                )
                return batches

            step.prepare = prepare
            return step

        plan = self.plan
        for precision in self.precisions:
            for batch in plan.batches:
                self.row(
                    arch.name,
                    side,
                    precision,
                    batch,
                    1,
                    lambda row, p=precision, b=batch: self.timed(
                        row, make_step(p, 1), arch.config, b, plan.steps, plan.warmup
                    ),
                )
        chunks = plan.cached_batch // plan.cached_chunk
        for precision in self.precisions:
            self.row(
                arch.name,
                side,
                precision,
                plan.cached_batch,
                chunks,
                lambda row, p=precision: self.timed(
                    row, make_step(p, chunks), arch.config, plan.cached_batch, plan.cached_steps, 1
                ),
            )
        if padding_free:
            self.eval_encode(arch, encoder)

    def same_embeddings(self, model: str, encoder, padding_free: bool) -> None:
        """Before training: both project sides start from the same weights, so their fp32
        embeddings of one MLQA-length batch (dropout off) must agree; records the largest
        difference (this device's packed attention kernel against the padded forward)."""
        encoder.eval()
        texts = syn.TextBatches(seed=1).texts("passage", self.plan.batches[-1])
        with self.torch.no_grad():
            embeddings = encoder(encoder.tokenize(texts, "passage")).float().cpu()
        first = self.reference.setdefault(model, embeddings)
        if not padding_free:
            self.padding_free_diff[model] = float(f"{(first - embeddings).abs().max():.3g}")

    def st_side(self, arch, folder: Path, precision: str) -> None:
        """sentence-transformers' MNRL step at its best attention for this precision."""
        from bench_train_throughput import build_st, st_attention_status, st_step

        model, loss_fn, optimizer = build_st(
            folder, LR, WEIGHT_DECAY, device=self.plan.device, precision=precision
        )
        self.st_attention[precision] = st_attention_status(model)

        def step(qp):
            return st_step(
                model,
                loss_fn,
                optimizer,
                *qp,
                autocast=lambda: self.autocast(precision),
                prompts=(None, None),
            )

        step.prepare = lambda text_batches: text_batches
        for batch in self.plan.batches:
            self.row(
                arch.name,
                SIDES[2],
                precision,
                batch,
                1,
                lambda row, b=batch: self.timed(
                    row, step, arch.config, b, self.plan.steps, self.plan.warmup
                ),
            )

    def eval_encode(self, arch, encoder) -> None:
        """`BiEncoder.encode` (length-sorted batches; bf16 autocast on CUDA, as it always does)."""
        row = {
            "model": arch.name,
            "precision": "bf16" if self.on_gpu else "fp32",
            "batch": EVAL_BATCH,
        }
        try:
            texts = self.texts.texts("candidate", self.plan.eval_texts)
            encoder.eval()
            encoder.encode(texts[:EVAL_BATCH], "passage", batch_size=EVAL_BATCH)  # warm-up
            self.sync()
            t0 = time.perf_counter()
            encoder.encode(texts, "passage", batch_size=EVAL_BATCH)
            self.sync()
            seconds = time.perf_counter() - t0
            tokens = sum(syn.real_lengths(texts, syn.MAX_PASSAGE_LENGTH))
            row.update(
                texts=len(texts),
                texts_per_s=round(len(texts) / seconds, 1),
                tokens_per_s=round(tokens / seconds, 1),
            )
        except Exception as err:  # noqa: BLE001
            row["error"] = first_line(err)
        encoder.train()
        self.eval_rows.append(row)
        self.log(f"{arch.name} eval encode: {row}")

    # ------------------------------------------------------------ the whole check

    def build(self, arch, folder: Path) -> Path:
        """The random-weight folder, initialised on the device (fast for LaBSE's 501k-row
        table), or on the CPU where that fails."""
        try:
            return syn.build_encoder_folder(arch, folder, self.plan.device)
        except Exception as err:  # noqa: BLE001
            if not self.on_gpu:
                raise
            self.log(f"building {arch.name} on the GPU failed ({first_line(err)}); on the CPU")
            return syn.build_encoder_folder(arch, folder, "cpu")
        finally:
            self.free_memory()

    def run(self, archs, workdir: Path) -> None:
        measured = {p: float(f"{self.matmul_tflops(p):.4g}") for p in ("fp32", "bf16")}
        self.matmul = measured
        name = self.torch.cuda.get_device_name(0) if self.on_gpu else "cpu"
        spec = next((v for k, v in SPEC_TFLOPS.items() if k in name), None)
        self.peak_tflops = dict(spec) if spec else dict(measured)
        self.peak_source = f"data sheet ({name})" if spec else "measured matmul (matmul_tflops)"
        for arch in archs:
            if self.over_budget():
                self.rows.append(
                    {"model": arch.name, "skipped": "budget spent before the model was built"}
                )
                continue
            self.log(f"building {arch.name} ({arch.hub_id} architecture, random weights)")
            try:
                folder = self.build(arch, workdir / arch.name)
            except Exception as err:  # noqa: BLE001 - the other models still run
                self.rows.append({"model": arch.name, "error": f"building it: {first_line(err)}"})
                continue
            for padding_free in (True, False):
                self.project_side(arch, folder, padding_free)
                self.free_memory()
            for precision in self.precisions:
                try:
                    self.st_side(arch, folder, precision)
                    self.free_memory()
                except Exception as err:  # noqa: BLE001 - loading failed: the rows say why
                    message = first_line(err)
                    self.rows.append(
                        {
                            "model": arch.name,
                            "side": SIDES[2],
                            "precision": precision,
                            "error": message,
                        }
                    )


def first_line(err: BaseException) -> str:
    """`Type: the message's first line` (at most 300 characters) for the JSON."""
    text = str(err).splitlines()[0][:300] if str(err) else ""
    return f"{type(err).__name__}: {text}"


def environment(device: str) -> dict:
    import sentence_transformers
    import torch
    import transformers

    info = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else c.machine()["cpu"],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
    try:
        import flash_attn

        info["flash_attn"] = flash_attn.__version__
    except ImportError:
        info["flash_attn"] = None
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-dry-run", action="store_true", help="CPU, tiny models, few steps")
    parser.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both")
    parser.add_argument(
        "--models", default=None, help="comma-separated subset (e5-small,xlm-r-base,labse)"
    )
    parser.add_argument("--budget-s", type=float, default=330.0, help="start no row after this")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the JSON here ($OUT/gpu_check.json when $OUT is set)",
    )
    args = parser.parse_args()
    c.setup_env()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, ever
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar per model load
    plan = Plan.for_mode(args.cpu_dry_run)
    if args.cpu_dry_run:  # it checks that the check runs, not speed: one thread stays quick on
        torch.set_num_threads(1)  # a loaded 2-core machine (two spin-wait for each other)
    if plan.device == "cuda" and not torch.cuda.is_available():
        print(
            "error: no CUDA GPU is visible; run with --cpu-dry-run for the CPU dry run",
            file=sys.stderr,
        )
        return 2
    torch.manual_seed(0)
    archs = syn.architectures(tiny=args.cpu_dry_run)
    if args.models:
        wanted = args.models.split(",")
        archs = [a for a in archs if a.name in wanted]
    precisions = ["bf16", "fp32"] if args.precision == "both" else [args.precision]
    check = Check(plan, args.budget_s, precisions)
    fatal = None
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as workdir:
        try:
            check.run(archs, Path(workdir))
        except Exception as err:  # noqa: BLE001 - the JSON line is printed whatever happens
            fatal = first_line(err)
            check.log(f"stopped: {fatal}")
    lengths = syn.length_histograms()
    result = {
        "check": "gpu_check",
        "mode": "cpu-dry-run" if args.cpu_dry_run else "gpu",
        **environment(plan.device),
        "project_attention": check.project_attention,
        "sentence_transformers_attention": check.st_attention,
        "padding_free_vs_padded_max_abs_diff": check.padding_free_diff,
        "bf16_autocast": (
            "project (train_step's own autocast)"
            if check.bf16_by_project
            else "gpu_check (torch.autocast around train_step: the project's path has no bf16 on this device)"
        ),
        "lengths": f"{syn.LENGTHS_FILE.name}: {lengths['source']}; {lengths['tokenizer']}",
        "flops_per_step": "3 * sum_texts L*(2*n*(4*h^2+2*h*f) + 4*n^2*h), n = real tokens",
        "peak_tflops": check.peak_tflops,
        "peak_source": check.peak_source,
        "matmul_tflops": check.matmul,
        "peak_mem": "torch.cuda.max_memory_allocated per row"
        if plan.device == "cuda"
        else "process max RSS so far (cpu)",
        "rows": check.rows,
        "eval_encode": check.eval_rows,
        "errors": sum("error" in r for r in check.rows + check.eval_rows) + (fatal is not None),
        "fatal": fatal,
        "seconds": round(time.perf_counter() - check.start, 1),
        "budget_s": args.budget_s,
    }
    line = json.dumps(result)
    out = args.out or (
        Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n", encoding="utf-8")
    print(line, flush=True)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
