"""The study's claims judged with the question as the unit and seeds as the training noise.

For each claim, a method's rows (seed, query language, pool, question) are averaged per question
and seed; the question level compares the per-question means over the seeds present (Holm over
the "better than" family), the seed level compares the seed means (Welch, Holm) and gives a
hierarchical bootstrap interval (`stats`). One verdict per claim, from `stats.verdict`.
"Comparable" claims (RESEARCH.md 1b, 1c) hold when the interval of the difference stays above
−0.01 mAP (a non-inferiority margin of one point): at the question level for these trained
models, and in the hierarchical interval across seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybrid_tui.study.stats import (
    ALPHA,
    PairedComparison,
    compare_questions,
    holm_adjust,
    holm_level,
    not_across_seeds,
    seeds_needed,
    verdict,
)

COMPARABLE_MARGIN = 0.01
# The paper's effect for a claim (XLM-R, XQuAD-R, RESEARCH.md Table 1): hybrid − rival; a
# relative effect (rank distance) is a share of the rival's value here. None: not in the paper.
PAPER_EFFECT = {
    "1a-mono": (0.593 - 0.547, False),
    "1a-cross": (0.593 - 0.593, False),
    "2": ((287 - 410) / 410, True),
    "1b": (0.798 - 0.792, False),
    "1c": (0.705 - 0.700, False),
}
# (id, claim, challenger, rival, setting, metric, lower is better, query languages: all/unseen)
BETTER_CLAIMS = (
    (
        "1a-mono",
        "1a. hybrid gives better multilingual mAP than mono-only",
        "hybrid",
        "mono",
        "multi",
        "ap",
        False,
        "all",
    ),
    (
        "1a-cross",
        "1a. hybrid gives better multilingual mAP than cross-only",
        "hybrid",
        "cross",
        "multi",
        "ap",
        False,
        "all",
    ),
    (
        "2",
        "2. hybrid has less language bias than mono-only",
        "hybrid",
        "mono",
        "multi",
        "rank_distance",
        True,
        "all",
    ),
    (
        "3",
        "3. the multilingual gain over mono-only holds for unseen languages",
        "hybrid",
        "mono",
        "multi",
        "ap",
        False,
        "unseen",
    ),
    (
        "4",
        "4. an α schedule (mono-heavy early, hybrid later) beats constant α = 0.5",
        "schedule",
        "hybrid",
        "multi",
        "ap",
        False,
        "all",
    ),
)
COMPARABLE_CLAIMS = (
    ("1b", "1b. hybrid is comparable to mono-only on monolingual mAP", "mono", "mono"),
    ("1c", "1c. hybrid is comparable to cross-only on cross-lingual mAP", "cross", "cross"),
)


@dataclass(frozen=True)
class ClaimTest:
    claim: str
    comparison: PairedComparison
    verdict: str
    paper_effect: float | None = None  # hybrid − rival in the paper, in this metric's units
    seeds_needed: int | None = None  # seeds per method to detect `paper_effect` at this level
    digits: int = 4  # decimals of the claim's unit: mAP 4, rank distance 1


def _values(per_query, method: str, setting: str, metric: str, langs) -> tuple[dict, list[int]]:
    """A method's rows of one setting over its seeds, keyed (seed, query, pool, question)."""
    seeds = sorted(s for m, s in per_query if m == method)
    rows = {
        (s, *key): value
        for s in seeds
        for key, value in per_query[method, s].values(setting, metric).items()
        if langs is None or key[0] in langs
    }
    return rows, seeds


def _compare(per_query, claim, challenger, rival, setting, metric, langs, alpha, seed):
    if not any(m == challenger for m, _ in per_query) or not any(m == rival for m, _ in per_query):
        return None
    mine, seeds_a = _values(per_query, challenger, setting, metric, langs)
    other, seeds_b = _values(per_query, rival, setting, metric, langs)
    return compare_questions(claim, mine, other, seeds_a, seeds_b, alpha=alpha, seed=seed)


def _paper_effect(claim_id: str, comparison: PairedComparison) -> float | None:
    if claim_id not in PAPER_EFFECT:
        return None
    effect, relative = PAPER_EFFECT[claim_id]
    if relative:
        level = comparison.seed_level
        rival = math.fsum(level.means_b) / len(level.means_b) if level else math.nan
        return effect * abs(rival)
    return effect


def paired_claims(
    per_query, unseen: set[str], seed: int = 0, mmmlu: dict | None = None
) -> list[ClaimTest]:
    """The better-than family (Holm-adjusted) and the comparable claims; claims whose runs or
    languages are missing are left out. `mmmlu`, per (method, seed) the runs' MMMLU per-question
    results where the study has them, adds claim 5 to the family (`mmmlu_claim`)."""
    from hybrid_tui.study.mmmlu_claim import BETTER_CLAIM, accuracy_rows

    wanted = [(c, per_query) for c in BETTER_CLAIMS if c[7] != "unseen" or unseen]
    if mmmlu:
        wanted.append((BETTER_CLAIM, {key: accuracy_rows(r) for key, r in mmmlu.items()}))
    alpha = holm_level(len(wanted))
    found = []
    for (claim_id, claim, challenger, rival, setting, metric, lower, which), rows in wanted:
        langs = unseen if which == "unseen" else None
        comparison = _compare(rows, claim, challenger, rival, setting, metric, langs, alpha, seed)
        if comparison is not None:
            found.append((claim_id, lower, comparison))
    adjusted = holm_adjust([c for _, _, c in found])
    tests = [
        _claim_test(claim_id, comparison, verdict(comparison, lower), alpha)
        for (claim_id, lower, _), comparison in zip(found, adjusted, strict=True)
    ]
    for claim_id, claim, rival, setting in COMPARABLE_CLAIMS:
        comparison = _compare(per_query, claim, "hybrid", rival, setting, "ap", None, ALPHA, seed)
        if comparison is not None:
            tests.append(_claim_test(claim_id, comparison, comparable(comparison), ALPHA))
    return tests


def _claim_test(claim_id: str, comparison: PairedComparison, said: str, alpha: float):
    effect = _paper_effect(claim_id, comparison)
    level = comparison.seed_level
    needed = (
        seeds_needed(effect, level.means_a, level.means_b, alpha)
        if effect is not None and level is not None
        else None
    )
    digits = 1 if claim_id == "2" else 4
    return ClaimTest(comparison.name, comparison, said, effect, needed, digits)


def comparable(comparison: PairedComparison) -> str:
    """Non-inferiority at one mAP point: the question-level interval, then the seed level's."""
    low = comparison.interval[0]
    if low <= -COMPARABLE_MARGIN:
        return f"does not hold (95 % interval over questions reaches {low:+.3f})"
    level = comparison.seed_level
    if level is not None and level.seeds >= 2 and level.interval[0] > -COMPARABLE_MARGIN:
        return f"holds across seeds (95 % intervals above −{COMPARABLE_MARGIN:g})"
    return (
        f"holds for these trained models (95 % interval above −{COMPARABLE_MARGIN:g}); "
        + not_across_seeds(comparison)
    )


def _p(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2g}"


def _effect_vs_paper(test: ClaimTest) -> str:
    if test.paper_effect is None:
        return "—"
    here = test.comparison.mean_difference
    ratio = f" (here {here / test.paper_effect:.2g}×)" if abs(test.paper_effect) > 1e-9 else ""
    return f"{test.paper_effect:+.{min(3, test.digits)}f}{ratio}"


def markdown_section(tests: list[ClaimTest]) -> list[str]:
    """The claims as markdown: one verdict each, the question level, the seed level, the paper."""
    if not tests:
        return [
            "Claim tests: not available (the study's runs carry no per-query results; "
            "rerun them with this version)."
        ]
    from hybrid_tui.study.mmmlu_claim import CLAIM, UNIT_NOTE

    family = sum(1 for t in tests if not t.claim.startswith(("1b", "1c")))
    mmmlu_note = [UNIT_NOTE, ""] if any(t.claim == CLAIM for t in tests) else []
    lines = [
        "**The unit is the question.** A question's rows (its parallel translations as query "
        "languages, and its pools) are averaged into one value per question and seed; the "
        "question level compares those values averaged over the seeds present: randomization "
        "test (sign flips of the per-question differences, 10 000 resamples, "
        "`scipy.stats.permutation_test`), 95 % percentile bootstrap interval over questions; "
        f"Holm-Bonferroni over the {family} better-than claims. It says whether *these trained "
        "models* differ.",
        "",
        "**Seeds are the training noise.** Whether the *method* differs is judged on the seed "
        "means: Welch t-test (Holm over the same family) and a hierarchical bootstrap interval "
        "(seeds of each method resampled independently, then questions; Saravanan, Berman & "
        "Sober 2020, *Application of the hierarchical bootstrap to multi-level data in "
        "neuroscience*). Seed s of one method is not paired with seed s of another. A claim "
        "**holds across seeds** only when both levels find it; otherwise it *holds for these "
        "trained models*, with the seed-level effect this many seeds could detect.",
        "",
        *mmmlu_note,
        "| claim | verdict | questions (rows a side) | mean diff [95 % CI, questions] | p (Holm) "
        "| detectable (questions) | seed means hybrid / rival | Welch p (Holm) "
        "| hierarchical 95 % CI | paper (XLM-R) | seeds to detect it |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tests:
        c, level, d = t.comparison, t.comparison.seed_level, t.digits
        p = c.p_adjusted if not math.isnan(c.p_adjusted) else c.p_randomization
        seeds = (
            " / ".join(
                ", ".join(f"{m:.{min(3, d)}f}" for m in side)
                for side in (level.means_a, level.means_b)
            )
            if level
            else "—"
        )
        welch = (
            "—"
            if level is None or math.isnan(level.p)
            else f"{_p(level.p)} ({_p(level.p_adjusted)})"
            if not math.isnan(level.p_adjusted)
            else _p(level.p)
        )
        interval = f"[{level.interval[0]:+.{d}f}, {level.interval[1]:+.{d}f}]" if level else "—"
        needed = "—" if t.seeds_needed is None else str(t.seeds_needed)
        if t.paper_effect is not None and t.seeds_needed is None:
            needed = "over 200" if abs(t.paper_effect) > 1e-9 else "— (no effect)"
        lines.append(
            f"| {t.claim} | {t.verdict} | {c.n} ({c.rows}) | {c.mean_difference:+.{d}f} "
            f"[{c.interval[0]:+.{d}f}, {c.interval[1]:+.{d}f}] | {_p(p)} | ±{c.detectable:.2g} "
            f"| {seeds} | {welch} | {interval} | {_effect_vs_paper(t)} | {needed} |"
        )
    lines += [
        "",
        f"*detectable*: the smallest true difference a paired t-test over questions separates "
        f"with 80 % power at the level the claim is tested at (Holm's first step, "
        f"{ALPHA:g}/{family} = {ALPHA / family:.3g}, for the better-than claims; {ALPHA:g} for the "
        "comparable ones), from the observed spread of the per-question differences. The "
        "seed-level *detectable ≈ X* in a verdict is the same for a two-sample t-test on seed "
        "means at that level; *seeds to detect it*: seeds per method that test needs to find "
        "the paper's effect, from the seed spread observed here. Rank-distance effects are in "
        "ranks; the paper's −30 % is taken of mono-only's rank distance here.",
    ]
    return lines
