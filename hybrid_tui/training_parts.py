"""The named pieces of the training loop in `train.py`: setup, one step, logging, saving, evaluation."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs import process_start_ticks
from hybrid_tui.languages import EVAL_DATASETS
from hybrid_tui.loss import gather_with_grad, info_nce
from hybrid_tui.recipe import Recipe
from hybrid_tui.run_files import RunFiles

ERROR_ARTIFACT = "error.txt"


# ---------------------------------------------------------------- before the run exists


def load_eval_sets(recipe: Recipe, data_root: str | None, progress=None) -> list:
    """The evaluation sets of the recipe, restricted to its languages (all of a dataset's if none)."""
    from hybrid_tui.data.lareqa import load_retrieval_set

    sets = []
    for dataset in recipe.eval.datasets:
        available = EVAL_DATASETS[dataset][2]
        chosen = [lang for lang in recipe.eval.languages if lang in available]
        if recipe.eval.languages and len(chosen) < 2 and "multi" in recipe.eval.settings:
            raise HybridTuiError(
                f"eval.languages keeps {len(chosen)} language(s) of {dataset}; "
                "list at least two, or leave it empty for all"
            )
        sets.append(
            load_retrieval_set(
                dataset,
                data_root,
                languages=chosen or None,
                max_questions=recipe.eval.max_questions,
                progress=progress,
            )
        )
    return sets


def check_resumable(tracker, files: RunFiles) -> None:
    detail = tracker.get_run(files.run_id)
    if detail.status == "FINISHED":
        raise HybridTuiError(f"run {files.run_id} already finished; start a new run instead")
    if not (files.checkpoint / "state.json").is_file():
        raise HybridTuiError(
            f"run {files.run_id} has no checkpoint under {files.checkpoint}; "
            "start a new run (set train.checkpoint_every to checkpoint more often)"
        )


def start_tracked_run(tracker, inputs) -> str:
    """Create the MLflow run and record the recipe, code version, model source, device and seed."""
    recipe = inputs.recipe
    tags = {
        "hybrid_tui.recipe_name": recipe.name,
        "hybrid_tui.code_version": code_version(),
        "hybrid_tui.model_source": inputs.model_source,
        "hybrid_tui.device": describe_device(pick_device(recipe.train.device)),
        "hybrid_tui.mix": recipe.sampler.describe(),
        "hybrid_tui.train_languages": ",".join(inputs.pairs.languages),
        "hybrid_tui.padding_free": "on" if inputs.padding_free else "off",
        **recipe.tracking.tags,
    }
    run_id = tracker.start_run(
        recipe.tracking.experiment, recipe.tracking.run_name or recipe.name, tags
    )
    params = recipe.flat_params()
    params["data.resolved_languages"] = ",".join(inputs.pairs.languages)
    params["data.items"] = str(len(inputs.pairs.items))
    tracker.log_params(run_id, params)
    tracker.log_text(run_id, recipe.to_toml(), "recipe.toml")
    return run_id


def write_job_record(files: RunFiles, inputs, recipe: Recipe) -> None:
    """What `jobs` needs to find this process again, and what `--resume` needs to restart it."""
    files.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(files.recipe, recipe.to_toml())
    record = {
        "run_id": files.run_id,
        "pid": os.getpid(),
        "start_ticks": process_start_ticks(os.getpid()),
        "started": time.time(),
        "data_root": inputs.data_root,
        "log": str(files.log),
        "tracking_uri": recipe.tracking.resolved_uri(),
    }
    atomic_write_text(files.job, json.dumps(record, indent=1))


def adopt_launch_log(files: RunFiles) -> None:
    """A detached trainer writes to a launch log; move it beside the run's other files."""
    launch_log = os.environ.pop("HYBRID_TUI_LOG_FILE", None)
    if launch_log and Path(launch_log).exists():
        if files.log.exists():  # a resumed run: keep the earlier attempt's log as trainer.log.N
            attempt = 1
            while files.log.with_name(f"{files.log.name}.{attempt}").exists():
                attempt += 1
            os.replace(files.log, files.log.with_name(f"{files.log.name}.{attempt}"))
        os.replace(launch_log, files.log)  # our stdout keeps writing to it: same inode


def announce_run_id(path: Path, run_id: str) -> None:
    atomic_write_text(path, run_id)


def fail_run(tracker, run_id: str, events, message: str, trace: str) -> None:
    """Mark the run FAILED with the error as an artifact; never raise from here."""
    with contextlib.suppress(Exception):
        events.write("end", status="FAILED", error=message)
    with contextlib.suppress(Exception):
        tracker.log_text(run_id, f"{message}\n\n{trace}", ERROR_ARTIFACT)
    with contextlib.suppress(Exception):
        tracker.end_run(run_id, "FAILED")


# ---------------------------------------------------------------- several processes (torchrun)


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes, as `torchrun` sets them (0, 1 alone)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: str) -> bool:
    """Join the process group when started by `torchrun`; return True on the main rank.

    NCCL on GPUs, gloo on CPUs (so the multi-process path is testable without a GPU).
    """
    if rank_and_world()[1] == 1:
        return True
    if not dist.is_initialized():
        on_gpu = torch.cuda.is_available() and device != "cpu"
        if on_gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return dist.get_rank() == 0


def broadcast_run_id(run_id: str | None) -> str:
    """The main rank created (or resumed) the run; every rank learns its id."""
    if not dist.is_initialized():
        return run_id
    box = [run_id]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op in a single process), e.g. while rank 0 evaluates."""
    if dist.is_initialized():
        dist.barrier()


class NoTracking:
    """What non-main ranks track with: nothing (rank 0 records the run)."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


# ---------------------------------------------------------------- devices and versions


def pick_device(requested: str) -> str:
    if requested == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    if requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise HybridTuiError(
                f"train.device is {requested!r} but no CUDA GPU is visible; use cpu"
            )
        return requested
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu"


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({torch.get_num_threads()} threads)"


def pick_precision(requested: str, device: str) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. bf16/fp16 only make sense on a GPU."""
    if requested == "fp32" or not device.startswith("cuda"):
        return None
    if requested == "fp16":
        return torch.float16
    if requested == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def code_version() -> str:
    from hybrid_tui import __version__

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}" if commit else __version__


# ---------------------------------------------------------------- setup and the step


@dataclass
class Setup:
    recipe: Recipe
    encoder: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: object
    pairs: object
    eval_sets: list
    device: str
    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    rank: int = 0
    world: int = 1
    step: int = 0
    train_languages: list[str] = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_training(inputs, files: RunFiles, tracker, run_id: str) -> Setup:
    """Model, optimiser, LR schedule and sampler; restored from the checkpoint when resuming."""
    from hybrid_tui.checkpoint import load_checkpoint
    from hybrid_tui.encoder import BiEncoder
    from hybrid_tui.sampling import BatchSampler

    recipe = inputs.recipe
    train = recipe.train
    rank, world = rank_and_world()
    if train.batch_size % world:
        raise HybridTuiError(
            f"train.batch_size {train.batch_size} is not divisible by {world} GPUs"
        )
    device = pick_device(train.device)
    seed_everything(train.seed)
    encoder = BiEncoder.load(recipe.model, device=device)
    encoder.train()
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": train.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=train.lr,
        # one kernel over all tensors (on CPU the per-tensor loop cost ~20x more); where fused
        # kernels may be missing (mps, xpu, ...) torch picks its default
        fused=True if device.split(":")[0] in ("cpu", "cuda") else None,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_multiplier(train.lr_schedule, train.warmup_steps, train.steps)
    )
    sampler = BatchSampler(inputs.pairs, train.batch_size, recipe.sampler, train.seed)
    autocast_dtype = pick_precision(train.precision, device)
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
    setup = Setup(
        recipe,
        encoder,
        optimizer,
        scheduler,
        sampler,
        inputs.pairs,
        inputs.eval_sets,
        device,
        autocast_dtype,
        scaler,
        rank,
        world,
        train_languages=list(inputs.pairs.languages),
    )
    if (files.checkpoint / "state.json").is_file():
        resume = load_checkpoint(files.checkpoint, encoder, optimizer, scheduler)
        sampler.load_state_dict(resume.sampler_state)
        setup.step = resume.step
    return setup


def lr_multiplier(schedule: str, warmup: int, total: int):
    """LR factor per step: linear warmup, then constant, linear decay to 0, or cosine to 0."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        if schedule == "constant":
            return 1.0
        if schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return max(0.0, 1.0 - progress)

    return factor


def batch_texts(setup: Setup, batch) -> tuple[list[str], list[str]]:
    """This rank's slice of the global batch as (queries, passages)."""
    per_rank = len(batch.items) // setup.world
    mine = batch.items[setup.rank * per_rank : (setup.rank + 1) * per_rank]
    items = setup.pairs.items
    queries = [items[b.item].texts[b.query_lang][0] for b in mine]
    passages = [items[b.item].texts[b.passage_lang][1] for b in mine]
    return queries, passages


def train_step(setup: Setup, batch) -> float:
    """One optimiser step on one batch; returns the InfoNCE loss over the global batch.

    With `grad_accum_steps` > 1 the batch is encoded in chunks with gradient caching (Gao et al.,
    2021): embeddings first without graphs, loss and embedding gradients over the whole batch, then
    each chunk re-encoded with the same dropout RNG and back-propagated. Every pair still sees the
    whole batch's negatives, at the memory cost of one chunk.
    """
    queries, passages = batch_texts(setup, batch)
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    chunks = setup.recipe.train.grad_accum_steps
    setup.optimizer.zero_grad(set_to_none=True)
    if chunks == 1:
        with _autocast(setup):
            q = encoder(encoder.tokenize(queries, "query"))
            p = encoder(encoder.tokenize(passages, "passage"))
            loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau)
        _backward(setup, loss)
    else:
        loss = _gradient_cached_backward(setup, queries, passages, chunks)
    _all_reduce_gradients(setup)
    if setup.scaler:
        setup.scaler.unscale_(setup.optimizer)
    if setup.recipe.train.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), setup.recipe.train.max_grad_norm)
    if setup.scaler:
        setup.scaler.step(setup.optimizer)
        setup.scaler.update()
    else:
        setup.optimizer.step()
    setup.scheduler.step()
    return float(loss.detach())


def _gradient_cached_backward(setup: Setup, queries, passages, chunks: int) -> torch.Tensor:
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    size = math.ceil(len(queries) / chunks)
    parts = [(queries[i : i + size], "query") for i in range(0, len(queries), size)]
    parts += [(passages[i : i + size], "passage") for i in range(0, len(passages), size)]
    rng_states, reps = [], []
    with torch.no_grad():
        for texts, kind in parts:
            rng_states.append(_rng_state(setup))
            with _autocast(setup):
                reps.append(encoder(encoder.tokenize(texts, kind)).float())
    n_query_parts = math.ceil(len(queries) / size)
    q = torch.cat(reps[:n_query_parts]).requires_grad_()
    p = torch.cat(reps[n_query_parts:]).requires_grad_()
    loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau)
    _backward(setup, loss)
    grads = list(torch.split(q.grad, size)) + list(torch.split(p.grad, size))
    for (texts, kind), state, grad in zip(parts, rng_states, grads, strict=True):
        _set_rng_state(setup, state)
        with _autocast(setup):
            emb = encoder(encoder.tokenize(texts, kind)).float()
        emb.backward(grad)
    return loss.detach()


def _backward(setup: Setup, loss: torch.Tensor) -> None:
    (setup.scaler.scale(loss) if setup.scaler else loss).backward()


def _autocast(setup: Setup):
    if setup.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=setup.autocast_dtype)


def _rng_state(setup: Setup):
    cuda = torch.cuda.get_rng_state(setup.device) if setup.device.startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _set_rng_state(setup: Setup, state) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, setup.device)


def _all_reduce_gradients(setup: Setup) -> None:
    """Sum gradients across ranks: each rank back-propagated the global loss through its own slice."""
    if setup.world == 1:
        return
    for param in setup.encoder.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)


# ---------------------------------------------------------------- logging, saving, evaluation


class StepMeter:
    """Throughput for the step metrics; batch-kind counts come from the sampler (they survive a
    resume with its state)."""

    def __init__(self, batch_size: int, kinds: Counter[str]) -> None:
        self.batch_size = batch_size
        self.last = time.perf_counter()
        self.kinds = kinds

    def record(self, step: int, loss: float, lr: float, kind: str) -> dict:
        now = time.perf_counter()
        pairs_per_s = self.batch_size / max(now - self.last, 1e-9)
        self.last = now
        return {
            "step": step,
            "loss": loss,
            "lr": lr,
            "pairs_per_s": pairs_per_s,
            "batch_kind": kind,
        }


def step_metrics(record: dict, meter: StepMeter) -> dict[str, float]:
    metrics = {
        "train/loss": record["loss"],
        "train/lr": record["lr"],
        "train/pairs_per_s": record["pairs_per_s"],
    }
    metrics.update({f"train/batch_kind/{kind}": n for kind, n in meter.kinds.items()})
    return metrics


@contextlib.contextmanager
def step_progress(enabled: bool, total: int, start: int, quiet: bool = False) -> Iterator:
    """A rich progress bar over steps in a terminal; a log line every 10% otherwise; nothing when
    `quiet` (the other ranks of a torchrun job: rank 0 reports)."""
    if quiet:
        yield lambda step, loss: None
        return
    if not enabled:
        every = max(1, total // 10)

        def log_line(step: int, loss: float) -> None:
            if step % every == 0 or step == total:
                print(f"step {step}/{total} loss {loss:.4f}", flush=True)

        yield log_line
        return
    from hybrid_tui.progress import rich_progress

    with rich_progress() as progress:
        progress("training", start, total)
        yield lambda step, loss: progress("training", step, total)


def save(setup: Setup, files: RunFiles, step: int) -> None:
    if not setup.is_main:
        return
    from hybrid_tui.checkpoint import save_checkpoint

    with _write_errors_explained(files.checkpoint, "set train.checkpoint_every = 0 to skip them"):
        save_checkpoint(
            files.checkpoint,
            setup.encoder,
            setup.optimizer,
            setup.scheduler,
            step,
            setup.sampler.state_dict(),
        )


@contextlib.contextmanager
def _write_errors_explained(folder: Path, hint: str) -> Iterator[None]:
    """A full disk or a read-only folder is the user's to fix: one line, not a traceback. The
    atomic write has left the previous folder whole."""
    try:
        yield
    except OSError as err:
        raise HybridTuiError(
            f"could not write {folder} ({err.strerror or err}); free disk space or make it "
            f"writable ({hint}); the previous copy is intact"
        ) from None


def evaluate_and_log(setup: Setup, tracker, run_id: str, events, step: int, final: bool) -> dict:
    """Zero-shot evaluation on every eval set; metrics to MLflow and events, tables as artifacts."""
    from hybrid_tui.evaluate import evaluate_retrieval

    recipe = setup.recipe
    setup.encoder.eval()
    metrics: dict[str, float] = {}
    try:
        for rset in setup.eval_sets:
            events.write("log", message=f"evaluating {rset.name} at step {step}")
            metrics.update(
                evaluate_retrieval(
                    setup.encoder,
                    rset,
                    recipe.eval.settings,
                    map_cutoff=recipe.eval.map_cutoff,
                    batch_size=recipe.eval.batch_size,
                    progress=lambda desc, done, total: events.write(
                        "progress", description=desc, done=done, total=total
                    ),
                )
            )
    finally:
        setup.encoder.train()
    tracker.log_metrics(run_id, metrics, step)
    events.write("eval", step=step, metrics=metrics)
    if final:
        log_report_artifacts(setup, tracker, run_id, metrics)
    return metrics


def log_report_artifacts(setup: Setup, tracker, run_id: str, metrics: dict[str, float]) -> None:
    """Per-language tables (CSV, JSON) and the cross-lingual heatmap (PNG) of each eval set."""
    import tempfile

    from hybrid_tui import report

    with tempfile.TemporaryDirectory() as tmp:
        for rset in setup.eval_sets:
            tables = report.LanguageTables.from_metrics(metrics, rset.name)
            stem = Path(tmp) / rset.name
            (stem.with_suffix(".csv")).write_text(report.to_csv(tables), encoding="utf-8")
            (stem.with_suffix(".json")).write_text(json.dumps(report.to_json(tables), indent=1))
            report.heatmap_png(tables, stem.with_suffix(".png"))
            for suffix in (".csv", ".json", ".png"):
                tracker.log_artifact(run_id, stem.with_suffix(suffix), "tables")


def save_final_model(setup: Setup, files: RunFiles, tracker, run_id: str) -> None:
    """The trained encoder, loadable by transformers and sentence-transformers."""
    with _write_errors_explained(files.model, "or set HYBRID_TUI_HOME to another disk"):
        setup.encoder.save(files.model)
    tracker.set_tags(run_id, {"hybrid_tui.model_dir": str(files.model)})


def discard_checkpoint(files: RunFiles) -> None:
    """A finished run cannot be resumed: free the disk its optimiser state takes (2x the weights)."""
    import shutil

    shutil.rmtree(files.checkpoint, ignore_errors=True)
