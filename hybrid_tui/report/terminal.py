"""The one renderer of results: `render(tables)` gives the rich tables that the CLI prints and
the app shows (per-language rows, the cross-lingual matrix, the mean-rank matrix), in one unit
(`report.format`) and one colour ramp, so a cell reads the same in the terminal and in the app.
`render_dataset` picks the tables of one eval set of a run: these, or MMMLU's accuracy table
(`choice_table`)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from rich import box
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from hybrid_tui.display_text import plain
from hybrid_tui.languages import unseen_languages as unseen_of
from hybrid_tui.report.choice_results import choice_difference
from hybrid_tui.report.choice_table import (
    choice_languages,
    choice_renderables,
    choice_table,
    difference_summary,
    is_choice_set,
)
from hybrid_tui.report.format import mean, score_text
from hybrid_tui.report.tables import LanguageTables, compare, display_name


@dataclass
class _Grade:
    """Colours for one group of comparable values: a heatmap over their range, or for
    differences green when better and red when worse, stronger with the size."""

    values: list[float]
    is_delta: bool
    lower_is_better: bool = False
    delta_scale: float | None = None  # size of a full-strength difference
    shown_zero: float = 0.0005  # differences smaller than this print as 0.0: left uncoloured

    def style(self, value: float | None) -> Style:
        finite = [v for v in self.values if math.isfinite(v)]
        if value is None or not math.isfinite(value) or not finite:
            return Style(dim=True)
        if self.is_delta:
            better = -value if self.lower_is_better else value
            scale = self.delta_scale or max(5.0, *(abs(v) for v in finite))
            if abs(better) < self.shown_zero:
                return Style()
            level = int(120 + 135 * min(abs(better) / scale, 1.0))
            return Style(color=f"rgb(0,{level},60)" if better > 0 else f"rgb({level},40,40)")
        low, high = min(finite), max(finite)
        t = 0.5 if high - low < 1e-12 else (value - low) / (high - low)
        t = 1.0 - t if self.lower_is_better else t
        return Style(bgcolor=_heat(t), color="black" if t > 0.6 else "white")


def _heat(t: float) -> str:
    """Viridis-like: dark purple (worst) → teal → yellow (best)."""
    stops = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
    pos = max(0.0, min(1.0, t)) * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    frac = pos - i
    r, g, b = (int(a + (c - a) * frac) for a, c in zip(stops[i], stops[i + 1], strict=True))
    return f"rgb({r},{g},{b})"


def _table(title: str, first: str, columns: list[str], caption: str) -> Table:
    """Narrow enough for 80 columns: one space between columns beyond 8 languages, else two."""
    table = Table(
        title=plain(title, style="bold"),  # dataset names come from the store
        caption=caption or None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1) if len(columns) <= 9 else (0, 0),
        title_justify="left",
        caption_justify="left",
        title_style="bold",
        caption_style="dim",
    )
    table.add_column(first, no_wrap=True)
    for column in columns:
        table.add_column(plain(column), justify="right", no_wrap=True)
    return table


def _cell(
    value: float | None, grade: _Grade, rank: bool = False, style: str = "", mark: bool = False
) -> Text:
    text = score_text(value, grade.is_delta, rank) + ("†" if mark and value is not None else "")
    return Text(text, style=style or grade.style(value))


def render(
    tables: LanguageTables,
    unseen_languages: Iterable[str] = (),
    marked: Collection[tuple[str, object]] = (),
) -> list[RenderableType]:
    """Rich tables: per-language rows, the cross-lingual matrix and the per-language mean ranks.

    Languages in `unseen_languages` (never trained on) carry a `*`. Values are mAP × 100 with one
    decimal; rank distance and mean ranks are in positions (lower is better). A cell whose
    `(setting, language or (query, pool) or "avg")` is in `marked` (a significant difference,
    `study.significance`) carries a `†`.
    """
    name = display_name(tables.dataset)
    if tables.is_empty():
        return [plain(f"{name}: no evaluation metrics")]
    delta, langs = tables.is_delta, tables.languages
    unseen = set(unseen_languages) & set(langs)

    def label(lang: str) -> str:
        return f"{lang}*" if lang in unseen else lang

    def note(*parts: str) -> str:
        return "; ".join([*parts, *(["* not seen in training"] if unseen else [])])

    what = "Δ mAP × 100 (other − base)" if delta else "mAP × 100"
    maps = [*tables.mono.values(), *tables.multi.values(), *tables.cross.values()]
    scores = _Grade(maps, delta, delta_scale=0.05)
    out: list[RenderableType] = []
    if tables.mono or tables.multi or tables.bias:
        bias = ["bias: rank distance in the multilingual pool, lower is better"] * bool(tables.bias)
        bias += ["R@k: recall at k (cross: mean over pools)"] * bool(_recall_rows(tables))
        scores_what = what.replace("mAP", "mAP and R@k") if _recall_rows(tables) else what
        rows = _table(
            f"{name}: {scores_what} per query language",
            "setting",
            [*map(label, langs), "avg"],
            note(*bias),
        )
        for setting, values in (("mono", tables.mono), ("multi", tables.multi)):
            if values:
                average = tables.averages.get(setting)
                cells = [_cell(values.get(x), scores, mark=(setting, x) in marked) for x in langs]
                mark = (setting, "avg") in marked
                rows.add_row(setting, *cells, _cell(average, scores, style="bold", mark=mark))
        recalls = _recall_rows(tables)
        recall_grade = _Grade([v for _, row, _ in recalls for v in row.values()], delta)
        for label_, values, average in recalls:
            cells = [_cell(values.get(x), recall_grade) for x in langs]
            rows.add_row(label_, *cells, _cell(average, recall_grade, style="bold"))
        if tables.bias:
            grade = _Grade(list(tables.bias.values()), delta, True, shown_zero=0.05)
            cells = [
                _cell(tables.bias.get(x), grade, rank=True, mark=("bias", x) in marked)
                for x in langs
            ]
            average = tables.averages.get("bias")
            mark = ("bias", "avg") in marked
            rows.add_row("bias", *cells, _cell(average, grade, True, "bold", mark))
        out.append(rows)
    if tables.cross:
        caption = note("rows: query language, columns: pool language; diagonal: monolingual")
        title = f"{name}: cross-lingual {what}"
        cross_marks = {who for setting, who in marked if setting == "cross"}
        out.append(_matrix(tables, tables.cross, title, label, scores, caption, False, cross_marks))
    if tables.mean_rank:
        off_diagonal = [v for (x, y), v in tables.mean_rank.items() if x != y]
        grade = _Grade(off_diagonal, delta, True, shown_zero=0.05)
        title = f"{name}: {'Δ ' if delta else ''}mean rank in the multilingual pool"
        caption = note(
            "rank of the column language's relevant sentence for queries in the row language; "
            "lower is better"
        )
        out.append(_matrix(tables, tables.mean_rank, title, label, grade, caption, rank=True))
    return out


def render_dataset(
    metrics: Mapping[str, float], dataset: str, trained: Iterable[str] = ()
) -> list[RenderableType]:
    """One eval set's tables of a run, as `hybrid-tui show` prints them and Results shows them:
    MMMLU's accuracy table beside chance, else `render`'s; languages outside `trained` (when
    known) marked unseen."""
    if is_choice_set(dataset):
        unseen = unseen_of(trained, choice_languages(metrics, dataset))
        return choice_renderables(metrics, dataset, unseen)
    tables = LanguageTables.from_metrics(metrics, dataset)
    return render(tables, unseen_languages=unseen_of(trained, tables.languages))


def render_difference(
    base: Mapping[str, float],
    other: Mapping[str, float],
    dataset: str,
    trained: Iterable[str] = (),
    marked: Collection[tuple[str, object]] = (),
) -> list[RenderableType]:
    """One eval set's differences of two runs (other − base), as `hybrid-tui compare` prints
    them and the app's Compare shows them: MMMLU's accuracy grid and its averages, else
    `render`'s tables of `compare`; `trained` is the other run's languages, `marked` the
    significant cells."""
    if is_choice_set(dataset):
        delta = choice_difference(base, other, dataset)
        languages = choice_languages(delta, dataset)
        if not languages:
            return [plain("MMMLU: no figure both runs logged")]
        title = "MMMLU by option retrieval: Δ accuracy (other − base)"
        unseen = unseen_of(trained, languages)
        return [
            choice_table(delta, languages, title, dataset, {}, unseen, True, marked),
            plain(difference_summary(delta, dataset, marked)),
        ]
    delta = compare(
        LanguageTables.from_metrics(base, dataset), LanguageTables.from_metrics(other, dataset)
    )
    return render(delta, unseen_languages=unseen_of(trained, delta.languages), marked=marked)


def _matrix(tables, values, title, label, grade, caption, rank: bool, marks=()) -> Table:
    """Rows: query language; columns: pool language, then the row mean; last row: column means.
    For mAP the diagonal shows the monolingual score (dim) and the means skip it."""
    langs = tables.languages
    table = _table(title, "q\\pool", [*(label(y) for y in langs), "avg"], caption)

    def mean_of(keys) -> float | None:
        return mean(values[key] for key in keys if key in values and (rank or key[0] != key[1]))

    for x in langs:
        cells = [
            _cell(tables.mono.get(x), grade, style="dim italic")
            if x == y and not rank
            else _cell(values.get((x, y)), grade, rank, mark=(x, y) in marks)
            for y in langs
        ]
        row_mean = mean_of((x, y) for y in langs)
        table.add_row(plain(label(x)), *cells, _cell(row_mean, grade, rank, style="bold"))
    overall = None if rank else tables.averages.get("cross")
    overall = mean_of(values) if overall is None else overall
    table.add_section()
    table.add_row(
        "avg",
        *(_cell(mean_of((x, y) for x in langs), grade, rank, style="bold") for y in langs),
        _cell(overall, grade, rank, style="bold"),
    )
    return table


def _recall_rows(tables: LanguageTables) -> list[tuple[str, dict[str, float], float | None]]:
    """(label, per query language, average) of each recall the evaluation logged."""
    cross: dict[str, float] = {}
    for x in tables.languages:
        row = mean(v for (q, pool), v in tables.cross_recall_1.items() if q == x and pool != x)
        if row is not None:
            cross[x] = row
    rows = [
        ("mono R@1", tables.mono_recall_1, tables.averages.get("mono_recall_1")),
        ("cross R@1", cross, tables.averages.get("cross_recall_1")),
        ("multi R@10", tables.multi_recall_10, tables.averages.get("multi_recall_10")),
    ]
    return [row for row in rows if row[1]]
