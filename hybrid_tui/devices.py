"""Devices: which one a run uses, at what precision, and what GPUs the machine has.

One module for every question about hardware: the trainer, the eval command and the study pick
a torch device here; the app, the queue and the trainer's system metrics read GPUs and their load
here, through NVML (`nvidia-ml-py`, so the app never imports torch, and nothing parses
`nvidia-smi`). torch is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from hybrid_tui.errors import HybridTuiError


def pick_device(requested: str) -> str:
    """`auto` -> this rank's GPU when there is one, else cpu; an unusable GPU is a clear error."""
    if requested != "auto" and not requested.startswith("cuda"):
        return requested  # cpu, mps: without importing torch (a trainer announces its run first)
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
    """The autocast dtype, or None for fp32.

    On a GPU `auto` is bf16 where supported (else fp16). On a CPU only an explicit `bf16`
    autocasts: its gain depends on the CPU's bf16 instructions (avx512_bf16, AMX; 1.44x on the
    2-core EPYC of docs/benchmarks.md, the demo's mAP within 4e-4 of fp32's), and it is not
    better in quality, so `auto` stays fp32 there. fp16 has no fast CPU kernels and stays fp32
    off a GPU, as on mps.
    """
    import torch

    if requested == "bf16" and device.split(":")[0] == "cpu":
        return torch.bfloat16
    if requested == "fp32" or not device.startswith("cuda"):
        return None
    if requested == "fp16":
        return torch.float16
    if requested == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def precision_status(requested: str, device: str, dtype) -> str:
    """The trainer's line on the precision it trains in (`pick_precision`'s answer), saying why
    when a requested bf16 or fp16 is not what it got: a recipe written for a GPU that lands on a
    CPU would otherwise train in fp32 without a word."""
    kind = device.split(":")[0]
    if dtype is None:
        if requested in ("bf16", "fp16"):
            where = "a CUDA GPU or a CPU" if requested == "bf16" else "a CUDA GPU"
            return (
                f'precision: fp32 on {kind} (train.precision = "{requested}" autocasts only on '
                f"{where})"
            )
        return f"precision: fp32 on {kind}"
    used = {"bfloat16": "bf16", "float16": "fp16"}[str(dtype).removeprefix("torch.")]
    return f"precision: {used} autocast on {kind} (weights and optimiser state in fp32)"


@dataclass(frozen=True)
class GpuReading:
    """One GPU's load at one moment, as NVML reports it. `index` is NVML's (nvidia-smi's)
    number for the GPU, not the index a process sees under `CUDA_VISIBLE_DEVICES`."""

    index: int
    name: str
    util_percent: float | None
    memory_used_mib: float
    memory_total_mib: float
    temperature_c: float | None
    power_w: float | None


_nvml = {"ready": None}
_nvml_lock = threading.Lock()


def _nvml_module():
    """`pynvml`, initialised once per process; None without the library or a driver."""
    with _nvml_lock:
        if _nvml["ready"] is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml["ready"] = pynvml
            except Exception:  # no package, no libnvidia-ml, no driver: a machine without GPUs
                _nvml["ready"] = False
        return _nvml["ready"] or None


def gpu_readings(indices: Iterable[int] | None = None) -> list[GpuReading]:
    """The load of every GPU (or of `indices`), through NVML; [] where there is no GPU or driver.

    A value the GPU does not report (power on some boards) is None; a GPU that cannot be read
    at all is left out.
    """
    nvml = _nvml_module()
    if nvml is None:
        return []
    try:
        count = nvml.nvmlDeviceGetCount()
    except Exception:
        return []
    wanted = range(count) if indices is None else [i for i in indices if 0 <= i < count]
    readings = []
    for index in wanted:
        try:
            readings.append(_read_gpu(nvml, index))
        except Exception:
            continue
    return readings


def _read_gpu(nvml, index: int) -> GpuReading:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = nvml.nvmlDeviceGetName(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)

    def optional(read):
        try:
            return float(read())
        except Exception:
            return None

    return GpuReading(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        util_percent=optional(lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        memory_used_mib=memory.used / 2**20,
        memory_total_mib=memory.total / 2**20,
        temperature_c=optional(
            lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        ),
        power_w=optional(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000),
    )


def list_gpus() -> list[str]:
    """The machine's GPUs as 'name, memory' labels (NVML, no torch import); empty without one."""
    return [f"{r.name}, {r.memory_total_mib / 1024:.0f} GiB" for r in gpu_readings()]


def format_gpu_reading(reading: GpuReading) -> str:
    """`GPU 2 NVIDIA H200  util 87%  mem 12.3/139.8 GiB  61°C  350 W` (unknown values left out)."""
    parts = [f"GPU {reading.index} {reading.name}"]
    if reading.util_percent is not None:
        parts.append(f"util {reading.util_percent:.0f}%")
    parts.append(
        f"mem {reading.memory_used_mib / 1024:.1f}/{reading.memory_total_mib / 1024:.1f} GiB"
    )
    if reading.temperature_c is not None:
        parts.append(f"{reading.temperature_c:.0f}°C")
    if reading.power_w is not None:
        parts.append(f"{reading.power_w:.0f} W")
    return "  ".join(parts)


def visible_gpu_indices(cuda_visible: str | None) -> list[int] | None:
    """The GPUs `CUDA_VISIBLE_DEVICES` names, as NVML indices: None when it is unset (every GPU
    is visible) or names GPUs by UUID; [] when it hides them all ('' or '-1')."""
    if cuda_visible is None or cuda_visible == "unset":
        return None
    indices = []
    for part in cuda_visible.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            return None
        if int(part) < 0:  # CUDA stops at the first invalid index
            break
        indices.append(int(part))
    return indices


def run_gpus(device: str, cuda_visible: str | None) -> list[int]:
    """The NVML indices of the GPUs a run uses, from its device (`cuda:0`, `cpu (2 threads)`,
    `auto`) and the `CUDA_VISIBLE_DEVICES` it saw; [] for a CPU run.

    A run under `CUDA_VISIBLE_DEVICES=2,3` uses both (a torchrun job has one rank on each); one
    without it uses the GPU its device names (`auto`: GPU 0 when there is one).
    """
    device = device.split(" ")[0]
    if not (device.startswith("cuda") or device == "auto"):
        return []
    visible = visible_gpu_indices(cuda_visible)
    if visible is not None:
        return visible
    if device == "auto" and not gpu_readings():
        return []
    return [int(device[5:])] if device.startswith("cuda:") else [0]
