"""Two systems compared with the question as the unit, and seeds as the source of training noise.

A question enters a multilingual claim once per query language (its parallel translations) and
once per pool in the cross-lingual setting; those rows share the question's difficulty, so they
are not independent. Each question's rows are averaged first (a cluster-level test), and the
paired tests run over questions: the randomization (sign-flip permutation) test that Smucker,
Allan & Carterette (CIKM 2007) recommend for IR, a percentile bootstrap interval, both from
`scipy.stats`. That answers "do these trained models differ".

Whether the *method* differs is a question about seeds: each seed is one draw of the training
noise. The seed level tests the seed means (Welch, `scipy.stats.ttest_ind`) and gives a
hierarchical bootstrap interval, resampling seeds of each side independently and then the
questions (Saravanan, Berman & Sober 2020, "Application of the hierarchical bootstrap to
multi-level data in neuroscience", Neurons, Behavior, Data analysis and Theory 3(5); the
two-stage bootstrap of Davison & Hinkley 1997, §3.8). Seed s of one method is never paired with
seed s of another: different samplers draw different batches, so that pairing is arbitrary.

A family of claims is corrected with Holm-Bonferroni (scipy has none; it is a few lines below).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

ALPHA = 0.05
POWER = 0.8
RESAMPLES = 10_000
BOOTSTRAPS = 2_000


@dataclass(frozen=True)
class SeedLevel:
    """The seed-level view of A − B: per-seed means, Welch p, hierarchical interval."""

    means_a: tuple[float, ...]
    means_b: tuple[float, ...]
    p: float  # Welch over seed means (NaN with fewer than two seeds a side)
    interval: tuple[float, float]  # hierarchical bootstrap (seeds, then questions), 95 %
    detectable: float  # smallest |difference| Welch finds at the tested level (power 0.8)
    p_adjusted: float = math.nan  # Holm over the family, set by `holm_adjust`

    @property
    def seeds(self) -> int:
        return min(len(self.means_a), len(self.means_b))


@dataclass(frozen=True)
class PairedComparison:
    """A vs B over questions: the mean of A − B, its 95 % interval and p-values."""

    name: str
    n: int  # questions (the unit)
    mean_difference: float
    interval: tuple[float, float]
    p_randomization: float
    p_t: float
    detectable: float  # smallest |mean difference| detected at the tested level (power 0.8)
    p_adjusted: float = math.nan  # Holm-adjusted randomization p, set by `holm_adjust`
    rows: int = 0  # A's rows (question x language x pool x seed) the questions aggregate
    seed_level: SeedLevel | None = None
    test: str = "randomization"  # what `p_randomization` and `interval` come from, or "t"


def paired_values(
    a: Mapping[tuple, float], b: Mapping[tuple, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The values of the keys both sides have (NaN dropped), in one order: the pairs."""
    keys = sorted(k for k in a.keys() & b.keys() if not (math.isnan(a[k]) or math.isnan(b[k])))
    return (
        np.array([a[k] for k in keys], dtype=np.float64),
        np.array([b[k] for k in keys], dtype=np.float64),
    )


def question_matrix(
    values: Mapping[tuple, float], seeds: Sequence[int], questions: Sequence[str]
) -> np.ndarray:
    """`[seed, question]` means of a method's rows keyed `(seed, ..., question_id)` (NaN rows
    left out): a question's translations and pools averaged into one value per seed."""
    seed_at = {s: i for i, s in enumerate(seeds)}
    question_at = {q: j for j, q in enumerate(questions)}
    total = np.zeros((len(seeds), len(questions)))
    count = np.zeros((len(seeds), len(questions)))
    for key, value in values.items():
        i, j = seed_at.get(key[0]), question_at.get(key[-1])
        if i is None or j is None or math.isnan(value):
            continue
        total[i, j] += value
        count[i, j] += 1
    with np.errstate(invalid="ignore"):
        return total / count


def compare_paired(
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    seed: int = 0,
    resamples: int = RESAMPLES,
    alpha: float = ALPHA,
    rows: int = 0,
) -> PairedComparison:
    """Randomization test (random sign flips of the per-question differences), paired t-test and
    a percentile bootstrap interval of the mean difference, all on A − B with one value per
    question. `alpha` sets the detectable effect (pass the Holm level for a family)."""
    from scipy import stats

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n < 2:
        raise ValueError(f"{name}: a paired test needs at least two pairs, got {n}")
    rng = np.random.default_rng(seed)
    if not diff.any():
        return PairedComparison(name, n, 0.0, (0.0, 0.0), 1.0, 1.0, 0.0, rows=rows or n)
    randomization = stats.permutation_test(
        (diff,),
        np.mean,
        permutation_type="samples",  # one sample: the null flips each difference's sign
        n_resamples=resamples,
        vectorized=True,
        batch=max(1, 2_000_000 // n),
        random_state=rng,
    )
    boot = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=BOOTSTRAPS,
        method="percentile",
        batch=max(1, 2_000_000 // n),
        random_state=rng,
    )
    return PairedComparison(
        name,
        n,
        float(diff.mean()),
        (float(boot.confidence_interval.low), float(boot.confidence_interval.high)),
        float(randomization.pvalue),
        float(stats.ttest_rel(a, b).pvalue),
        detectable_difference(float(diff.std(ddof=1)), n, alpha),
        rows=rows or n,
    )


def compare_paired_t(
    name: str, a: np.ndarray, b: np.ndarray, alpha: float = ALPHA, rows: int = 0
) -> PairedComparison:
    """The paired t-test and its 95 % t-interval of the mean difference (ranx `compare`'s
    default "student" test; Smucker et al. find it adequate): exact and instant, for the
    hundreds of cells `hybrid-tui compare` tests. `p_randomization` holds its p. The t
    distribution comes from `scipy.special` (`stdtr`, `stdtrit`: what `scipy.stats.ttest_rel`
    computes, equal to ~1e-13), not `scipy.stats`, whose import alone is ~1 s of `compare`."""
    from scipy.special import stdtr, stdtrit

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n < 2:
        raise ValueError(f"{name}: a paired test needs at least two pairs, got {n}")
    if not diff.any():
        return PairedComparison(name, n, 0.0, (0.0, 0.0), 1.0, 1.0, 0.0, rows=rows or n, test="t")
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    error = sd / math.sqrt(n)
    t = mean / error if error > 0 else math.copysign(math.inf, mean)
    p = float(2 * stdtr(n - 1, -abs(t)))
    half = float(stdtrit(n - 1, 0.975)) * error
    return PairedComparison(
        name,
        n,
        mean,
        (mean - half, mean + half),
        p,
        p,
        detectable_difference(sd, n, alpha),
        rows=rows or n,
        test="t",
    )


def compare_questions(
    name: str,
    a: Mapping[tuple, float],
    b: Mapping[tuple, float],
    seeds_a: Sequence[int],
    seeds_b: Sequence[int],
    alpha: float = ALPHA,
    seed: int = 0,
    test: str = "randomization",
) -> PairedComparison | None:
    """A vs B from rows keyed `(seed, ..., question_id)`: question level over the questions both
    sides scored (each question's mean over its rows and the side's seeds), and the seed level
    beside it. None when fewer than two questions are shared."""
    questions = sorted({k[-1] for k in a} & {k[-1] for k in b})
    if len(questions) < 2:
        return None
    ma = question_matrix(a, seeds_a, questions)
    mb = question_matrix(b, seeds_b, questions)
    shared = ~(np.isnan(ma).any(axis=0) | np.isnan(mb).any(axis=0))
    if shared.sum() < 2:
        return None
    ma, mb = ma[:, shared], mb[:, shared]
    rows = sum(1 for v in a.values() if not math.isnan(v))
    if test == "t":
        found = compare_paired_t(name, ma.mean(axis=0), mb.mean(axis=0), alpha, rows)
    else:
        found = compare_paired(name, ma.mean(axis=0), mb.mean(axis=0), seed, alpha=alpha, rows=rows)
    if len(ma) < 2 and len(mb) < 2:
        return found  # one run a side: no seed level to speak of
    return replace(found, seed_level=seed_level(ma, mb, alpha=alpha, seed=seed))


def seed_level(ma: np.ndarray, mb: np.ndarray, alpha: float = ALPHA, seed: int = 0) -> SeedLevel:
    """Welch over seed means and a hierarchical bootstrap interval of A − B from `[seed,
    question]` matrices with the same questions: each replicate draws seeds with replacement
    for each side, then one set of questions (the questions are shared by both sides)."""
    means_a, means_b = ma.mean(axis=1), mb.mean(axis=1)
    rng = np.random.default_rng(seed)
    sa = rng.integers(0, len(ma), (BOOTSTRAPS, len(ma)))
    sb = rng.integers(0, len(mb), (BOOTSTRAPS, len(mb)))
    questions = rng.integers(0, ma.shape[1], (BOOTSTRAPS, ma.shape[1]))
    per_question = ma[sa].mean(axis=1) - mb[sb].mean(axis=1)  # (replicates, questions)
    replicates = np.take_along_axis(per_question, questions, axis=1).mean(axis=1)
    low, high = np.percentile(replicates, [2.5, 97.5])
    return SeedLevel(
        tuple(float(m) for m in means_a),
        tuple(float(m) for m in means_b),
        welch_over_seeds(means_a, means_b),
        (float(low), float(high)),
        seed_detectable(means_a, means_b, alpha),
    )


def detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired t-test at `alpha` finds with
    probability `power`, given the observed standard deviation of the differences."""
    from scipy.special import stdtrit  # the t quantile (`scipy.stats.t.ppf`), without its import

    dof = max(1, n - 1)
    return float((stdtrit(dof, 1 - alpha / 2) + stdtrit(dof, power)) * sd / math.sqrt(n))


def _pooled_seed_sd(a: Sequence[float], b: Sequence[float]) -> float:
    spread = [np.var(x, ddof=1) for x in (a, b) if len(x) > 1]
    return float(math.sqrt(np.mean(spread))) if spread else math.nan


def seed_detectable(
    a: Sequence[float], b: Sequence[float], alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest difference of seed means a two-sample t-test at `alpha` finds with
    probability `power`, from the observed seed spread (NaN with one seed a side)."""
    return detectable_with_seeds(_pooled_seed_sd(a, b), min(len(a), len(b)), alpha, power)


def detectable_with_seeds(
    sd: float, seeds: int, alpha: float = ALPHA, power: float = POWER
) -> float:
    from scipy import stats

    if seeds < 2 or math.isnan(sd):
        return math.nan
    dof = 2 * seeds - 2
    quantiles = stats.t.ppf(1 - alpha / 2, dof) + stats.t.ppf(power, dof)
    return float(quantiles * sd * math.sqrt(2 / seeds))


def seeds_needed(
    effect: float, a: Sequence[float], b: Sequence[float], alpha: float = ALPHA, limit: int = 200
) -> int | None:
    """Seeds per method a two-sample t-test at `alpha` needs to find `effect` with power 0.8,
    given the seed spread observed here (None beyond `limit` or without a spread)."""
    sd = _pooled_seed_sd(a, b)
    if math.isnan(sd) or effect == 0:
        return None
    for seeds in range(2, limit + 1):
        if detectable_with_seeds(sd, seeds, alpha) <= abs(effect):
            return seeds
    return None


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order;
    NaN stays NaN and does not count in the family."""
    present = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    order = sorted(present, key=lambda i: p_values[i])
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(present) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_level(family: int, alpha: float = ALPHA) -> float:
    """The strictest level Holm tests at (its first step): what a claim must clear alone."""
    return alpha / max(1, family)


def holm_adjust(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The family with `p_adjusted` filled, at the question level and at the seed level."""
    adjusted = holm([c.p_randomization for c in comparisons])
    seeds = holm([c.seed_level.p if c.seed_level else math.nan for c in comparisons])
    return [
        replace(
            c,
            p_adjusted=p,
            seed_level=replace(c.seed_level, p_adjusted=s) if c.seed_level else None,
        )
        for c, p, s in zip(comparisons, adjusted, seeds, strict=True)
    ]


def welch_over_seeds(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value over per-seed means (NaN with fewer than two seeds)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) + np.var(b) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def significant(comparison: PairedComparison) -> bool:
    """The Holm-adjusted randomization p (the raw one outside a family) below `ALPHA`."""
    p = (
        comparison.p_adjusted
        if not math.isnan(comparison.p_adjusted)
        else comparison.p_randomization
    )
    return p < ALPHA


def seeds_support(comparison: PairedComparison, lower_is_better: bool = False) -> bool:
    """Whether the seed level finds the claim's direction (Holm-adjusted Welch p below `ALPHA`)."""
    level = comparison.seed_level
    if level is None or level.seeds < 2:
        return False
    p = level.p_adjusted if not math.isnan(level.p_adjusted) else level.p
    difference = float(np.mean(level.means_a) - np.mean(level.means_b))
    better = difference < 0 if lower_is_better else difference > 0
    return p < ALPHA and better


def not_across_seeds(comparison: PairedComparison, digits: int = 3) -> str:
    level = comparison.seed_level
    seeds = level.seeds if level else 1
    if level is None or math.isnan(level.detectable):
        return f"across seeds not established (n={seeds})"
    return f"across seeds not established (n={seeds}, detectable ≈ {level.detectable:.{digits}g})"


def verdict(comparison: PairedComparison, lower_is_better: bool = False) -> str:
    """One verdict for "A is better than B", in the study's one vocabulary:

    - "holds across seeds": the question level and the seed level both find it;
    - "holds for these trained models; across seeds not established (n, detectable ≈ X)";
    - "does not hold (significant the other way …)" where the question level finds the opposite;
    - "not established (detectable ≈ X per question)" where the question level finds nothing.
    """
    better = comparison.mean_difference < 0 if lower_is_better else comparison.mean_difference > 0
    if significant(comparison) and better:
        if seeds_support(comparison, lower_is_better):
            return "holds across seeds"
        return f"holds for these trained models; {not_across_seeds(comparison)}"
    if significant(comparison):
        if seeds_support(comparison, not lower_is_better):
            return "does not hold (significant the other way, across seeds)"
        return "does not hold (significant the other way for these trained models)"
    return f"not established (detectable ≈ {comparison.detectable:.3g} per question)"
