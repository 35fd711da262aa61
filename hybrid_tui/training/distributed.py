"""Several processes under `torchrun`: who is rank 0, joining the group, sharing the run id,
waiting for each other, and summing gradients (in buckets). Alone (no `torchrun`), every
function is a no-op.

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


# PyTorch DDP's default bucket size (`bucket_cap_mb=25`)
BUCKET_BYTES = 25 * 2**20


def all_reduce_gradients(
    model: torch.nn.Module, world: int, bucket_bytes: int = BUCKET_BYTES
) -> None:
    """Sum gradients across ranks: each rank back-propagated the global loss through its slice.

    The gradients go in buckets of about `bucket_bytes` (`gradient_buckets`), one all-reduce per
    bucket instead of one per parameter (a launch and a rendezvous each: ~200 for e5-small).
    Why not DDP, which buckets too and overlaps the reduce with backward: the gathered loss
    needs gradients summed, not DDP's mean; gradient caching back-propagates each chunk
    separately (one reduce per step, not per chunk, would need `no_sync` around all but the
    last); and a step runs the encoder's forward two or three times (queries, passages, hard
    negatives) before one backward, which DDP's reducer does not allow without `static_graph`.
    Every rank must hold gradients for the same parameters (it does: all run the same model
    through the same step), since buckets are formed from the parameters with a gradient.
    """
    if world == 1:
        return
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    for bucket in gradient_buckets(model, bucket_bytes):
        if len(bucket) == 1:  # e.g. a word-embedding matrix that opened a bucket: no copy
            dist.all_reduce(bucket[0], op=dist.ReduceOp.SUM)
            continue
        flat = _flatten_dense_tensors(bucket)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for grad, summed in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
            grad.copy_(summed)


def gradient_buckets(model: torch.nn.Module, bucket_bytes: int = BUCKET_BYTES) -> list[list]:
    """The parameters' gradients, in parameter order, grouped into buckets of one dtype and
    device, each closed once it reaches `bucket_bytes` (a gradient larger than that which opens
    a bucket is a bucket of its own; one that comes into an open bucket closes it)."""
    buckets: list[list] = []
    open_bucket: dict[tuple, tuple[list, int]] = {}
    for param in model.parameters():
        grad = param.grad
        if grad is None:
            continue
        kind = (grad.dtype, grad.device)
        bucket, size = open_bucket.get(kind, ([], 0))
        if not bucket:
            buckets.append(bucket)
        bucket.append(grad)
        size += grad.numel() * grad.element_size()
        if size >= bucket_bytes:
            open_bucket.pop(kind, None)
        else:
            open_bucket[kind] = (bucket, size)
    return buckets
