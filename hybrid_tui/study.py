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
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import metric_dataset_name
from hybrid_tui.metric_keys import parse_eval_key
from hybrid_tui.recipe import Recipe, save_recipe
from hybrid_tui.run_files import state_dir

METHODS: dict[str, tuple[float, float]] = {
    "mono": (1.0, 0.0),
    "cross": (0.0, 1.0),
    "hybrid": (0.5, 0.5),
}
UNTRAINED = "untrained"
HEADLINES = ("mono", "cross", "multi", "bias")
# Two-sided 95% Student-t quantiles by degrees of freedom (n seeds - 1).
T_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_95(dof: int) -> float:
    """The two-sided 95% Student-t quantile (the normal's 1.96 beyond the table)."""
    return T_95.get(dof, 1.96)


@dataclass(frozen=True)
class PlannedRun:
    method: str  # mono, cross, hybrid, or alpha=0.25 for the sweep
    seed: int
    mono: float
    cross: float


def plan(seeds: int, alphas: list[float]) -> list[PlannedRun]:
    """The three methods over `seeds` seeds, then the α sweep on seed 0 (reusing equal mixes)."""
    runs = [PlannedRun(m, s, *METHODS[m]) for s in range(seeds) for m in METHODS]
    existing = {(r.mono, r.cross) for r in runs if r.seed == 0}
    for alpha in alphas:
        if (alpha, 1 - alpha) not in existing:
            runs.append(PlannedRun(f"alpha={alpha:g}", 0, alpha, 1 - alpha))
    return runs


def recipe_for(base: Recipe, study: str, run: PlannedRun) -> Recipe:
    recipe = base.model_copy(deep=True)
    recipe.name = f"{study}-{run.method}-s{run.seed}"
    recipe.sampler.mono, recipe.sampler.cross, recipe.sampler.multi = run.mono, run.cross, 0.0
    recipe.train.seed = run.seed
    recipe.tracking.experiment = f"study-{study}"
    recipe.tracking.run_name = recipe.name
    recipe.tracking.tags = {
        **recipe.tracking.tags,
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": run.method,
        "hybrid_tui.study_seed": str(run.seed),
        "hybrid_tui.study_alpha": f"{run.mono / (run.mono + run.cross):g}",
    }
    return recipe


# ---------------------------------------------------------------- running


def run_study(
    base: Recipe, study: str, seeds: int, alphas: list[float], data_root: str | None, out: Path
) -> StudySummary:
    """Train what is missing, evaluate the baseline if missing, then summarise into `out`."""
    from hybrid_tui.tracking import Tracker

    uri = base.tracking.resolved_uri()
    tracker = Tracker(uri)
    done = _finished(tracker, study)
    todo = [r for r in plan(seeds, alphas) if (r.method, r.seed) not in done]
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
    summary = summarize(tracker, study)
    write_report(summary, out, base)
    return summary


def queue_study(
    base: Recipe, study: str, seeds: int, alphas: list[float], data_root: str | None
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
    todo = [r for r in plan(seeds, alphas) if (r.method, r.seed) not in done | waiting]
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
    from hybrid_tui.encoder import BiEncoder
    from hybrid_tui.evaluate import evaluate_model, load_eval_sets
    from hybrid_tui.per_query import log_per_query_artifacts
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
    details = _study_runs(tracker, study)
    if not details:
        raise HybridTuiError(f"no finished runs of study {study!r}; run `hybrid-tui study` first")
    trained = [d for d in details if d.tags["hybrid_tui.study_method"] != UNTRAINED]
    seen = (
        set(trained[0].tags.get("hybrid_tui.train_languages", "").split(",")) if trained else set()
    )
    evaluated = sorted(
        {
            parsed.query
            for d in details
            for k in d.metrics
            if (parsed := parse_eval_key(k)) and parsed.setting == "mono" and parsed.query
        }
    )
    methods: dict[str, MethodResult] = {}
    sweep: dict[float, dict[str, float]] = {}
    for detail in sorted(details, key=lambda d: d.tags["hybrid_tui.study_seed"]):
        method = detail.tags["hybrid_tui.study_method"]
        figures = headline_figures(detail.metrics, dataset, seen)
        if method in METHODS or method == UNTRAINED:
            methods.setdefault(method, MethodResult(method)).add(figures)
        if detail.tags.get("hybrid_tui.study_seed") == "0" and method != UNTRAINED:
            sweep[float(detail.tags["hybrid_tui.study_alpha"])] = figures
    return StudySummary(
        study,
        dataset,
        [lang for lang in evaluated if lang in seen],
        [lang for lang in evaluated if lang not in seen],
        methods,
        dict(sorted(sweep.items())),
    )


# ---------------------------------------------------------------- reporting


def differs(a: MethodResult, b: MethodResult, key: str) -> bool:
    """Whether the means of `key` differ at the 5% level (two-sided Welch t-test over seeds).

    With 3 seeds an apparent win is often noise; the report says which ones are not."""
    xs, ys = a.per_seed.get(key, []), b.per_seed.get(key, [])
    if len(xs) < 2 or len(ys) < 2:
        return False
    va, vb = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    diff = abs(statistics.fmean(xs) - statistics.fmean(ys))
    if va + vb == 0:
        return diff > 0
    dof = (va + vb) ** 2 / (va**2 / (len(xs) - 1) + vb**2 / (len(ys) - 1))
    return diff / math.sqrt(va + vb) > t_95(max(1, math.floor(dof)))  # floor: conservative


def claims(summary: StudySummary) -> list[tuple[str, str, str]]:
    """RESEARCH.md's headline claims judged on this study: (claim, verdict, evidence).

    A "better than" claim holds when the means point its way and the difference is significant
    (Welch, 5%); when only the means point its way the verdict says so."""
    m = summary.methods
    if not all(name in m for name in METHODS):
        return [("all claims", "not tested", "the study lacks one of mono, cross, hybrid")]
    mean = {name: {k: m[name].mean(k) for k in m[name].per_seed} for name in METHODS}
    h, mo, cr = mean["hybrid"], mean["mono"], mean["cross"]
    tol = 0.01  # "comparable": within one mAP point

    def better(key: str, rivals: list[str], lower_is_better: bool = False) -> str:
        sign = -1 if lower_is_better else 1
        if any(sign * (h[key] - mean[r][key]) < 0 for r in rivals):
            return "does not hold"
        unclear = [r for r in rivals if not differs(m["hybrid"], m[r], key)]
        if not unclear:
            return "holds (significant, Welch t-test 5%)"
        seeds = min(m["hybrid"].seeds, *(m[r].seeds for r in unclear))
        return (
            f"holds in direction only: not significant against {', '.join(unclear)} "
            f"with {seeds} seeds (Welch t-test 5%)"
        )

    def comparable(ok: bool) -> str:
        return "holds (within 0.01 mAP or better)" if ok else "does not hold"

    return [
        (
            "1a. hybrid gives the best multilingual mAP",
            better("multi", ["mono", "cross"]),
            f"multi {h['multi']:.3f} vs mono {mo['multi']:.3f}, cross {cr['multi']:.3f}",
        ),
        (
            "1b. hybrid is comparable to mono-only on monolingual mAP",
            comparable(h["mono"] >= mo["mono"] - tol),
            f"mono {h['mono']:.3f} vs {mo['mono']:.3f}",
        ),
        (
            "1c. hybrid is comparable to cross-only on cross-lingual mAP",
            comparable(h["cross"] >= cr["cross"] - tol),
            f"cross {h['cross']:.3f} vs {cr['cross']:.3f}",
        ),
        (
            "2. hybrid has less language bias than mono-only",
            better("bias", ["mono"], lower_is_better=True),
            f"rank distance {h['bias']:.1f} vs {mo['bias']:.1f}",
        ),
        (
            "3. the multilingual gain holds for unseen languages",
            better("multi/unseen", ["mono"])
            if "multi/unseen" in h and "multi/unseen" in mo
            else "not tested",
            f"unseen multi {h.get('multi/unseen', math.nan):.3f} vs mono "
            f"{mo.get('multi/unseen', math.nan):.3f}",
        ),
    ]


def _cell(result: MethodResult, key: str, digits: int) -> str:
    if not result.per_seed.get(key):
        return "—"
    mean, half = result.mean(key), result.interval(key)
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if result.seeds > 1 else f"{mean:.{digits}f}"


def setup_text(base: Recipe) -> str:
    """What every run of the study shares, so the table can be read (and rerun) without the store."""
    m, d, t, e = base.model, base.data, base.train, base.eval
    frozen = ", token embeddings frozen" if m.freeze_embeddings else ""
    lengths = f"{m.max_query_length or 'model default'}/{m.max_passage_length or 'model default'}"
    questions = (
        f"a seeded sample (seed {e.question_seed}) of {e.max_questions} question ids"
        if e.max_questions
        else "all questions"
    )
    return (
        f"Every run: `{m.spec}`, {t.steps} steps × batch {t.batch_size} on {d.dataset} "
        f"({d.split} split, {', '.join(d.languages) or 'all languages'}), lr {t.lr:g} "
        f"({t.lr_schedule}, {t.warmup_steps} warm-up steps), temperature {t.temperature:g}, "
        f"max lengths {lengths}{frozen}; only the sampler mix "
        f"and the seed change. Evaluation: zero-shot on {', '.join(e.datasets)}, {questions} "
        f"(each in every language it exists in), settings {', '.join(e.settings)}."
    )


def markdown(summary: StudySummary, base: Recipe | None = None) -> str:
    order = [name for name in (UNTRAINED, *METHODS) if name in summary.methods]
    lines = [
        f"# Study `{summary.study}`: batch types, zero-shot on {summary.dataset.upper()}",
        "",
        *([setup_text(base), ""] if base else []),
        "Means over seeds with 95% t-intervals (± half-width). mAP over the whole pool; rank "
        "distance (language bias) in ranks, lower is better.",
        f"Seen in training: {', '.join(summary.seen) or '—'}; unseen: "
        f"{', '.join(summary.unseen) or '—'}.",
        "",
        "| method | seeds | mono mAP | cross mAP | multi mAP | rank distance |",
        "|---|---|---|---|---|---|",
    ]
    for name in order:
        r = summary.methods[name]
        cells = [
            _cell(r, "mono", 3),
            _cell(r, "cross", 3),
            _cell(r, "multi", 3),
            _cell(r, "bias", 1),
        ]
        lines.append(f"| {name} | {r.seeds} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Split by languages seen / unseen in training (a cross pair is seen when both are):",
        "",
        "| method | mono seen | mono unseen | cross seen | cross unseen | multi seen | multi unseen "
        "| bias seen | bias unseen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in order:
        r = summary.methods[name]
        cells = [
            _cell(r, f"{s}/{split}", 1 if s == "bias" else 3)
            for s in HEADLINES
            for split in ("seen", "unseen")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if summary.sweep:
        lines += ["", "α sweep (seed 0; α = share of monolingual batches):", ""]
        lines += [
            "| α | mono mAP | cross mAP | multi mAP | rank distance |",
            "|---|---|---|---|---|",
        ]
        for alpha, fig in summary.sweep.items():
            lines.append(
                f"| {alpha:g} | {fig['mono']:.3f} | {fig['cross']:.3f} | {fig['multi']:.3f} "
                f"| {fig['bias']:.1f} |"
            )
    lines += ["", "## The paper's claims here", ""]
    for claim, verdict, evidence in claims(summary):
        lines.append(f"- **{claim}**: {verdict} ({evidence}).")
    return "\n".join(lines) + "\n"


def plot_png(summary: StudySummary, path: Path) -> None:
    """Multilingual mAP and rank distance per method (with intervals), and the α sweep."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hybrid_tui.atomic_files import atomic_write_bytes

    order = [name for name in (UNTRAINED, *METHODS) if name in summary.methods]
    fig, axes = plt.subplots(1, 3 if summary.sweep else 2, figsize=(12, 3.6))
    for ax, key, label in (
        (axes[0], "multi", "multilingual mAP"),
        (axes[1], "bias", "rank distance"),
    ):
        results = [summary.methods[n] for n in order]
        ax.bar(
            order,
            [r.mean(key) for r in results],
            yerr=[r.interval(key) for r in results],
            capsize=4,
            color=["#999999", "#4c72b0", "#dd8452", "#55a868"][: len(order)],
        )
        ax.set_title(label)
    if summary.sweep:
        alphas = list(summary.sweep)
        ax = axes[2]
        ax.plot(alphas, [summary.sweep[a]["multi"] for a in alphas], "o-", label="multi mAP")
        ax.set_xlabel("α (share of monolingual batches)")
        ax.set_ylabel("multilingual mAP")
        twin = ax.twinx()
        twin.plot(alphas, [summary.sweep[a]["bias"] for a in alphas], "s--", color="#c44e52")
        twin.set_ylabel("rank distance", color="#c44e52")
        ax.set_title("α sweep (seed 0)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def write_report(summary: StudySummary, out: Path, base: Recipe | None = None) -> None:
    out = Path(out)
    png = out.with_suffix(".png")
    plot_png(summary, png)
    atomic_write_text(out, markdown(summary, base) + f"\n![study plot]({png.name})\n")
