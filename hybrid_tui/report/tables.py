"""`LanguageTables`: one evaluation set's results per language and language pair, as plain dicts.

Built from flat metric keys (`metric_keys.parse_eval_key`) or from the JSON artifact; `compare`
gives the same tables holding signed differences (other − base), which every output accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from hybrid_tui.languages import EVAL_DATASETS, metric_dataset_name
from hybrid_tui.metric_keys import HEADLINE, parse_eval_key

# (setting, metric) of each per-language field; the headline metric of a setting has no suffix.
FIELDS: dict[str, tuple[str, str]] = {
    "mono": ("mono", "map"),
    "cross": ("cross", "map"),
    "multi": ("multi", "map"),
    "bias": ("bias", "rank_distance"),
    "mean_rank": ("bias", "mean_rank"),
    "mono_recall_1": ("mono", "recall_1"),
    "cross_recall_1": ("cross", "recall_1"),
    "multi_recall_10": ("multi", "recall_10"),
}
PAIRED = ("cross", "mean_rank", "cross_recall_1")  # keyed by (query language, pool language)
_BY_KEY = {key: name for name, key in FIELDS.items()}
_HEADLINE_METRIC = {setting: metric for setting, metric in HEADLINE.values()}
_DISPLAY = {"xquad_r": "XQuAD-R", "mlqa_r": "MLQA-R", "mlqa_dev_r": "MLQA-R"}


def display_name(dataset: str) -> str:
    """`xquad_r` (the metric-key name) as papers write it: `XQuAD-R`."""
    return _DISPLAY.get(metric_dataset_name(dataset), dataset)


def canonical_languages(dataset: str) -> tuple[str, ...]:
    for user, (metric, folder, langs) in EVAL_DATASETS.items():
        if dataset in (user, metric, folder, metric_dataset_name(folder)):
            return langs
    return ()


def average_name(setting: str, metric: str) -> str:
    """`mono` for the headline metric of a setting, `mono_recall_1` for another."""
    return setting if _HEADLINE_METRIC.get(setting) == metric else f"{setting}_{metric}"


def average_key(name: str) -> tuple[str, str]:
    """Inverse of `average_name`."""
    setting, _, metric = name.partition("_")
    return setting, metric or _HEADLINE_METRIC[setting]


@dataclass
class LanguageTables:
    """One evaluation set's results (or differences) per language and language pair.

    Values are as logged (mAP and recall in [0, 1], ranks in positions). `cross`, `mean_rank` and
    `cross_recall_1` are keyed `(query language, pool language)`; `bias` is the rank distance per
    query language; `averages` holds the macro averages logged by evaluation, keyed `mono`,
    `cross`, `multi`, `bias` (and `mono_recall_1`, `cross_recall_1`, `multi_recall_10`).
    `languages` is every language present, in the dataset's canonical order.
    """

    dataset: str
    languages: list[str] = field(default_factory=list)
    mono: dict[str, float] = field(default_factory=dict)
    cross: dict[tuple[str, str], float] = field(default_factory=dict)
    multi: dict[str, float] = field(default_factory=dict)
    bias: dict[str, float] = field(default_factory=dict)
    mean_rank: dict[tuple[str, str], float] = field(default_factory=dict)
    mono_recall_1: dict[str, float] = field(default_factory=dict)
    cross_recall_1: dict[tuple[str, str], float] = field(default_factory=dict)
    multi_recall_10: dict[str, float] = field(default_factory=dict)
    averages: dict[str, float] = field(default_factory=dict)
    is_delta: bool = False

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float], dataset: str) -> LanguageTables:
        """The `eval/<ds>/...` keys of `dataset` (`xquad-r` or `xquad_r`); others are ignored."""
        ds = metric_dataset_name(dataset)
        tables = cls(dataset=ds)
        seen: set[str] = set()
        for key, raw in metrics.items():
            parsed = parse_eval_key(key)
            value = float(raw)
            if parsed is None or parsed.dataset != ds or not math.isfinite(value):
                continue
            if parsed.is_average:
                if parsed.setting in _HEADLINE_METRIC:
                    tables.averages[average_name(parsed.setting, parsed.metric)] = value
                continue
            name = _BY_KEY.get((parsed.setting, parsed.metric))
            if name is None or (name in PAIRED) != (parsed.pool is not None):
                continue
            getattr(tables, name)[parsed.languages if name in PAIRED else parsed.query] = value
            seen.update(parsed.languages)
        canonical = canonical_languages(ds)
        tables.languages = [lang for lang in canonical if lang in seen]
        tables.languages += sorted(seen.difference(canonical))
        return tables

    @classmethod
    def from_json(cls, payload: Mapping) -> LanguageTables:
        """Inverse of `report.to_json`."""
        tables = cls(
            dataset=payload.get("dataset", ""),
            languages=list(payload.get("languages", [])),
            is_delta=bool(payload.get("is_delta", False)),
        )
        for name in FIELDS:
            for key, value in (payload.get(name) or {}).items():
                if value is not None:
                    target = tuple(key.split("-", 1)) if name in PAIRED else key
                    getattr(tables, name)[target] = float(value)
        tables.averages = {
            k: float(v) for k, v in (payload.get("avg") or {}).items() if v is not None
        }
        return tables

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in FIELDS) and not self.averages


def compare(base: LanguageTables, other: LanguageTables) -> LanguageTables:
    """Signed differences `other − base` on every value present in both."""
    if base.is_delta or other.is_delta:
        raise ValueError("compare takes two result tables, not differences")
    if base.dataset != other.dataset:
        raise ValueError(f"cannot compare {base.dataset} with {other.dataset}")
    delta = LanguageTables(dataset=base.dataset, is_delta=True)
    for name in (*FIELDS, "averages"):
        mine, theirs = getattr(base, name), getattr(other, name)
        setattr(delta, name, {k: theirs[k] - v for k, v in mine.items() if k in theirs})
    present: set[str] = set()
    for name in FIELDS:
        for key in getattr(delta, name):
            present.update(key if isinstance(key, tuple) else (key,))
    delta.languages = [lang for lang in base.languages if lang in present]
    return delta
