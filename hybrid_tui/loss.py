"""InfoNCE over in-batch negatives. Knows nothing of languages: the sampler decides the batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, passages: torch.Tensor, temperature: float) -> torch.Tensor:
    """mean_i -log softmax_j(q_i·p_j / τ)[i]: passage i is the positive of query i, the rest negatives.

    With several processes, pass embeddings already gathered with `gather_with_grad` so every rank
    scores its queries against the global batch's passages.
    """
    logits = queries @ passages.T / temperature
    labels = torch.arange(queries.shape[0], device=queries.device)
    return F.cross_entropy(logits.float(), labels)


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
