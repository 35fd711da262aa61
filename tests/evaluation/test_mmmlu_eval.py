"""MMMLU by retrieval: accuracy, the pair grid and the bias figures equal a plain-numpy oracle.

The oracle reads the answer letters from the fixture (not from the loader), scores every option
with one dot product at a time and keeps the first best by explicit comparison; it shares no
rule with `hybrid_tui.evaluation.mmmlu` beyond the embeddings it is given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.data.mmmlu import load_mmmlu
from hybrid_tui.evaluation.mmmlu import evaluate_choice_embeddings
from hybrid_tui.tracking.per_query import PerQueryResults
from tests.mmmlu_fixture import QUESTIONS, write_copy

LANGS = ["en", "de", "sw"]
LETTERS = "ABCD"


def _oracle(questions: dict, options: dict) -> dict:
    """Accuracy per (question language, option language), multi accuracy, own-language share
    of multi picks and mean rank distance, by loops over the fixture's rows."""
    right_letter = [LETTERS.index(letter) for _, letter, _ in QUESTIONS]
    n = len(QUESTIONS)
    out: dict = {"pair": {}, "multi": {}, "own": {}, "distance": {}, "subject_multi": {}}
    for x in LANGS:
        for y in LANGS:
            hits = 0
            for i in range(n):
                scores = [float(np.dot(questions[x][i], options[y][i][k])) for k in range(4)]
                best = 0
                for k in range(1, 4):
                    if scores[k] > scores[best]:
                        best = k
                hits += best == right_letter[i]
            out["pair"][x, y] = hits / n
        hits = own = 0
        distances = []
        per_row = []
        for i in range(n):
            pool = [
                (y, k, float(np.dot(questions[x][i], options[y][i][k])))
                for y in LANGS
                for k in range(4)
            ]
            best = pool[0]
            for candidate in pool[1:]:
                if candidate[2] > best[2]:
                    best = candidate
            hits += best[1] == right_letter[i]
            per_row.append(best[1] == right_letter[i])
            own += best[0] == x
            ranks = []
            for y in LANGS:
                mine = float(np.dot(questions[x][i], options[y][i][right_letter[i]]))
                ranks.append(1 + sum(score > mine for _, _, score in pool))
            distances.append(max(ranks) - min(ranks))
        out["multi"][x] = hits / n
        out["own"][x] = own / n
        out["distance"][x] = float(np.mean(distances))
        out["subject_multi"][x] = per_row
    return out


def _embeddings(seed: int, dim: int = 6):
    rng = np.random.default_rng(seed)
    n = len(QUESTIONS)
    questions = {x: rng.normal(size=(n, dim)).astype(np.float32) for x in LANGS}
    options = {y: rng.normal(size=(n, 4, dim)).astype(np.float32) for y in LANGS}
    return questions, options


@pytest.mark.parametrize("seed", range(6))
def test_accuracy_pair_grid_and_bias_equal_the_numpy_oracle(tmp_path: Path, seed: int) -> None:
    items = load_mmmlu(write_copy(tmp_path), LANGS)
    questions, options = _embeddings(seed)
    result = evaluate_choice_embeddings(items, questions, options)
    got = result.metrics
    expected = _oracle(questions, options)
    for (x, y), accuracy in expected["pair"].items():
        key = f"eval/mmmlu/mono/{x}/acc" if x == y else f"eval/mmmlu/cross/{x}-{y}/acc"
        assert got[key] == pytest.approx(accuracy), key
    for x in LANGS:
        assert got[f"eval/mmmlu/multi/{x}/acc"] == pytest.approx(expected["multi"][x])
        assert got[f"eval/mmmlu/bias/{x}/own_share"] == pytest.approx(expected["own"][x])
        assert got[f"eval/mmmlu/bias/{x}/rank_distance"] == pytest.approx(expected["distance"][x])
    mono = [expected["pair"][x, x] for x in LANGS]
    cross = [v for (x, y), v in expected["pair"].items() if x != y]
    assert got["eval/mmmlu/mono/avg/acc"] == pytest.approx(np.mean(mono))
    assert got["eval/mmmlu/cross/avg/acc"] == pytest.approx(np.mean(cross))
    assert len([k for k in got if k.startswith("eval/mmmlu/cross/") and "avg" not in k]) == 6
    assert got["eval/mmmlu/multi/avg/acc"] == pytest.approx(
        np.mean(list(expected["multi"].values()))
    )
    assert got["eval/mmmlu/bias/avg/own_share"] == pytest.approx(
        np.mean(list(expected["own"].values()))
    )
    assert result.chance == {"mono": 0.25, "cross": 0.25, "multi": 0.25, "own_share": 1 / 3}
    # Per subject: the first two rows are astronomy, the third world_religions.
    astronomy = np.mean([expected["subject_multi"][x][:2] for x in LANGS])
    assert result.subjects["astronomy"]["multi"] == pytest.approx(astronomy)
    assert result.subjects["world_religions"]["questions"] == 1


def test_aligned_question_and_right_option_always_win(tmp_path: Path) -> None:
    """A model that places the right option on its question in every language: accuracy 1 in
    every setting, and rank distance L - 1 (its L translations fill the top L, tied order)."""
    items = load_mmmlu(write_copy(tmp_path), LANGS)
    questions, options = _embeddings(0)
    for x in LANGS:
        for i, (_, letter, _) in enumerate(QUESTIONS):
            options[x][i][LETTERS.index(letter)] = questions["en"][i] * 10
            questions[x][i] = questions["en"][i]
    got = evaluate_choice_embeddings(items, questions, options).metrics
    for setting in ("mono", "cross", "multi"):
        assert got[f"eval/mmmlu/{setting}/avg/acc"] == 1.0
    assert got["eval/mmmlu/bias/avg/rank_distance"] == 2.0
    assert got["eval/mmmlu/bias/en/own_share"] == 1.0  # ties go to the first language, en


def test_per_question_results_are_the_per_query_artifact(tmp_path: Path) -> None:
    items = load_mmmlu(write_copy(tmp_path), LANGS)
    questions, options = _embeddings(4)
    collected = PerQueryResults("mmmlu")
    evaluate_choice_embeddings(items, questions, options, per_query=collected)
    mono = collected.values("mono")
    assert set(mono) == {(x, x, str(i)) for x in LANGS for i in range(3)}
    assert len(collected.values("cross")) == 6 * 3 and len(collected.values("multi")) == 3 * 3
    read_back = collected.to_csv_gz(tmp_path / "per_query.csv.gz")
    assert read_back.is_file()


def test_eval_command_json_offline_equals_the_oracle(run_cli, tmp_path: Path) -> None:
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    copy = write_copy(tmp_path / "fixture")
    done = run_cli(
        *("eval", "--dataset", "mmmlu", "--model", "tiny-random"),
        *("--data-dir", str(copy), "--json"),
        check_code=0,
    )
    result = json.loads(done.stdout)
    assert result["languages"] == LANGS and result["questions"] == {x: 3 for x in LANGS}
    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    encoder.eval()
    questions = {x: encoder.encode([t[x][0] for _, _, t in QUESTIONS], "query") for x in LANGS}
    options = {
        x: encoder.encode([o for _, _, t in QUESTIONS for o in t[x][1:]], "passage").reshape(
            3, 4, -1
        )
        for x in LANGS
    }
    expected = _oracle(questions, options)
    assert result["metrics"]["eval/mmmlu/cross/de-sw/acc"] == pytest.approx(
        expected["pair"]["de", "sw"]
    )
    assert result["metrics"]["eval/mmmlu/multi/avg/acc"] == pytest.approx(
        np.mean(list(expected["multi"].values()))
    )
    assert result["chance"]["cross"] == 0.25
    assert set(result["per_subject"]) == {"astronomy", "world_religions"}


def test_eval_command_table_and_bad_input(run_cli, tmp_path: Path) -> None:
    from tests.conftest import one_error_line

    copy = write_copy(tmp_path / "fixture", ("en", "de"))
    done = run_cli(
        *("eval", "--dataset", "mmmlu", "--model", "tiny-random", "--data-dir", str(copy)),
        check_code=0,
    )
    assert "question \\ options" in done.stdout and "chance 0.250" in done.stdout
    missing = run_cli(
        *("eval", "--dataset", "mmmlu", "--model", "tiny-random", "--data-dir", str(copy)),
        *("--langs", "en,sw", "--json"),
    )
    assert "mmlu_SW-KE.csv is missing" in one_error_line(missing)
    cutoff = run_cli(
        *("eval", "--dataset", "mmmlu", "--model", "tiny-random", "--data-dir", str(copy)),
        *("--map-cutoff", "10"),
    )
    assert "--map-cutoff does not apply" in one_error_line(cutoff)
    subjects = run_cli(
        *("eval", "--dataset", "xquad-r", "--model", "tiny-random", "--subjects", "astronomy"),
    )
    assert "--subjects applies to --dataset mmmlu only" in one_error_line(subjects)


def test_recipe_eval_dataset_scores_mmmlu_with_per_query_results(tmp_path: Path) -> None:
    """`[eval] datasets = ["mmmlu"]`: what the trainer and the study call scores it too."""
    from hybrid_tui.evaluation.lareqa import evaluate_model, load_eval_sets, question_counts
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import EvalConfig, ModelConfig

    config = EvalConfig(datasets=["mmmlu"], languages=["de", "sw"], max_questions=2)
    sets = load_eval_sets(config, write_copy(tmp_path))
    assert question_counts(sets) == {"mmmlu": {"de": 2, "sw": 2}}
    per_query: dict = {}
    metrics = evaluate_model(
        BiEncoder.load(ModelConfig(spec="tiny-random")), sets, config, per_query=per_query
    )
    assert {"eval/mmmlu/cross/de-sw/acc", "eval/mmmlu/bias/avg/own_share"} <= set(metrics)
    assert len(per_query["mmmlu"].values("cross")) == 2 * 2
