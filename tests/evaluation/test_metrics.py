"""Metrics from relevant ranks, checked by hand and against trec_eval (pytrec_eval)."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_tui.evaluation import metrics

pytrec_eval = pytest.importorskip("pytrec_eval")


def test_ranks_count_higher_scores_and_break_ties_by_column() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.5], [-0.0, 0.0, -0.2, -0.1, 0.3]], dtype=np.float32)
    # Row 0: 0.9 first, then the three 0.5s in column order (0, 2, 4), then 0.1.
    ranks = metrics.relevant_ranks(scores[:1], np.array([[0, 2, 4, 3]]))
    assert ranks.tolist() == [[2, 3, 4, 5]]
    # Row 1: -0.0 and +0.0 are equal scores, so column 0 goes first; negatives order correctly.
    ranks = metrics.relevant_ranks(scores[1:], np.array([[0, 1, 2, 3, -1]]))
    assert ranks.tolist() == [[2, 3, 5, 4, 0]]


def test_block_counts_give_pool_and_per_block_ranks() -> None:
    rng = np.random.default_rng(1)
    scores = np.round(rng.standard_normal((40, 30)), 1).astype(np.float32)  # many ties
    cols = np.stack([rng.integers(0, 10, 40), rng.integers(10, 30, 40)], axis=1)
    cols[::7, 1] = -1
    blocks = [(0, 10), (10, 30)]
    ahead = metrics.count_ahead(scores, cols, blocks)
    full = metrics.relevant_ranks(scores, cols)
    assert np.array_equal(np.where(cols >= 0, 1 + ahead.sum(-1), 0), full)
    # Rank inside its own block equals the rank computed on that block's columns alone.
    second = metrics.relevant_ranks(
        scores[:, 10:], np.where(cols[:, 1:] >= 0, cols[:, 1:] - 10, -1)
    )
    assert np.array_equal(np.where(cols[:, 1] >= 0, 1 + ahead[:, 1, 1], 0), second[:, 0])
    assert np.array_equal(
        1 + ahead[:, 0, 0], metrics.relevant_ranks(scores[:, :10], cols[:, :1])[:, 0]
    )


def test_average_precision_follows_the_formula_and_cutoff() -> None:
    ranks = np.array([[6, 1, 3], [2, 0, 0], [0, 0, 0]])
    ap = metrics.average_precision_from_ranks(ranks)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    assert ap[1] == pytest.approx(0.5)
    assert np.isnan(ap[2])  # no relevant item: the query is skipped by callers
    cut = metrics.average_precision_from_ranks(ranks, cutoff=5)
    assert cut[0] == pytest.approx((1 / 1 + 2 / 3) / 3)  # rank 6 drops out, still divided by R=3
    # A relevant item never retrieved (R larger than the ranks given) lowers AP.
    assert metrics.average_precision_from_ranks(ranks[1:2], n_relevant=2)[0] == pytest.approx(0.25)
    assert metrics.mrr(ranks) == pytest.approx((1 + 0.5) / 2)
    assert metrics.recall_at_k(ranks, 3)[:2].tolist() == pytest.approx([2 / 3, 1.0])


def test_rank_distance_is_worst_minus_best_rank() -> None:
    ranks = np.array([[1, 2, 40], [7, 0, 3], [5, 0, 0]])
    distance = metrics.rank_distance(ranks)
    assert distance[:2].tolist() == [39.0, 4.0]
    assert np.isnan(distance[2])  # one relevant item: nothing to compare


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_match_trec_eval_on_rankings_with_ties(seed: int) -> None:
    """Random scores rounded to 2 decimals (so ties abound), 1-5 relevant items per query."""
    rng = np.random.default_rng(seed)
    n_queries, n_docs = 30, 200
    scores = np.round(rng.uniform(-1, 1, (n_queries, n_docs)), 2).astype(np.float32)
    n_rel = rng.integers(1, 6, n_queries)
    cols = np.full((n_queries, 5), -1)
    for i, r in enumerate(n_rel):
        cols[i, :r] = rng.choice(n_docs, r, replace=False)
    ranks = metrics.relevant_ranks(scores, cols)
    assert (ranks[cols >= 0] > 0).all() and (ranks[cols < 0] == 0).all()

    # trec_eval sorts ties by docno descending: lower column -> larger docno -> earlier.
    def docno(c: int) -> str:
        return f"d{n_docs - c:06d}"

    qrels = {f"q{i}": {docno(c): 1 for c in cols[i] if c >= 0} for i in range(n_queries)}
    run = {
        f"q{i}": {docno(c): float(scores[i, c]) for c in range(n_docs)} for i in range(n_queries)
    }
    measures = {"map", "map_cut_20", "recip_rank", "recall_10", "ndcg_cut_10"}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    expected = {m: np.array([oracle[f"q{i}"][m] for i in range(n_queries)]) for m in oracle["q0"]}
    np.testing.assert_allclose(
        metrics.average_precision_from_ranks(ranks), expected["map"], atol=1e-9
    )
    np.testing.assert_allclose(
        metrics.average_precision_from_ranks(ranks, cutoff=20), expected["map_cut_20"], atol=1e-9
    )
    np.testing.assert_allclose(metrics.reciprocal_rank(ranks), expected["recip_rank"], atol=1e-9)
    np.testing.assert_allclose(metrics.recall_at_k(ranks, 10), expected["recall_10"], atol=1e-9)
    np.testing.assert_allclose(metrics.ndcg_at_k(ranks, 10), expected["ndcg_cut_10"], atol=1e-9)
