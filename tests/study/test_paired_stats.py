"""Paired per-query tests: they find what seed means cannot, and they agree with exact answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hybrid_tui.study.stats import (
    compare_paired,
    compare_questions,
    detectable_difference,
    detectable_with_seeds,
    holm,
    holm_adjust,
    paired_values,
    seeds_needed,
    verdict,
    welch_over_seeds,
)


def _study(planted: float, seed_noise: float, seeds: int = 3, queries: int = 300, rng_seed=7):
    """Per-query AP of methods A and B over seeds: shared query difficulty, a per-(method, seed)
    offset (training noise) and per-query noise; A gets `planted` more on every query."""
    rng = np.random.default_rng(rng_seed)
    difficulty = rng.uniform(0.2, 0.9, queries)
    runs = {}
    for method, lift in (("A", planted), ("B", 0.0)):
        for s in range(seeds):
            offset = rng.normal(0, seed_noise)
            noise = rng.normal(0, 0.05, queries)
            runs[method, s] = {
                (s, q): difficulty[q] + lift + offset + noise[q] for q in range(queries)
            }
    return runs


def test_the_paired_test_finds_a_planted_difference_that_welch_over_three_seeds_misses():
    runs = _study(planted=0.02, seed_noise=0.015)
    seed_means = {m: [np.mean(list(runs[m, s].values())) for s in range(3)] for m in "AB"}
    assert welch_over_seeds(seed_means["A"], seed_means["B"]) > 0.05  # Welch: nothing to see

    pooled_a = {k: v for s in range(3) for k, v in runs["A", s].items()}
    pooled_b = {k: v for s in range(3) for k, v in runs["B", s].items()}
    comparison = compare_questions("A vs B", pooled_a, pooled_b, [0, 1, 2], [0, 1, 2])
    assert comparison.n == 300 and comparison.rows == 900  # questions, A's rows
    assert comparison.p_randomization < 0.001 and comparison.p_t < 0.001
    assert comparison.interval[0] < comparison.mean_difference < comparison.interval[1]
    assert comparison.interval[0] > 0  # the interval excludes no difference
    level = comparison.seed_level
    assert level.seeds == 3 and level.p > 0.05  # the seed level does not separate them
    assert level.interval[0] < comparison.mean_difference < level.interval[1]
    assert level.interval[1] - level.interval[0] > comparison.interval[1] - comparison.interval[0]
    assert verdict(comparison).startswith("holds for these trained models; across seeds not")
    assert verdict(comparison, lower_is_better=True).startswith("does not hold")


def test_without_a_difference_the_verdict_is_inconclusive_and_names_the_detectable_effect():
    runs = _study(planted=0.0, seed_noise=0.0)
    a, b = paired_values(runs["A", 0], runs["B", 0])
    comparison = compare_paired("A vs B", a, b)
    assert comparison.p_randomization > 0.05
    expected = (1.959964 + 0.841621) * np.std(a - b, ddof=1) / math.sqrt(len(a))
    assert comparison.detectable == pytest.approx(expected, rel=0.01)  # large n: normal quantiles
    assert verdict(comparison) == (
        f"not established (detectable ≈ {comparison.detectable:.3g} per question)"
    )


def test_randomization_p_matches_the_exact_sign_flip_distribution():
    """With 12 pairs every one of the 2^12 sign patterns can be enumerated by hand."""
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, 12)
    b = a - rng.normal(0.08, 0.1, 12)
    diff = a - b
    observed = abs(diff.mean())
    flips = np.array(list(itertools.product([1, -1], repeat=12)))
    exact = np.mean(np.abs((flips * diff).mean(axis=1)) >= observed - 1e-12)
    assert compare_paired("x", a, b).p_randomization == pytest.approx(exact)


def test_holm_matches_a_worked_example_and_keeps_input_order():
    # sorted 0.01, 0.02, 0.04, 0.30 -> 4*0.01, max(.04, 3*.02), max(.06, 2*.04), max(.08, .30)
    assert holm([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    family = holm_adjust([compare_paired("a", np.r_[1.0, 2, 3, 4], np.r_[0.0, 2, 3, 5])] * 2)
    assert all(c.p_adjusted >= c.p_randomization for c in family)


def test_pairs_are_matched_by_key_and_nan_is_dropped():
    a, b = paired_values({1: 0.5, 2: math.nan, 3: 0.9, 4: 0.1}, {3: 0.7, 1: 0.4, 2: 0.3})
    assert a.tolist() == [0.5, 0.9] and b.tolist() == [0.4, 0.7]
    with pytest.raises(ValueError, match="at least two pairs"):
        compare_paired("x", a[:1], b[:1])
    assert detectable_difference(0.0, 10) == 0.0


def test_holm_leaves_a_missing_p_out_of_the_family():
    assert holm([0.01, math.nan, 0.04]) == pytest.approx([0.02, math.nan, 0.04], nan_ok=True)


def test_seeds_needed_is_the_first_count_whose_detectable_effect_reaches_the_target():
    a, b = [0.50, 0.52, 0.51], [0.49, 0.47, 0.50]
    sd = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    n = seeds_needed(0.02, a, b, alpha=0.01)
    assert n is not None and n > 3
    assert detectable_with_seeds(sd, n, 0.01) <= 0.02 < detectable_with_seeds(sd, n - 1, 0.01)
    assert seeds_needed(0.0, a, b) is None


def test_seed_level_detectable_matches_the_noncentral_t_power():
    """The normal-approximation formula is close to the exact power of scipy's noncentral t."""
    from scipy import stats

    sd, seeds, alpha = 0.01, 10, 0.05
    effect = detectable_with_seeds(sd, seeds, alpha)
    dof = 2 * seeds - 2
    shift = effect / (sd * math.sqrt(2 / seeds))
    critical = stats.t.ppf(1 - alpha / 2, dof)
    power = stats.nct.sf(critical, dof, shift) + stats.nct.cdf(-critical, dof, shift)
    assert power == pytest.approx(0.8, abs=0.02)
