"""Paired per-query comparisons of two systems, as information retrieval compares them.

Every study run is scored on the same questions, so method A and method B can be compared query
by query: the difference per (seed, language, pool, question) is the unit, not the seed mean.
Smucker, Allan & Carterette (CIKM 2007) recommend the randomization (sign-flip permutation) test
and find the paired t-test adequate; both come from `scipy.stats`. A family of claims is
corrected with Holm-Bonferroni (scipy has no Holm; it is four lines below). The across-seed view
(Welch over seed means) is kept beside it, because training noise is real: a per-query win that
one seed's luck produced shows up there as a disagreement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class PairedComparison:
    """A vs B on paired values: the mean of A − B, its 95 % bootstrap interval, and p-values."""

    name: str
    n: int
    mean_difference: float
    interval: tuple[float, float]
    p_randomization: float
    p_t: float
    detectable: float  # the smallest |mean difference| this design detects (power 0.8, 5 %)
    p_adjusted: float = math.nan  # Holm-adjusted randomization p, set by `holm_adjust`


def paired_values(
    a: Mapping[tuple, float], b: Mapping[tuple, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The values of the keys both sides have (NaN dropped), in one order: the pairs."""
    keys = sorted(k for k in a.keys() & b.keys() if not (math.isnan(a[k]) or math.isnan(b[k])))
    return (
        np.array([a[k] for k in keys], dtype=np.float64),
        np.array([b[k] for k in keys], dtype=np.float64),
    )


def compare_paired(
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    seed: int = 0,
    resamples: int = 10_000,
    alpha: float = ALPHA,
) -> PairedComparison:
    """Randomization test (random sign flips of the differences), paired t-test and a percentile
    bootstrap interval of the mean difference, all on A − B. `alpha` sets the detectable effect
    (pass the Holm-adjusted level for a family)."""
    from scipy import stats

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n < 2:
        raise ValueError(f"{name}: a paired test needs at least two pairs, got {n}")
    rng = np.random.default_rng(seed)
    if not diff.any():
        return PairedComparison(name, n, 0.0, (0.0, 0.0), 1.0, 1.0, 0.0)
    randomization = stats.permutation_test(
        (diff,),
        np.mean,
        permutation_type="samples",  # one sample: the null flips each difference's sign
        n_resamples=resamples,
        vectorized=True,
        batch=max(1, 2_000_000 // n),
        random_state=rng,
    )
    t_test = stats.ttest_rel(a, b)
    boot = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=2_000,
        method="percentile",  # BCa's jackknife is O(n²) on thousands of queries
        batch=max(1, 2_000_000 // n),
        random_state=rng,
    )
    return PairedComparison(
        name,
        n,
        float(diff.mean()),
        (float(boot.confidence_interval.low), float(boot.confidence_interval.high)),
        float(randomization.pvalue),
        float(t_test.pvalue),
        detectable_difference(float(diff.std(ddof=1)), n, alpha),
    )


def detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired t-test at `alpha` finds with
    probability `power`, given the observed standard deviation of the differences."""
    from scipy import stats

    dof = max(1, n - 1)
    return float((stats.t.ppf(1 - alpha / 2, dof) + stats.t.ppf(power, dof)) * sd / math.sqrt(n))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_adjust(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The family with `p_adjusted` filled (Holm over the randomization p-values)."""
    adjusted = holm([c.p_randomization for c in comparisons])
    return [replace(c, p_adjusted=p) for c, p in zip(comparisons, adjusted, strict=True)]


def welch_over_seeds(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value over per-seed means (NaN with fewer than two seeds)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def significant(comparison: PairedComparison) -> bool:
    """The Holm-adjusted randomization p (the raw one outside a family) below `ALPHA`."""
    p = (
        comparison.p_adjusted
        if not math.isnan(comparison.p_adjusted)
        else comparison.p_randomization
    )
    return p < ALPHA


def verdict(comparison: PairedComparison, lower_is_better: bool = False) -> str:
    """ "holds", "does not hold" or "inconclusive at this budget", for the claim "A is better"."""
    better = comparison.mean_difference < 0 if lower_is_better else comparison.mean_difference > 0
    if significant(comparison):
        return "holds" if better else "does not hold (significant the other way)"
    return f"inconclusive at this budget (detectable: ±{comparison.detectable:.3g})"
