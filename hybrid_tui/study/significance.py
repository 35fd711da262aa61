"""Significance per setting for `hybrid-tui compare`: two runs (or two groups of seeds) evaluated
on the same questions, other − base, with the question as the unit.

Each run's per-query results (`per_query/<set>.csv.gz`, logged by the trainer and `eval`) give,
per setting cell (mono/en, cross/en-de, multi/en, bias/en and the macro averages), one value per
question (a question's rows averaged; over a group's seeds too). The question level is
`stats.compare_paired_t`: the paired t-test and its t-interval, ranx `compare`'s default
("student"), exact and instant where XQuAD-R has 147 cells (a randomization test per cell took
minutes); Holm over every cell of the set, as ranx corrects a table of runs. With several seeds a side the seed level
(`stats.seed_level`) is added, and a difference holds across seeds only when both levels find
it (the study's rule). The statistics (numpy, scipy) are imported only once both sides have
per-query results: a compare without them costs only its reads.

MMMLU is scored by accuracy: its mono and cross cells are tested on a question's right (1) or
wrong (0) pick (`mmmlu_claim.accuracy_rows`); its multi and bias cells are not tested, since the
per-question artifact does not say whether the pooled pick was right (`MMMLU_NOTE`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import MMMLU, metric_dataset_name
from hybrid_tui.metric_keys import AVERAGE
from hybrid_tui.study.mmmlu_claim import accuracy_rows
from hybrid_tui.tracking.per_query import PerQueryResults

if TYPE_CHECKING:
    from hybrid_tui.study.stats import PairedComparison


@dataclass(frozen=True)
class CellTest:
    """One setting cell: `who` is a language, a (query, pool) pair, or `avg`."""

    setting: str
    who: str | tuple[str, str]
    comparison: PairedComparison

    @property
    def key(self) -> str:
        who = "-".join(self.who) if isinstance(self.who, tuple) else self.who
        return f"{self.setting}/{who}"

    @property
    def significant(self) -> bool:
        """Holm-adjusted question-level p below 5 %: these runs differ here."""
        from hybrid_tui.study.stats import ALPHA

        return self.comparison.p_adjusted < ALPHA

    @property
    def across_seeds(self) -> bool | None:
        """Both levels find it (None with one run a side: nothing to say about seeds)."""
        level = self.comparison.seed_level
        if level is None or level.seeds < 2:
            return None
        from hybrid_tui.study.stats import ALPHA

        return self.significant and level.p_adjusted < ALPHA

    def to_json(self) -> dict:
        c, level = self.comparison, self.comparison.seed_level
        out = {
            "mean_difference": c.mean_difference,
            "ci": list(c.interval),
            "p": c.p_randomization,
            "p_holm": c.p_adjusted,
            "significant": self.significant,
            "questions": c.n,
        }
        if level is not None and level.seeds >= 2:
            out |= {
                "seed_p": level.p,
                "seed_p_holm": level.p_adjusted,
                "seed_ci": list(level.interval),
                "across_seeds": self.across_seeds,
            }
        return out


def _by_cell(side: list[PerQueryResults]) -> dict[tuple, dict[tuple, float]]:
    """A side's rows grouped by setting cell in one pass: `{(setting, who): {(run index, query,
    pool, question): value}}`, the macro cells (`avg`) holding every row of their setting."""
    cells: dict[tuple, dict[tuple, float]] = {}
    for index, results in enumerate(side):
        for row in results.rows:
            key = (index, row.query_lang, row.pool, row.question_id)
            if row.setting == "cross":
                targets = [("cross", (row.query_lang, row.pool), row.ap)]
            elif row.setting == "multi":
                targets = [
                    ("multi", row.query_lang, row.ap),
                    ("bias", row.query_lang, row.rank_distance),
                ]
            else:
                targets = [(row.setting, row.query_lang, row.ap)]
            for setting, who, value in targets:
                cells.setdefault((setting, who), {})[key] = value
                cells.setdefault((setting, AVERAGE), {})[key] = value
    return cells


def compare_sides(base: list[PerQueryResults], other: list[PerQueryResults]) -> list[CellTest]:
    """Every setting cell both sides scored, other − base, Holm over the cells."""
    from hybrid_tui.study.stats import compare_questions, holm_adjust

    base_cells, other_cells = _by_cell(base), _by_cell(other)
    seeds_b, seeds_o = list(range(len(base))), list(range(len(other)))
    found = []
    for setting, who in sorted(base_cells.keys() & other_cells.keys(), key=str):
        b, o = base_cells[setting, who], other_cells[setting, who]
        comparison = compare_questions(f"{setting}/{who}", o, b, seeds_o, seeds_b, test="t")
        if comparison is not None:
            found.append(CellTest(setting, who, comparison))
    adjusted = holm_adjust([t.comparison for t in found])
    return [replace(t, comparison=c) for t, c in zip(found, adjusted, strict=True)]


MMMLU_NOTE = (
    "MMMLU: mono and cross tested on accuracy per question (a right pick 1, a wrong one 0); "
    "multi, own-language share and rank distance not tested (the per-question results hold the "
    "right option's rank per option language, not whether the pooled pick was right)"
)


def tested_rows(results: PerQueryResults) -> PerQueryResults:
    """The rows a cell's test compares: MMMLU's mono and cross rows as right or wrong, any other
    set's rows as logged."""
    if metric_dataset_name(results.dataset) == MMMLU:
        return accuracy_rows(results, ("mono", "cross"))
    return results


def per_query_of(tracker, run_id: str, dataset: str) -> PerQueryResults:
    """A run's per-query results of one set (`xquad-r` or its metric name `xquad_r`);
    `HybridTuiError` (one line) where it has none."""
    from hybrid_tui.languages import EVAL_DATASETS

    dataset = next((name for name, (m, *_) in EVAL_DATASETS.items() if m == dataset), dataset)
    import tempfile

    from hybrid_tui.tracking.per_query import ARTIFACT_DIR, artifact_name, read_csv_gz

    with tempfile.TemporaryDirectory() as tmp:
        path = tracker.local_artifact(run_id, f"{ARTIFACT_DIR}/{artifact_name(dataset)}", tmp)
        if path is None and dataset == "miracl":
            raise HybridTuiError("MIRACL evaluation logs no per-query results to test")
        if path is None:
            raise HybridTuiError(
                f"run {run_id[:12]} has no per-query results for {dataset} (evaluated before "
                "they were logged): re-evaluate it with this version for significance"
            )
        return read_csv_gz(path, dataset)


def significance_for(
    tracker, base: list, other: list, dataset: str
) -> tuple[list[CellTest] | None, str | None]:
    """Per-cell tests of other − base (each side: its runs' details), or None and the one line
    saying why none (a run without per-query results)."""
    try:
        tests = compare_sides(
            [tested_rows(per_query_of(tracker, d.run_id, dataset)) for d in base],
            [tested_rows(per_query_of(tracker, d.run_id, dataset)) for d in other],
        )
    except HybridTuiError as err:
        return None, f"significance: not available ({err})"
    return tests, None


def marked(tests: list[CellTest]) -> set[tuple[str, str | tuple[str, str]]]:
    """The cells a table marks: significant after Holm (and across seeds, with seeds)."""
    return {(t.setting, t.who) for t in tests if t.significant and t.across_seeds in (None, True)}


def summary_line(tests: list[CellTest], seeds: tuple[int, int], dataset: str = "") -> str:
    """What the † means and what was tested; for MMMLU, which cells are not tested and why."""
    line = _rule_line(tests, seeds)
    if dataset and metric_dataset_name(dataset) == MMMLU:
        return f"{line} {MMMLU_NOTE}."
    return line


def _rule_line(tests: list[CellTest], seeds: tuple[int, int]) -> str:
    n = len(tests)
    shown = len(marked(tests))
    questions = max((t.comparison.n for t in tests), default=0)
    if min(seeds) >= 2:
        rule = (
            f"† significant across seeds: question level and seed level (Welch over {seeds[0]} "
            f"vs {seeds[1]} seeds) both below 5 % after Holm"
        )
    else:
        rule = "† significant after Holm (5 %)"
    return (
        f"{rule}; question as the unit (up to {questions} questions), paired t-test, "
        f"Holm over {n} cells: {shown} marked."
        if n
        else "significance: no setting both sides scored on the same questions"
    )
