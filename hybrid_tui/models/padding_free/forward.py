"""A padding-free forward for BERT-family encoders (BERT, RoBERTa, XLM-R: multilingual-e5, LaBSE,
MiniLM), used by `BiEncoder.forward` when `model.padding_free` allows it.

Why: on MLQA-R hybrid batches about half of a padded batch's tokens are padding, and in these
encoders the per-token layers (embeddings, every linear layer, LayerNorm, GELU, dropout, residual)
do over 90 % of the work. Here the batch's real tokens are packed into one `[total_tokens, hidden]`
tensor and run through the loaded model's own submodules (no weight is copied or converted, so
saving, loading and the exported folder are unchanged). Only attention needs sequences: Q/K/V are
re-padded for SDPA with a key-padding mask, per group of similar lengths (CPU, tested), or handed
to a varlen kernel on CUDA (flash-attention's `flash_attn_varlen_func` where installed, for
bf16/fp16; else nested-jagged SDPA), then packed again. Pooling reads the packed tokens directly.

Only the architectures and settings whose padded forward this reproduces are accepted;
`unsupported_reason` says why anything else is not, and the caller falls back to the HF forward.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hybrid_tui.models.padding_free import (  # noqa: F401  (the config-only half, torch-free)
    ATTENTION_KINDS,
    SUPPORTED,
    choose,
    folder_choice,
    unsupported_reason,
)


def model_unsupported_reason(model) -> str | None:
    """`unsupported_reason` plus checks on the loaded module: its exact class, the submodules the
    packed forward calls, and no gradient checkpointing."""
    reason = unsupported_reason(model.config)
    if reason:
        return reason
    expected = SUPPORTED[model.config.model_type]
    if type(model).__name__ != expected or not type(model).__module__.startswith("transformers."):
        return f"{type(model).__name__} is not transformers' {expected}"
    checkpointing = (  # transformers 5 renamed it and warns on the old name
        "is_activation_checkpointing"
        if hasattr(type(model), "is_activation_checkpointing")
        else "is_gradient_checkpointing"
    )
    if getattr(model, checkpointing, False):
        return "gradient checkpointing is on"
    emb = model.embeddings
    parts = ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm")
    if not all(hasattr(emb, name) for name in (*parts, "dropout")):
        return "its embeddings module lacks the BERT submodules"
    for layer in model.encoder.layer:
        if hasattr(layer, "crossattention") or not all(
            hasattr(layer.attention.self, name) for name in ("query", "key", "value", "dropout")
        ):
            return "an encoder layer differs from BERT's"
    return None


# Re-padded attention (CPU): sequences are grouped by length so that each group is padded only to
# its own longest. Cost model, in units of (query, key) pairs per layer: a group of n sequences
# padded to L costs n * L^2 pairs plus a fixed overhead per group for its extra kernel calls
# (estimated from a torch.profiler run of e5-small on 1 CPU thread: attention, its softmax and
# dropout ~0.16 us a pair and layer; a group's ~40 extra kernel calls a layer ~1-3 ms).
_GROUP_OVERHEAD_PAIRS = 16_384
_MAX_GROUPS = 8


@dataclass
class AttentionGroup:
    """Sequences `first .. first + size` (packed order) and their tokens `start .. end` of the
    packed tensor, re-padded to `longest`: token k of the group's sequence i in slot
    i * longest + k."""

    first: int
    size: int
    start: int
    end: int
    longest: int
    slot_index: torch.Tensor  # [end - start]
    key_mask: torch.Tensor  # [size, 1, 1, longest] bool, True where a real key is


@dataclass
class Packing:
    """Where a padded batch's real tokens go. Sequences are packed longest first (`order[j]` is
    the batch row of packed sequence j); `token_index` picks their tokens from the flattened
    `[batch * width]` input, `sequence` is each token's batch row (pooling writes rows back in
    batch order), `cu_seqlens` the sequences' offsets in the packed tensor (varlen kernels),
    `lengths` the real lengths in batch order."""

    batch: int
    longest: int
    token_index: torch.Tensor  # [total_tokens]
    sequence: torch.Tensor  # [total_tokens]
    order: torch.Tensor  # [batch]
    lengths: torch.Tensor  # [batch], batch order
    cu_seqlens: torch.Tensor  # [batch + 1] int32
    sorted_lengths: list[int]  # packed order, on the host
    row: torch.Tensor  # [total_tokens] packed sequence number of each token
    rank: torch.Tensor  # [total_tokens] position of each token among its sequence's real ones

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> Packing:
        mask = attention_mask.bool()
        batch, width = mask.shape
        row_lengths = mask.sum(dim=1)
        lengths, order = row_lengths.sort(descending=True, stable=True)
        sorted_mask = mask[order]
        flat = sorted_mask.flatten().nonzero().squeeze(1)
        row = torch.div(flat, width, rounding_mode="floor")
        sequence = order[row]
        host_lengths = lengths.tolist()
        return cls(
            batch=batch,
            longest=max(host_lengths[0], 1) if batch else 1,
            token_index=sequence * width + flat % width,
            sequence=sequence,
            order=order,
            lengths=row_lengths,
            cu_seqlens=F.pad(lengths.cumsum(0), (1, 0)).to(torch.int32),
            sorted_lengths=host_lengths,
            row=row,
            rank=(sorted_mask.cumsum(dim=1) - 1).flatten()[flat],
        )

    @functools.cached_property
    def groups(self) -> list[AttentionGroup]:
        """The length groups of the re-padded attention (computed once, on first use: the CUDA
        varlen kernels need none)."""
        lengths = self.sorted_lengths
        offsets = [0]
        for length in lengths:
            offsets.append(offsets[-1] + length)
        device = self.row.device
        groups = []
        for first, last in _length_groups(lengths):
            longest = max(lengths[first], 1)
            start, end = offsets[first], offsets[last]
            sizes = torch.tensor(lengths[first:last], device=device)
            key_mask = torch.arange(longest, device=device) < sizes[:, None]
            key_mask[:, 0] = True  # an empty sequence attends to a zero slot, not to nothing
            slots = (self.row[start:end] - first) * longest + self.rank[start:end]
            groups.append(
                AttentionGroup(
                    first, last - first, start, end, longest, slots, key_mask[:, None, None]
                )
            )
        return groups


def _length_groups(lengths: list[int]) -> list[tuple[int, int]]:
    """Split descending `lengths` into runs [first, last) minimising the re-padded attention cost
    (`_GROUP_OVERHEAD_PAIRS` per group, at most `_MAX_GROUPS`): a small dynamic programme."""
    n = len(lengths)
    if n == 0:
        return []
    inf = float("inf")
    # best[g][j]: cheapest split of the first j sequences into g groups
    best = [[inf] * (n + 1) for _ in range(_MAX_GROUPS + 1)]
    cut = [[0] * (n + 1) for _ in range(_MAX_GROUPS + 1)]
    best[0][0] = 0.0
    for g in range(1, _MAX_GROUPS + 1):
        for j in range(1, n + 1):
            for i in range(g - 1, j):
                cost = best[g - 1][i] + (j - i) * lengths[i] ** 2 + _GROUP_OVERHEAD_PAIRS
                if cost < best[g][j]:
                    best[g][j], cut[g][j] = cost, i
    groups_used = min(range(1, _MAX_GROUPS + 1), key=lambda g: best[g][n])
    runs, j = [], n
    for g in range(groups_used, 0, -1):
        i = cut[g][j]
        runs.append((i, j))
        j = i
    return runs[::-1]


def default_attention(device: torch.device) -> str:
    """`flash` (flash-attn installed) or `jagged` on CUDA; `repad` elsewhere (the tested path)."""
    if device.type != "cuda":
        return "repad"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return "jagged"
    return "flash"


def packed_hidden_states(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    attention: str | None = None,
) -> tuple[torch.Tensor, Packing]:
    """The last hidden states of the real tokens, `[total_tokens, hidden]`, and their packing.

    Reproduces the HF forward of `SUPPORTED` models (positions as HF numbers them in the padded
    batch, token types, dropout where the modules are in train mode) on real tokens only.
    """
    pack = Packing.from_mask(attention_mask)
    emb = model.embeddings
    ids = input_ids.flatten()[pack.token_index]
    if model.config.model_type == "bert":
        width = input_ids.shape[1]
        positions = torch.arange(width, device=ids.device).repeat(pack.batch)[pack.token_index]
    else:  # RoBERTa / XLM-R count positions from padding_idx + 1, as HF does from input_ids
        positions = emb.create_position_ids_from_input_ids(input_ids, emb.padding_idx)
        positions = positions.flatten()[pack.token_index]
    if token_type_ids is None:
        types = torch.zeros_like(ids)
    else:
        types = token_type_ids.flatten()[pack.token_index]
    hidden = _word_embeddings(emb.word_embeddings, ids) + emb.token_type_embeddings(types)
    hidden = hidden + emb.position_embeddings(positions)
    hidden = emb.dropout(emb.LayerNorm(hidden))
    kind = attention or default_attention(hidden.device)
    for layer in model.encoder.layer:
        heads = layer.attention.self
        context = _attention(
            kind,
            heads.query(hidden),
            heads.key(hidden),
            heads.value(hidden),
            pack,
            heads.num_attention_heads,
            heads.scaling,
            heads.dropout.p if heads.training else 0.0,
        )
        attended = layer.attention.output(context, hidden)  # dense, dropout, LayerNorm(+residual)
        hidden = layer.output(layer.intermediate(attended), attended)
    return hidden, pack


def pooled_embeddings(
    model, features: dict[str, torch.Tensor], pooling: str, attention: str | None = None
) -> torch.Tensor:
    """Mean or CLS pooling straight from the packed tokens: `[batch, hidden]`."""
    hidden, pack = packed_hidden_states(
        model,
        features["input_ids"],
        features["attention_mask"],
        features.get("token_type_ids"),
        attention=attention,
    )
    if pooling == "cls":  # each sequence's first token, back in batch order
        first = hidden[pack.cu_seqlens[:-1].long()]
        return torch.empty_like(first).index_copy(0, pack.order, first)
    summed = hidden.new_zeros(pack.batch, hidden.shape[1]).index_add(0, pack.sequence, hidden)
    return summed / pack.lengths.unsqueeze(1).to(hidden.dtype).clamp(min=1e-9)


def _word_embeddings(table: torch.nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """The word-embedding lookup; on CPU its dense gradient goes into one kept buffer.

    Autograd's embedding backward allocates a fresh zeroed `[vocab, hidden]` gradient every step
    (250k x 384 fp32 = 384 MB for multilingual-e5-small) and `zero_grad(set_to_none=True)` frees
    it again, so every step page-faults 384 MB back in: measured ~1 s a step on a 2-core VM,
    against ~70 ms to zero a kept buffer. The values are the same (the rows' sums of the output
    gradients, the padding row left at zero); only the memory is reused. The buffer becomes
    `weight.grad` whenever that is None at backward time, so a gradient tensor from an earlier
    step must not be held across `zero_grad(set_to_none=True)` (nothing in the trainer does).
    The gradient reaches `weight.grad` by `backward()` only: `torch.autograd.grad` with respect
    to this matrix would see none (the trainer and the tests use `backward()`).
    """
    weight = table.weight
    if weight.device.type != "cpu" or not (weight.requires_grad and torch.is_grad_enabled()):
        return F.embedding(ids, weight, table.padding_idx)
    return _KeptGradientLookup.apply(ids, weight, table.padding_idx)


_KEPT = "_hybrid_tui_kept_grad"  # the buffer, an attribute of the weight (its lifetime)


class _KeptGradientLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx):
        ctx.save_for_backward(ids)
        ctx.weight, ctx.padding_idx = weight, padding_idx
        return F.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad_output):
        (ids,) = ctx.saved_tensors
        weight = ctx.weight
        with torch.no_grad():
            if weight.grad is None:
                kept = getattr(weight, _KEPT, None)
                if kept is None or kept.shape != weight.shape or kept.dtype != weight.dtype:
                    kept = torch.zeros_like(weight)
                    setattr(weight, _KEPT, kept)
                else:
                    kept.zero_()
                weight.grad = kept
            if ctx.padding_idx is not None:  # as nn.Embedding: the padding row learns nothing
                grad_output = grad_output.masked_fill(ids.eq(ctx.padding_idx).unsqueeze(1), 0)
            weight.grad.index_add_(0, ids, grad_output.to(weight.grad.dtype))
        return None, None, None


def _attention(kind, q, k, v, pack: Packing, heads: int, scale: float, dropout_p: float):
    if kind == "repad":
        return _attention_repadded(q, k, v, pack, heads, scale, dropout_p)
    if kind == "jagged":
        return _attention_jagged(q, k, v, pack, heads, scale, dropout_p)
    if kind == "flash":
        return _attention_flash(q, k, v, pack, heads, scale, dropout_p)
    raise ValueError(f"attention must be one of {ATTENTION_KINDS} (got {kind!r})")


def _attention_repadded(q, k, v, pack: Packing, heads: int, scale: float, dropout_p: float):
    """SDPA per length group over `[size, heads, longest, head_dim]` with a key-padding mask;
    only Q/K/V and the context are re-padded (memory copies), never the per-token layers."""
    outputs = []
    for group in pack.groups:
        out = F.scaled_dot_product_attention(
            _repadded(q, group, heads),
            _repadded(k, group, heads),
            _repadded(v, group, heads),
            attn_mask=group.key_mask,
            dropout_p=dropout_p,
            scale=scale,
        )
        outputs.append(out.transpose(1, 2).reshape(-1, q.shape[1])[group.slot_index])
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def _repadded(x: torch.Tensor, group: AttentionGroup, heads: int) -> torch.Tensor:
    """The group's tokens of packed `x` as `[size, heads, longest, head_dim]`, zeros between."""
    width = x.shape[1]
    slots = x.new_zeros(group.size * group.longest, width)
    slots = slots.index_copy(0, group.slot_index, x[group.start : group.end])
    return slots.view(group.size, group.longest, heads, width // heads).transpose(1, 2)


def _attention_jagged(q, k, v, pack: Packing, heads: int, scale: float, dropout_p: float):
    """Nested-jagged SDPA: torch picks a varlen kernel on CUDA (flash / memory-efficient)."""
    total, width = q.shape
    offsets = pack.cu_seqlens.long()

    def jagged(x: torch.Tensor) -> torch.Tensor:
        nested = torch.nested.nested_tensor_from_jagged(
            x.view(total, heads, width // heads), offsets
        )
        return nested.transpose(1, 2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nested tensors are a "prototype"
        out = F.scaled_dot_product_attention(
            jagged(q), jagged(k), jagged(v), dropout_p=dropout_p, scale=scale
        )
    return out.transpose(1, 2).values().reshape(total, width)


def _attention_flash(q, k, v, pack: Packing, heads: int, scale: float, dropout_p: float):
    """flash-attention's varlen kernel (CUDA, bf16/fp16); other dtypes take the jagged path."""
    if q.dtype not in (torch.float16, torch.bfloat16):
        return _attention_jagged(q, k, v, pack, heads, scale, dropout_p)
    from flash_attn import flash_attn_varlen_func

    total, width = q.shape
    shape = (total, heads, width // heads)
    out = flash_attn_varlen_func(
        q.view(shape),
        k.view(shape),
        v.view(shape),
        pack.cu_seqlens,
        pack.cu_seqlens,
        pack.longest,
        pack.longest,
        dropout_p=dropout_p,
        softmax_scale=scale,
        causal=False,
    )
    return out.reshape(total, width)
