"""`train.precision = "bf16"` on a CPU: the recipe takes it, the trainer autocasts the encoder to
bf16 (weights and AdamW state stay fp32, the loss is scored in fp32) and trains as fp32 does."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import recipe_from_dict

# Per-step |loss_bf16 - loss_fp32| allowed over a few steps of the tiny random BERT (losses
# ~2.0-2.3; measured differences ~2e-4): bf16 rounds the encoder's activations to 8 significant
# bits, a hundred times that would still be far below what a wrong scale or a lost gradient moves.
LOSS_TOLERANCE = 0.02
STEPS = 4


def test_the_recipe_takes_bf16_and_refuses_an_unknown_precision_in_one_line() -> None:
    recipe = recipe_from_dict({"train": {"precision": "bf16", "device": "cpu"}})
    assert recipe.train.precision == "bf16"
    assert recipe.flat_params()["train.precision"] == "bf16"
    assert 'precision = "bf16"' in recipe.to_toml()
    with pytest.raises(HybridTuiError) as info:
        recipe_from_dict({"train": {"precision": "fp16x"}}, source="recipe r.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("recipe r.toml: train.precision: ")
    assert "'bf16'" in message and "'fp16x'" in message  # the choices and what was given


def _losses(data_root: Path, tmp_path: Path, precision: str, **train) -> tuple[list[float], object]:
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.training.inputs import prepare_inputs
    from hybrid_tui.training.setup import setup_training
    from hybrid_tui.training.step import train_step

    padding_free = train.pop("padding_free", "auto")
    recipe = recipe_from_dict(
        {
            "model": {
                "spec": "tiny-random",
                "max_query_length": 32,
                "max_passage_length": 48,
                "padding_free": padding_free,
            },
            "data": {"dataset": "mlqa-r", "languages": ["en", "de", "es"], "max_items": 200},
            "train": {
                "batch_size": 8,
                "steps": STEPS,
                "lr": 1e-3,
                "seed": 0,
                "device": "cpu",
                "precision": precision,
                **train,
            },
        }
    )
    pairs = load_training_pairs(recipe.data, str(data_root))
    inputs = prepare_inputs(recipe, str(data_root), pairs=pairs, eval_sets=[])
    setup = setup_training(inputs, RunFiles.for_run(precision, base=tmp_path))
    losses = [train_step(setup, setup.sampler.next_batch()) for _ in range(STEPS)]
    return losses, setup


@pytest.mark.parametrize(
    "train",
    [
        {"grad_accum_steps": 1},
        {"grad_accum_steps": 2},  # gradient caching: chunks re-encoded under the same autocast
        {"grad_accum_steps": 1, "padding_free": False},  # the padded HF forward
    ],
    ids=["padding-free", "gradient-cached", "padded"],
)
def test_a_bf16_run_on_cpu_trains_like_fp32(train: dict, data_root: Path, tmp_path: Path) -> None:
    fp32, _ = _losses(data_root, tmp_path / "fp32", "fp32", **dict(train))
    bf16, setup = _losses(data_root, tmp_path / "bf16", "bf16", **dict(train))

    assert setup.autocast_dtype == torch.bfloat16
    assert setup.precision_status.startswith("precision: bf16 autocast on cpu")
    assert setup.encoder.padding_free == (train.get("padding_free", "auto") == "auto")
    assert all(math.isfinite(loss) for loss in bf16)
    assert max(abs(a - b) for a, b in zip(fp32, bf16, strict=True)) <= LOSS_TOLERANCE
    assert fp32 != bf16  # bf16 is in effect (it was silently fp32 on a CPU before)
    # the master weights and the optimiser's moments stay fp32
    assert {p.dtype for p in setup.encoder.parameters()} == {torch.float32}
    moments = [t for state in setup.optimizer.state.values() for t in state.values()]
    assert moments and {t.dtype for t in moments if t.ndim} == {torch.float32}


def test_fp16_on_a_cpu_trains_as_fp32_and_the_trainer_says_so(data_root: Path, tmp_path) -> None:
    """fp16 has no CPU autocast worth having: the run is fp32, step for step, and its log line
    names what was asked and where it would apply (it was silent before)."""
    fp32, _ = _losses(data_root, tmp_path / "fp32", "fp32")
    fp16, setup = _losses(data_root, tmp_path / "fp16", "fp16")
    assert setup.autocast_dtype is None and setup.scaler is None
    assert fp16 == fp32
    assert setup.precision_status == (
        'precision: fp32 on cpu (train.precision = "fp16" autocasts only on a CUDA GPU)'
    )


def test_the_loss_is_scored_in_fp32_under_autocast_and_from_bf16_embeddings() -> None:
    from hybrid_tui.training.loss import info_nce

    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(16, 32), dim=-1)
    p = torch.nn.functional.normalize(q + 0.3 * torch.randn(16, 32), dim=-1)
    exact = info_nce(q, p, 0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = info_nce(q, p, 0.05)
    assert under_autocast.dtype == torch.float32
    assert torch.equal(under_autocast, exact)
    rounded = q.bfloat16(), p.bfloat16()
    assert torch.equal(
        info_nce(*rounded, 0.05), info_nce(rounded[0].float(), rounded[1].float(), 0.05)
    )
