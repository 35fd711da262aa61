"""`ChoiceResults`: a run's MMMLU figures (or the differences of two runs) under named fields,
for the outputs read outside a terminal: `show --json`, `compare --json` and the model card.

MMMLU is scored by accuracy, not mAP, so `LanguageTables` (mAP, recall, mean rank) has no field
for it. These fields mirror the metric keys: `mono`, `cross` and `multi` hold accuracy,
`own_share` and `rank_distance` the language-bias figures (`eval/mmmlu/bias/<X>/...`), `avg` the
logged macro averages, `chance` the level each figure compares with (`choice_table`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hybrid_tui.display_text import markdown_cell
from hybrid_tui.languages import MMMLU, metric_dataset_name
from hybrid_tui.metric_keys import parse_eval_key
from hybrid_tui.report.choice_table import chance_levels, choice_languages

# (setting, metric) of each field; `cross` is keyed by "<question language>-<option language>".
CHOICE_FIELDS: dict[str, tuple[str, str]] = {
    "mono": ("mono", "acc"),
    "cross": ("cross", "acc"),
    "multi": ("multi", "acc"),
    "own_share": ("bias", "own_share"),
    "rank_distance": ("bias", "rank_distance"),
}
_BY_KEY = {key: name for name, key in CHOICE_FIELDS.items()}
WHAT = (
    "MMMLU by option retrieval: accuracy of the closest of the four answer options (cross-lingual "
    "alignment on knowledge-heavy text, not reasoning by generation)"
)


@dataclass
class ChoiceResults:
    """One run's MMMLU figures per language and pair (or, `is_delta`, other − base)."""

    dataset: str = MMMLU
    languages: list[str] = field(default_factory=list)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)  # field -> who -> value
    averages: dict[str, float] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    is_delta: bool = False

    @classmethod
    def from_metrics(
        cls, metrics: Mapping[str, float], dataset: str = MMMLU, is_delta: bool = False
    ) -> ChoiceResults:
        """The `eval/mmmlu/...` keys of `metrics`; other keys are ignored."""
        ds = metric_dataset_name(dataset)
        results = cls(ds, choice_languages(metrics, ds), {name: {} for name in CHOICE_FIELDS})
        results.is_delta = is_delta
        results.chance = {} if is_delta else chance_levels(metrics, ds)
        for key, value in metrics.items():
            parsed = parse_eval_key(key)
            if parsed is None or parsed.dataset != ds or not math.isfinite(value):
                continue
            name = _BY_KEY.get((parsed.setting, parsed.metric))
            if name is None:
                continue
            if parsed.is_average:
                results.averages[name] = float(value)
            else:
                results.figures[name]["-".join(parsed.languages)] = float(value)
        return results

    def is_empty(self) -> bool:
        return not self.averages and not any(self.figures.values())

    def to_json(self) -> dict:
        """`{"dataset", "is_delta", "languages", "metric": "accuracy", "mono": {X: v}, "cross":
        {"X-Y": v}, "multi", "own_share", "rank_distance", "avg": {field: v}, "chance"}`."""
        return {
            "dataset": self.dataset,
            "is_delta": self.is_delta,
            "languages": list(self.languages),
            "metric": "accuracy",
            **{name: dict(self.figures.get(name, {})) for name in CHOICE_FIELDS},
            "avg": dict(self.averages),
            "chance": dict(self.chance),
        }


def choice_difference(
    base: Mapping[str, float], other: Mapping[str, float], dataset: str = MMMLU
) -> dict[str, float]:
    """`other − base` on every `eval/<dataset>/...` key both runs logged, under the same keys."""
    ds = metric_dataset_name(dataset)
    return {
        key: float(other[key]) - float(value)
        for key, value in base.items()
        if key in other and (parsed := parse_eval_key(key)) and parsed.dataset == ds
    }


def choice_markdown(results: ChoiceResults, unseen_languages: Iterable[str] = ()) -> str:
    """A markdown table for the model card: a row per question language with mono accuracy,
    cross (mean over the other option languages), multi, own-language share and rank distance;
    then the averages and the chance row."""
    unseen = set(unseen_languages)
    f = results.figures

    def cell(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    rows = [
        "| question language | mono acc | cross acc | multi acc | own-language share | "
        "rank distance |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for x in results.languages:
        cross = [v for who, v in f["cross"].items() if who.split("-", 1)[0] == x]
        figures = [
            cell(f["mono"].get(x)),
            cell(sum(cross) / len(cross) if cross else None),
            cell(f["multi"].get(x)),
            cell(f["own_share"].get(x)),
            cell(f["rank_distance"].get(x), 2),
        ]
        label = markdown_cell(x) + ("*" if x in unseen else "")
        rows.append(f"| {label} | " + " | ".join(figures) + " |")
    a, c = results.averages, results.chance
    names = ("mono", "cross", "multi", "own_share")
    rows.append(
        "| **average** | "
        + " | ".join([*(cell(a.get(n)) for n in names), cell(a.get("rank_distance"), 2)])
        + " |"
    )
    rows.append("| chance | " + " | ".join([*(cell(c.get(n)) for n in names), "-"]) + " |")
    if unseen & set(results.languages):
        rows += ["", "\\* not seen in training"]
    return "\n".join(rows)
