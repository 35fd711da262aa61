"""The MMMLU-by-retrieval table: accuracy of the picked option, question language by option
language, with the multilingual pool, the language-bias figures and chance beside them.

XQuAD-R's tables are mAP and mean-rank shaped; this one is accuracy, so it is its own small
table: rows are question languages, columns the option language (the diagonal is mono), then
multi, own-language share of picks and rank distance; its last row is each column's chance
level. `summary` is the line of macro averages beside their chance levels. `choice_renderables`
is what `hybrid-tui show` prints and the app's Results shows for a run's `eval/mmmlu/...` keys,
and `hybrid-tui eval --dataset mmmlu` prints the same table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hybrid_tui.display_text import plain
from hybrid_tui.languages import MMMLU, MMMLU_LANGUAGES, MMMLU_OPTIONS, metric_dataset_name
from hybrid_tui.metric_keys import AVERAGE, eval_key, parse_eval_key

CHANCE = 1 / MMMLU_OPTIONS  # mono, cross and multi alike: in the pool, L right options of 4L


def is_choice_set(dataset: str) -> bool:
    """Whether `dataset` (user or metric-key name) is scored by option accuracy (MMMLU)."""
    return metric_dataset_name(dataset) == MMMLU


def choice_languages(metrics: Iterable[str], dataset: str = MMMLU) -> list[str]:
    """The languages present in a run's keys of `dataset`, in MMMLU's order."""
    found = {
        lang
        for key in metrics
        if (parsed := parse_eval_key(key)) and parsed.dataset == metric_dataset_name(dataset)
        for lang in parsed.languages
    }
    return [lang for lang in MMMLU_LANGUAGES if lang in found] + sorted(
        found.difference(MMMLU_LANGUAGES)
    )


def chance_levels(metrics: Mapping[str, float], dataset: str = MMMLU) -> dict[str, float]:
    """Chance for each setting the keys hold (one in four), and the question language's share
    of the multilingual pool (1/L) beside the own-language share: what `evaluate_mmmlu`
    reports as its `chance`, recovered from the logged keys."""
    settings = {
        parsed.setting
        for key in metrics
        if (parsed := parse_eval_key(key)) and parsed.dataset == metric_dataset_name(dataset)
    }
    chance = {s: CHANCE for s in ("mono", "cross", "multi") if s in settings}
    languages = choice_languages(metrics, dataset)
    if "bias" in settings and languages:
        chance["own_share"] = 1 / len(languages)
    return chance


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _delta_cell(value: float | None, lower_is_better: bool | None = False) -> Text | str:
    """A signed difference, green when the other run is better (higher accuracy, lower rank
    distance), red when worse; the own-language share is neither (`lower_is_better` None)."""
    if value is None:
        return "-"
    text = f"{value:+.3f}"
    better = -value if lower_is_better else value
    if lower_is_better is None or abs(value) < 0.0005:
        return Text(text)
    return Text(text, style="green" if better > 0 else "red")


def choice_table(
    metrics: Mapping[str, float],
    languages: list[str],
    title: str,
    dataset: str = MMMLU,
    chance: Mapping[str, float] | None = None,
    unseen_languages: Iterable[str] = (),
    is_delta: bool = False,
    marked: Collection[tuple[str, object]] = (),
) -> Table:
    """Rows: question language X, then `chance`; columns: options in Y (X = Y is mono), multi,
    own share of the multi picks, rank distance. Languages in `unseen_languages` carry a `*`.

    With `is_delta` the values are differences of two runs (`choice_difference`): signed, green
    where the other run is better, red where worse, and no chance row. A cell whose `(setting,
    language or (question, option) pair)` is in `marked` (significant, `study.significance`)
    carries a `†`."""
    chance = chance_levels(metrics, dataset) if chance is None else chance
    unseen = set(unseen_languages) & set(languages)
    cell = _delta_cell if is_delta else (lambda value, lower_is_better=False: _cell(value))

    def label(lang: str) -> str:
        return f"{lang}*" if lang in unseen else lang

    table = Table(
        title=plain(title),
        caption="* not seen in training" if unseen else None,
        caption_justify="left",
    )
    table.add_column("question \\ options", justify="left")
    for lang in languages:
        table.add_column(plain(label(lang)), justify="right")
    for column in ("multi", "own share", "rank dist."):
        table.add_column(column, justify="right")

    def get(setting: str, who, metric: str) -> float | None:
        return metrics.get(eval_key(dataset, setting, who, metric))

    def mark(text: Text | str, setting: str, who: object) -> Text | str:
        return text + "†" if (setting, who) in marked and text != "-" else text

    for x in languages:
        grid = [
            mark(cell(get("mono", x, "acc")), "mono", x)
            if x == y
            else mark(cell(get("cross", (x, y), "acc")), "cross", (x, y))
            for y in languages
        ]
        bias = [
            cell(get("multi", x, "acc")),
            cell(get("bias", x, "own_share"), None),
            cell(get("bias", x, "rank_distance"), True),
        ]
        table.add_row(plain(label(x)), *grid, *bias)
    if is_delta:
        return table
    column_chance = chance.get("cross", chance.get("mono"))  # both one in four
    table.add_section()
    table.add_row(
        "chance",
        *(_cell(column_chance) for _ in languages),
        _cell(chance.get("multi")),
        _cell(chance.get("own_share")),
        "-",
        style="dim",
    )
    return table


def summary(metrics: Mapping[str, float], chance: Mapping[str, float], dataset: str = MMMLU) -> str:
    """`averages: mono 0.412 (chance 0.250), ...`: each macro average beside its chance level."""
    parts = []
    for setting in ("mono", "cross", "multi"):
        value = metrics.get(eval_key(dataset, setting, AVERAGE, "acc"))
        if value is not None:
            parts.append(f"{setting} {_cell(value)} (chance {_cell(chance.get(setting))})")
    share = metrics.get(eval_key(dataset, "bias", AVERAGE, "own_share"))
    if share is not None:
        parts.append(
            f"own-language share of multi picks {_cell(share)} (its pool share "
            f"{_cell(chance.get('own_share'))})"
        )
    distance = metrics.get(eval_key(dataset, "bias", AVERAGE, "rank_distance"))
    if distance is not None:
        parts.append(f"rank distance {distance:.2f} (0: translations ranked together)")
    return "averages: " + "; ".join(parts)


def difference_summary(
    delta: Mapping[str, float],
    dataset: str = MMMLU,
    marked: Collection[tuple[str, object]] = (),
) -> str:
    """`differences of the averages (other − base): mono +0.012; cross +0.030†; ...`."""
    names = {
        ("mono", "acc"): "mono",
        ("cross", "acc"): "cross",
        ("multi", "acc"): "multi",
        ("bias", "own_share"): "own-language share of multi picks",
    }
    parts = []
    for (setting, metric), name in names.items():
        value = delta.get(eval_key(dataset, setting, AVERAGE, metric))
        if value is not None:
            sign = "†" if (setting, AVERAGE) in marked and metric == "acc" else ""
            parts.append(f"{name} {value:+.3f}{sign}")
    distance = delta.get(eval_key(dataset, "bias", AVERAGE, "rank_distance"))
    if distance is not None:
        parts.append(f"rank distance {distance:+.2f}")
    if not parts:
        return "MMMLU: no figure both runs logged"
    return "differences of the averages (other − base): " + "; ".join(parts)


def choice_renderables(
    metrics: Mapping[str, float], dataset: str = MMMLU, unseen_languages: Iterable[str] = ()
) -> list[RenderableType]:
    """A run's MMMLU results as `show` prints them and Results shows them: the accuracy table
    (chance as its last row) and the averages beside chance."""
    languages = choice_languages(metrics, dataset)
    if not languages:
        return [plain("MMMLU: no evaluation metrics")]
    chance = chance_levels(metrics, dataset)
    title = "MMMLU by option retrieval: accuracy (question language x option language)"
    return [
        choice_table(metrics, languages, title, dataset, chance, unseen_languages),
        plain(summary(metrics, chance, dataset)),
    ]
