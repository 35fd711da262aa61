"""The project's training step without its recipe: what `gpu_check.py` hands `train_step`.

`training.setup.Setup` is built from a recipe (pydantic) and a data set, neither of which a bare
GPU machine has; `train_step` only reads a few of its fields, so `StepSetup` carries those, and
`sampler_batches` turns text batches into the sampler's batch shape. `adamw` is the optimiser
as `training.setup` builds it; `step_flops` the useful work of a step (for MFU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

LR, WEIGHT_DECAY, TEMPERATURE, MAX_GRAD_NORM = 3e-5, 0.01, 0.05, 1.0


@dataclass
class StepSetup:
    """The fields of `training.setup.Setup` that `train_step` reads (the real one needs a
    recipe, hence pydantic, and a data set: neither is on the GPU machine)."""

    encoder: object
    optimizer: object
    scheduler: object
    pairs: SimpleNamespace
    device: str
    autocast_dtype: object
    grad_accum_steps: int = 1
    precision: str = "fp32"
    scaler: object = None
    rank: int = 0
    world: int = 1
    recipe: SimpleNamespace = field(init=False)

    def __post_init__(self) -> None:
        train = SimpleNamespace(
            temperature=TEMPERATURE,
            grad_accum_steps=self.grad_accum_steps,
            max_grad_norm=MAX_GRAD_NORM,
            precision=self.precision,
        )
        self.recipe = SimpleNamespace(train=train, data=SimpleNamespace(hard_negatives=0))


def sampler_batches(text_batches: list[tuple[list[str], list[str]]]):
    """The texts as `train_step` takes them: pairs (one language, "xx") and batches of ids."""
    items, batches = [], []
    for queries, passages in text_batches:
        first = len(items)
        items += [
            SimpleNamespace(texts={"xx": pair}) for pair in zip(queries, passages, strict=True)
        ]
        ids = range(first, len(items))
        batches.append(
            SimpleNamespace(
                items=[SimpleNamespace(item=i, query_lang="xx", passage_lang="xx") for i in ids]
            )
        )
    return SimpleNamespace(items=items), batches


def step_flops(config: dict, lengths: list[int]) -> float:
    """Useful FLOPs of one training step over texts of these real lengths (module docstring)."""
    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    forward = sum(layers * (2 * n * (4 * h * h + 2 * h * f) + 4 * n * n * h) for n in lengths)
    return 3.0 * forward


def adamw(parameters):
    """AdamW as `training.setup` builds it: decay on matrices only, fused kernels."""
    import torch

    trainable = [p for p in parameters if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LR, fused=True)
