"""Checkpoints restore the exact training state and refuse what is not theirs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.training.checkpoint import load_checkpoint, save_checkpoint
from hybrid_tui.training.setup import lr_scheduler


def _parts(width: int = 8):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(width, width), torch.nn.Dropout(0.2), torch.nn.Linear(width, 2)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = lr_scheduler(optimizer, "linear", 2, 10)
    return model, optimizer, scheduler


def _step(model, optimizer, scheduler) -> float:
    x = torch.randn(4, model[0].in_features)
    loss = model(x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


def test_resume_continues_exactly(tmp_path: Path) -> None:
    model, optimizer, scheduler = _parts()
    for _ in range(3):
        _step(model, optimizer, scheduler)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 3, {"sampler": [1, 2]})
    expected = [_step(model, optimizer, scheduler) for _ in range(4)]
    expected_weights = {k: v.clone() for k, v in model.state_dict().items()}

    torch.manual_seed(123)  # a fresh process would start from other RNG states
    fresh, fresh_opt, fresh_sched = _parts()
    point = load_checkpoint(tmp_path / "ckpt", fresh, fresh_opt, fresh_sched)
    assert point.step == 3 and point.sampler_state == {"sampler": [1, 2]}
    assert [_step(fresh, fresh_opt, fresh_sched) for _ in range(4)] == expected
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, expected_weights[key])


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    model, optimizer, scheduler = _parts(8)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 1, {})
    other, other_opt, other_sched = _parts(16)
    with pytest.raises(HybridTuiError, match="different model"):
        load_checkpoint(tmp_path / "ckpt", other, other_opt, other_sched)


def test_corrupt_or_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    model, optimizer, scheduler = _parts()
    with pytest.raises(HybridTuiError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none", model, optimizer, scheduler)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 1, {})
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(HybridTuiError, match="corrupt"):
        load_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler)


def test_disk_full_while_checkpointing_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, optimizer, scheduler = _parts()
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 1, {"at": 1})
    _step(model, optimizer, scheduler)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 2, {"at": 2})
    monkeypatch.undo()
    fresh, fresh_opt, fresh_sched = _parts()
    assert load_checkpoint(tmp_path / "ckpt", fresh, fresh_opt, fresh_sched).sampler_state == {
        "at": 1
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
