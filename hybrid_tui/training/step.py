"""One optimiser step: InfoNCE over the global batch's in-batch negatives, with gradient caching
when `grad_accum_steps` > 1, gradients summed over torchrun ranks, clipping, and the AdamW step."""

from __future__ import annotations

import contextlib
import math

import torch

from hybrid_tui.loss import gather_with_grad, info_nce
from hybrid_tui.training.distributed import all_reduce_gradients
from hybrid_tui.training.setup import Setup


def batch_texts(setup: Setup, batch) -> tuple[list[str], list[str]]:
    """This rank's slice of the global batch as (queries, passages)."""
    per_rank = len(batch.items) // setup.world
    mine = batch.items[setup.rank * per_rank : (setup.rank + 1) * per_rank]
    items = setup.pairs.items
    queries = [items[b.item].texts[b.query_lang][0] for b in mine]
    passages = [items[b.item].texts[b.passage_lang][1] for b in mine]
    return queries, passages


def train_step(setup: Setup, batch) -> float:
    """One optimiser step on one batch; returns the InfoNCE loss over the global batch.

    With `grad_accum_steps` > 1 the batch is encoded in chunks with gradient caching (Gao et al.,
    2021): embeddings first without graphs, loss and embedding gradients over the whole batch, then
    each chunk re-encoded with the same dropout RNG and back-propagated. Every pair still sees the
    whole batch's negatives, at the memory cost of one chunk.
    """
    queries, passages = batch_texts(setup, batch)
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    chunks = setup.recipe.train.grad_accum_steps
    setup.optimizer.zero_grad(set_to_none=True)
    if chunks == 1:
        with _autocast(setup):
            q = encoder(encoder.tokenize(queries, "query"))
            p = encoder(encoder.tokenize(passages, "passage"))
            loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau)
        _backward(setup, loss)
    else:
        loss = _gradient_cached_backward(setup, queries, passages, chunks)
    all_reduce_gradients(setup.encoder, setup.world)
    if setup.scaler:
        setup.scaler.unscale_(setup.optimizer)
    if setup.recipe.train.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), setup.recipe.train.max_grad_norm)
    if setup.scaler:
        setup.scaler.step(setup.optimizer)
        setup.scaler.update()
    else:
        setup.optimizer.step()
    setup.scheduler.step()
    return float(loss.detach())


def _gradient_cached_backward(setup: Setup, queries, passages, chunks: int) -> torch.Tensor:
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    size = math.ceil(len(queries) / chunks)
    parts = [(queries[i : i + size], "query") for i in range(0, len(queries), size)]
    parts += [(passages[i : i + size], "passage") for i in range(0, len(passages), size)]
    rng_states, reps = [], []
    with torch.no_grad():
        for texts, kind in parts:
            rng_states.append(_rng_state(setup))
            with _autocast(setup):
                reps.append(encoder(encoder.tokenize(texts, kind)).float())
    n_query_parts = math.ceil(len(queries) / size)
    q = torch.cat(reps[:n_query_parts]).requires_grad_()
    p = torch.cat(reps[n_query_parts:]).requires_grad_()
    loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau)
    _backward(setup, loss)
    grads = list(torch.split(q.grad, size)) + list(torch.split(p.grad, size))
    for (texts, kind), state, grad in zip(parts, rng_states, grads, strict=True):
        _set_rng_state(setup, state)
        with _autocast(setup):
            emb = encoder(encoder.tokenize(texts, kind)).float()
        emb.backward(grad)
    return loss.detach()


def _backward(setup: Setup, loss: torch.Tensor) -> None:
    (setup.scaler.scale(loss) if setup.scaler else loss).backward()


def _autocast(setup: Setup):
    if setup.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=setup.autocast_dtype)


def _rng_state(setup: Setup):
    cuda = torch.cuda.get_rng_state(setup.device) if setup.device.startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _set_rng_state(setup: Setup, state) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, setup.device)
