"""Results outside the terminal: JSON and long-format CSV artifacts, and a markdown table for
model cards and reports, all from one `LanguageTables`."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping

from hybrid_tui.display_text import markdown_cell
from hybrid_tui.report.choice_results import ChoiceResults, choice_difference
from hybrid_tui.report.choice_table import is_choice_set
from hybrid_tui.report.format import mean, score_text
from hybrid_tui.report.tables import FIELDS, LanguageTables, average_key, compare


def to_json(tables: LanguageTables) -> dict:
    """`{"mono": {X: v}, "cross": {"X-Y": v}, "multi", "bias", "mean_rank", recalls, "avg"}`."""

    def clean(value: float) -> float | None:
        return value if math.isfinite(value) else None

    out: dict = {"dataset": tables.dataset, "is_delta": tables.is_delta}
    out["languages"] = list(tables.languages)
    for name in FIELDS:
        values = getattr(tables, name)
        out[name] = {
            ("-".join(key) if isinstance(key, tuple) else key): clean(value)
            for key, value in values.items()
        }
    out["avg"] = {key: clean(value) for key, value in tables.averages.items()}
    return out


def dataset_json(metrics: Mapping[str, float], dataset: str) -> dict:
    """One eval set of a run as `show --json` gives it: MMMLU's accuracy fields
    (`ChoiceResults`), else the `LanguageTables` fields."""
    if is_choice_set(dataset):
        return ChoiceResults.from_metrics(metrics, dataset).to_json()
    return to_json(LanguageTables.from_metrics(metrics, dataset))


def difference(
    base: Mapping[str, float], other: Mapping[str, float], dataset: str
) -> LanguageTables | ChoiceResults:
    """One eval set's differences other − base: MMMLU's `ChoiceResults`, else `compare`'s
    `LanguageTables`."""
    if is_choice_set(dataset):
        delta = choice_difference(base, other, dataset)
        return ChoiceResults.from_metrics(delta, dataset, is_delta=True)
    return compare(
        LanguageTables.from_metrics(base, dataset), LanguageTables.from_metrics(other, dataset)
    )


def difference_json(base: Mapping[str, float], other: Mapping[str, float], dataset: str) -> dict:
    """One eval set's differences other − base as `compare --json` gives them, in the fields
    `dataset_json` uses."""
    delta = difference(base, other, dataset)
    return delta.to_json() if isinstance(delta, ChoiceResults) else to_json(delta)


def to_csv(tables: LanguageTables) -> str:
    """Long format: `setting,query_lang,pool_lang,metric,value`; the multilingual pool is `all`,
    averages have query_lang `avg`; metrics are prefixed `delta_` for differences."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", "query_lang", "pool_lang", "metric", "value"])
    prefix = "delta_" if tables.is_delta else ""
    for name, (setting, metric) in FIELDS.items():
        for key, value in getattr(tables, name).items():
            query, pool = (
                key if isinstance(key, tuple) else (key, key if setting == "mono" else "all")
            )
            writer.writerow([setting, query, pool, prefix + metric, repr(value)])
    for name, value in tables.averages.items():
        setting, metric = average_key(name)
        pool = "avg" if setting in ("mono", "cross") else "all"
        writer.writerow([setting, "avg", pool, prefix + metric, repr(value)])
    return buffer.getvalue()


def to_markdown(tables: LanguageTables, unseen_languages: Iterable[str] = ()) -> str:
    """One markdown table, a row per query language: mono, cross (mean over the other pools),
    multi (mAP × 100) and the rank distance; the last row holds the logged averages. For model
    cards and reports that are read outside a terminal."""
    unseen = set(unseen_languages)
    rows = [
        "| query language | mono mAP | cross mAP | multi mAP | rank distance |",
        "|---|---:|---:|---:|---:|",
    ]

    def score(value: float | None, rank: bool = False) -> str:
        return score_text(value, tables.is_delta, rank)

    for x in tables.languages:
        cross = mean(v for (q, pool), v in tables.cross.items() if q == x and pool != x)
        cells = [
            score(tables.mono.get(x)),
            score(cross),
            score(tables.multi.get(x)),
            score(tables.bias.get(x), rank=True),
        ]
        label = markdown_cell(x) + ("*" if x in unseen else "")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    averages = tables.averages
    cells = [score(averages.get(name)) for name in ("mono", "cross", "multi")]
    cells.append(score(averages.get("bias"), rank=True))
    rows.append("| **average** | " + " | ".join(cells) + " |")
    if unseen & set(tables.languages):
        rows.append("")
        rows.append("\\* not seen in training")
    return "\n".join(rows)
