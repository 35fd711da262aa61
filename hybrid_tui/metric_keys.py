"""The metric-key scheme, built and parsed in one place.

Evaluation keys are `eval/<dataset>/<setting>/<langs>/<metric>`: `<dataset>` is the metric-key
name of an eval set (`xquad_r`), `<setting>` one of mono, cross, multi, bias, `<langs>` a query
language (`de`), an ordered pair (`de-zh`: query de, pool zh) or `avg`, and `<metric>` map,
recall_1, recall_10, rank_distance or mean_rank (MIRACL, mono only: ndcg_10, recall_100; MMMLU:
acc for mono, cross and multi, and own_share and rank_distance under bias). Training keys are `train/loss`, `train/lr`,
`train/pairs_per_s` and `train/batch_kind/<kind>`. System keys, logged about every 10 s while a
run trains on GPUs, are `system/gpu_<i>_util` (%) and `system/gpu_<i>_memory_mb` (MiB used), with
`<i>` the GPU's NVML (nvidia-smi) index. Stdlib only: the CLI and the TUI parse keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hybrid_tui.languages import EVAL_DATASETS, metric_dataset_name

SETTINGS = ("mono", "cross", "multi", "bias")
AVERAGE = "avg"
TRAIN_LOSS, TRAIN_LR, TRAIN_PAIRS_PER_S = "train/loss", "train/lr", "train/pairs_per_s"
TRAIN_HARD_NEGATIVES = "train/hard_negatives"  # hard negatives the step's global batch scored
# The four figures a run is summed up by: (setting, metric) of the macro averages.
HEADLINE = {
    "mono": ("mono", "map"),
    "cross": ("cross", "map"),
    "multi": ("multi", "map"),
    "bias": ("bias", "rank_distance"),
}
PREFERRED_DATASET = "xquad_r"


@dataclass(frozen=True)
class EvalKey:
    """One evaluation key, taken apart. `query`/`pool` are set for a language (`pool` is None)
    or a pair; both None for the `avg` macro average."""

    dataset: str
    setting: str
    query: str | None
    pool: str | None
    metric: str

    @property
    def is_average(self) -> bool:
        return self.query is None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in (self.query, self.pool) if lang)


def eval_key(dataset: str, setting: str, langs: str | tuple[str, str], metric: str) -> str:
    """`eval_key("xquad-r", "cross", ("de", "zh"), "map")` -> `eval/xquad_r/cross/de-zh/map`."""
    who = "-".join(langs) if isinstance(langs, tuple) else langs
    return f"eval/{metric_dataset_name(dataset)}/{setting}/{who}/{metric}"


def eval_prefix(dataset: str) -> str:
    """`eval/xquad_r` for `xquad-r` or `xquad_r`: what every key of that eval set starts with."""
    return f"eval/{metric_dataset_name(dataset)}"


def parse_eval_key(key: str) -> EvalKey | None:
    """The parts of an evaluation key; None for anything else (training keys, malformed)."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != "eval" or parts[2] not in SETTINGS:
        return None
    _, dataset, setting, who, metric = parts
    if who == AVERAGE:
        return EvalKey(dataset, setting, None, None, metric)
    query, sep, pool = who.partition("-")
    if not query or (sep and not pool):
        return None
    return EvalKey(dataset, setting, query, pool or None, metric)


def datasets_in(metrics: Iterable[str]) -> list[str]:
    """Metric-key names of the eval sets present: the known ones first, in their order."""
    found = {parsed.dataset for key in metrics if (parsed := parse_eval_key(key))}
    known = [metric for metric, _, _ in EVAL_DATASETS.values() if metric in found]
    return known + sorted(found.difference(known))


def headline_dataset(metrics: Iterable[str]) -> str | None:
    """The eval set the headline figures come from: XQuAD-R when present, else the first one."""
    present = datasets_in(metrics)
    if not present:
        return None
    return PREFERRED_DATASET if PREFERRED_DATASET in present else present[0]


def best_multi_key(metrics: Iterable[str]) -> str | None:
    """The key whose best value over the run's history is the run list's "best" column: the
    headline set's multilingual mAP averaged over languages."""
    dataset = headline_dataset(metrics)
    return None if dataset is None else eval_key(dataset, "multi", AVERAGE, "map")


def headline(metrics: Mapping[str, float], dataset: str | None = None) -> dict[str, float]:
    """`{"mono", "cross", "multi", "bias"}`: the macro averages of `dataset`, by default XQuAD-R
    when present, else the first eval set; keys whose metric is missing are left out."""
    if dataset is None:
        dataset = headline_dataset(metrics)
        if dataset is None:
            return {}
    found = {
        name: metrics.get(eval_key(dataset, setting, AVERAGE, metric))
        for name, (setting, metric) in HEADLINE.items()
    }
    return {name: value for name, value in found.items() if value is not None}


def batch_kind_key(kind: str) -> str:
    """`train/batch_kind/mono`: how many batches of a kind the run has drawn so far."""
    return f"train/batch_kind/{kind}"


def batch_source_key(source: str) -> str:
    """`train/batch_source/<dataset>`: how many batches came from a dataset so far (several-
    dataset recipes)."""
    return f"train/batch_source/{source}"


SYSTEM_GPU_METRICS = ("util", "memory_mb")


def system_gpu_key(index: int, what: str) -> str:
    """`system/gpu_2_util`: one GPU's load (`what`: util in %, memory_mb in MiB used)."""
    if what not in SYSTEM_GPU_METRICS:
        raise ValueError(f"unknown GPU metric {what!r}; one of {SYSTEM_GPU_METRICS}")
    return f"system/gpu_{index}_{what}"
