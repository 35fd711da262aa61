"""Per-language result tables of one evaluation set: read from flat metric keys, shown three ways.

`tables.LanguageTables` gathers the `eval/<ds>/...` keys; `terminal.render` turns them into the
rich tables both the CLI and the app show (`render_dataset` picks them, or MMMLU's accuracy
table from `choice_table`, for one eval set of a run; `render_difference` two runs' differences);
`export` into JSON (`dataset_json`, `difference_json`; MMMLU's fields from `choice_results`), CSV
and markdown; `heatmap` into a PNG of the cross-lingual matrix. `format` is the one way a figure
is written (mAP × 100).
"""

from hybrid_tui.metric_keys import datasets_in
from hybrid_tui.report.choice_table import is_choice_set
from hybrid_tui.report.export import (
    dataset_json,
    difference,
    difference_json,
    to_csv,
    to_json,
    to_markdown,
)
from hybrid_tui.report.format import MISSING, score_text
from hybrid_tui.report.heatmap import heatmap_png
from hybrid_tui.report.tables import LanguageTables, compare, display_name
from hybrid_tui.report.terminal import render, render_dataset, render_difference

__all__ = [
    "MISSING",
    "LanguageTables",
    "compare",
    "dataset_json",
    "datasets_in",
    "difference",
    "difference_json",
    "display_name",
    "heatmap_png",
    "is_choice_set",
    "render",
    "render_dataset",
    "render_difference",
    "score_text",
    "to_csv",
    "to_json",
    "to_markdown",
]
