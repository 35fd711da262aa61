"""The study's report: the claims over seed means, the markdown page and the plot.

The per-query paired tests live in `study_paired`; this module lays out what `study.summarize`
gathered. Kept apart from `study.py` so running a study and writing its page are read
separately (and `--summary-only` needs only this half and `summarize`).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.recipe import Recipe
from hybrid_tui.study.run import (
    HEADLINES,
    METHODS,
    SCHEDULE,
    UNTRAINED,
    MethodResult,
    StudySummary,
)


def differs(a: MethodResult, b: MethodResult, key: str) -> bool:
    """Whether the means of `key` differ at the 5% level (two-sided Welch t-test over seeds).

    With 3 seeds an apparent win is often noise; the report says which ones are not."""
    from hybrid_tui.study.stats import welch_over_seeds

    xs, ys = a.per_seed.get(key, []), b.per_seed.get(key, [])
    if len(xs) < 2 or len(ys) < 2:
        return False
    if statistics.variance(xs) + statistics.variance(ys) == 0:
        return statistics.fmean(xs) != statistics.fmean(ys)
    return welch_over_seeds(xs, ys) < 0.05


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


def wall_text(wall: dict) -> str:
    minutes = wall["wall_seconds"] / 60
    return (
        f"Wall time of the study that produced these figures: {minutes:.0f} minutes for "
        f"{wall['runs_trained']} trained runs and the untrained baseline, on "
        f"{wall['cpu_cores']} CPU cores ({wall['date']})."
    )


def trained_recipe(summary: StudySummary, base: Recipe | None) -> Recipe | None:
    """The recipe the runs trained (from their summaries), else the base this command was given:
    the set-up line must describe the figures, whatever recipe `--summary-only` was passed."""
    if summary.recipe_toml is None:
        return base
    import tomllib

    from hybrid_tui.recipe import recipe_from_dict

    return recipe_from_dict(tomllib.loads(summary.recipe_toml), source="the study's recipe")


def markdown(summary: StudySummary, base: Recipe | None = None) -> str:
    base = trained_recipe(summary, base)
    order = [name for name in (UNTRAINED, *METHODS, SCHEDULE) if name in summary.methods]
    lines = [
        f"# Study `{summary.study}`: batch types, zero-shot on {summary.dataset.upper()}",
        "",
        *([setup_text(base), ""] if base else []),
        *([wall_text(summary.wall), ""] if summary.wall else []),
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
    from hybrid_tui.study.paired import markdown_section

    lines += [
        "",
        "## The paper's claims here, query by query",
        "",
        *markdown_section(summary.paired),
    ]
    lines += ["", "## The same claims over seed means (Welch)", ""]
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

    order = [name for name in (UNTRAINED, *METHODS, SCHEDULE) if name in summary.methods]
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
