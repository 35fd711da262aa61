"""The trainer's loss warnings: NaN/inf at once, a loss stuck at ln(batch) after the warm-up."""

from __future__ import annotations

import math

from hybrid_tui.training.loss_watch import WINDOW, LossWatch, loss_problem


def test_a_nan_or_inf_loss_is_reported_at_once() -> None:
    assert "loss is nan at step 3" in loss_problem(3, float("nan"), [], 16)
    assert "loss is inf" in loss_problem(1, float("inf"), [], 16)


def test_a_loss_stuck_at_ln_batch_after_the_warmup_is_reported() -> None:
    flat = [math.log(16) + 0.001 * (-1) ** i for i in range(WINDOW)]
    problem = loss_problem(20, flat[-1], flat, 16, warmup=20)
    assert problem and "ln(16) = 2.7726" in problem and "after 20 steps" in problem
    assert loss_problem(19, flat[-1], flat, 16, warmup=20) is None  # still warming up
    assert loss_problem(20, flat[-1], flat, 32, warmup=20) is None  # ln(32) is another level


def test_a_loss_that_moves_is_not_reported() -> None:
    learning = [math.log(16) - 0.05 * i for i in range(WINDOW)]
    assert loss_problem(30, learning[-1], learning, 16) is None
    one_dip = [math.log(16)] * (WINDOW - 1) + [2.5]
    assert loss_problem(30, 2.5, one_dip, 16) is None


def test_the_watch_warns_once_per_kind() -> None:
    watch = LossWatch(batch_size=8, warmup=12)
    said = [watch.check(step, math.log(8)) for step in range(1, 40)]
    flat = [(step, line) for step, line in enumerate(said, start=1) if line]
    assert [step for step, _ in flat] == [12]
    assert watch.check(40, float("nan")) is not None
    assert watch.check(41, float("nan")) is None
