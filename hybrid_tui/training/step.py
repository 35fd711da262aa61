"""One optimiser step: InfoNCE over the global batch's in-batch (and hard) negatives, with
gradient caching when `grad_accum_steps` > 1, gradients summed over torchrun ranks, clipping, and
the AdamW step."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

import torch

from hybrid_tui.training.distributed import all_reduce_gradients
from hybrid_tui.training.loss import gather_varying_with_grad, gather_with_grad, info_nce

if TYPE_CHECKING:  # setup imports the recipe (pydantic): the GPU check steps without it
    from hybrid_tui.training.setup import Setup


def batch_texts(setup: Setup, batch) -> tuple[list[str], list[str]]:
    """This rank's slice of the global batch as (queries, passages)."""
    per_rank = len(batch.items) // setup.world
    mine = batch.items[setup.rank * per_rank : (setup.rank + 1) * per_rank]
    items = setup.pairs.items
    queries = [items[b.item].texts[b.query_lang][0] for b in mine]
    passages = [items[b.item].texts[b.passage_lang][1] for b in mine]
    return queries, passages


def hard_negatives(setup: Setup, batch) -> list[tuple[str, ...]]:
    """Per pair of the global batch, its hard negatives: the item's negatives in the pair's
    passage language (the batch's language in a monolingual batch), at most
    `data.hard_negatives`, without any passage of any item in the batch in any language (a
    parallel copy of an in-batch positive would be a false negative)."""
    cap = setup.recipe.data.hard_negatives
    if not cap:
        return [() for _ in batch.items]
    items = setup.pairs.items
    in_batch = {p for b in batch.items for _, p in items[b.item].texts.values()}
    out = []
    for b in batch.items:
        kept = [n for n in items[b.item].negatives.get(b.passage_lang, ()) if n not in in_batch]
        out.append(tuple(dict.fromkeys(kept))[:cap])
    return out


def train_step(setup: Setup, batch, negatives: list[tuple[str, ...]] | None = None) -> float:
    """One optimiser step on one batch; returns the InfoNCE loss over the global batch.

    With `grad_accum_steps` > 1 the batch is encoded in chunks with gradient caching (Gao et al.,
    2021): embeddings first without graphs, loss and embedding gradients over the whole batch, then
    each chunk re-encoded with the same dropout RNG and back-propagated. Every pair still sees the
    whole batch's negatives, at the memory cost of one chunk. `negatives` (from `hard_negatives`,
    computed here when not given) are scored by every query after all in-batch passages.
    """
    queries, passages = batch_texts(setup, batch)
    per_rank = len(batch.items) // setup.world
    negatives = hard_negatives(setup, batch) if negatives is None else negatives
    mine = negatives[setup.rank * per_rank : (setup.rank + 1) * per_rank]
    hard = [n for pair in mine for n in pair]
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    chunks = setup.recipe.train.grad_accum_steps
    setup.optimizer.zero_grad(set_to_none=True)
    if chunks == 1:
        with _autocast(setup):
            q = encoder(encoder.tokenize(queries, "query")).float()
            p = encoder(encoder.tokenize(passages, "passage")).float()
            n = encoder(encoder.tokenize(hard, "passage")).float() if hard else p[:0]
        loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau, _gathered(setup, n))
        _backward(setup, loss)
    else:
        loss = _gradient_cached_backward(setup, queries, passages, chunks, hard)
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


def _gathered(setup: Setup, negatives: torch.Tensor) -> torch.Tensor | None:
    """The global batch's hard negatives; every rank gathers when the recipe uses them, since
    another rank may hold some even when this one has none left."""
    return gather_varying_with_grad(negatives) if setup.recipe.data.hard_negatives else None


def _gradient_cached_backward(
    setup: Setup, queries, passages, chunks: int, hard: list[str] = ()
) -> torch.Tensor:
    encoder, tau = setup.encoder, setup.recipe.train.temperature
    size = math.ceil(len(queries) / chunks)
    groups = [(queries, "query"), (passages, "passage"), (hard, "passage")]
    parts = [
        (texts[i : i + size], kind) for texts, kind in groups for i in range(0, len(texts), size)
    ]
    rng_states, reps = [], []
    with torch.no_grad():
        for texts, kind in parts:
            rng_states.append(_rng_state(setup))
            with _autocast(setup):
                reps.append(encoder(encoder.tokenize(texts, kind)).float())
    n_q, n_p = math.ceil(len(queries) / size), math.ceil(len(passages) / size)
    q = torch.cat(reps[:n_q]).requires_grad_()
    p = torch.cat(reps[n_q : n_q + n_p]).requires_grad_()
    n = (torch.cat(reps[n_q + n_p :]) if hard else p.detach()[:0]).requires_grad_()
    loss = info_nce(gather_with_grad(q), gather_with_grad(p), tau, _gathered(setup, n))
    _backward(setup, loss)
    grads = list(torch.split(q.grad, size)) + list(torch.split(p.grad, size))
    if hard:
        grads += list(torch.split(n.grad, size))
    for (texts, kind), state, grad in zip(parts, rng_states, grads, strict=True):
        _set_rng_state(setup, state)
        with _autocast(setup):
            emb = encoder(encoder.tokenize(texts, kind)).float()
        emb.backward(grad)
    return loss.detach()


def _backward(setup: Setup, loss: torch.Tensor) -> None:
    (setup.scaler.scale(loss) if setup.scaler else loss).backward()


def _autocast(setup: Setup):
    """The encoder's forward under `train.precision` (bf16/fp16 on a GPU, bf16 on a CPU); the
    weights, their gradients and AdamW's state stay fp32, and the embeddings are cast back to
    fp32 before they are gathered and scored (the loss is never computed in bf16)."""
    if setup.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=setup.device.split(":")[0], dtype=setup.autocast_dtype)


def _rng_state(setup: Setup):
    cuda = torch.cuda.get_rng_state(setup.device) if setup.device.startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _set_rng_state(setup: Setup, state) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, setup.device)
