"""The recipe's LR schedule is transformers' (`get_scheduler`): the LR the optimiser trains each
step with follows the textbook formula, and a checkpoint carries the schedule on exactly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hybrid_tui.training.checkpoint import load_checkpoint, save_checkpoint
from hybrid_tui.training.setup import lr_scheduler

BASE_LR = 3e-5


def expected_factor(schedule: str, warmup: int, total: int, step: int) -> float:
    """The schedule in plain Python, written from its definition (0-based steps): the LR rises
    linearly from 0 over `warmup` steps, then stays at the recipe's LR (constant), falls
    linearly to 0 at `total` (linear), or follows half a cosine to 0 at `total` (cosine)."""
    if step < warmup:
        return step / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=BASE_LR)


def _train(optimizer, scheduler, steps: int) -> list[float]:
    """The LR each of `steps` optimiser steps used, as the training step runs them."""
    used = []
    for _ in range(steps):
        used.append(optimizer.param_groups[0]["lr"])
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                parameter.grad = torch.ones_like(parameter)
        optimizer.step()
        scheduler.step()
    return used


CASES = [
    (0, 10),  # no warmup (the recipe default)
    (1, 10),
    (2, 10),
    (5, 10),
    (9, 10),
    (10, 10),  # warmup = steps: the whole run warms up
    (0, 1),
    (1, 1),
    (6, 60),  # the published study's
]


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
@pytest.mark.parametrize(("warmup", "total"), CASES)
def test_every_step_trains_at_the_schedules_lr(schedule: str, warmup: int, total: int) -> None:
    optimizer = _optimizer()
    scheduler = lr_scheduler(optimizer, schedule, warmup, total)
    used = _train(optimizer, scheduler, total)
    wanted = [BASE_LR * expected_factor(schedule, warmup, total, k) for k in range(total)]
    assert used == pytest.approx(wanted, rel=1e-12, abs=1e-18)


def test_the_schedules_shapes() -> None:
    """What a user sees on the Live screen's LR curve, in round numbers."""
    optimizer = _optimizer()
    linear = _train(optimizer, lr_scheduler(optimizer, "linear", 2, 10), 10)
    assert [round(lr / BASE_LR, 3) for lr in linear[:3]] == [0.0, 0.5, 1.0]
    assert round(linear[6] / BASE_LR, 3) == 0.5 and round(linear[9] / BASE_LR, 3) == 0.125
    optimizer = _optimizer()
    assert set(_train(optimizer, lr_scheduler(optimizer, "constant", 0, 10), 10)) == {BASE_LR}
    optimizer = _optimizer()
    cosine = _train(optimizer, lr_scheduler(optimizer, "cosine", 0, 10), 10)
    assert cosine[0] == BASE_LR and cosine[5] == pytest.approx(BASE_LR / 2)
    assert cosine == sorted(cosine, reverse=True)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_a_checkpoint_carries_the_schedule_on_exactly(schedule: str, tmp_path: Path) -> None:
    """Saved mid-warmup and restored into a fresh optimiser and schedule, the run trains the
    remaining steps at the very LRs of a run that never stopped."""
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=BASE_LR)
    scheduler = lr_scheduler(optimizer, schedule, 4, 12)
    _train(optimizer, scheduler, 3)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 3, {})
    straight = _train(optimizer, scheduler, 9)

    fresh_model = torch.nn.Linear(3, 1)
    fresh_optimizer = torch.optim.AdamW(fresh_model.parameters(), lr=BASE_LR)
    fresh_scheduler = lr_scheduler(fresh_optimizer, schedule, 4, 12)
    assert (
        load_checkpoint(tmp_path / "ckpt", fresh_model, fresh_optimizer, fresh_scheduler).step == 3
    )
    assert _train(fresh_optimizer, fresh_scheduler, 9) == straight
    assert torch.equal(fresh_model.weight, model.weight) and torch.equal(
        fresh_model.bias, model.bias
    )


def test_a_checkpoint_written_before_transformers_schedules_still_resumes(tmp_path: Path) -> None:
    """A checkpoint from the hand-written schedule (a `LambdaLR` over a plain function) resumes
    at its step: from there the run follows transformers' schedule."""
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=BASE_LR)
    earlier = torch.optim.lr_scheduler.LambdaLR(optimizer, _hand_written_linear(2, 10))
    _train(optimizer, earlier, 4)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, earlier, 4, {})

    fresh_model = torch.nn.Linear(3, 1)
    fresh_optimizer = torch.optim.AdamW(fresh_model.parameters(), lr=BASE_LR)
    scheduler = lr_scheduler(fresh_optimizer, "linear", 2, 10)
    assert load_checkpoint(tmp_path / "ckpt", fresh_model, fresh_optimizer, scheduler).step == 4
    wanted = [BASE_LR * expected_factor("linear", 2, 10, k) for k in range(4, 10)]
    assert _train(fresh_optimizer, scheduler, 6) == pytest.approx(wanted, rel=1e-12)


def _hand_written_linear(warmup: int, total: int):
    """The multiplier `training.setup` had before (warmup step k at (k+1)/warmup)."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, 1.0 - (step - warmup) / max(1, total - warmup))

    return factor
