"""The study's bookkeeping: what it plans, how it averages over seeds, how it judges the claims."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hybrid_tui.study.plan import plan
from hybrid_tui.study.report import markdown, write_report
from hybrid_tui.study.summary import MethodResult, headline_figures, summarize

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
    from hybrid_tui.study.plan import recipe_for

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
    # No per-query results: no verdict from seed means alone, and the paper's Table 1 beside.
    assert "Claim tests: not available" in text and "holds" not in text
    assert "| hybrid − mono | paper, XLM-R | +0.006 | +0.031 | +0.046 | -123 (-30%) |" in text
    assert "| hybrid − mono | here (3 seeds) | +0.000 | +0.070 | +0.090 | -110 (-36%) |" in text
    assert "Directions opposite to the paper's XLM-R figures" not in text
    assert "Every run: `e5-small-offline`, 60 steps × batch 32 on mlqa-r" in text
    write_report(summary, workdir / "results.md")
    assert (workdir / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _planted_study(tracker, study: str = "p", methods=("mono", "cross", "hybrid")) -> None:
    """Runs carrying per-query results (as the trainer logs them): hybrid is planted 0.02 AP
    better than mono-only on every multilingual query, with seed noise that hides it from
    Welch; mono AP is drawn alike for every method."""
    import numpy as np

    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.study.plan import METHODS, PlannedRun, recipe_for
    from hybrid_tui.tracking.per_query import PerQueryResults, log_per_query_artifacts
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
    # The question is the unit: 120 questions, each the mean of its 4 languages x 3 seeds.
    assert better.comparison.n == 120 and better.comparison.rows == 3 * 4 * 120
    assert better.comparison.interval[0] > 0 and better.comparison.seed_level.seeds == 3
    # The seed offsets (sd 0.015) hide a 0.02 lift from three seed means: not "across seeds".
    assert better.verdict.startswith(
        "holds for these trained models; across seeds not established (n=3, detectable ≈ "
    )
    bias = verdicts["2. hybrid has less language bias than mono-only"]
    assert bias.verdict.startswith("holds for these trained models")
    unseen = verdicts["3. the multilingual gain over mono-only holds for unseen languages"]
    assert unseen.comparison.n == 120 and unseen.comparison.rows == 3 * 120
    comparable = verdicts["1b. hybrid is comparable to mono-only on monolingual mAP"]
    assert comparable.verdict == "holds across seeds (95 % intervals above −0.01)"  # same AP
    text = markdown(summary)
    assert "**The unit is the question.**" in text and "hierarchical bootstrap" in text
    assert f"| ±{better.comparison.detectable:.2g} |" in text  # what this budget can separate
    assert "| 1a. hybrid gives better multilingual mAP than mono-only | holds for these" in text
    assert "direction only" not in text and "Welch)" not in text


def test_the_schedule_arm_is_judged_against_constant_alpha(workdir):
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _planted_study(tracker, methods=("mono", "cross", "hybrid", "schedule"))
    summary = summarize(tracker, "p")
    assert summary.methods["schedule"].seeds == 3 and 0.5 in summary.sweep
    claim = {t.claim[:2]: t for t in summary.paired}["4."]
    assert claim.comparison.n == 120  # questions: schedule's seeds against hybrid's
    assert claim.comparison.p_adjusted >= claim.comparison.p_randomization  # in the Holm family
    assert "| schedule | 3 |" in markdown(summary)


def test_a_verdict_the_other_way_is_not_said_across_seeds_when_the_seeds_disagree() -> None:
    """Schedule worse than constant α on two seeds and better on the third: the question level
    says "does not hold", and the verdict must not claim the seeds agree."""
    import numpy as np

    from hybrid_tui.study.paired import paired_claims
    from hybrid_tui.tracking.per_query import PerQueryResults

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
    assert claim.verdict == "does not hold (significant the other way for these trained models)"
    assert claim.comparison.seed_level.p > 0.05


def test_translations_of_one_question_count_once() -> None:
    """A difference carried by whole questions (all 11 translations move together) is judged
    on 150 questions, not on 1650 rows: the rows would make a +0.006 mean 'significant'."""
    import numpy as np

    from hybrid_tui.study.paired import paired_claims
    from hybrid_tui.study.stats import compare_paired
    from hybrid_tui.tracking.per_query import PerQueryResults

    rng = np.random.default_rng(11)
    langs = [f"l{i}" for i in range(11)]
    ids = [f"q{i}" for i in range(150)]
    effect = rng.normal(0, 0.05, len(ids))
    effect += 0.006 - effect.mean()  # a small mean gain, spread over questions
    base = rng.uniform(0.3, 0.7, (len(langs), len(ids)))
    per_query, rows = {}, {"hybrid": [], "mono": []}
    for seed in range(3):
        for method, lift in (("hybrid", effect), ("mono", 0.0)):
            results = PerQueryResults("xquad-r")
            for i, x in enumerate(langs):
                ap = base[i] + lift + rng.normal(0, 0.005, len(ids))
                results.add("multi", x, "all", ids, ap)
                rows[method].append(ap)
            per_query[method, seed] = results
    row_level = compare_paired("rows", np.concatenate(rows["hybrid"]), np.concatenate(rows["mono"]))
    assert row_level.p_randomization < 0.01  # what treating rows as independent says
    (claim,) = [t for t in paired_claims(per_query, set()) if t.claim.startswith("1a. hybrid")]
    assert claim.comparison.n == 150 and claim.comparison.p_randomization > 0.05
    assert claim.verdict.startswith("not established (detectable ≈ ")


def test_a_gain_larger_than_the_seed_noise_holds_across_seeds() -> None:
    import numpy as np

    from hybrid_tui.study.paired import paired_claims
    from hybrid_tui.tracking.per_query import PerQueryResults

    rng = np.random.default_rng(2)
    ids = [f"q{i}" for i in range(150)]
    base = rng.uniform(0.3, 0.7, len(ids))
    per_query = {}
    for seed in range(3):
        for method, lift in (("hybrid", 0.05), ("mono", 0.0)):
            results = PerQueryResults("xquad-r")
            offset = rng.normal(0, 0.003)
            results.add("multi", "en", "all", ids, base + lift + offset + rng.normal(0, 0.02, 150))
            per_query[method, seed] = results
    (claim,) = [t for t in paired_claims(per_query, set()) if t.claim.startswith("1a. hybrid")]
    assert claim.verdict == "holds across seeds"
    assert claim.comparison.seed_level.interval[0] > 0
    assert claim.seeds_needed == 2  # the paper's +0.046 against a seed spread of ~0.003


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


def test_summary_only_rebuilds_the_real_report(run_cli, workdir):
    """docs/results.md is exactly what its committed summaries give: the page in the repository
    regenerates from a fresh clone, number for number."""
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "docs" / "results", workdir / "docs" / "results")
    run_cli("study", "--summary-only", "--out", "docs/results.md", check_code=0)
    rebuilt = (workdir / "docs" / "results.md").read_text()
    assert rebuilt == (REPO / "docs" / "results.md").read_text()


def test_the_alpha_sweep_is_labelled_with_its_seeds(workdir):
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    _planted_study(tracker)
    text = markdown(summarize(tracker, "p"))
    assert "α sweep (α = share of monolingual batches; means over the seeds present" in text
    assert "| 0.5 | 3 |" in text


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
