"""InfoNCE over in-batch negatives. Knows nothing of languages: the sampler decides the batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def info_nce(
    queries: torch.Tensor,
    passages: torch.Tensor,
    temperature: float,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """mean_i -log softmax_j(q_i·c_j / τ)[i] over candidates c = passages then `negatives`:
    passage i is the positive of query i; every other passage and every hard negative of the
    batch is a negative for every query (as sentence-transformers' MNRL and DPR score them).

    With several processes, pass embeddings already gathered (`gather_with_grad`, and
    `gather_varying_with_grad` for the negatives, whose count differs per rank): the hard
    negatives come after all positives, so query i's positive stays at index i.

    The scores and the softmax are computed in fp32 whatever the embeddings' dtype and even
    under autocast: at τ = 0.05 the logits reach ±20, where bf16 (8 significant bits) would round
    them in steps of 0.125.
    """
    candidates = (
        passages if negatives is None or not len(negatives) else torch.cat([passages, negatives])
    )
    with torch.autocast(device_type=queries.device.type, enabled=False):
        logits = queries.float() @ candidates.float().T / temperature
        labels = torch.arange(queries.shape[0], device=queries.device)
        return F.cross_entropy(logits, labels)


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate `local` from every rank (rank order); gradients flow into this rank's slice.

    all_gather returns tensors without autograd history, so the local slot is replaced by the
    original tensor: each rank back-propagates through its own part, and DDP averages the rest.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local.detach().contiguous())
    parts[dist.get_rank()] = local
    return torch.cat(parts)


def gather_varying_with_grad(local: torch.Tensor) -> torch.Tensor:
    """`gather_with_grad` for rows whose count differs per rank (hard negatives left after
    false-negative drops): counts are exchanged first, each rank pads to the largest, and the
    padding is cut out again, keeping rank order."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    world, rank = dist.get_world_size(), dist.get_rank()
    count = torch.tensor([local.shape[0]], device=local.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    widest = max(sizes)
    padded = torch.zeros((widest, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local.detach()
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    pieces = [part[:size] for part, size in zip(parts, sizes, strict=True)]
    pieces[rank] = local
    return torch.cat(pieces)
