"""A trained run's saved folder: one set of conventions however the model is named, the same
vectors in sentence-transformers, and a model card that says how it was made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

# one worker takes the module: its trained run is a module fixture, built once, not per worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("saved-model")]
SMOKE = REPO / "recipes" / "smoke.toml"  # max lengths 32/48, not the 64/128 defaults


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """One smoke run, trained in its own process in its own working dir."""
    workdir = tmp_path_factory.mktemp("saved-model")
    env = {
        **os.environ,
        "HYBRID_TUI_HOME": str(workdir / ".hybrid-tui"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
    }
    announce = workdir / "run_id"

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "hybrid_tui", *args],
            capture_output=True,
            text=True,
            cwd=workdir,
            env=env,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    cli("train", str(SMOKE), "--data-dir", str(data_root), "--announce", str(announce))
    run_id = announce.read_text().strip()
    return {
        "cli": cli,
        "run_id": run_id,
        "folder": workdir / ".hybrid-tui" / "runs" / run_id / "model",
        "uri": env["MLFLOW_TRACKING_URI"],
        "data_root": data_root,
    }


def _eval(trained: dict, *args: str) -> dict:
    done = trained["cli"](
        *("eval", "--dataset", "xquad-r", "--data-dir", str(trained["data_root"])),
        *("--langs", "en,de,th", "--max-questions", "60", "--json", *args),
    )
    return json.loads(done.stdout)


def test_run_id_and_saved_folder_evaluate_identically(trained: dict) -> None:
    by_run = _eval(trained, "--run", trained["run_id"])
    by_folder = _eval(trained, "--model", str(trained["folder"]))
    assert by_run["metrics"] and by_run["metrics"] == by_folder["metrics"]
    assert by_run["conventions"] == by_folder["conventions"]
    assert by_run["conventions"]["max_query_length"] == 32
    assert by_run["conventions"]["max_passage_length"] == 48
    assert by_run["conventions"]["query_prefix"] == "query: "
    # An explicit option still wins, and is reported.
    longer = _eval(
        trained,
        *("--model", str(trained["folder"]), "--max-query-length", "64"),
        *("--max-passage-length", "128"),
    )
    assert longer["conventions"]["max_passage_length"] == 128
    assert longer["metrics"] != by_folder["metrics"]


def test_the_run_records_the_conventions_and_question_counts(trained: dict) -> None:
    from hybrid_tui.tracking import Tracker

    params = Tracker(trained["uri"]).get_run(trained["run_id"]).params
    assert params["conventions.max_query_length"] == "32"
    assert params["conventions.max_passage_length"] == "48"
    assert params["conventions.pooling"] == "mean"
    assert params["conventions.passage_prefix"] == "passage: "
    assert params["eval.question_seed"] == "0"
    assert params["eval.questions.xquad-r"] == "en=40,de=40,th=40"


def _project_and_st(trained: dict):
    from sentence_transformers import SentenceTransformer

    from hybrid_tui.models.encoder import BiEncoder

    ours = BiEncoder.from_path(trained["folder"]).eval()
    theirs = SentenceTransformer(str(trained["folder"]), device="cpu")
    return ours, theirs


def _texts(data_root: Path) -> dict[str, list[str]]:
    """Real questions and sentences in three scripts, some longer than the 32/48-token limits."""
    questions, sentences = [], []
    for lang in ("en", "zh", "th"):
        data = json.loads((data_root / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        paragraphs = [p for article in data["data"] for p in article["paragraphs"]][:6]
        questions += [p["qas"][0]["question"] for p in paragraphs]
        sentences += [p["sentences"][0] for p in paragraphs] + [paragraphs[0]["context"]]
    questions.append(" ".join(questions[:4]))  # well over 32 tokens
    return {"query": questions, "passage": sentences}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def test_sentence_transformers_embeds_as_the_project_does(trained: dict) -> None:
    ours, theirs = _project_and_st(trained)
    texts = _texts(trained["data_root"])
    tokens = [len(ours.tokenize([t], "query")["input_ids"][0]) for t in texts["query"]]
    assert max(tokens) == 32  # truncation is exercised
    queries = ours.encode(texts["query"], "query")
    passages = ours.encode(texts["passage"], "passage")
    short = [t for t, n in zip(texts["query"], tokens, strict=True) if n < 32]
    for name, (mine, st) in {
        "encode_query": (queries, theirs.encode_query(texts["query"])),
        "encode_document": (passages, theirs.encode_document(texts["passage"])),
        "prompt_name=passage": (passages, theirs.encode(texts["passage"], prompt_name="passage")),
        "prompt_name=query, task=query": (
            queries,
            theirs.encode(texts["query"], prompt_name="query", task="query"),
        ),
        # without the task, both sides are cut at max_seq_length (the passage limit)
        "prompt_name=query, short": (
            ours.encode(short, "query"),
            theirs.encode(short, prompt_name="query"),
        ),
    }.items():
        assert _cosines(mine, st).min() >= 0.99999, name
    # A plain encode adds no prefix: the model card has to say so.
    assert _cosines(passages, theirs.encode(texts["passage"])).min() < 0.9999


def test_the_model_card_says_how_the_model_was_made_and_loaded(trained: dict) -> None:
    from hybrid_tui.tracking import Tracker

    card = (trained["folder"] / "README.md").read_text(encoding="utf-8")
    metrics = Tracker(trained["uri"]).get_run(trained["run_id"]).metrics
    assert card.startswith("---\nlibrary_name: sentence-transformers")
    assert "`tiny-random`" in card and "hybrid α=0.50" in card
    assert "lareqa `mlqa-r`" in card and "ar, de, en, es, zh" in card
    assert "max lengths 32 (queries) / 48 (passages)" in card
    assert "encode_query" in card and "encode_document" in card and "**no prefix**" in card
    mono_en = 100 * metrics["eval/xquad_r/mono/en/map"]
    assert f"| en | {mono_en:.1f} |" in card
    assert "| th* |" in card  # Thai is never trained on in the smoke recipe
    assert 'spec = "tiny-random"' in card  # the recipe, to rerun it
