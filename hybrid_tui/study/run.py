"""`hybrid-tui study`: the paper's comparison, offline: mono vs cross vs hybrid batches over seeds.

Each method trains the same base recipe (the demo's by default: e5-small-offline on MLQA-R dev,
zero-shot on XQuAD-R) with only the sampler mix and the seed changed, in its own `hybrid-tui train`
process, tagged `hybrid_tui.study=<name>`. The untrained model is evaluated once as the baseline.
Runs already FINISHED for a (method, seed) are reused, so an interrupted study picks up where it
stopped. The summary (means with 95% t-intervals over seeds, seen vs unseen languages, the claims of
RESEARCH.md checked one by one) is written as markdown and a PNG.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import metric_dataset_name
from hybrid_tui.metric_keys import parse_eval_key
from hybrid_tui.recipe import Recipe, save_recipe
from hybrid_tui.runs.files import state_dir

METHODS: dict[str, tuple[float, float]] = {
    "mono": (1.0, 0.0),
    "cross": (0.0, 1.0),
    "hybrid": (0.5, 0.5),
}
UNTRAINED = "untrained"
# Beyond the paper (`--schedule-arm`): mono-heavy early, hybrid later, against constant α = 0.5.
# (fraction of the steps it starts at, mono weight, cross weight)
SCHEDULE = "schedule"
SCHEDULE_PHASES = ((0.0, 0.8, 0.2), (0.5, 0.5, 0.5))
HEADLINES = ("mono", "cross", "multi", "bias")


def t_95(dof: int) -> float:
    """The two-sided 95% Student-t quantile."""
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


@dataclass(frozen=True)
class PlannedRun:
    method: str  # mono, cross, hybrid, or alpha=0.25 for the sweep
    seed: int
    mono: float
    cross: float
    schedule: bool = False  # the α-schedule arm: SCHEDULE_PHASES instead of a constant mix


def plan(seeds: int, alphas: list[float], schedule_arm: bool = False) -> list[PlannedRun]:
    """The three methods over `seeds` seeds (and the α-schedule arm when asked), then the α
    sweep on seed 0 (reusing equal mixes)."""
    runs = [PlannedRun(m, s, *METHODS[m]) for s in range(seeds) for m in METHODS]
    if schedule_arm:
        runs += [PlannedRun(SCHEDULE, s, 0.5, 0.5, schedule=True) for s in range(seeds)]
    existing = {(r.mono, r.cross) for r in runs if r.seed == 0}
    for alpha in alphas:
        if (alpha, 1 - alpha) not in existing:
            runs.append(PlannedRun(f"alpha={alpha:g}", 0, alpha, 1 - alpha))
    return runs


def recipe_for(base: Recipe, study: str, run: PlannedRun) -> Recipe:
    recipe = base.model_copy(deep=True)
    recipe.name = f"{study}-{run.method}-s{run.seed}"
    recipe.sampler.mono, recipe.sampler.cross, recipe.sampler.multi = run.mono, run.cross, 0.0
    recipe.sampler.schedule = []
    if run.schedule:
        from hybrid_tui.recipe import SchedulePhase

        recipe.sampler.schedule = [
            SchedulePhase(from_step=int(start * base.train.steps), mono=mono, cross=cross)
            for start, mono, cross in SCHEDULE_PHASES
        ]
    recipe.train.seed = run.seed
    recipe.tracking.experiment = f"study-{study}"
    recipe.tracking.run_name = recipe.name
    recipe.tracking.tags = {
        **recipe.tracking.tags,
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": run.method,
        "hybrid_tui.study_seed": str(run.seed),
        "hybrid_tui.study_alpha": "schedule"
        if run.schedule
        else f"{run.mono / (run.mono + run.cross):g}",
    }
    return recipe


# ---------------------------------------------------------------- running


def run_study(
    base: Recipe,
    study: str,
    seeds: int,
    alphas: list[float],
    data_root: str | None,
    out: Path,
    schedule_arm: bool = False,
) -> StudySummary:
    """Train what is missing, evaluate the baseline if missing, then summarise into `out`."""
    from hybrid_tui.tracking import Tracker

    started = time.monotonic()
    uri = base.tracking.resolved_uri()
    tracker = Tracker(uri)
    done = _finished(tracker, study)
    todo = [r for r in plan(seeds, alphas, schedule_arm) if (r.method, r.seed) not in done]
    print(f"study {study}: {len(done)} runs already finished, {len(todo)} to train", flush=True)
    if (UNTRAINED, 0) not in done:
        _evaluate_untrained(base, study, tracker, data_root)
    for index, run in enumerate(todo, 1):
        recipe = recipe_for(base, study, run)
        path = save_recipe(recipe, state_dir() / "studies" / study / f"{recipe.name}.toml")
        print(f"[{index}/{len(todo)}] training {recipe.name}", flush=True)
        command = [sys.executable, "-m", "hybrid_tui", "train", str(path)]
        if data_root:
            command += ["--data-dir", str(data_root)]
        if subprocess.run(command, check=False).returncode != 0:
            print(f"  {recipe.name} failed; it is left out of the summary", flush=True)
    from hybrid_tui.study.report import write_report
    from hybrid_tui.study.store import save_wall_time

    if todo:
        save_wall_time(summaries_folder(out), time.monotonic() - started, len(todo))
    summary = summarize_and_save(uri, study, out)
    write_report(summary, out, base)
    return summary


def queue_study(
    base: Recipe,
    study: str,
    seeds: int,
    alphas: list[float],
    data_root: str | None,
    schedule_arm: bool = False,
) -> list:
    """Queue the runs still missing as jobs (one per method x seed) instead of training them here,
    so a box with several GPUs trains them in parallel; `--summary-only` summarises once they are
    done. Runs already FINISHED, or already queued or running, are not queued again. The untrained
    baseline is evaluated here when missing (an evaluation, not a training job)."""
    from hybrid_tui.queue.store import QUEUED, RUNNING, JobStore
    from hybrid_tui.queue.submit import queue_recipes
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(base.tracking.resolved_uri())
    done = _finished(tracker, study)
    store = JobStore()
    waiting = {
        (job.tags.get("hybrid_tui.study_method"), int(job.tags.get("hybrid_tui.study_seed", -1)))
        for job in store.jobs([QUEUED, RUNNING])
        if job.tags.get("hybrid_tui.study") == study
    }
    todo = [
        r for r in plan(seeds, alphas, schedule_arm) if (r.method, r.seed) not in done | waiting
    ]
    print(
        f"study {study}: {len(done)} runs already finished, {len(waiting)} already queued or "
        f"running, {len(todo)} to queue",
        flush=True,
    )
    if (UNTRAINED, 0) not in done:
        _evaluate_untrained(base, study, tracker, data_root)
    recipes = [recipe_for(base, study, run) for run in todo]
    return queue_recipes(recipes, f"study {study}", data_dir=data_root, store=store) if todo else []


def _finished(tracker, study: str) -> set[tuple[str, int]]:
    return {
        (detail.tags["hybrid_tui.study_method"], int(detail.tags["hybrid_tui.study_seed"]))
        for detail in _study_runs(tracker, study)
    }


def _study_runs(tracker, study: str) -> list:
    details = [
        tracker.get_run(run.run_id) for run in tracker.list_runs(experiment=f"study-{study}")
    ]
    return [
        d for d in details if d.status == "FINISHED" and d.tags.get("hybrid_tui.study") == study
    ]


def _evaluate_untrained(base: Recipe, study: str, tracker, data_root: str | None) -> None:
    """The starting point every method is measured against, logged as a run of the study."""
    from hybrid_tui.devices import pick_device
    from hybrid_tui.evaluation.lareqa import evaluate_model, load_eval_sets
    from hybrid_tui.evaluation.per_query import log_per_query_artifacts
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.progress import rich_progress

    print(f"evaluating the untrained {base.model.spec}", flush=True)
    with rich_progress(transient=True) as progress:
        eval_sets = load_eval_sets(base.eval, data_root, progress=progress)
        encoder = BiEncoder.load(
            base.model, device=pick_device(base.train.device), progress=progress
        )
        per_query: dict = {}
        metrics = evaluate_model(
            encoder, eval_sets, base.eval, progress=progress, per_query=per_query
        )
    tags = {
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": UNTRAINED,
        "hybrid_tui.study_seed": "0",
        "hybrid_tui.mix": UNTRAINED,
        "hybrid_tui.train_languages": "",
    }
    run_id = tracker.start_run(f"study-{study}", f"{study}-{UNTRAINED}", tags)
    tracker.log_params(run_id, {"model.spec": base.model.spec, "train.steps": "0"})
    tracker.log_text(run_id, base.to_toml(), "recipe.toml")  # its model and evaluation
    tracker.log_metrics(run_id, metrics, 0)
    log_per_query_artifacts(tracker, run_id, per_query)
    tracker.end_run(run_id, "FINISHED")


# ---------------------------------------------------------------- summarising


@dataclass
class MethodResult:
    """One method's headline figures: per seed, for all, seen and unseen languages."""

    method: str
    per_seed: dict[str, list[float]] = field(default_factory=dict)

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.per_seed.setdefault(key, []).append(value)

    def mean(self, key: str) -> float:
        return statistics.fmean(self.per_seed[key]) if self.per_seed.get(key) else math.nan

    def interval(self, key: str) -> float:
        """Half-width of the 95% t-interval of the mean over seeds (0 for one seed)."""
        values = self.per_seed.get(key, [])
        if len(values) < 2:
            return 0.0
        return t_95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))

    @property
    def seeds(self) -> int:
        return max((len(v) for v in self.per_seed.values()), default=0)


@dataclass
class StudySummary:
    study: str
    dataset: str
    seen: list[str]
    unseen: list[str]
    methods: dict[str, MethodResult]
    sweep: dict[float, dict[str, float]]
    paired: list = field(default_factory=list)  # study_paired.ClaimTest, per-query tests
    wall: dict | None = None  # study_runs.save_wall_time's record: how long the study took
    recipe_toml: str | None = None  # a trained run's recipe: what the report's set-up line reads


def headline_figures(metrics: dict[str, float], dataset: str, seen: set[str]) -> dict[str, float]:
    """mono/cross/multi mAP and rank distance, over all languages and split seen / unseen.

    A cross pair counts as seen only when both its languages were trained on."""
    ds = metric_dataset_name(dataset)
    groups: dict[str, list[float]] = {}

    def put(name: str, value: float, langs: list[str]) -> None:
        split = "seen" if all(lang in seen for lang in langs) else "unseen"
        groups.setdefault(name, []).append(value)
        groups.setdefault(f"{name}/{split}", []).append(value)

    for key, value in metrics.items():
        parsed = parse_eval_key(key)
        if parsed is None or parsed.dataset != ds or parsed.is_average:
            continue
        if parsed.metric == "map" and (parsed.setting == "cross") == (parsed.pool is not None):
            put(parsed.setting, value, list(parsed.languages))
        elif parsed.setting == "bias" and parsed.metric == "rank_distance":
            put("bias", value, list(parsed.languages))
    return {name: statistics.fmean(values) for name, values in groups.items()}


def summarize(tracker, study: str, dataset: str = "xquad-r") -> StudySummary:
    """The study's summary from its runs in a tracking store."""
    from hybrid_tui.study.store import runs_from_store

    return summarize_runs(study, runs_from_store(tracker, study, dataset), dataset)


def summaries_folder(out: Path) -> Path:
    """Where the per-run summaries live: `docs/results/` beside `docs/results.md`."""
    return Path(out).with_suffix("")


def summarize_and_save(uri: str, study: str, out: Path, dataset: str = "xquad-r") -> StudySummary:
    """Summarise from the store when it holds the study (saving each run's summary beside the
    report first), else from the summaries already there (a fresh clone); either way the
    figures come from the saved summaries, so both paths give the same report."""
    from hybrid_tui.study.store import load_runs, load_wall_time, runs_from_store, save_runs
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tracking.store import sqlite_path

    folder = summaries_folder(out)
    db = sqlite_path(uri)
    if db is None or db.exists():
        runs = runs_from_store(Tracker(uri), study, dataset)
        if runs:
            save_runs(runs, folder)
    saved = load_runs(folder, study) if folder.is_dir() else []
    if not saved:
        raise HybridTuiError(
            f"no finished runs of study {study!r} in {uri} nor summaries in {folder}/; "
            f"run `{command('study')}` first"
        )
    summary = summarize_runs(study, saved, dataset)
    summary.wall = load_wall_time(folder)
    return summary


def summarize_runs(study: str, runs: list, dataset: str = "xquad-r") -> StudySummary:
    """Per-seed headline figures, the seen/unseen split, the α sweep and the paired claim tests
    of a study's runs (`study_runs.StudyRun` records)."""
    from hybrid_tui.study.paired import paired_claims

    if not runs:
        raise HybridTuiError(f"no finished runs of study {study!r}; run `{command('study')}` first")
    trained = [r for r in runs if r.method != UNTRAINED]
    seen = (
        set(trained[0].tags.get("hybrid_tui.train_languages", "").split(",")) if trained else set()
    )
    evaluated = sorted(
        {
            parsed.query
            for r in runs
            for k in r.metrics
            if (parsed := parse_eval_key(k)) and parsed.setting == "mono" and parsed.query
        }
    )
    methods: dict[str, MethodResult] = {}
    sweep: dict[float, dict[str, float]] = {}
    for run in sorted(runs, key=lambda r: (r.seed, r.name)):
        figures = headline_figures(run.metrics, dataset, seen)
        if run.method in METHODS or run.method in (UNTRAINED, SCHEDULE):
            methods.setdefault(run.method, MethodResult(run.method)).add(figures)
        if run.seed == 0 and run.method not in (UNTRAINED, SCHEDULE):
            sweep[float(run.tags["hybrid_tui.study_alpha"])] = figures
    unseen = [lang for lang in evaluated if lang not in seen]
    per_query = {
        (r.method, r.seed): r.per_query
        for r in runs
        if (r.method in METHODS or r.method == SCHEDULE) and r.per_query
    }
    recipes = [r.recipe_toml for r in sorted(trained, key=lambda r: r.name) if r.recipe_toml]
    return StudySummary(
        study,
        dataset,
        [lang for lang in evaluated if lang in seen],
        unseen,
        methods,
        dict(sorted(sweep.items())),
        paired_claims(per_query, set(unseen)),
        recipe_toml=recipes[0] if recipes else None,
    )
