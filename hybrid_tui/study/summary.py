"""A study's runs summarised: per-seed headline figures, the seen/unseen split, the α sweep and
the claim tests, from the tracking store or from the summaries committed beside the report."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import metric_dataset_name
from hybrid_tui.metric_keys import parse_eval_key
from hybrid_tui.study.plan import METHODS, SCHEDULE, UNTRAINED


def t_95(dof: int) -> float:
    """The two-sided 95% Student-t quantile."""
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


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
    sweep: dict[float, MethodResult]  # every seed present of each α (the sweep's own: seed 0)
    paired: list = field(default_factory=list)  # paired.ClaimTest: the claims' tests
    wall: dict | None = None  # store.save_wall_time's record: how long the study took
    recipe_toml: str | None = None  # a trained run's recipe: what the report's set-up line reads
    mmmlu_runs: int = 0  # runs carrying MMMLU per-question results (claim 5, `mmmlu_claim`)

    def mmmlu_not_run(self, data_root=None) -> str | None:
        """Why the MMMLU claim is not in the report, in one line (None when it is)."""
        from hybrid_tui.study.mmmlu_claim import CLAIM, not_run_line

        ran = any(test.claim == CLAIM for test in self.paired)
        return not_run_line(self.mmmlu_runs, ran, data_root)


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
    of a study's runs (`store.StudyRun` records)."""
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
            if (parsed := parse_eval_key(k))
            and parsed.dataset == metric_dataset_name(dataset)  # not MMMLU's languages too
            and parsed.setting == "mono"
            and parsed.query
        }
    )
    methods: dict[str, MethodResult] = {}
    sweep: dict[float, MethodResult] = {}
    for run in sorted(runs, key=lambda r: (r.seed, r.name)):
        figures = headline_figures(run.metrics, dataset, seen)
        if run.method in METHODS or run.method in (UNTRAINED, SCHEDULE):
            methods.setdefault(run.method, MethodResult(run.method)).add(figures)
        if run.method not in (UNTRAINED, SCHEDULE):
            alpha = float(run.tags["hybrid_tui.study_alpha"])
            sweep.setdefault(alpha, MethodResult(f"alpha={alpha:g}")).add(figures)
    unseen = [lang for lang in evaluated if lang not in seen]
    per_query = {
        (r.method, r.seed): r.per_query
        for r in runs
        if (r.method in METHODS or r.method == SCHEDULE) and r.per_query
    }
    mmmlu = {
        (r.method, r.seed): r.mmmlu
        for r in runs
        if (r.method in METHODS or r.method == SCHEDULE) and r.mmmlu
    }
    recipes = [r.recipe_toml for r in sorted(trained, key=lambda r: r.name) if r.recipe_toml]
    return StudySummary(
        study,
        dataset,
        [lang for lang in evaluated if lang in seen],
        unseen,
        methods,
        dict(sorted(sweep.items())),
        paired_claims(per_query, set(unseen), mmmlu=mmmlu),
        recipe_toml=recipes[0] if recipes else None,
        mmmlu_runs=len(mmmlu),
    )
