"""GPU readings through NVML (a fake NVML here: this machine has no driver, which is the other
tested path), the run's GPUs from its device and CUDA_VISIBLE_DEVICES, and the trainer's
`system/gpu_<i>_*` metrics."""

from __future__ import annotations

import sys
import types

import pytest

from hybrid_tui import devices
from hybrid_tui.devices import GpuReading, format_gpu_reading, gpu_readings, run_gpus
from hybrid_tui.metric_keys import system_gpu_key
from hybrid_tui.training.system_metrics import GpuMetrics


class NVMLError(Exception):
    pass


def fake_nvml(count: int = 2, power: bool = True) -> types.ModuleType:
    """An NVML with `count` H200s; GPU i runs at 10*i+5 % and uses (i+1) GiB."""
    nvml = types.ModuleType("pynvml")
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: count
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetName = lambda h: b"NVIDIA H200"
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        used=(h + 1) * 2**30, total=141 * 2**30
    )
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=10 * h + 5)
    nvml.nvmlDeviceGetTemperature = lambda h, kind: 40 + h

    def power_usage(h):
        if not power:
            raise NVMLError("Not Supported")
        return 300_500 + h * 1000

    nvml.nvmlDeviceGetPowerUsage = power_usage
    return nvml


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch):
    """Install a fake `pynvml` (and forget any real one this process initialised)."""

    def install(module) -> None:
        monkeypatch.setitem(sys.modules, "pynvml", module)
        monkeypatch.setitem(devices._nvml, "ready", None)

    yield install


def test_no_driver_reads_as_no_gpus(nvml) -> None:
    broken = types.ModuleType("pynvml")

    def no_library():
        raise NVMLError("NVML Shared Library Not Found")

    broken.nvmlInit = no_library
    nvml(broken)
    assert gpu_readings() == [] and devices.list_gpus() == []


def test_readings_through_nvml(nvml) -> None:
    nvml(fake_nvml(count=3, power=False))
    readings = gpu_readings()
    assert [r.index for r in readings] == [0, 1, 2]
    second = readings[1]
    assert second.name == "NVIDIA H200" and second.util_percent == 15
    assert second.memory_used_mib == 2048 and second.memory_total_mib == 141 * 1024
    assert second.temperature_c == 41 and second.power_w is None  # not supported: left out
    assert [r.index for r in gpu_readings([2, 7])] == [2]  # an index NVML lacks is skipped
    assert devices.list_gpus() == ["NVIDIA H200, 141 GiB"] * 3


def test_a_reading_formats_on_one_line() -> None:
    reading = GpuReading(2, "NVIDIA H200", 87.0, 12.3 * 1024, 139.8 * 1024, 61.0, 350.4)
    assert format_gpu_reading(reading) == (
        "GPU 2 NVIDIA H200  util 87%  mem 12.3/139.8 GiB  61°C  350 W"
    )
    bare = GpuReading(0, "T4", None, 512, 15 * 1024, None, None)
    assert format_gpu_reading(bare) == "GPU 0 T4  mem 0.5/15.0 GiB"


@pytest.mark.parametrize(
    ("device", "cuda_visible", "expected"),
    [
        ("cpu (2 threads)", None, []),
        ("cpu", "0,1", []),
        ("cuda:1 (NVIDIA H200)", None, [1]),
        ("cuda:0 (NVIDIA H200)", "2", [2]),  # a queued job: its one GPU, whatever its number
        ("cuda:0", "2,3", [2, 3]),  # a torchrun job uses every GPU it was given
        ("cuda:0", "unset", [0]),
        ("cuda:0", "", []),
        ("cuda:0", "GPU-1f2e3d", [0]),  # named by UUID: fall back to the device's index
    ],
)
def test_the_gpus_a_run_uses(device, cuda_visible, expected) -> None:
    assert run_gpus(device, cuda_visible) == expected


def test_auto_on_a_machine_without_gpus_is_the_cpu(nvml) -> None:
    nvml(fake_nvml(count=0))
    assert run_gpus("auto", None) == []
    nvml(fake_nvml(count=2))
    assert run_gpus("auto", None) == [0]


def test_gpu_metrics_every_ten_seconds_for_the_run_gpus(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    now = [100.0]
    asked = []

    def read(indices):
        asked.append(list(indices))
        return [GpuReading(i, "H200", 50.0 + i, 1000.0 * i, 141e3, 40, 300) for i in indices]

    metrics = GpuMetrics("cuda:0", read=read, clock=lambda: now[0])
    assert metrics.due() == {
        "system/gpu_1_util": 51.0,
        "system/gpu_1_memory_mb": 1000.0,
        "system/gpu_3_util": 53.0,
        "system/gpu_3_memory_mb": 3000.0,
    }
    now[0] += 9.0
    assert metrics.due() == {}
    now[0] += 1.5
    assert metrics.due() and asked == [[1, 3], [1, 3]]


def test_no_gpu_metrics_on_the_cpu(monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def read(indices):
        raise AssertionError("NVML must not be read for a CPU run")

    assert GpuMetrics("cpu", read=read).due() == {}


def test_system_keys() -> None:
    assert system_gpu_key(2, "util") == "system/gpu_2_util"
    assert system_gpu_key(0, "memory_mb") == "system/gpu_0_memory_mb"
    with pytest.raises(ValueError):
        system_gpu_key(0, "power")
