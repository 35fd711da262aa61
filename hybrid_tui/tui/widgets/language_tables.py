"""Per-language results as tables: mono / multilingual / bias rows and the cross-lingual matrix
(query language × pool language) coloured as a heatmap; deltas coloured by sign.

It only lays out a `report.LanguageTables`; every number comes from `report`.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

AVG = "avg"


def heat_style(value: float | None, is_delta: bool, lower_is_better: bool = False) -> Style:
    """Heatmap background for a score in [0, 1]; for deltas, green when better, red when worse."""
    if value is None:
        return Style(dim=True)
    if is_delta:
        better = -value if lower_is_better else value
        strength = min(abs(better) / (5.0 if lower_is_better else 0.1), 1.0)
        if abs(better) < 1e-12:
            return Style()
        level = int(60 + 140 * strength)
        color = f"rgb(0,{level},40)" if better > 0 else f"rgb({level},20,20)"
        return Style(bgcolor=color, color="white")
    if lower_is_better:
        return Style()
    clipped = max(0.0, min(1.0, value))
    # dark blue (0) → teal → yellow (1): readable with white text until the bright end
    red = int(30 + 200 * clipped**2)
    green = int(40 + 170 * clipped)
    blue = int(110 - 80 * clipped)
    return Style(bgcolor=f"rgb({red},{green},{blue})", color="black" if clipped > 0.7 else "white")


def cell(value: float | None, is_delta: bool, digits: int = 3, lower_is_better: bool = False):
    if value is None:
        return Text("–", style="dim", justify="right")
    text = f"{value:+.{digits}f}" if is_delta else f"{value:.{digits}f}"
    return Text(text, style=heat_style(value, is_delta, lower_is_better), justify="right")


def dataset_label(dataset: str) -> str:
    """`xquad_r` (the metric-key name) as users know it: `xquad-r`."""
    from hybrid_tui.languages import EVAL_DATASETS

    for name, (metric_name, _folder, _languages) in EVAL_DATASETS.items():
        if metric_name == dataset:
            return name
    return dataset


def _lang_label(lang: str, unseen: set[str]) -> str:
    return f"{lang}*" if lang in unseen else lang


def _averages(tables: Any) -> dict[str, float | None]:
    averages = getattr(tables, "averages", None) or {}
    return dict(averages) if isinstance(averages, dict) else {}


class LanguageTablesView(Vertical):
    """The tables of one dataset of one run (or one delta between two runs)."""

    def __init__(
        self, tables: Any, unseen: tuple[str, ...] | list[str] = (), title: str = ""
    ) -> None:
        super().__init__(classes="language-tables")
        self.tables = tables
        self.unseen = set(unseen)
        self.title = title

    def compose(self) -> ComposeResult:
        tables, unseen = self.tables, self.unseen
        is_delta = bool(getattr(tables, "is_delta", False))
        languages = list(getattr(tables, "languages", []) or [])
        averages = _averages(tables)
        kind = "Δ mAP (other − base)" if is_delta else "mAP"
        title = self.title or dataset_label(tables.dataset)
        yield Static(f"[b]{title}[/b]  {kind}", classes="tables-title")

        rows = DataTable(classes="settings-table", cursor_type="none", zebra_stripes=False)
        rows.add_column("setting", key="setting")
        for lang in languages:
            rows.add_column(_lang_label(lang, unseen), key=lang)
        rows.add_column(AVG, key=AVG)
        for setting, values, label in (
            ("mono", getattr(tables, "mono", {}) or {}, "mono"),
            ("multi", getattr(tables, "multi", {}) or {}, "multilingual"),
        ):
            if not values:
                continue
            rows.add_row(
                label,
                *(cell(values.get(lang), is_delta) for lang in languages),
                cell(averages.get(setting), is_delta),
                key=setting,
            )
        bias = getattr(tables, "bias", {}) or {}
        if bias:
            rows.add_row(
                "bias (rank dist.)",
                *(cell(bias.get(lang), is_delta, 1, lower_is_better=True) for lang in languages),
                cell(averages.get("bias"), is_delta, 1, lower_is_better=True),
                key="bias",
            )
        yield rows

        cross = getattr(tables, "cross", {}) or {}
        if cross:
            queries = [lang for lang in languages if any((lang, y) in cross for y in languages)]
            pools = [lang for lang in languages if any((x, lang) in cross for x in languages)]
            yield Static(
                "cross-lingual: query language ↓ × pool language →"
                + (
                    f"   avg {_fmt(averages.get('cross'), is_delta)}" if "cross" in averages else ""
                ),
                classes="tables-caption",
            )
            matrix = DataTable(classes="cross-table", cursor_type="none")
            matrix.add_column("query \\ pool", key="query")
            for pool in pools:
                matrix.add_column(_lang_label(pool, unseen), key=pool)
            for query in queries:
                matrix.add_row(
                    _lang_label(query, unseen),
                    *(cell(cross.get((query, pool)), is_delta) for pool in pools),
                    key=query,
                )
            yield matrix
        if unseen & set(languages):
            yield Static(
                "* never trained on: " + ", ".join(lang for lang in languages if lang in unseen),
                classes="tables-caption",
            )


def _fmt(value: float | None, is_delta: bool) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if is_delta else f"{value:.3f}"
