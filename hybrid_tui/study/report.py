"""The study's report: the markdown page and the plot of what `summary.summarize_runs` gathered.

The claim tests live in `paired` (one verdict per claim); this module lays them out beside the
figures, the paper's Table 1 and the untrained baseline. It imports the study's names from
`plan` and `summary`, never from `run` (which calls `write_report`).
"""

from __future__ import annotations

from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.recipe import Recipe
from hybrid_tui.study.paired import markdown_section
from hybrid_tui.study.plan import HEADLINES, METHODS, SCHEDULE, UNTRAINED
from hybrid_tui.study.summary import MethodResult, StudySummary

# RESEARCH.md, the paper's Table 1 (XQuAD-R): mono / cross / multi mAP and rank distance.
PAPER_TABLE = {
    "XLM-R": {
        "mono": (0.792, 0.674, 0.547, 410),
        "cross": (0.755, 0.700, 0.593, 295),
        "hybrid": (0.798, 0.705, 0.593, 287),
    },
    "LaBSE": {
        "mono": (0.808, 0.752, 0.652, 262),
        "cross": (0.801, 0.762, 0.679, 225),
        "hybrid": (0.817, 0.767, 0.682, 221),
    },
}


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
    lines += _baseline_lines(summary)
    lines += _paper_lines(summary)
    lines += _sweep_lines(summary)
    lines += ["", "## The paper's claims here", "", *markdown_section(summary.paired)]
    return "\n".join(lines) + "\n"


def _baseline_lines(summary: StudySummary) -> list[str]:
    """The untrained model's monolingual mAP, and which trained methods fall below it."""
    m = summary.methods
    if UNTRAINED not in m or not m[UNTRAINED].per_seed.get("mono"):
        return []
    start = m[UNTRAINED].mean("mono")
    trained = [name for name in (*METHODS, SCHEDULE) if name in m and m[name].per_seed.get("mono")]
    lower = [name for name in trained if m[name].mean("mono") < start]
    figures = ", ".join(f"{name} {m[name].mean('mono'):.3f}" for name in trained)
    if lower == trained and trained:
        said = "every trained method lowers it"
    elif lower:
        said = f"{', '.join(lower)} lower it"
    else:
        said = "no trained method lowers it"
    return [
        "",
        f"The untrained model's monolingual mAP is {start:.3f}; {said} ({figures}): this "
        "budget of training trades monolingual quality for cross-lingual and multilingual.",
    ]


def _difference(result: MethodResult, rival: MethodResult, key: str) -> float:
    return result.mean(key) - rival.mean(key)


def _paper_lines(summary: StudySummary) -> list[str]:
    """Hybrid − mono-only and hybrid − cross-only here, beside the paper's Table 1."""
    m = summary.methods
    if not all(name in m for name in METHODS):
        return []
    lines = [
        "",
        "## Against the paper's Table 1 (XQuAD-R)",
        "",
        "Differences hybrid − rival (mAP; rank distance in ranks and as a share of the rival's). "
        "The paper trained XLM-R and LaBSE on its full data; here a small model for a short "
        "budget, so the sizes differ; a sign that differs is a direction the paper did not see.",
        "",
        "| difference | where | mono mAP | cross mAP | multi mAP | rank distance |",
        "|---|---|---|---|---|---|",
    ]
    flipped = []
    for rival in ("mono", "cross"):
        for model, table in PAPER_TABLE.items():
            paper = [h - r for h, r in zip(table["hybrid"], table[rival], strict=True)]
            share = paper[3] / table[rival][3]
            lines.append(
                f"| hybrid − {rival} | paper, {model} | {paper[0]:+.3f} | {paper[1]:+.3f} "
                f"| {paper[2]:+.3f} | {paper[3]:+.0f} ({share:+.0%}) |"
            )
        here = [_difference(m["hybrid"], m[rival], key) for key in HEADLINES]
        share = here[3] / m[rival].mean("bias")
        lines.append(
            f"| hybrid − {rival} | here ({m['hybrid'].seeds} seeds) | {here[0]:+.3f} "
            f"| {here[1]:+.3f} | {here[2]:+.3f} | {here[3]:+.0f} ({share:+.0%}) |"
        )
        paper = [
            h - r
            for h, r in zip(
                PAPER_TABLE["XLM-R"]["hybrid"], PAPER_TABLE["XLM-R"][rival], strict=True
            )
        ]
        for key, mine, theirs in zip(HEADLINES, here, paper, strict=True):
            if mine * theirs < 0:
                flipped.append(f"{key} vs {rival}-only ({mine:+.3f} here, {theirs:+.3f} there)")
    multi = _difference(m["hybrid"], m["mono"], "multi")
    paper_multi = 0.593 - 0.547
    bias_here = _difference(m["hybrid"], m["mono"], "bias") / m["mono"].mean("bias")
    lines += [
        "",
        f"Effect sizes: hybrid − mono-only multilingual mAP is {multi:+.3f} here against the "
        f"paper's {paper_multi:+.3f} (XLM-R), about {multi / paper_multi:.2g}× of it; rank "
        f"distance {bias_here:+.0%} against {(287 - 410) / 410:+.0%}."
        + (
            " Directions opposite to the paper's XLM-R figures: " + "; ".join(flipped) + "."
            if flipped
            else ""
        ),
    ]
    return lines


def _sweep_lines(summary: StudySummary) -> list[str]:
    if not summary.sweep:
        return []
    seeds = {r.seeds for r in summary.sweep.values()}
    if seeds == {1}:
        label = "single seed (seed 0)"
    elif 1 in seeds:
        single = ", ".join(f"{a:g}" for a, r in summary.sweep.items() if r.seeds == 1)
        label = (
            "means over the seeds present, ± 95 % t-interval where there are several; "
            f"α = {single}: seed 0 only"
        )
    else:
        label = "means over the seeds present, ± 95 % t-interval"
    lines = [
        "",
        f"α sweep (α = share of monolingual batches; {label}):",
        "",
        "| α | seeds | mono mAP | cross mAP | multi mAP | rank distance |",
        "|---|---|---|---|---|---|",
    ]
    for alpha, result in summary.sweep.items():
        cells = [_cell(result, key, 1 if key == "bias" else 3) for key in HEADLINES]
        lines.append(f"| {alpha:g} | {result.seeds} | " + " | ".join(cells) + " |")
    return lines


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
        ax.plot(alphas, [summary.sweep[a].mean("multi") for a in alphas], "o-", label="multi mAP")
        ax.set_xlabel("α (share of monolingual batches)")
        ax.set_ylabel("multilingual mAP")
        twin = ax.twinx()
        twin.plot(alphas, [summary.sweep[a].mean("bias") for a in alphas], "s--", color="#c44e52")
        twin.set_ylabel("rank distance", color="#c44e52")
        single = all(r.seeds == 1 for r in summary.sweep.values())
        ax.set_title("α sweep (seed 0)" if single else "α sweep (mean over seeds present)")
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
