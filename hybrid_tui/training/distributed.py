"""Several processes under `torchrun`: who is rank 0, joining the group, sharing the run id,
waiting for each other, and summing gradients. Alone (no `torchrun`), every function is a no-op.

Every rank draws the same global batch (same sampler seed) and encodes its slice; the loss
gathers every rank's embeddings (`loss.gather_with_grad`), so each rank back-propagates the global
loss through its own slice and the gradients are summed here. Rank 0 alone tracks, prints,
checkpoints and evaluates. torch is imported inside the functions, so a lone trainer creates its
run (and `train --detach` prints its id) before paying for the torch import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes, as `torchrun` sets them (0, 1 alone)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: str) -> bool:
    """Join the process group when started by `torchrun`; return True on the main rank.

    NCCL on GPUs, gloo on CPUs (so the multi-process path is testable without a GPU).
    """
    if rank_and_world()[1] == 1:
        return True
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        on_gpu = torch.cuda.is_available() and device != "cpu"
        if on_gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return dist.get_rank() == 0


def broadcast_run_id(run_id: str | None) -> str:
    """The main rank created (or resumed) the run; every rank learns its id."""
    if rank_and_world()[1] == 1:
        return run_id
    import torch.distributed as dist

    if not dist.is_initialized():
        return run_id
    box = [run_id]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op in a single process), e.g. while rank 0 evaluates."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def all_reduce_gradients(model: torch.nn.Module, world: int) -> None:
    """Sum gradients across ranks: each rank back-propagated the global loss through its slice."""
    if world == 1:
        return
    import torch.distributed as dist

    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
