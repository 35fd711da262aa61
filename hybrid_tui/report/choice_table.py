"""The MMMLU-by-retrieval table: accuracy of the picked option, question language by option
language, with the multilingual pool, the language-bias figures and chance beside them.

XQuAD-R's tables are mAP and mean-rank shaped; this one is accuracy, so it is its own small
table: rows are question languages, columns the option language (the diagonal is mono), then
multi, own-language share of picks and rank distance. `summary` is the line of macro averages
beside their chance levels.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from hybrid_tui.display_text import plain
from hybrid_tui.metric_keys import AVERAGE, eval_key


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def choice_table(
    metrics: Mapping[str, float],
    languages: list[str],
    title: str,
    dataset: str = "mmmlu",
) -> Table:
    """Rows: question language X and `avg`; columns: options in Y (X = Y is mono), multi, own
    share of the multi picks, rank distance."""
    table = Table(title=plain(title))
    table.add_column("question \\ options", justify="left")
    for lang in languages:
        table.add_column(plain(lang), justify="right")
    for column in ("multi", "own share", "rank dist."):
        table.add_column(column, justify="right")

    def get(setting: str, who, metric: str) -> float | None:
        return metrics.get(eval_key(dataset, setting, who, metric))

    for x in languages:
        grid = [get("mono", x, "acc") if x == y else get("cross", (x, y), "acc") for y in languages]
        bias = [
            get("multi", x, "acc"),
            get("bias", x, "own_share"),
            get("bias", x, "rank_distance"),
        ]
        table.add_row(plain(x), *(_cell(v) for v in [*grid, *bias]))
    return table


def summary(
    metrics: Mapping[str, float], chance: Mapping[str, float], dataset: str = "mmmlu"
) -> str:
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
