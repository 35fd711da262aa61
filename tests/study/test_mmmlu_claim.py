"""The study's optional MMMLU claim (5): "hybrid improves cross-lingual MMLU-by-retrieval accuracy
over mono-only", judged from each run's per-question artifact with the rules of the other claims,
and only where the study has MMMLU data.

The per-question results are real: a copy in the hub's CSV layout (40 questions, three
languages) scored by `evaluate_choice_embeddings` for each method and seed, from embeddings whose
right option lies closer to its question for the better model; they are logged as the trainer
logs them (`per_query/mmmlu.csv.gz`) through the project's tracker.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.study.mmmlu_claim import CLAIM, UNIT_NOTE
from tests.mmmlu_fixture import TAGS, write_copy
from tests.study.test_study import _tags, metrics_for

LANGS = ("en", "de", "sw")
QUESTIONS = 40
LETTERS = "ABCD"


def _hub_copy(root: Path) -> Path:
    """`root/test/mmlu_<TAG>.csv` in the hub's layout: the unnamed row-number column, then
    Question, A, B, C, D, Answer, Subject; row i is the same question in every language."""
    rng = np.random.default_rng(0)
    answers = rng.integers(0, 4, QUESTIONS)
    (root / "test").mkdir(parents=True)
    for lang in LANGS:
        with open(root / "test" / f"mmlu_{TAGS[lang]}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["", "Question", "A", "B", "C", "D", "Answer", "Subject"])
            for i in range(QUESTIONS):
                options = [f"{lang} option {k} of {i}" for k in range(4)]
                subject = "astronomy" if i < QUESTIONS // 2 else "world_religions"
                writer.writerow(
                    [i, f"{lang} question {i}?", *options, LETTERS[answers[i]], subject]
                )
    return root


def _per_question(items, strength: float, noise_seed: int):
    """One model's per-question results on `items`: the right option sits `strength` closer to
    its question (in every language), the rest is seeded noise."""
    from hybrid_tui.evaluation.mmmlu import evaluate_choice_embeddings
    from hybrid_tui.tracking.per_query import PerQueryResults

    rng = np.random.default_rng(noise_seed)
    base = rng.normal(size=(QUESTIONS, 16))
    answers = np.array([item.answer for item in items.items[LANGS[0]]])
    questions, options = {}, {}
    for lang in LANGS:
        questions[lang] = (base + 0.8 * rng.normal(size=base.shape)).astype(np.float32)
        opts = rng.normal(size=(QUESTIONS, 4, 16))
        opts[np.arange(QUESTIONS), answers] += strength * base
        options[lang] = opts.astype(np.float32)
    results = PerQueryResults("mmmlu")
    scored = evaluate_choice_embeddings(items, questions, options, per_query=results)
    return results, scored.metrics


def _plant(tracker, root: Path, strengths: dict[str, float], study: str = "m") -> None:
    """mono, cross and hybrid over three seeds; each run's MMMLU results from its own noise
    (the same noise for methods of equal strength: identical results)."""
    from hybrid_tui.data.mmmlu import load_mmmlu
    from hybrid_tui.tracking.per_query import log_per_query_artifacts

    items = load_mmmlu(_hub_copy(root), list(LANGS)) if strengths else None
    for seed in range(3):
        for method in ("mono", "cross", "hybrid"):
            run_id = tracker.start_run(
                f"study-{study}", f"{study}-{method}-s{seed}", _tags(study, method, seed)
            )
            if items is not None:
                strength = strengths[method]
                results, keys = _per_question(
                    items, strength, noise_seed=100 * seed + int(10 * strength)
                )
                log_per_query_artifacts(tracker, run_id, {"mmmlu": results})
                tracker.log_metrics(run_id, keys, 60)  # as the trainer logs them
            tracker.log_metrics(run_id, metrics_for(0.8, 0.6, 0.5, 200, 0.1), 60)
            tracker.end_run(run_id, "FINISHED")


def _claim(summary):
    return {t.claim: t for t in summary.paired}.get(CLAIM)


def test_hybrid_clearly_better_on_cross_holds_at_the_question_level(workdir: Path) -> None:
    from hybrid_tui.study.report import markdown
    from hybrid_tui.study.summary import summarize
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _plant(tracker, workdir / "mmmlu", {"mono": 0.3, "cross": 1.0, "hybrid": 2.5})
    summary = summarize(tracker, "m")
    claim = _claim(summary)
    # The question is the unit: 40 questions, each its 6 ordered pairs x 3 seeds of 0/1 picks.
    assert claim.comparison.n == QUESTIONS and claim.comparison.rows == 3 * 6 * QUESTIONS
    assert claim.comparison.mean_difference > 0.2 and claim.comparison.interval[0] > 0
    assert claim.verdict.startswith("holds")
    assert claim.comparison.p_adjusted >= claim.comparison.p_randomization  # in the Holm family
    assert claim.comparison.seed_level.seeds == 3  # seeds as the noise: Welch over seed means
    assert summary.mmmlu_not_run() is None
    # MMMLU's languages (sw) are not the study's: seen/unseen stay XQuAD-R's.
    assert summary.seen == ["ar", "de", "en"] and summary.unseen == ["th"]
    text = markdown(summary)
    assert f"| {CLAIM} | holds" in text and UNIT_NOTE in text


def test_identical_results_do_not_hold(workdir: Path) -> None:
    from hybrid_tui.study.summary import summarize
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _plant(tracker, workdir / "mmmlu", {"mono": 1.0, "cross": 0.3, "hybrid": 1.0})
    claim = _claim(summarize(tracker, "m"))
    assert claim.comparison.n == QUESTIONS and claim.comparison.mean_difference == 0.0
    assert claim.verdict.startswith("not established")


def test_summary_only_rebuilds_the_claim_from_the_committed_summaries(run_cli, workdir) -> None:
    from hybrid_tui.tracking import Tracker

    _plant(
        Tracker(f"sqlite:///{workdir / 'mlflow.db'}"),
        workdir / "mmmlu",
        {
            "mono": 0.3,
            "cross": 1.0,
            "hybrid": 2.5,
        },
    )
    args = ("study", "--name", "m", "--summary-only", "--out", "docs/results.md")
    done = run_cli(*args, check_code=0)
    first = (workdir / "docs" / "results.md").read_text()
    assert f"| {CLAIM} | holds" in first and "not run" not in done.stdout
    (workdir / "mlflow.db").unlink()
    shutil.rmtree(workdir / "mlartifacts")
    run_cli(*args, check_code=0)
    assert (workdir / "docs" / "results.md").read_text() == first  # from the summaries alone


def test_without_mmmlu_data_the_claim_is_not_run_and_the_report_unchanged(
    run_cli, workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.study.report import markdown
    from hybrid_tui.study.summary import summarize
    from hybrid_tui.tracking import Tracker

    monkeypatch.delenv("HYBRID_TUI_MMMLU", raising=False)
    monkeypatch.delenv("HYBRID_TUI_DATA", raising=False)
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _plant(tracker, workdir / "mmmlu", {})
    summary = summarize(tracker, "m")
    assert _claim(summary) is None and "MMLU" not in markdown(summary)
    done = run_cli("study", "--name", "m", "--summary-only", "--out", "docs/results.md")
    lines = [line for line in done.stdout.splitlines() if "claim 5" in line]
    assert lines == [
        "claim 5 (MMMLU) not run: no MMMLU data; to run it, give the study a copy in "
        "<data dir>/mmmlu/ or $HYBRID_TUI_MMMLU=DIR (test/mmlu_<TAG>.csv files)"
    ]
    assert "MMLU" not in (workdir / "docs" / "results.md").read_text()
    # A copy now, but runs trained without it: still not run, and why.
    monkeypatch.setenv("HYBRID_TUI_MMMLU", str(write_copy(workdir / "copy")))
    done = run_cli("study", "--name", "m", "--summary-only", "--out", "docs/results.md")
    assert "claim 5 (MMMLU) not run: the study's runs were not evaluated on MMMLU" in done.stdout


def test_the_study_evaluates_on_mmmlu_only_where_a_copy_is(
    workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.cli.demo import demo_recipe
    from hybrid_tui.study.mmmlu_claim import mmmlu_copy
    from hybrid_tui.study.plan import PlannedRun, recipe_for

    monkeypatch.delenv("HYBRID_TUI_MMMLU", raising=False)
    monkeypatch.delenv("HYBRID_TUI_DATA", raising=False)
    assert mmmlu_copy(None) is None and mmmlu_copy(workdir) is None
    write_copy(workdir / "data" / "mmmlu")
    assert mmmlu_copy(workdir / "data") == workdir / "data" / "mmmlu"  # the data dir's mmmlu/
    monkeypatch.setenv("HYBRID_TUI_MMMLU", str(write_copy(workdir / "elsewhere")))
    assert mmmlu_copy(workdir / "data") == workdir / "elsewhere"  # the variable names it
    run = PlannedRun("hybrid", 0, 0.5, 0.5)
    base = demo_recipe()
    assert recipe_for(base, "m", run, mmmlu=True).eval.datasets == [*base.eval.datasets, "mmmlu"]
    assert recipe_for(base, "m", run).eval.datasets == base.eval.datasets


def test_the_study_runs_read_the_copy_hybrid_tui_mmmlu_names(
    workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study run's trainer gets the LAReQA data dir; its `mmmlu` eval set reads the copy
    `$HYBRID_TUI_MMMLU` names (nothing fetched), as the study found it."""
    from hybrid_tui.evaluation.lareqa import load_eval_sets, question_counts
    from hybrid_tui.recipe import EvalConfig

    monkeypatch.setenv("HYBRID_TUI_MMMLU", str(write_copy(workdir / "elsewhere")))
    (workdir / "lareqa").mkdir()
    config = EvalConfig(datasets=["mmmlu"], languages=["de", "sw"])
    sets = load_eval_sets(config, workdir / "lareqa")
    assert question_counts(sets) == {"mmmlu": {"de": 3, "sw": 3}}
