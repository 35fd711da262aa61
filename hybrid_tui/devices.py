"""Devices: which one a run uses, at what precision, and what GPUs the machine has.

One module for every question about hardware: the trainer, the eval command and the study pick
a torch device here; the app lists GPUs and their load here (through `nvidia-smi`, so the app
never imports torch). torch is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from hybrid_tui.errors import HybridTuiError


def pick_device(requested: str) -> str:
    """`auto` -> this rank's GPU when there is one, else cpu; an unusable GPU is a clear error."""
    import torch

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
    """`cuda:0 (NVIDIA H200)` or `cpu (2 threads)`: what a run records it trained on."""
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({torch.get_num_threads()} threads)"


def pick_precision(requested: str, device: str):
    """The autocast dtype, or None for fp32. bf16/fp16 only make sense on a GPU."""
    import torch

    if requested == "fp32" or not device.startswith("cuda"):
        return None
    if requested == "fp16":
        return torch.float16
    if requested == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def list_gpus() -> list[str]:
    """`nvidia-smi`'s GPUs as 'name, memory' labels (no torch import); empty without one."""
    out = _nvidia_smi("--query-gpu=name,memory.total", "--format=csv,noheader")
    return [line.strip() for line in out.splitlines() if line.strip()]


def gpu_usage() -> str:
    """'GPU0 87% 12.3/80 GiB' per visible GPU, from nvidia-smi ('' when it cannot be read)."""
    out = _nvidia_smi(
        "--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"
    )
    parts = []
    for index, line in enumerate(out.strip().splitlines()):
        try:
            util, used, total = (float(x) for x in line.split(","))
        except ValueError:
            continue
        parts.append(f"GPU{index} {util:.0f}% {used / 1024:.1f}/{total / 1024:.0f} GiB")
    return "  ".join(parts)


def _nvidia_smi(*args: str) -> str:
    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        return subprocess.run(
            ["nvidia-smi", *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
