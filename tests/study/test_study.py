"""The study's bookkeeping: what it plans, how it averages over seeds, how it judges the claims."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hybrid_tui.study.report import claims, differs, markdown, write_report
from hybrid_tui.study.run import MethodResult, headline_figures, plan, summarize

SEEN = ["ar", "de", "en"]
UNSEEN = ["th"]


def metrics_for(mono: float, cross: float, multi: float, bias: float, unseen_drop: float) -> dict:
    """Eval metrics in the trainer's key scheme; unseen languages score `unseen_drop` lower."""
    langs = SEEN + UNSEEN
    out = {}
    for x in langs:
        drop = unseen_drop if x in UNSEEN else 0.0
        out[f"eval/xquad_r/mono/{x}/map"] = mono - drop
        out[f"eval/xquad_r/multi/{x}/map"] = multi - drop
        out[f"eval/xquad_r/bias/{x}/rank_distance"] = bias + (10 if x in UNSEEN else 0)
        for y in langs:
            if x != y:
                pair_drop = unseen_drop if UNSEEN[0] in (x, y) else 0.0
                out[f"eval/xquad_r/cross/{x}-{y}/map"] = cross - pair_drop
                out[f"eval/xquad_r/bias/{x}-{y}/mean_rank"] = 3.0
    out["eval/xquad_r/mono/avg/map"] = 0.0  # averages are recomputed, never read
    return out


ALPHA_TAG = {"mono": "1", "cross": "0", "hybrid": "0.5", "schedule": "schedule"}


def _tags(study: str, method: str, seed: int) -> dict[str, str]:
    """The tags `study.recipe_for` gives a run (the store is all `summarize` reads)."""
    return {
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": method,
        "hybrid_tui.study_seed": str(seed),
        "hybrid_tui.study_alpha": ALPHA_TAG[method],
        "hybrid_tui.train_languages": ",".join(SEEN),
    }


def test_plan_covers_methods_seeds_and_only_new_alphas():
    runs = plan(3, [0, 0.25, 0.5, 0.75, 1])
    assert len([r for r in runs if r.method in ("mono", "cross", "hybrid")]) == 9
    assert [r.method for r in runs[9:]] == ["alpha=0.25", "alpha=0.75"]
    assert all(r.seed == 0 for r in runs[9:])


def test_the_schedule_arm_trains_mono_heavy_early_then_hybrid():
    from hybrid_tui.cli.demo import demo_recipe
    from hybrid_tui.study.run import recipe_for

    runs = plan(2, [], schedule_arm=True)
    arms = [r for r in runs if r.method == "schedule"]
    assert [r.seed for r in arms] == [0, 1]
    recipe = recipe_for(demo_recipe(), "t", arms[1])
    phases = [(p.from_step, p.mono, p.cross) for p in recipe.sampler.schedule]
    assert phases == [(0, 0.8, 0.2), (recipe.train.steps // 2, 0.5, 0.5)]
    assert recipe.tracking.tags["hybrid_tui.study_alpha"] == "schedule"
    assert recipe_for(demo_recipe(), "t", runs[0]).sampler.schedule == []


def test_headline_figures_split_seen_and_unseen():
    figures = headline_figures(metrics_for(0.8, 0.6, 0.5, 100, 0.2), "xquad-r", set(SEEN))
    assert figures["mono/seen"] == pytest.approx(0.8)
    assert figures["mono/unseen"] == pytest.approx(0.6)
    assert figures["mono"] == pytest.approx((3 * 0.8 + 0.6) / 4)
    # 6 of the 12 ordered pairs avoid th; the other 6 involve it
    assert figures["cross/seen"] == pytest.approx(0.6)
    assert figures["cross/unseen"] == pytest.approx(0.4)
    assert figures["bias/unseen"] == pytest.approx(110)


def test_interval_is_the_student_t_half_width():
    result = MethodResult("hybrid")
    for value in (0.5, 0.6, 0.7):
        result.add({"multi": value})
    assert result.mean("multi") == pytest.approx(0.6)
    assert result.interval("multi") == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-4)


def test_summary_from_tracked_runs_judges_the_claims(workdir):
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    figures = {  # mono-only: good mono, weak multi and strong bias; hybrid: best multi
        "mono": (0.80, 0.55, 0.40, 300),
        "cross": (0.76, 0.62, 0.47, 200),
        "hybrid": (0.80, 0.62, 0.49, 190),
    }
    for seed in range(3):
        for method, (mono, cross, multi, bias) in figures.items():
            jitter = 0.01 * seed
            run_id = tracker.start_run("study-t", f"t-{method}-s{seed}", _tags("t", method, seed))
            tracker.log_metrics(run_id, metrics_for(mono + jitter, cross, multi, bias, 0.1), 60)
            tracker.end_run(run_id, "FINISHED")
    summary = summarize(tracker, "t")
    assert summary.seen == SEEN and summary.unseen == UNSEEN
    assert summary.methods["hybrid"].seeds == 3
    assert sorted(summary.sweep) == [0.0, 0.5, 1.0]
    from hybrid_tui.cli.demo import demo_recipe

    text = markdown(summary, demo_recipe())
    assert "| hybrid | 3 |" in text
    assert "hybrid gives the best multilingual mAP**: holds (significant" in text
    assert "less language bias than mono-only**: holds (significant" in text
    assert "Every run: `e5-small-offline`, 60 steps × batch 32 on mlqa-r" in text
    write_report(summary, workdir / "results.md")
    assert (workdir / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _planted_study(tracker, study: str = "p", methods=("mono", "cross", "hybrid")) -> None:
    """Runs carrying per-query results (as the trainer logs them): hybrid is planted 0.02 AP
    better than mono-only on every multilingual query, with seed noise that hides it from
    Welch; mono AP is drawn alike for every method."""
    import numpy as np

    from hybrid_tui.evaluation.per_query import PerQueryResults, log_per_query_artifacts
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.study.run import METHODS, PlannedRun, recipe_for
    from tests.conftest import REPO

    smoke = load_recipe(REPO / "recipes" / "smoke.toml")
    rng = np.random.default_rng(5)
    ids = [f"q{i}" for i in range(120)]
    difficulty = rng.uniform(0.2, 0.9, (len(SEEN + UNSEEN), len(ids)))
    lift = {"mono": 0.0, "cross": -0.05, "hybrid": 0.02, "schedule": 0.02}
    for seed in range(3):
        for method in methods:
            run_id = tracker.start_run(
                f"study-{study}", f"{study}-{method}-s{seed}", _tags(study, method, seed)
            )
            mix = METHODS.get(method, METHODS["hybrid"])
            planned = PlannedRun(method, seed, *mix, schedule=method == "schedule")
            tracker.log_text(run_id, recipe_for(smoke, study, planned).to_toml(), "recipe.toml")
            offset = rng.normal(0, 0.015)
            results = PerQueryResults("xquad-r")
            for i, x in enumerate(SEEN + UNSEEN):
                ap = difficulty[i] + lift[method] + offset + rng.normal(0, 0.05, len(ids))
                results.add("mono", x, x, ids, difficulty[i] + rng.normal(0, 0.05, len(ids)))
                results.add("multi", x, "all", ids, ap, 300 - 1000 * ap)
            log_per_query_artifacts(tracker, run_id, {"xquad-r": results})
            tracker.log_metrics(run_id, metrics_for(0.8, 0.6, 0.5 + lift[method], 200, 0.1), 60)
            tracker.end_run(run_id, "FINISHED")


def test_the_report_judges_claims_query_by_query_from_per_query_artifacts(workdir):
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _planted_study(tracker)
    summary = summarize(tracker, "p")
    verdicts = {t.claim: t for t in summary.paired}
    better = verdicts["1a. hybrid gives better multilingual mAP than mono-only"]
    assert better.verdict == "holds" and better.comparison.n == 3 * 4 * 120
    assert better.comparison.interval[0] > 0 and len(better.per_seed) == 3
    assert verdicts["2. hybrid has less language bias than mono-only"].verdict == "holds"
    unseen = verdicts["3. the multilingual gain over mono-only holds for unseen languages"]
    assert unseen.comparison.n == 3 * 120
    comparable = verdicts["1b. hybrid is comparable to mono-only on monolingual mAP"]
    assert comparable.verdict == "holds (95 % interval above −0.01)"  # same mono AP drawn
    text = markdown(summary)
    assert "randomization (sign-flip" in text and "Holm-Bonferroni" in text
    assert f"| ±{better.comparison.detectable:.2g} |" in text  # what this budget can separate
    assert "| 1a. hybrid gives better multilingual mAP than mono-only | holds" in text


def test_the_schedule_arm_is_judged_against_constant_alpha(workdir):
    from hybrid_tui.study.run import summarize
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _planted_study(tracker, methods=("mono", "cross", "hybrid", "schedule"))
    summary = summarize(tracker, "p")
    assert summary.methods["schedule"].seeds == 3 and 0.5 in summary.sweep
    claim = {t.claim[:2]: t for t in summary.paired}["4."]
    assert claim.comparison.n == 3 * 4 * 120  # schedule seed s against hybrid seed s
    assert claim.comparison.p_adjusted >= claim.comparison.p_randomization  # in the Holm family
    assert "| schedule | 3 |" in markdown(summary)


def test_a_verdict_the_other_way_still_says_when_the_seeds_disagree() -> None:
    """Schedule worse than constant α on two seeds and better on the third: the pooled test
    says "does not hold", and the page must still warn that the seeds part ways."""
    import numpy as np

    from hybrid_tui.evaluation.per_query import PerQueryResults
    from hybrid_tui.study.paired import paired_claims

    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(200)]
    base = rng.uniform(0.3, 0.8, len(ids))
    per_query = {}
    for seed, shift in enumerate((-0.03, -0.03, +0.01)):
        for method, lift in (("hybrid", 0.0), ("schedule", shift)):
            results = PerQueryResults("xquad-r")
            results.add("multi", "en", "all", ids, base + lift + rng.normal(0, 0.01, len(ids)))
            per_query[method, seed] = results
    (claim,) = [t for t in paired_claims(per_query, set()) if t.claim.startswith("4.")]
    assert claim.verdict == "does not hold (significant the other way)"
    assert claim.note.startswith("seeds disagree in direction")


def test_summary_only_rebuilds_the_same_report_from_committed_summaries(run_cli, workdir):
    """A fresh clone has the report's per-run summaries but no mlflow.db: `--summary-only`
    rebuilds the page with the same numbers."""
    import shutil

    from hybrid_tui.tracking import Tracker

    _planted_study(Tracker(f"sqlite:///{workdir / 'mlflow.db'}"))
    args = ("study", "--name", "p", "--summary-only", "--out", "docs/results.md")
    from hybrid_tui.study.store import save_wall_time

    save_wall_time(workdir / "docs" / "results", 3600.0, 9)  # as run_study records it
    run_cli(*args, check_code=0)
    first = (workdir / "docs" / "results.md").read_text()
    assert "Wall time of the study that produced these figures: 60 minutes for 9" in first
    saved = sorted(p.name for p in (workdir / "docs" / "results").iterdir())
    assert len(saved) == 10 and sum(name.endswith(".json.gz") for name in saved) == 9
    assert "| 1a. hybrid gives better multilingual mAP than mono-only | holds" in first

    (workdir / "mlflow.db").unlink()
    shutil.rmtree(workdir / "mlartifacts")
    (workdir / "docs" / "results.md").unlink()
    run_cli(*args, check_code=0)
    assert (workdir / "docs" / "results.md").read_text() == first
    assert not (workdir / "mlflow.db").exists()  # nothing was created to read from

    shutil.rmtree(workdir / "docs" / "results")
    failed = run_cli(*args, check_code=2)
    assert "no finished runs of study 'p'" in failed.stderr and "docs/results/" in failed.stderr


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "study"


def test_summary_only_rebuilds_the_committed_fixture_report(run_cli, workdir):
    """A small committed study (9 runs' summaries and the report they gave) rebuilds to the same
    bytes. When the report's layout changes on purpose, regenerate it with
    `hybrid-tui study --name p --summary-only --out tests/fixtures/study/results.md`
    (from a folder without mlflow.db) and read the diff."""
    import shutil

    shutil.copytree(FIXTURE, workdir / "docs")
    (workdir / "docs" / "results.md").unlink()
    run_cli("study", "--name", "p", "--summary-only", "--out", "docs/results.md", check_code=0)
    assert (workdir / "docs" / "results.md").read_text() == (FIXTURE / "results.md").read_text()
    assert not (workdir / "mlflow.db").exists()


@pytest.mark.slow  # minutes: scipy's permutation test over every query
def test_summary_only_rebuilds_the_real_report(run_cli, workdir):
    """docs/results.md is exactly what its committed summaries give: the page in the repository
    regenerates from a fresh clone, number for number."""
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "docs" / "results", workdir / "docs" / "results")
    run_cli("study", "--summary-only", "--out", "docs/results.md", check_code=0)
    rebuilt = (workdir / "docs" / "results.md").read_text()
    assert rebuilt == (REPO / "docs" / "results.md").read_text()


def _result(name: str, key: str, values: list[float]) -> MethodResult:
    result = MethodResult(name)
    for value in values:
        result.add({key: value})
    return result


def test_welch_test_separates_real_gaps_from_seed_noise():
    hybrid = _result("hybrid", "multi", [0.53, 0.54, 0.55])
    assert differs(hybrid, _result("mono", "multi", [0.40, 0.41, 0.42]), "multi")
    assert not differs(hybrid, _result("mono", "multi", [0.50, 0.535, 0.56]), "multi")


def test_a_win_within_seed_noise_is_reported_as_direction_only():
    from hybrid_tui.study.run import StudySummary

    def method(name, multi, bias):
        result = MethodResult(name)
        for m, b in zip(multi, bias, strict=True):
            result.add({"mono": 0.8, "cross": 0.6, "multi": m, "bias": b})
        return result

    summary = StudySummary(
        "t",
        "xquad-r",
        SEEN,
        [],
        {
            "mono": method("mono", [0.50, 0.53, 0.56], [300, 250, 200]),
            "cross": method("cross", [0.40, 0.41, 0.42], [200, 210, 220]),
            "hybrid": method("hybrid", [0.52, 0.54, 0.56], [240, 250, 260]),
        },
        {},
    )
    verdicts = {claim[:2]: verdict for claim, verdict, _ in claims(summary)}
    assert verdicts["1a"].startswith("holds in direction only: not significant against mono ")
    assert verdicts["2."].startswith("holds in direction only")
    assert verdicts["3."] == "not tested"


@pytest.mark.slow
def test_study_command_trains_tags_reports_and_resumes(run_cli, data_root, workdir):
    """`hybrid-tui study` on the smoke recipe: one seed per method plus the untrained baseline,
    tagged runs, a report; run again, it trains nothing and writes the same table."""
    from tests.conftest import REPO

    args = (
        "study",
        "--name",
        "t",
        "--recipe",
        str(REPO / "recipes" / "smoke.toml"),
        "--seeds",
        "1",
        "--alphas",
        "",
        "--out",
        "out/results.md",
        "--data-dir",
        str(data_root),
    )
    first = run_cli(*args, check_code=0)
    assert "0 runs already finished, 3 to train" in first.stdout
    report = (workdir / "out" / "results.md").read_text()
    for method in ("untrained", "mono", "cross", "hybrid"):
        assert f"| {method} | 1 |" in report
    assert "Every run: `tiny-random`, 20 steps × batch 16" in report
    # The trainer's per-query artifacts reach the report: the claims are tested query by query.
    assert "| 1a. hybrid gives better multilingual mAP than mono-only |" in report
    assert "Holm-Bonferroni" in report and "not available" not in report
    assert (workdir / "out" / "results.png").is_file()

    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = [tracker.get_run(r.run_id) for r in tracker.list_runs(experiment="study-t")]
    assert sorted(r.tags["hybrid_tui.study_method"] for r in runs) == [
        "cross",
        "hybrid",
        "mono",
        "untrained",
    ]
    assert all(r.status == "FINISHED" for r in runs)

    again = run_cli(*args, check_code=0)
    assert "4 runs already finished, 0 to train" in again.stdout
    assert (workdir / "out" / "results.md").read_text() == report

    # Each run's summary keeps the recipe it trained, and the report's set-up line is read from
    # it: summarising without --recipe (the demo's e5-small base) still describes these runs.
    from hybrid_tui.study.store import load_runs

    saved = {r.method: r for r in load_runs(workdir / "out" / "results", "t")}
    assert 'spec = "tiny-random"' in saved["hybrid"].recipe_toml
    assert "mono = 0.5" in saved["hybrid"].recipe_toml
    summary_only = ("study", "--name", "t", "--summary-only", "--out", "out/results.md")
    run_cli(*summary_only, check_code=0)
    assert (workdir / "out" / "results.md").read_text() == report
