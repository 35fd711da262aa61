"""The study's optional MMMLU claim: "hybrid improves cross-lingual MMLU-by-retrieval accuracy over
mono-only", the research question the project started from, asked of a retriever.

It runs only where MMMLU data is present: with a local copy (`paths.resolve_mmmlu_root`) the
study adds `mmmlu` to every trained run's evaluation, so each run logs its per-question results
(`per_query/mmmlu.csv.gz`); the claim is judged from those, with the rules of the other claims
(`paired`): the unit is the question, a question's value its accuracy over its ordered language
pairs (question in X, options in Y ≠ X: its parallel translations) and a method's seeds. Without
the data the report is unchanged and the command says, in one line, why the claim was not run.
"""

from __future__ import annotations

from pathlib import Path

from hybrid_tui.languages import MMMLU
from hybrid_tui.paths import MMMLU_ENV, resolve_mmmlu_root
from hybrid_tui.tracking.per_query import PerQueryResults, QueryResult

CLAIM_ID = "5"
CLAIM = "5. hybrid improves cross-lingual MMLU-by-retrieval accuracy over mono-only"
# (id, claim, challenger, rival, setting, metric, lower is better, query languages), as
# `paired.BETTER_CLAIMS`; the rows are `accuracy_rows`' (a right pick is 1, a wrong one 0).
BETTER_CLAIM = (CLAIM_ID, CLAIM, "hybrid", "mono", "cross", "ap", False, "all")
UNIT_NOTE = (
    f"Claim {CLAIM_ID} asks MMMLU (MMLU's test set translated; answered by retrieval, not "
    "generation): a question's value is 1 where the closest of its four options is the right "
    "one, averaged over its ordered language pairs (question in X, options in Y ≠ X) and a "
    "method's seeds; chance is 0.25."
)


def mmmlu_copy(data_root: str | Path | None = None) -> Path | None:
    """The local MMMLU copy the study would evaluate on (None: the claim is not run; the study
    never fetches MMMLU from the hub for it)."""
    from hybrid_tui.data.mmmlu import mmmlu_folder

    return mmmlu_folder(resolve_mmmlu_root(data_root))


def accuracy_rows(
    results: PerQueryResults, settings: tuple[str, ...] = ("cross",)
) -> PerQueryResults:
    """The rows of `settings` (mono and cross can be) as right (1) or wrong (0): a row's
    reciprocal rank of the right option is 1 exactly when the pick is right, and at most 1/2
    otherwise. (A multi row holds the average precision of the right option's translations in
    the pool, which does not say whether the pick was right.)"""
    return PerQueryResults(
        results.dataset,
        [
            QueryResult(r.setting, r.query_lang, r.pool, r.question_id, float(r.ap > 0.75))
            for r in results.rows
            if r.setting in settings
        ],
    )


def not_run_line(runs_with_results: int, claim_ran: bool, data_root=None) -> str | None:
    """Why claim 5 is not in the report (None when it is): one line for the command to print."""
    if claim_ran:
        return None
    where = f"a copy in <data dir>/{MMMLU}/ or ${MMMLU_ENV}=DIR (test/mmlu_<TAG>.csv files)"
    if runs_with_results == 0 and mmmlu_copy(data_root) is None:
        return f"claim {CLAIM_ID} (MMMLU) not run: no MMMLU data; to run it, give the study {where}"
    if runs_with_results == 0:
        return (
            f"claim {CLAIM_ID} (MMMLU) not run: the study's runs were not evaluated on MMMLU "
            "(trained before the copy was found); train them again under a new --name"
        )
    return (
        f"claim {CLAIM_ID} (MMMLU) not run: hybrid and mono-only runs with MMMLU results "
        "sharing at least two questions are needed"
    )
