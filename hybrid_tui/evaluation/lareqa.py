"""Zero-shot LAReQA-style evaluation: mono, cross and multilingual mAP and language bias.

Each language's questions and candidates are encoded once; every setting is then derived from
the same score blocks. For query language X the scores against all candidates (`Q_X C_all^T`,
in row chunks) are computed once, and for each relevant sentence (one per language Y) the
candidates ranked before it are counted per language block. Its rank in the multilingual pool is
1 + the sum over blocks; its rank in the pool of Y alone (mono when Y = X, cross otherwise) is
1 + the count in block Y. Only these counts are needed for mAP, recall and rank distance, so no
ranking is ever sorted: exact ranks over XQuAD-R's ~13k sentences take seconds, while faiss would
need a full top-N search (or an approximate cutoff) to place every relevant item exactly.

Metric keys (built by `metric_keys.eval_key`): `eval/<ds>/mono/<X>/{map,recall_1}`,
`eval/<ds>/cross/<X>-<Y>/{map,recall_1}`, `eval/<ds>/multi/<X>/{map,recall_10}`,
`eval/<ds>/{mono,cross,multi}/avg/...` (macro averages over languages or pairs),
`eval/<ds>/bias/<X>/rank_distance`, `eval/<ds>/bias/avg/rank_distance` and
`eval/<ds>/bias/<X>-<Y>/mean_rank` (Y = X included), the bias keys with the multi setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybrid_tui.data.lareqa import load_retrieval_set
from hybrid_tui.data.miracl import MiraclSet
from hybrid_tui.data.mmmlu import MultipleChoiceSet
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation import metrics
from hybrid_tui.languages import EVAL_DATASETS, MIRACL, MIRACL_LANGUAGES, MMMLU, MMMLU_LANGUAGES
from hybrid_tui.metric_keys import AVERAGE, eval_key
from hybrid_tui.progress import ProgressFn
from hybrid_tui.tracking.per_query import MULTI_POOL, PerQueryResults

if TYPE_CHECKING:
    from hybrid_tui.data.lareqa import RetrievalSet
    from hybrid_tui.data.miracl import MiraclSet
    from hybrid_tui.recipe import EvalConfig
    from hybrid_tui.tracking.per_query import PerQueryResults

SETTINGS: tuple[str, ...] = ("mono", "cross", "multi")
# Bytes for one chunk of the score matrix and its ordering keys (float32 + int64 per score).
_SCORE_BUDGET = 256 * 1024 * 1024
_MAX_CHUNK_ROWS = 512


def _check_settings(settings: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(settings))
    unknown = [s for s in chosen if s not in SETTINGS]
    if unknown or not chosen:
        raise HybridTuiError(
            f"unknown evaluation setting {unknown[0] if unknown else '(none)'!r}; "
            f"choose from {', '.join(SETTINGS)}"
        )
    return chosen


def _relevant_columns(rset: RetrievalSet, lang: str) -> np.ndarray:
    """`(n_questions, n_languages)`: index of the relevant sentence in each language, or -1."""
    ids = [q.id for q in rset.questions[lang]]
    cols = np.full((len(ids), len(rset.languages)), -1, dtype=np.int64)
    for j, target in enumerate(rset.languages):
        index = rset.answer_index.get(target, {})
        cols[:, j] = [index.get(qid, -1) for qid in ids]
    return cols


def docnos(rset: RetrievalSet, lang: str) -> list[str]:
    """The candidates' docnos as a trec_eval run of this set names them: `<lang>:<id>`."""
    return [f"{lang}:{c.id}" for c in rset.candidates[lang]]


def _tie_orders(rset: RetrievalSet) -> list[np.ndarray]:
    """Per language, its columns' tie order (trec_eval's: equal scores, higher docno first),
    numbered over the whole pool so one order serves each pool alone and the pooled ranking."""
    order = metrics.docno_order([d for y in rset.languages for d in docnos(rset, y)])
    widths = np.cumsum([0, *(len(rset.candidates[y]) for y in rset.languages)])
    return [order[widths[j] : widths[j + 1]] for j in range(len(rset.languages))]


def _as_matrix(emb: np.ndarray, dim: int = 0) -> np.ndarray:
    """float32, C-contiguous rows; an empty language becomes a `(0, dim)` block."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    return emb.reshape(0, max(dim, emb.shape[-1] if emb.ndim == 2 else 0)) if not emb.size else emb


def _chunk_rows(n_columns: int) -> int:
    return int(max(1, min(_MAX_CHUNK_ROWS, _SCORE_BUDGET // max(1, 12 * n_columns))))


def _score_language(
    queries: np.ndarray,
    cand_blocks: Sequence[np.ndarray],
    pool: np.ndarray,
    local_cols: np.ndarray,
    own: int,
    settings: tuple[str, ...],
    report: Callable[[int], None],
    ties: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks for one query language.

    Returns `(pool_ranks, pooled_ranks)`: `pool_ranks[i, j]` is the rank of question i's relevant
    sentence of language j among language j's sentences alone; `pooled_ranks[i, j]` its rank in
    the multilingual pool (only filled when "multi" is asked). 0 marks no relevant sentence.
    `pool` is the concatenation of `cand_blocks`, the multilingual candidate set; `ties` holds
    each block's tie order (its docnos' string order, consistent across blocks).
    """
    n, n_langs = local_cols.shape
    pool_ranks = np.zeros((n, n_langs), dtype=np.int64)
    pooled_ranks = np.zeros((n, n_langs), dtype=np.int64)
    wanted = [
        j
        for j in range(n_langs)
        if (j == own and "mono" in settings) or (j != own and "cross" in settings)
    ]
    widths = [len(block) for block in cand_blocks]
    starts = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    if "multi" in settings:
        global_cols = np.where(local_cols >= 0, local_cols + starts[:-1], -1)
        blocks = [(int(starts[j]), int(starts[j + 1])) for j in range(n_langs)]
        step = _chunk_rows(len(pool))
        for row in range(0, n, step):
            rows = slice(row, row + step)
            scores = queries[rows] @ pool.T
            ahead = metrics.count_ahead(scores, global_cols[rows], blocks, np.concatenate(ties))
            present = global_cols[rows] >= 0
            pooled_ranks[rows] = np.where(present, 1 + ahead.sum(axis=-1), 0)
            own_block = np.diagonal(ahead, axis1=1, axis2=2)
            pool_ranks[rows] = np.where(present, 1 + own_block, 0)
            report(min(n, row + step))
        return pool_ranks, pooled_ranks
    step = _chunk_rows(max(widths[j] for j in wanted) if wanted else 1)
    for row in range(0, n, step):
        rows = slice(row, row + step)
        for j in wanted:
            scores = queries[rows] @ cand_blocks[j].T
            ranks = metrics.relevant_ranks(scores, local_cols[rows, j : j + 1], ties[j])
            pool_ranks[rows, j] = ranks[:, 0]
        report(min(n, row + step))
    return pool_ranks, pooled_ranks


def _single_item_metrics(
    ranks: np.ndarray, map_cutoff: int | None
) -> tuple[dict[str, float], np.ndarray, np.ndarray] | None:
    """mAP and recall@1 over the queries whose relevant sentence exists in this pool, with
    those queries' row indices and their AP (for the per-query results)."""
    rows = np.flatnonzero(ranks > 0)
    if not len(rows):
        return None
    ranks = ranks[rows][:, None]
    ap = metrics.average_precision_from_ranks(ranks, cutoff=map_cutoff)
    found = {"map": float(ap.mean()), "recall_1": float(metrics.recall_at_k(ranks, 1).mean())}
    return found, rows, ap


def _averages(dataset: str, setting: str, per_key: list[dict[str, float]]) -> dict[str, float]:
    if not per_key:
        return {}
    return {
        eval_key(dataset, setting, AVERAGE, name): float(np.mean([m[name] for m in per_key]))
        for name in per_key[0]
    }


def evaluate_embeddings(
    rset: RetrievalSet,
    question_emb: dict[str, np.ndarray],
    candidate_emb: dict[str, np.ndarray],
    settings: Iterable[str] = SETTINGS,
    map_cutoff: int | None = None,
    progress: ProgressFn | None = None,
    per_query: PerQueryResults | None = None,
) -> dict[str, float]:
    """Score every requested setting from embeddings (rows aligned with `rset`'s lists).

    Embeddings come from anywhere (scores are dot products, so pass normalised vectors for
    cosine). `map_cutoff=k` computes AP over the top k only (trec_eval `map_cut_k`); the key
    stays `map`. Per-language figures are means over the queries that have a relevant sentence
    in the pool; averages are macro means over languages (or ordered pairs). `per_query`, when
    given, receives every scored query's AP (and multi rank distance) from the same pass.
    """
    chosen = _check_settings(settings)
    langs = list(rset.languages)
    ds = rset.name
    q_emb = {x: _as_matrix(question_emb[x]) for x in langs}
    dim = max(m.shape[1] for m in q_emb.values())
    c_emb = [_as_matrix(candidate_emb[y], dim) for y in langs]
    for x, cands in zip(langs, c_emb, strict=True):
        if len(q_emb[x]) != len(rset.questions[x]) or len(cands) != len(rset.candidates[x]):
            raise ValueError(f"{x}: embeddings do not match the retrieval set's rows")
    pool = np.concatenate(c_emb, axis=0) if "multi" in chosen else np.zeros((0, dim), np.float32)
    ties = _tie_orders(rset)
    total = sum(len(q_emb[x]) for x in langs)
    done = 0
    out: dict[str, float] = {}
    mono: list[dict[str, float]] = []
    cross: list[dict[str, float]] = []
    multi: list[dict[str, float]] = []
    bias: list[float] = []
    for i, x in enumerate(langs):

        def report(rows_done: int, offset: int = done) -> None:
            if progress is not None:
                progress(f"Scoring {rset.name}", offset + rows_done, total)

        pool_ranks, pooled = _score_language(
            q_emb[x], c_emb, pool, _relevant_columns(rset, x), i, chosen, report, ties
        )
        done += len(q_emb[x])
        ids = np.array([q.id for q in rset.questions[x]], dtype=object)
        for j, y in enumerate(langs):
            if (j == i and "mono" in chosen) or (j != i and "cross" in chosen):
                scored = _single_item_metrics(pool_ranks[:, j], map_cutoff)
                if scored is not None:
                    found, rows, ap = scored
                    setting, who = ("mono", x) if j == i else ("cross", (x, y))
                    out.update(
                        {eval_key(ds, setting, who, name): value for name, value in found.items()}
                    )
                    (mono if j == i else cross).append(found)
                    if per_query is not None:
                        per_query.add(setting, x, y, ids[rows], ap)
        if "multi" in chosen:
            rows = np.flatnonzero((pooled > 0).any(axis=1))
            queries = pooled[rows]
            if not len(queries):
                continue
            ap = metrics.average_precision_from_ranks(queries, cutoff=map_cutoff)
            found = {
                "map": float(ap.mean()),
                "recall_10": float(metrics.recall_at_k(queries, 10).mean()),
            }
            out.update({eval_key(ds, "multi", x, name): value for name, value in found.items()})
            multi.append(found)
            distances = metrics.rank_distance(queries)
            if per_query is not None:
                per_query.add("multi", x, MULTI_POOL, ids[rows], ap, distances)
            if np.isfinite(distances).any():
                bias.append(float(np.nanmean(distances)))
                out[eval_key(ds, "bias", x, "rank_distance")] = bias[-1]
            for j, y in enumerate(langs):
                column = queries[:, j]
                if (column > 0).any():
                    out[eval_key(ds, "bias", (x, y), "mean_rank")] = float(
                        column[column > 0].mean()
                    )
    out.update(_averages(ds, "mono", mono))
    out.update(_averages(ds, "cross", cross))
    out.update(_averages(ds, "multi", multi))
    if bias:
        out[eval_key(ds, "bias", AVERAGE, "rank_distance")] = float(np.mean(bias))
    return out


def evaluate_retrieval(
    encoder: Any,
    rset: RetrievalSet,
    settings: Iterable[str] = SETTINGS,
    map_cutoff: int | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    per_query: PerQueryResults | None = None,
) -> dict[str, float]:
    """Encode each language's questions and candidates once, then `evaluate_embeddings`.

    `encoder` offers `encode(texts, kind, batch_size=..., progress=...)` returning normalised
    float32 rows (a `BiEncoder`); the caller puts it in eval mode. Encoding progress is reported
    as one bar over all texts of the set.
    """
    chosen = _check_settings(settings)
    jobs = [(x, "query", [q.text for q in rset.questions[x]]) for x in rset.languages]
    jobs += [(y, "passage", [c.text for c in rset.candidates[y]]) for y in rset.languages]
    total = sum(len(texts) for _, _, texts in jobs)
    encoded: dict[str, dict[str, np.ndarray]] = {"query": {}, "passage": {}}
    description = f"Encoding {rset.name}"
    offset = 0
    for lang, kind, texts in jobs:

        def report(_description: str, done: int, _total: int, start: int = offset) -> None:
            if progress is not None:  # the encoder's per-call count, shifted onto one bar
                progress(description, start + done, total)

        encoded[kind][lang] = encoder.encode(texts, kind, batch_size=batch_size, progress=report)
        offset += len(texts)
        if progress is not None:
            progress(description, offset, total)
    return evaluate_embeddings(
        rset,
        encoded["query"],
        encoded["passage"],
        chosen,
        map_cutoff=map_cutoff,
        progress=progress,
        per_query=per_query,
    )


def load_eval_sets(
    config: EvalConfig,
    data_root: str | Path | None,
    progress: ProgressFn | None = None,
    languages_option: str = "eval.languages",
) -> list[RetrievalSet | MiraclSet | MultipleChoiceSet]:
    """The evaluation sets `config` names (MIRACL through `data.miracl`), in its languages (all of a dataset's when none),
    with its question sample. `languages_option` names the setting in errors (`--langs` for the
    eval command)."""
    sets: list[RetrievalSet | MiraclSet | MultipleChoiceSet] = []
    for dataset in config.datasets:
        if dataset == MIRACL:  # monolingual only: the settings and the question sample do not apply
            from hybrid_tui.data.miracl import load_miracl

            chosen = [lang for lang in config.languages if lang in MIRACL_LANGUAGES]
            sets.append(
                load_miracl(data_root, chosen, progress=progress, languages_option=languages_option)
            )
            continue
        if dataset == MMMLU:  # multiple choice, parallel by row: its own loader and scoring
            from hybrid_tui.data.mmmlu import load_mmmlu
            from hybrid_tui.paths import resolve_mmmlu_root

            chosen = [lang for lang in config.languages if lang in MMMLU_LANGUAGES]
            sets.append(
                load_mmmlu(
                    resolve_mmmlu_root(data_root),
                    chosen or None,
                    max_questions=config.max_questions,
                    question_seed=config.question_seed,
                    progress=progress,
                )
            )
            continue
        available = EVAL_DATASETS[dataset][2]
        chosen = [lang for lang in config.languages if lang in available]
        if config.languages and len(chosen) < 2 and "multi" in config.settings:
            raise HybridTuiError(
                f"{languages_option} keeps {len(chosen)} language(s) of {dataset}; the multi "
                "setting needs at least two: list at least two, or leave it empty for all"
            )
        sets.append(
            load_retrieval_set(
                dataset,
                data_root,
                languages=chosen or None,
                max_questions=config.max_questions,
                question_seed=config.question_seed,
                progress=progress,
            )
        )
    return sets


def evaluate_model(
    encoder: Any,
    eval_sets: Iterable[RetrievalSet | MiraclSet | MultipleChoiceSet],
    config: EvalConfig,
    progress: ProgressFn | None = None,
    per_query: dict[str, PerQueryResults] | None = None,
) -> dict[str, float]:
    """Every metric of every set, scored as `config` says: what the trainer, the study and the
    eval command all call. The encoder is put in eval mode and left there. `per_query`, when
    given (a dict), receives each LAReQA set's per-query results under the set's name; MIRACL
    sets are scored by `miracl_eval` (nDCG@10, Recall@100)."""
    encoder.eval()
    metrics: dict[str, float] = {}
    for rset in eval_sets:
        if isinstance(rset, MiraclSet):
            from hybrid_tui.evaluation.miracl import evaluate_miracl

            metrics |= evaluate_miracl(encoder, rset, config.batch_size, progress=progress)
            continue
        if isinstance(rset, MultipleChoiceSet):
            from hybrid_tui.evaluation.mmmlu import evaluate_mmmlu

            choices = None if per_query is None else PerQueryResults(rset.name)
            if choices is not None:
                per_query[rset.name] = choices
            metrics |= evaluate_mmmlu(
                encoder,
                rset,
                config.settings,
                batch_size=config.batch_size,
                progress=progress,
                per_query=choices,
            ).metrics
            continue
        collector = None
        if per_query is not None:
            collector = per_query[rset.name] = PerQueryResults(rset.name)
        metrics |= evaluate_retrieval(
            encoder,
            rset,
            config.settings,
            map_cutoff=config.map_cutoff,
            batch_size=config.batch_size,
            progress=progress,
            per_query=collector,
        )
    return metrics


def question_counts(
    eval_sets: Iterable[RetrievalSet | MiraclSet | MultipleChoiceSet],
) -> dict[str, dict[str, int]]:
    """Questions per language of each set (`{"xquad-r": {"en": 150, ...}}`): what a run records
    and the eval command prints, since a sample gives languages different counts."""
    return {rset.name: rset.question_counts() for rset in eval_sets}
