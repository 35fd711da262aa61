"""`hybrid-tui compare` says, per setting, whether two runs evaluated on the same questions differ:
mean difference, interval and p with the question as the unit, Holm over the cells, a † in the
tables; `A1,A2,A3 B1,B2,B3` adds the seed level (the study's two-level rule)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import tracker_of

LANGS = ("en", "de")
QUESTIONS = [f"q{i}" for i in range(150)]


def _plant(tracker, name: str, mono: np.ndarray, multi: np.ndarray) -> str:
    """A FINISHED run with per-query results as evaluation logs them (`per_query/xquad-r.csv.gz`
    via `log_per_query_artifacts`) and the matching per-language metrics."""
    from hybrid_tui.tracking.per_query import PerQueryResults, log_per_query_artifacts

    run_id = tracker.start_run("significance", name, {})
    results = PerQueryResults("xquad-r")
    metrics = {}
    for i, x in enumerate(LANGS):
        results.add("mono", x, x, QUESTIONS, mono[i])
        results.add("multi", x, "all", QUESTIONS, multi[i], 100 - 50 * multi[i])
        metrics[f"eval/xquad_r/mono/{x}/map"] = float(mono[i].mean())
        metrics[f"eval/xquad_r/multi/{x}/map"] = float(multi[i].mean())
    metrics["eval/xquad_r/mono/avg/map"] = float(mono.mean())
    metrics["eval/xquad_r/multi/avg/map"] = float(multi.mean())
    log_per_query_artifacts(tracker, run_id, {"xquad-r": results})
    tracker.log_metrics(run_id, metrics, 10)
    tracker.end_run(run_id, "FINISHED")
    return run_id


def _scipy_on_questions(diff: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The oracle: scipy's paired t-test over questions (ranx's default "student" test) and its
    95 % interval of the mean difference."""
    from scipy import stats

    result = stats.ttest_1samp(diff, 0.0)
    ci = result.confidence_interval(0.95)
    return float(result.pvalue), (float(ci.low), float(ci.high))


def test_compare_json_carries_p_ci_and_significance_on_the_question_unit(workdir, run_cli):
    rng = np.random.default_rng(3)
    tracker = tracker_of(workdir)
    mono = rng.uniform(0.3, 0.9, (2, len(QUESTIONS)))
    multi = rng.uniform(0.2, 0.7, (2, len(QUESTIONS)))
    # Other gains a known amount per question on multilingual (both languages alike: the
    # translations move together) and nothing on mono.
    gain = rng.normal(0.03, 0.04, len(QUESTIONS))
    base = _plant(tracker, "base", mono, multi)
    other = _plant(tracker, "other", mono, multi + gain)

    done = run_cli("compare", base, other, "--json", check_code=0)
    cells = json.loads(done.stdout)["significance"][other]["xquad_r"]
    multi_en = cells["multi/en"]
    p, ci = _scipy_on_questions(gain)
    assert multi_en["questions"] == 150
    assert multi_en["mean_difference"] == pytest.approx(gain.mean(), abs=1e-9)
    assert multi_en["p"] == pytest.approx(p, rel=1e-6)
    assert multi_en["ci"] == pytest.approx(list(ci), abs=1e-9)
    assert multi_en["significant"] is True and multi_en["p_holm"] >= multi_en["p"]
    # The average cell has one value per question (its two translations averaged), not 300.
    assert cells["multi/avg"]["questions"] == 150
    assert cells["multi/avg"]["mean_difference"] == pytest.approx(gain.mean(), abs=1e-9)
    assert cells["mono/en"] == {
        "mean_difference": 0.0,
        "ci": [0.0, 0.0],
        "p": 1.0,
        "p_holm": 1.0,
        "significant": False,
        "questions": 150,
    }

    tables = run_cli("compare", base, other, check_code=0).stdout
    assert "†" in tables and "† significant after Holm (5 %); question as the unit" in tables


def test_seed_groups_use_the_two_level_rule(workdir, run_cli):
    """Three seeds a side: a per-question gain that the seed offsets swamp is significant for
    these models but not across seeds, and the table leaves it unmarked."""
    rng = np.random.default_rng(8)
    tracker = tracker_of(workdir)
    mono = rng.uniform(0.3, 0.9, (2, len(QUESTIONS)))
    multi = rng.uniform(0.2, 0.7, (2, len(QUESTIONS)))
    sides = {}
    for side, lift, offsets in (("a", 0.0, (0.0, 0.04, -0.03)), ("b", 0.01, (0.03, -0.04, 0.02))):
        sides[side] = [
            _plant(tracker, f"{side}{s}", mono, multi + lift + offset + rng.normal(0, 0.01, 150))
            for s, offset in enumerate(offsets)
        ]
    args = ("compare", ",".join(sides["a"]), ",".join(sides["b"]))
    payload = json.loads(run_cli(*args, "--json", check_code=0).stdout)
    assert payload["groups"] == [sides["a"], sides["b"]]
    (cells,) = payload["significance"].values()
    multi_en = cells["xquad_r"]["multi/en"]
    assert multi_en["significant"] is True  # these six models differ question by question
    assert multi_en["across_seeds"] is False and multi_en["seed_p"] > 0.05
    assert multi_en["seed_ci"][0] < 0 < multi_en["seed_ci"][1]
    tables = run_cli(*args, check_code=0).stdout
    assert "† significant across seeds" in tables and "0 marked" in tables

    bad = run_cli("compare", sides["a"][0] + ",", sides["b"][0], sides["b"][1], check_code=2)
    assert "give exactly two comma-separated groups" in bad.stderr
