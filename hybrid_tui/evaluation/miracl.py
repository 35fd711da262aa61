"""MIRACL scoring: each language's topics searched in its own corpus, nDCG@10 and Recall@100.

The measures are trec_eval's (`ndcg_cut_10`, `recall_100`), which MIRACL reports: gains are the
qrels grades, the ideal ranking is the judged documents sorted by grade, recall counts documents
graded above 0. Per-language figures are means over the topics with a relevant judgement; the
`avg` keys are macro means over languages. Keys: `eval/miracl/mono/<lang>/{ndcg_10,recall_100}`
and `eval/miracl/mono/avg/...`. The corpus goes through `corpus_search` (encode cache, faiss); each top-100 is then put in
trec_eval's order (`trec_ranking`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybrid_tui.evaluation import search as corpus_search
from hybrid_tui.evaluation.search import model_fingerprint
from hybrid_tui.metric_keys import AVERAGE, eval_key
from hybrid_tui.progress import ProgressFn

if TYPE_CHECKING:
    from hybrid_tui.data.miracl import MiraclSet

DATASET = "miracl"
NDCG_DEPTH, RECALL_DEPTH = 10, 100
METRICS = (f"ndcg_{NDCG_DEPTH}", f"recall_{RECALL_DEPTH}")


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], depth: int = NDCG_DEPTH) -> float:
    """trec_eval's ndcg_cut: sum of grade / log2(rank + 1) over the top `depth`, over the ideal."""
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    gains = np.array([max(judged.get(doc, 0), 0) for doc in ranked[:depth]], dtype=np.float64)
    ideal = np.sort(np.array([g for g in judged.values() if g > 0], dtype=np.float64))[::-1]
    ideal = ideal[:depth]
    best = float((ideal * discounts[: len(ideal)]).sum())
    return float((gains * discounts[: len(gains)]).sum() / best) if best > 0 else 0.0


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], depth: int = RECALL_DEPTH) -> float:
    relevant = {doc for doc, grade in judged.items() if grade > 0}
    return len(relevant.intersection(ranked[:depth])) / len(relevant) if relevant else 0.0


def trec_ranking(scored: Iterable[tuple[float, str]]) -> list[str]:
    """Docids best first, as trec_eval orders a run: score descending, ties broken by docid
    descending (string order). faiss returns tied rows in its own order, which would let the
    index kind, not the model, decide nDCG@10 between equally scored passages."""
    return [doc for _, doc in sorted(((float(s), d) for s, d in scored), reverse=True)]


def score_rankings(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Mean nDCG@10 and Recall@100 over the ranked topics (each ranking best first)."""
    ndcg = [ndcg_at(ranked, qrels[qid]) for qid, ranked in rankings.items()]
    recall = [recall_at(ranked, qrels[qid]) for qid, ranked in rankings.items()]
    return {METRICS[0]: float(np.mean(ndcg)), METRICS[1]: float(np.mean(recall))}


def rank_language(
    encoder: Any,
    mset: MiraclSet,
    lang: str,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    cache_root: Path | None = None,
    dtype: str = "float16",
    chunk_rows: int | None = None,
    model_fp: str | None = None,
) -> tuple[dict[str, list[str]], str]:
    """Each topic's top-100 docids in its language's corpus, and the faiss index kind used."""
    corpus = mset.corpora[lang]
    model_fp = model_fp or corpus_search.model_fingerprint(encoder)
    key = corpus_search.cache_key(model_fp, corpus.fingerprint, dtype)
    passages = corpus_search.encode_corpus(
        encoder,
        corpus.passages,
        key,
        cache_root=cache_root,
        dtype=dtype,
        chunk_rows=chunk_rows or corpus_search.CHUNK_ROWS,
        batch_size=batch_size,
        progress=progress,
        description=f"Encoding MIRACL {lang} corpus",
    )
    index, kind = corpus_search.build_index(
        passages, progress=progress, description=f"Indexing MIRACL {lang}"
    )
    topics = mset.topics[lang]
    queries = encoder.encode([text for _, text in topics], "query", batch_size=batch_size)
    scores, ids = corpus_search.search(index, queries, RECALL_DEPTH)
    rankings = {
        qid: trec_ranking(
            (score, corpus.docids[i]) for score, i in zip(row_scores, row, strict=True) if i >= 0
        )
        for (qid, _), row_scores, row in zip(topics, scores, ids, strict=True)
    }
    return rankings, kind


def evaluate_miracl(
    encoder: Any,
    mset: MiraclSet,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    cache_root: Path | None = None,
    dtype: str = "float16",
    chunk_rows: int | None = None,
) -> dict[str, float]:
    """Every language's nDCG@10 and Recall@100 and their macro averages, as metric keys."""
    model_fp = model_fingerprint(encoder)
    out: dict[str, float] = {}
    per_language = []
    for lang in mset.languages:
        rankings, _ = rank_language(
            encoder, mset, lang, batch_size, progress, cache_root, dtype, chunk_rows, model_fp
        )
        found = score_rankings(rankings, mset.qrels[lang])
        per_language.append(found)
        out |= {eval_key(DATASET, "mono", lang, name): value for name, value in found.items()}
    for name in METRICS:
        out[eval_key(DATASET, "mono", AVERAGE, name)] = float(
            np.mean([found[name] for found in per_language])
        )
    return out


def miracl_table(metrics: Mapping[str, float], languages: Sequence[str]) -> dict[str, dict]:
    """`{"sw": {"ndcg_10": .., "recall_100": ..}, ..., "avg": {...}}` from a run's metrics: the
    table a run logs and its model card shows."""
    return {
        who: {
            name: metrics[key]
            for name in METRICS
            if (key := eval_key(DATASET, "mono", who, name)) in metrics
        }
        for who in [*languages, AVERAGE]
    }
