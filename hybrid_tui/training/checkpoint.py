"""Checkpoints that resume exactly: weights, optimiser, schedule, sampler and every RNG stream.

A checkpoint is a folder written atomically (a crash or a full disk mid-write leaves the previous
checkpoint whole): `model.safetensors` (weights), `training_state.pt` (optimiser, scheduler, torch
RNG; loaded with `weights_only=True`), `state.json` (step, sampler state, numpy/python RNG, and a
fingerprint of the model so a checkpoint from another model is refused).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hybrid_tui.atomic_files import atomic_directory, safetensors_write_errors_as_os_errors
from hybrid_tui.errors import HybridTuiError

WEIGHTS_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
STATE_FILE = "state.json"


@dataclass
class ResumePoint:
    """What a resumed run continues from."""

    step: int
    sampler_state: dict
    extra: dict


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of parameter names and shapes: equal for the same architecture, different otherwise."""
    shapes = sorted((name, tuple(p.shape)) for name, p in model.state_dict().items())
    return hashlib.sha256(repr(shapes).encode()).hexdigest()[:16]


def save_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    sampler_state: dict,
    extra: dict | None = None,
) -> Path:
    """Write the whole training state for `step` into `folder`, replacing the previous one atomically."""
    from safetensors.torch import save_model

    training_state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    python_rng = random.getstate()
    state = {
        "step": step,
        "sampler": sampler_state,
        "model_fingerprint": model_fingerprint(model),
        "numpy_rng": _jsonable_numpy_state(np.random.get_state()),
        "python_rng": [python_rng[0], list(python_rng[1]), python_rng[2]],
        "extra": extra or {},
    }
    with atomic_directory(folder) as staging:
        with safetensors_write_errors_as_os_errors():
            save_model(model, str(staging / WEIGHTS_FILE))
        _torch_save(training_state, staging / TRAINING_STATE_FILE)
        (staging / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    return folder


class _WriteErrors:
    """A file wrapper that keeps the OSError of a failed write: torch's zip writer replaces it
    with a RuntimeError about stream positions."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def _torch_save(obj: object, path: Path) -> None:
    """`torch.save`, where a full disk (or a file-size limit) is the OSError it really is."""
    with open(path, "wb") as handle:
        writer = _WriteErrors(handle)
        try:
            torch.save(obj, writer)
        except RuntimeError as err:
            if writer.error is None:
                raise
            raise writer.error from err


def load_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> ResumePoint:
    """Restore model, optimiser, scheduler and RNG streams in place; return step and sampler state."""
    from safetensors.torch import load_model

    state_path = folder / STATE_FILE
    if not state_path.is_file():
        raise HybridTuiError(
            f"no checkpoint in {folder}; the run stopped before its first checkpoint "
            "(set train.checkpoint_every lower), start it again instead of resuming"
        )
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise HybridTuiError(
            f"checkpoint {folder} is unreadable ({err}); start the run again"
        ) from None
    if state.get("model_fingerprint") != model_fingerprint(model):
        raise HybridTuiError(
            f"checkpoint {folder} was saved from a different model than the recipe's "
            "model.spec; resume with the recipe the run was started with"
        )
    try:
        load_model(model, str(folder / WEIGHTS_FILE))
        training_state = torch.load(
            folder / TRAINING_STATE_FILE, map_location="cpu", weights_only=True
        )
    except Exception as err:  # noqa: BLE001 - any corruption is reported the same way
        raise HybridTuiError(
            f"checkpoint {folder} is corrupt ({err}); start the run again"
        ) from None
    optimizer.load_state_dict(training_state["optimizer"])
    scheduler.load_state_dict(training_state["scheduler"])
    torch.set_rng_state(training_state["torch_rng"])
    if training_state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(training_state["cuda_rng"])
    np.random.set_state(_numpy_state_from_json(state["numpy_rng"]))
    version, internal, gauss = state["python_rng"]
    random.setstate((version, tuple(internal), gauss))
    return ResumePoint(step=state["step"], sampler_state=state["sampler"], extra=state["extra"])


def _jsonable_numpy_state(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _numpy_state_from_json(state: list) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached)
