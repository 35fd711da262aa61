"""MMMLU by retrieval: pick the answer option closest to the question, in every language setting.

A retriever cannot answer MMLU by generating; it can score the four options against the question
and pick the best. Doing that with the question in language X and the options in Y measures how
well knowledge-heavy text is aligned across languages. Each language's questions and options are
encoded once (questions as queries, options as passages); every setting comes from those rows:

- mono: question and options in X; cross: question in X, options in Y (every ordered pair);
- multi: the four options of every language pooled (4 x L candidates); the pick is right when it
  is the right option in any language, so chance stays 1/4;
- bias (with multi): the share of picks in the question's own language against its share of the
  pool (1/L), and the rank distance of the right option's L translations in the pooled ranking
  (worst minus best rank, as for XQuAD-R).

Ties go to the first candidate: languages in the set's order, options A to D.

Metric keys: `eval/mmmlu/{mono/<X>,cross/<X>-<Y>,multi/<X>}/acc`, `eval/mmmlu/bias/<X>/own_share`,
`eval/mmmlu/bias/<X>/rank_distance`, and each with `avg` (macro mean over languages or pairs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybrid_tui.data.mmmlu import MultipleChoiceSet
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation import metrics as ranking
from hybrid_tui.languages import MMMLU_OPTIONS
from hybrid_tui.metric_keys import AVERAGE, eval_key
from hybrid_tui.progress import ProgressFn
from hybrid_tui.tracking.per_query import MULTI_POOL, PerQueryResults

SETTINGS: tuple[str, ...] = ("mono", "cross", "multi")
N_OPTIONS = MMMLU_OPTIONS
CHANCE = 1 / N_OPTIONS  # one right option of four; in the pool, L right of 4L


@dataclass
class ChoiceResult:
    """Metrics in the key scheme, plus what a key cannot hold: per-subject accuracy and chance."""

    metrics: dict[str, float]
    subjects: dict[str, dict[str, float]] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)


def _first_best(scores: np.ndarray) -> np.ndarray:
    return np.argmax(scores, axis=-1)  # argmax keeps the first of equal scores


def _rank_of(scores: np.ndarray, column: np.ndarray) -> np.ndarray:
    """1-based rank of `column` per row, ties broken the way `_first_best` picks."""
    target = np.take_along_axis(scores, column[:, None], axis=1)
    before = np.arange(scores.shape[1])[None, :] < column[:, None]
    ahead = (scores > target) | ((scores == target) & before)
    return 1 + ahead.sum(axis=1)


def _check(items: MultipleChoiceSet, questions: dict, options: dict, settings) -> tuple:
    chosen = tuple(dict.fromkeys(settings))
    if not chosen or any(name not in SETTINGS for name in chosen):
        raise HybridTuiError(f"settings {', '.join(chosen) or '(none)'}: use mono, cross, multi")
    n = len(items.items[items.languages[0]])
    for lang in items.languages:
        if questions[lang].shape[0] != n or options[lang].shape[:2] != (n, N_OPTIONS):
            raise ValueError(f"{lang}: embeddings do not match the items' rows")
    return chosen


def evaluate_choice_embeddings(
    items: MultipleChoiceSet,
    question_emb: dict[str, np.ndarray],
    option_emb: dict[str, np.ndarray],
    settings: Iterable[str] = SETTINGS,
    per_query: PerQueryResults | None = None,
) -> ChoiceResult:
    """Score every setting from embeddings: `question_emb[X]` is `(n, d)`, `option_emb[Y]`
    `(n, 4, d)`, rows in the items' order. Scores are dot products (pass normalised rows)."""
    chosen = _check(items, question_emb, option_emb, settings)
    langs = items.languages
    ds = items.name
    answers = np.array([item.answer for item in items.items[langs[0]]])
    ids = np.array([str(item.row) for item in items.items[langs[0]]], dtype=object)
    subjects = np.array(items.subjects, dtype=object)
    needed = {True: {"mono", "multi"} & set(chosen), False: {"cross", "multi"} & set(chosen)}
    scores = {
        (x, y): np.einsum("nd,nkd->nk", question_emb[x], option_emb[y])
        for x in langs
        for y in langs
        if needed[x == y]
    }
    out: dict[str, float] = {}
    correct: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    for x in langs:
        for y in langs:
            setting = "mono" if x == y else "cross"
            if setting not in chosen:
                continue
            right = _first_best(scores[x, y]) == answers
            out[eval_key(ds, setting, x if x == y else (x, y), "acc")] = float(right.mean())
            correct[setting].append(right)
            if per_query is not None:
                rr = 1.0 / _rank_of(scores[x, y], answers)
                per_query.add(setting, x, y, ids, rr)
        if "multi" in chosen:
            pooled = np.concatenate([scores[x, y] for y in langs], axis=1)
            pick = _first_best(pooled)
            right = pick % N_OPTIONS == answers
            out[eval_key(ds, "multi", x, "acc")] = float(right.mean())
            correct["multi"].append(right)
            own = langs.index(x)
            out[eval_key(ds, "bias", x, "own_share")] = float((pick // N_OPTIONS == own).mean())
            ranks = np.stack(
                [_rank_of(pooled, j * N_OPTIONS + answers) for j in range(len(langs))], axis=1
            )
            distances = ranking.rank_distance(ranks)
            if np.isfinite(distances).any():
                out[eval_key(ds, "bias", x, "rank_distance")] = float(np.nanmean(distances))
            if per_query is not None:
                ap = ranking.average_precision_from_ranks(ranks)
                per_query.add("multi", x, MULTI_POOL, ids, ap, distances)
    for setting, rights in correct.items():
        if rights:
            out[eval_key(ds, setting, AVERAGE, "acc")] = float(np.mean([r.mean() for r in rights]))
    if "multi" in chosen:
        for metric in ("own_share", "rank_distance"):
            found = [v for k, v in out.items() if k.endswith(f"/{metric}")]
            if found:
                out[eval_key(ds, "bias", AVERAGE, metric)] = float(np.mean(found))
    return ChoiceResult(out, _by_subject(subjects, correct), _chance(chosen, len(langs)))


def _by_subject(subjects: np.ndarray, correct: dict[str, list[np.ndarray]]) -> dict:
    """Per subject: its question count and each setting's accuracy (mean over languages/pairs)."""
    found: dict[str, dict[str, float]] = {}
    for subject in sorted(set(subjects)):
        rows = subjects == subject
        found[subject] = {"questions": int(rows.sum())}
        for setting, rights in correct.items():
            if rights:
                found[subject][setting] = float(np.mean([r[rows].mean() for r in rights]))
    return found


def _chance(chosen: tuple[str, ...], n_langs: int) -> dict[str, float]:
    chance = {setting: CHANCE for setting in chosen}
    if "multi" in chosen:
        chance["own_share"] = 1 / n_langs  # the question's language's share of the pool
    return chance


def evaluate_mmmlu(
    encoder: Any,
    items: MultipleChoiceSet,
    settings: Iterable[str] = SETTINGS,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    per_query: PerQueryResults | None = None,
) -> ChoiceResult:
    """Encode each language's questions and options once, then `evaluate_choice_embeddings`.

    `encoder` offers `encode(texts, kind, batch_size=..., progress=...)` (a `BiEncoder`)."""
    questions: dict[str, np.ndarray] = {}
    options: dict[str, np.ndarray] = {}
    description = "Encoding MMMLU"
    for done, lang in enumerate(items.languages):
        if progress is not None:
            progress(description, done, len(items.languages))
        rows = items.items[lang]
        questions[lang] = np.asarray(
            encoder.encode([i.question for i in rows], "query", batch_size=batch_size),
            dtype=np.float32,
        )
        flat = encoder.encode(
            [option for i in rows for option in i.options], "passage", batch_size=batch_size
        )
        options[lang] = np.asarray(flat, dtype=np.float32).reshape(len(rows), N_OPTIONS, -1)
    if progress is not None:
        progress(description, len(items.languages), len(items.languages))
    return evaluate_choice_embeddings(items, questions, options, settings, per_query)
