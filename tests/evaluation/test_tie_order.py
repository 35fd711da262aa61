"""Tied scores are ranked as trec_eval ranks them (score descending, then docid descending), so
nDCG@10, Recall@100 and LAReQA's AP agree with pytrec_eval whatever order faiss or the column
layout gives equal scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

# Few distinct passage vectors: most scores tie, and the docids are out of string order.
DOCIDS = [f"{100 + i // 4}#{i % 4}" for i in range(48)][::-1]
QRELS = {
    "q0": {"110#3": 2, "103#1": 1, "100#0": 1},
    "q1": {"105#0": 1, "105#2": 1, "111#1": 2, "101#1": 0},
    "q2": {"102#2": 1, "108#3": 1},
}


class _TiedEncoder:
    """Passage i gets one of three unit vectors (by i mod 3); queries point between them, so
    every query scores 16 passages equally on each of three levels."""

    def encode(self, texts, kind, batch_size=64, progress=None):
        basis = np.eye(3, dtype=np.float32)
        if kind == "passage":
            return basis[[int(t) % 3 for t in texts]]
        weights = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.5, 0.0]], np.float32)
        return weights[[int(t) for t in texts]]


def _pytrec(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(QRELS, {"ndcg_cut.10", "recall.100", "map"})
    return evaluator.evaluate(run)


def test_miracl_rankings_with_tied_scores_match_pytrec_eval(tmp_path) -> None:
    from hybrid_tui.evaluation.miracl import rank_language, score_rankings

    corpus = SimpleNamespace(
        passages=[str(i) for i in range(len(DOCIDS))], docids=DOCIDS, fingerprint="tied"
    )
    mset = SimpleNamespace(
        corpora={"sw": corpus}, topics={"sw": [("q0", "0"), ("q1", "1"), ("q2", "2")]}
    )
    encoder = _TiedEncoder()
    rankings, _ = rank_language(
        encoder, mset, "sw", cache_root=tmp_path, dtype="float32", model_fp="tied"
    )
    passages = encoder.encode(corpus.passages, "passage")
    queries = encoder.encode(["0", "1", "2"], "query")
    run = {
        qid: {doc: float(s) for doc, s in zip(DOCIDS, queries[q] @ passages.T, strict=True)}
        for q, qid in enumerate(QRELS)
    }
    oracle = _pytrec(run)
    for qid in QRELS:
        ours = score_rankings({qid: rankings[qid]}, {qid: QRELS[qid]})
        assert ours["ndcg_10"] == pytest.approx(oracle[qid]["ndcg_cut_10"], abs=1e-9), qid
        assert ours["recall_100"] == pytest.approx(oracle[qid]["recall_100"], abs=1e-9), qid


def test_lareqa_ap_with_tied_scores_matches_pytrec_eval_on_the_sets_docnos() -> None:
    """Mono and multilingual AP of every question equal pytrec_eval's `map` on a run that scores
    each candidate (docno `<lang>:<id>`, as `lareqa.docnos` names it) with the same dot product."""
    import pytrec_eval

    from hybrid_tui.data.lareqa import Candidate, Question, RetrievalSet
    from hybrid_tui.evaluation.lareqa import docnos, evaluate_embeddings
    from hybrid_tui.tracking.per_query import PerQueryResults

    rng = np.random.default_rng(4)
    langs, n_cands, n_questions = ["de", "en"], 30, 12
    rset = RetrievalSet("xquad-r", langs)
    basis = np.eye(3, dtype=np.float32)
    cand_emb, question_emb = {}, {}
    for y in langs:
        ids = [f"{p}:{s}" for p in range(n_cands // 3) for s in (0, 1, 10)][::-1]
        rset.candidates[y] = [Candidate(i, i, "") for i in ids]
        rset.questions[y] = [Question(f"q{k}", "") for k in range(n_questions)]
        rset.answer_index[y] = {f"q{k}": int(c) for k, c in enumerate(rng.permutation(n_cands))}
        cand_emb[y] = basis[rng.integers(0, 3, n_cands)]  # three score levels: ties everywhere
        question_emb[y] = rng.dirichlet(np.ones(3), n_questions).astype(np.float32)
    per_query = PerQueryResults("xquad-r")
    evaluate_embeddings(rset, question_emb, cand_emb, ("mono", "multi"), per_query=per_query)

    names = {y: docnos(rset, y) for y in langs}
    for x in langs:
        for setting, pool in (("mono", [x]), ("multi", langs)):
            run, qrels = {}, {}
            for k, q in enumerate(rset.questions[x]):
                run[q.id] = {
                    names[y][c]: float(question_emb[x][k] @ cand_emb[y][c])
                    for y in pool
                    for c in range(n_cands)
                }
                qrels[q.id] = {names[y][rset.answer_index[y][q.id]]: 1 for y in pool}
            oracle = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run)
            ours = per_query.values(setting)
            key = x if setting == "mono" else "all"
            for q in rset.questions[x]:
                assert ours[x, key, q.id] == pytest.approx(oracle[q.id]["map"], abs=1e-9), (
                    setting,
                    x,
                    q.id,
                )
