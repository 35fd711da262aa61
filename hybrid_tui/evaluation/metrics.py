"""Retrieval metrics computed from the ranks of the relevant items only (plain numpy).

mAP, MRR, recall@k and nDCG@k depend on a ranking only through the positions of its relevant
items, so nothing here sorts a full ranking: `count_ahead` counts, for each relevant item, the
candidates ranked before it. Computing a pooled ranking for XQuAD-R's 13k sentences costs seconds
this way, against minutes (and gigabytes) for full rankings.

Conventions shared by every function below:

- `ranks` is an integer array of shape `(..., slots)`: for each query (leading axes) the 1-based
  ranks of its relevant items, one per slot; a slot with rank `0` holds no relevant item
  (padding, e.g. a language a question does not exist in). Ranks of one query are distinct.
- `n_relevant` (optional, per query) is R, the number of relevant items of the query; by default
  the number of non-zero slots. A query with R = 0 gives NaN: callers skip it.
- Ties: a candidate is ranked before a relevant item when its score is strictly higher, or equal
  and its tie order is higher. `tie_order` (per column, distinct non-negative ints) is what a
  caller passes to follow trec_eval, which breaks ties by docno descending: the rank of each
  column's docno in ascending string order (`docno_order`). Without it, a lower column index
  goes first (a stable sort by descending score). Either way every relevant item gets a
  distinct rank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Elements per boolean temporary in `count_ahead` (~16 MB): bounds memory, stays cache friendly.
_COMPARE_BUDGET = 16_000_000


def docno_order(docnos: Sequence[str]) -> np.ndarray:
    """Each docno's position in ascending string order: the `tie_order` under which equal
    scores rank as trec_eval ranks them (the higher docno first)."""
    order = np.empty(len(docnos), dtype=np.int64)
    order[np.argsort(np.asarray(docnos, dtype=object), kind="stable")] = np.arange(len(docnos))
    return order


def _order_keys(scores: np.ndarray, tie_order: np.ndarray | None = None) -> np.ndarray:
    """int64 keys whose order is (score, then tie order): one comparison, exact ties.

    The float32 bit pattern is mapped to an order-preserving int32 (negative floats have their
    magnitude bits flipped), shifted into the high half; the low half holds the tie order
    (default `2**32 - 1 - column`: lower column first).
    """
    bits = (np.asarray(scores, dtype=np.float32) + np.float32(0.0)).view(np.int32)  # -0.0 -> +0.0
    bits = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))
    keys = bits.astype(np.int64)
    keys <<= 32
    if tie_order is None:
        keys |= np.int64(0xFFFFFFFF) - np.arange(scores.shape[-1], dtype=np.int64)
    else:
        keys |= np.asarray(tie_order, dtype=np.int64)
    return keys


def count_ahead(
    scores: np.ndarray,
    relevant_cols: np.ndarray,
    blocks: Sequence[tuple[int, int]] | None = None,
    tie_order: np.ndarray | None = None,
) -> np.ndarray:
    """Per relevant item, how many candidates of each column block are ranked before it.

    `scores` is `(n_queries, n_candidates)`; `relevant_cols` is `(n_queries, slots)` column
    indices, `-1` for an empty slot; `blocks` are `(start, stop)` column ranges (default: one
    block, all columns). Returns int64 `(n_queries, slots, n_blocks)`, zero for empty slots.
    With blocks = languages of a pooled candidate set, one pass gives the rank of an item in
    the pool (sum over blocks) and in its own language's pool (its own block) at once.
    """
    scores = np.asarray(scores, dtype=np.float32)
    cols = np.asarray(relevant_cols, dtype=np.int64)
    if scores.ndim != 2 or cols.ndim != 2 or cols.shape[0] != scores.shape[0]:
        raise ValueError(
            f"scores {scores.shape} and relevant_cols {cols.shape} must be 2-D with equal rows"
        )
    if cols.size and cols.max() >= scores.shape[1]:
        raise ValueError("relevant column index out of range")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    blocks = [(0, scores.shape[1])] if blocks is None else list(blocks)
    n, slots = cols.shape
    out = np.zeros((n, slots, len(blocks)), dtype=np.int64)
    if n == 0 or slots == 0:
        return out
    keys = _order_keys(scores, tie_order)
    present = cols >= 0
    relevant_keys = np.take_along_axis(keys, np.where(present, cols, 0), axis=1)
    widest = max((stop - start for start, stop in blocks), default=1)
    step = max(1, _COMPARE_BUDGET // max(1, slots * widest))
    for row in range(0, n, step):
        rows = slice(row, row + step)
        for b, (start, stop) in enumerate(blocks):
            ahead = keys[rows, None, start:stop] > relevant_keys[rows, :, None]
            out[rows, :, b] = np.count_nonzero(ahead, axis=-1)
    out[~present] = 0
    return out


def relevant_ranks(
    scores: np.ndarray, relevant_cols: np.ndarray, tie_order: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of each relevant column in its row's full ranking (0 for empty slots).

    rank = 1 + #{candidates with a higher score} + #{equal score, higher tie order}.
    """
    cols = np.asarray(relevant_cols, dtype=np.int64)
    ranks = 1 + count_ahead(scores, cols, tie_order=tie_order)[..., 0]
    ranks[cols < 0] = 0
    return ranks


def _n_relevant(ranks: np.ndarray, n_relevant: np.ndarray | int | None) -> np.ndarray:
    if n_relevant is None:
        return np.count_nonzero(ranks > 0, axis=-1).astype(np.float64)
    return np.broadcast_to(np.asarray(n_relevant, dtype=np.float64), ranks.shape[:-1])


def _sorted_ranks(ranks: np.ndarray) -> np.ndarray:
    """Ranks ascending along the last axis, empty slots (0) moved to the end as +inf."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.sort(np.where(ranks > 0, ranks, np.inf), axis=-1)


def _per_query(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, values / n_relevant, np.nan)


def average_precision_from_ranks(
    ranks: np.ndarray, n_relevant: np.ndarray | int | None = None, cutoff: int | None = None
) -> np.ndarray:
    """Average precision per query: AP = (1/R) * sum_i i / rank_(i).

    rank_(1) < rank_(2) < ... are the query's relevant ranks in ascending order, so i / rank_(i)
    is the precision at the i-th relevant item. With `cutoff=k` only ranks <= k contribute, still
    divided by R (trec_eval's `map_cut_k`). The mean over queries is mAP; with one relevant item
    AP is the reciprocal rank.
    """
    ordered = _sorted_ranks(ranks)
    position = np.arange(1, ordered.shape[-1] + 1, dtype=np.float64)
    counted = np.isfinite(ordered) if cutoff is None else ordered <= cutoff
    precision = np.where(counted, position / np.where(counted, ordered, 1.0), 0.0)
    return _per_query(precision.sum(axis=-1), _n_relevant(ranks, n_relevant))


def reciprocal_rank(ranks: np.ndarray, cutoff: int | None = None) -> np.ndarray:
    """1 / (best relevant rank) per query; 0 when it lies beyond `cutoff`; NaN with none."""
    ordered = _sorted_ranks(ranks)
    best = ordered[..., 0] if ordered.shape[-1] else np.full(ordered.shape[:-1], np.inf)
    rr = np.where(np.isfinite(best), 1.0 / best, np.nan)
    if cutoff is not None:
        rr = np.where(np.isfinite(best) & (best > cutoff), 0.0, rr)
    return rr


def mrr(ranks: np.ndarray, cutoff: int | None = None) -> float:
    """Mean reciprocal rank over the queries that have a relevant item."""
    return float(np.nanmean(reciprocal_rank(ranks, cutoff)))


def recall_at_k(
    ranks: np.ndarray, k: int, n_relevant: np.ndarray | int | None = None
) -> np.ndarray:
    """Recall@k per query: #{relevant items with rank <= k} / R (trec_eval's `recall_k`).

    In the multilingual pool R is the number of languages a question exists in, so with 11
    languages recall@10 is at most 10/11.
    """
    ranks = np.asarray(ranks)
    found = np.count_nonzero((ranks > 0) & (ranks <= k), axis=-1).astype(np.float64)
    return _per_query(found, _n_relevant(ranks, n_relevant))


def ndcg_at_k(ranks: np.ndarray, k: int, n_relevant: np.ndarray | int | None = None) -> np.ndarray:
    """nDCG@k per query with binary gains (trec_eval's `ndcg_cut_k`).

    DCG = sum over relevant items with rank <= k of 1 / log2(rank + 1);
    ideal DCG = sum_{i=1}^{min(R, k)} 1 / log2(i + 1).
    """
    ranks = np.asarray(ranks)
    counted = (ranks > 0) & (ranks <= k)
    dcg = np.where(counted, 1.0 / np.log2(np.where(counted, ranks, 1) + 1.0), 0.0).sum(axis=-1)
    r = _n_relevant(ranks, n_relevant)
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    ideal = discounts[np.minimum(r, k).astype(np.int64)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r > 0, dcg / ideal, np.nan)


def rank_distance(ranks: np.ndarray) -> np.ndarray:
    """Language bias per query: worst rank minus best rank among its relevant items.

    Used on multilingual-pool ranks with one relevant sentence per language (Huang et al. 2023,
    KD-SPD): 0 means all translations of the answer sit together at the top; a large value means
    some languages' answers are pushed far down. NaN for queries with fewer than two relevant
    items (no distance to measure). The benchmark figure is the mean over queries, then over
    query languages; lower is better.
    """
    ranks = np.asarray(ranks)
    present = ranks > 0
    worst = np.where(present, ranks, 0).max(axis=-1, initial=0)
    best = np.where(present, ranks, np.iinfo(np.int64).max).min(
        axis=-1, initial=np.iinfo(np.int64).max
    )
    with np.errstate(invalid="ignore"):
        return np.where(
            np.count_nonzero(present, axis=-1) >= 2, (worst - best).astype(np.float64), np.nan
        )
