"""The load of the run's GPUs as MLflow metrics, about every 10 s, so the MLflow UI shows it too.

Read in the step loop by wall clock on the main rank (no thread: a reading costs about a
millisecond of NVML calls); a run on the CPU reads and logs nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from hybrid_tui.devices import GpuReading, gpu_readings, run_gpus
from hybrid_tui.metric_keys import system_gpu_key

EVERY_S = 10.0


class GpuMetrics:
    """`due()` returns `system/gpu_<i>_util` and `system/gpu_<i>_memory_mb` for the run's GPUs
    when `every_s` have passed since the last reading, else {}."""

    def __init__(
        self,
        device: str,
        every_s: float = EVERY_S,
        read: Callable[[list[int]], list[GpuReading]] = gpu_readings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gpus = run_gpus(device, os.environ.get("CUDA_VISIBLE_DEVICES"))
        world = int(os.environ.get("WORLD_SIZE", 1))
        if self.gpus and world > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
            self.gpus = list(range(world))  # torchrun without a GPU list: one rank per GPU
        self.every_s, self.read, self.clock = every_s, read, clock
        self.next_at = clock()

    def due(self) -> dict[str, float]:
        if not self.gpus or self.clock() < self.next_at:
            return {}
        self.next_at = self.clock() + self.every_s
        metrics = {}
        for reading in self.read(self.gpus):
            if reading.util_percent is not None:
                metrics[system_gpu_key(reading.index, "util")] = reading.util_percent
            metrics[system_gpu_key(reading.index, "memory_mb")] = reading.memory_used_mib
        return metrics
