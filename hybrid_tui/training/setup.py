"""Everything a training loop holds: model, optimiser, LR schedule, sampler, precision; built
from the checked inputs, and restored from the checkpoint when a run resumes."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from hybrid_tui.devices import pick_device, pick_precision, precision_status
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import Recipe
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.training.distributed import rank_and_world
from hybrid_tui.training.inputs import TrainingInputs

if TYPE_CHECKING:
    from hybrid_tui.data.pairs import TrainingPairs
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.training.sampling import BatchSampler


@dataclass
class Setup:
    """The state of one training process: what the step, saving and evaluation work on."""

    recipe: Recipe
    encoder: BiEncoder
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: BatchSampler
    pairs: TrainingPairs
    eval_sets: list
    device: str
    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    rank: int = 0
    world: int = 1
    step: int = 0
    train_languages: list[str] = field(default_factory=list)
    precision_status: str = ""  # the trainer's log line on the precision it trains in

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    """Python, numpy and torch RNGs from the recipe's seed (dropout draws come from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_training(
    inputs: TrainingInputs,
    files: RunFiles,
    phase: Callable[[str], None] = lambda message: None,
) -> Setup:
    """Model, optimiser and LR schedule around the inputs' sampler; restored from the checkpoint
    when resuming. `phase` hears what is being done (`training.phases`)."""
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.training.checkpoint import load_checkpoint

    recipe = inputs.recipe
    train = recipe.train
    rank, world = rank_and_world()
    if train.batch_size % world:
        raise HybridTuiError(
            f"train.batch_size {train.batch_size} is not divisible by {world} GPUs"
        )
    device = pick_device(train.device)
    seed_everything(train.seed)
    phase(f"loading the model {recipe.model.spec} on {device}")
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
    scheduler = lr_scheduler(optimizer, train.lr_schedule, train.warmup_steps, train.steps)
    sampler = inputs.sampler
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
        precision_status=precision_status(train.precision, device, autocast_dtype),
    )
    if (files.checkpoint / "state.json").is_file():
        phase("restoring the checkpoint")
        resume = load_checkpoint(files.checkpoint, encoder, optimizer, scheduler)
        sampler.load_state_dict(resume.sampler_state)
        setup.step = resume.step
    return setup


# the recipe's `train.lr_schedule` -> transformers' name for it
_SCHEDULES = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}


def lr_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' schedule (as HF Trainer and sentence-transformers use it): the LR rises
    linearly from 0 over `warmup` steps (step k of them at k/warmup), then stays constant,
    falls linearly to 0 at `total`, or follows a half cosine to 0 at `total`. A `LambdaLR`, so
    its state (the step) goes into the checkpoint and back."""
    from transformers import get_scheduler

    return get_scheduler(
        _SCHEDULES[schedule], optimizer, num_warmup_steps=warmup, num_training_steps=total
    )
