"""Per-language result tables of one evaluation set: read from flat metric keys, shown three ways.

`LanguageTables.from_metrics` gathers the `eval/<ds>/...` keys that `evaluate.py` writes into
plain dicts (the TUI draws them directly); `render` turns them into rich tables (monolingual,
multilingual and bias rows, the cross-lingual matrix, the per-language mean ranks), `to_csv` /
`to_json` into artifacts, `heatmap_png` into a picture of the cross-lingual matrix. `compare`
gives the same tables holding signed differences (other − base), which every output accepts.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich import box
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from hybrid_tui.atomic_files import atomic_write_bytes
from hybrid_tui.languages import EVAL_DATASETS, metric_dataset_name

MISSING = "—"
# (setting, metric) of each per-language field; the headline metric of a setting has no suffix.
_FIELDS: dict[str, tuple[str, str]] = {
    "mono": ("mono", "map"),
    "cross": ("cross", "map"),
    "multi": ("multi", "map"),
    "bias": ("bias", "rank_distance"),
    "mean_rank": ("bias", "mean_rank"),
    "mono_recall_1": ("mono", "recall_1"),
    "cross_recall_1": ("cross", "recall_1"),
    "multi_recall_10": ("multi", "recall_10"),
}
_BY_KEY = {key: name for name, key in _FIELDS.items()}
_PAIRED = ("cross", "mean_rank", "cross_recall_1")  # keyed by (query language, pool language)
_HEADLINE = {"mono": "map", "cross": "map", "multi": "map", "bias": "rank_distance"}
_DISPLAY = {"xquad_r": "XQuAD-R", "mlqa_r": "MLQA-R", "mlqa_dev_r": "MLQA-R"}


def _canonical_languages(dataset: str) -> tuple[str, ...]:
    for user, (metric, folder, langs) in EVAL_DATASETS.items():
        if dataset in (user, metric, folder, metric_dataset_name(folder)):
            return langs
    return ()


def _average_name(setting: str, metric: str) -> str:
    return setting if _HEADLINE.get(setting) == metric else f"{setting}_{metric}"


def _average_key(name: str) -> tuple[str, str]:
    setting, _, metric = name.partition("_")
    return setting, metric or _HEADLINE[setting]


@dataclass
class LanguageTables:
    """One evaluation set's results (or differences) per language and language pair.

    Values are as logged (mAP in [0, 1], ranks in positions). `cross`, `mean_rank` and
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
        prefix = f"eval/{ds}/"
        tables = cls(dataset=ds)
        seen: set[str] = set()
        for key, raw in metrics.items():
            if not key.startswith(prefix):
                continue
            parts = key[len(prefix) :].split("/")
            value = float(raw)
            if len(parts) != 3 or not math.isfinite(value):
                continue
            setting, who, metric = parts
            if who == "avg":
                if setting in _HEADLINE:
                    tables.averages[_average_name(setting, metric)] = value
                continue
            name = _BY_KEY.get((setting, metric))
            if name is None:
                continue
            if name in _PAIRED:
                query, sep, pool = who.partition("-")
                if not sep:
                    continue
                getattr(tables, name)[(query, pool)] = value
                seen.update((query, pool))
            else:
                getattr(tables, name)[who] = value
                seen.add(who)
        canonical = _canonical_languages(ds)
        tables.languages = [lang for lang in canonical if lang in seen]
        tables.languages += sorted(seen.difference(canonical))
        return tables

    @classmethod
    def from_json(cls, payload: Mapping) -> LanguageTables:
        """Inverse of `to_json`."""
        tables = cls(
            dataset=payload.get("dataset", ""),
            languages=list(payload.get("languages", [])),
            is_delta=bool(payload.get("is_delta", False)),
        )
        for name in _FIELDS:
            for key, value in (payload.get(name) or {}).items():
                if value is not None:
                    target = tuple(key.split("-", 1)) if name in _PAIRED else key
                    getattr(tables, name)[target] = float(value)
        tables.averages = {
            k: float(v) for k, v in (payload.get("avg") or {}).items() if v is not None
        }
        return tables

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in _FIELDS) and not self.averages


def datasets_in(metrics: Mapping[str, float]) -> list[str]:
    """Metric-key names (`xquad_r`, `mlqa_r`, …) of the evaluation sets present, known ones first."""
    found = {
        key.split("/")[1] for key in metrics if key.startswith("eval/") and key.count("/") >= 4
    }
    known = [metric for metric, _, _ in EVAL_DATASETS.values() if metric in found]
    return known + sorted(found.difference(known))


def compare(base: LanguageTables, other: LanguageTables) -> LanguageTables:
    """Signed differences `other − base` on every value present in both."""
    if base.is_delta or other.is_delta:
        raise ValueError("compare takes two result tables, not differences")
    if base.dataset != other.dataset:
        raise ValueError(f"cannot compare {base.dataset} with {other.dataset}")
    delta = LanguageTables(dataset=base.dataset, is_delta=True)
    for name in (*_FIELDS, "averages"):
        mine, theirs = getattr(base, name), getattr(other, name)
        setattr(delta, name, {k: theirs[k] - v for k, v in mine.items() if k in theirs})
    present: set[str] = set()
    for name in _FIELDS:
        for key in getattr(delta, name):
            present.update(key if isinstance(key, tuple) else (key,))
    delta.languages = [lang for lang in base.languages if lang in present]
    return delta


# ---------------------------------------------------------------- artifacts


def to_json(tables: LanguageTables) -> dict:
    """`{"mono": {X: v}, "cross": {"X-Y": v}, "multi", "bias", "mean_rank", recalls, "avg"}`."""

    def clean(value: float) -> float | None:
        return value if math.isfinite(value) else None

    out: dict = {"dataset": tables.dataset, "is_delta": tables.is_delta}
    out["languages"] = list(tables.languages)
    for name in _FIELDS:
        values = getattr(tables, name)
        out[name] = {
            ("-".join(key) if isinstance(key, tuple) else key): clean(value)
            for key, value in values.items()
        }
    out["avg"] = {key: clean(value) for key, value in tables.averages.items()}
    return out


def to_csv(tables: LanguageTables) -> str:
    """Long format: `setting,query_lang,pool_lang,metric,value`; the multilingual pool is `all`,
    averages have query_lang `avg`; metrics are prefixed `delta_` for differences."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", "query_lang", "pool_lang", "metric", "value"])
    prefix = "delta_" if tables.is_delta else ""
    for name, (setting, metric) in _FIELDS.items():
        for key, value in getattr(tables, name).items():
            query, pool = (
                key if isinstance(key, tuple) else (key, key if setting == "mono" else "all")
            )
            writer.writerow([setting, query, pool, prefix + metric, repr(value)])
    for name, value in tables.averages.items():
        setting, metric = _average_key(name)
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
        return _score_text(value, tables.is_delta, rank)

    for x in tables.languages:
        cross = _mean(v for (q, pool), v in tables.cross.items() if q == x and pool != x)
        cells = [
            score(tables.mono.get(x)),
            score(cross),
            score(tables.multi.get(x)),
            score(tables.bias.get(x), rank=True),
        ]
        rows.append(f"| {x}{'*' if x in unseen else ''} | " + " | ".join(cells) + " |")
    averages = tables.averages
    cells = [score(averages.get(name)) for name in ("mono", "cross", "multi")]
    cells.append(score(averages.get("bias"), rank=True))
    rows.append("| **average** | " + " | ".join(cells) + " |")
    if unseen & set(tables.languages):
        rows.append("")
        rows.append("\\* not seen in training")
    return "\n".join(rows)


def heatmap_png(
    tables: LanguageTables, path: str | Path, unseen_languages: Iterable[str] = ()
) -> Path:
    """The cross-lingual matrix as a PNG heatmap (values × 100; diagonal: monolingual, grey),
    written atomically. Differences use a red–green scale centred on zero."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = tables.languages
    unseen = set(unseen_languages)
    labels = [f"{lang}*" if lang in unseen else lang for lang in langs]
    n = len(langs)
    grid = np.full((n, n), np.nan)
    for i, x in enumerate(langs):
        for j, y in enumerate(langs):
            if (x, y) in tables.cross:
                grid[i, j] = tables.cross[(x, y)] * 100
    side = max(3.0, 0.55 * n + 2.0)
    fig = Figure(figsize=(side + 1.2, side), dpi=120)
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global backend
    ax = fig.add_subplot()
    name = _DISPLAY.get(tables.dataset, tables.dataset)
    what = (
        "Δ cross-lingual mAP × 100 (other − base)" if tables.is_delta else "cross-lingual mAP × 100"
    )
    ax.set_title(f"{name}: {what}", fontsize=10)
    if not np.isfinite(grid).any():
        ax.text(0.5, 0.5, "no cross-lingual results", ha="center", va="center")
        ax.set_axis_off()
    else:
        if tables.is_delta:
            span = float(np.nanmax(np.abs(grid))) or 1.0
            image = ax.imshow(grid, cmap="RdYlGn", vmin=-span, vmax=span)
        else:
            image = ax.imshow(grid, cmap="viridis")
        ax.set_facecolor("#e6e6e6")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(n), labels=labels)
        ax.set_yticks(range(n), labels=labels)
        ax.set_xlabel("pool language")
        ax.set_ylabel("query language")
        fontsize = 8 if n <= 8 else 6.5
        for i, x in enumerate(langs):
            for j, y in enumerate(langs):
                if i == j and x in tables.mono:  # no colour: the scale is the cross-lingual one
                    value, color, style = tables.mono[x], "#555555", "italic"
                elif i != j and (x, y) in tables.cross:
                    value, style = tables.cross[(x, y)], "normal"
                    red, green, blue, _ = image.cmap(image.norm(grid[i, j]))
                    light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.55
                    color = "black" if light else "white"
                else:
                    continue
                text = _score_text(value, tables.is_delta)
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color=color,
                    style=style,
                )
        notes = [
            "diagonal: monolingual",
            *(["* not seen in training"] if unseen & set(langs) else []),
        ]
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------- terminal


def _score_text(value: float | None, is_delta: bool, rank: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    if rank:
        shown = round(value, 1 if abs(value) < 100 else 0) + 0.0
        digits = 1 if abs(value) < 100 else 0
    else:
        shown, digits = round(value * 100, 1) + 0.0, 1
    return f"{shown:+.{digits}f}" if is_delta else f"{shown:.{digits}f}"


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


def _mean(values: Iterable[float]) -> float | None:
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _table(title: str, first: str, columns: list[str], caption: str) -> Table:
    """Narrow enough for 80 columns: one space between columns beyond 8 languages, else two."""
    table = Table(
        title=title,
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
        table.add_column(column, justify="right", no_wrap=True)
    return table


def _cell(value: float | None, grade: _Grade, rank: bool = False, style: str = "") -> Text:
    return Text(_score_text(value, grade.is_delta, rank), style=style or grade.style(value))


def render(tables: LanguageTables, unseen_languages: Iterable[str] = ()) -> list[RenderableType]:
    """Rich tables: per-language rows, the cross-lingual matrix and the per-language mean ranks.

    Languages in `unseen_languages` (never trained on) carry a `*`. Values are mAP × 100 with one
    decimal; rank distance and mean ranks are in positions (lower is better).
    """
    name = _DISPLAY.get(tables.dataset, tables.dataset)
    if tables.is_empty():
        return [Text(f"{name}: no evaluation metrics")]
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
        rows = _table(
            f"{name}: {what} per query language",
            "setting",
            [*map(label, langs), "avg"],
            note(*bias),
        )
        for setting, values in (("mono", tables.mono), ("multi", tables.multi)):
            if values:
                average = tables.averages.get(setting)
                cells = [_cell(values.get(x), scores) for x in langs]
                rows.add_row(setting, *cells, _cell(average, scores, style="bold"))
        if tables.bias:
            grade = _Grade(list(tables.bias.values()), delta, True, shown_zero=0.05)
            cells = [_cell(tables.bias.get(x), grade, rank=True) for x in langs]
            average = tables.averages.get("bias")
            rows.add_row("bias", *cells, _cell(average, grade, rank=True, style="bold"))
        out.append(rows)
    if tables.cross:
        caption = note("rows: query language, columns: pool language; diagonal: monolingual")
        title = f"{name}: cross-lingual {what}"
        out.append(_matrix(tables, tables.cross, title, label, scores, caption, rank=False))
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


def _matrix(tables, values, title, label, grade, caption, rank: bool) -> Table:
    """Rows: query language; columns: pool language, then the row mean; last row: column means.
    For mAP the diagonal shows the monolingual score (dim) and the means skip it."""
    langs = tables.languages
    table = _table(title, "q\\pool", [*(label(y) for y in langs), "avg"], caption)

    def mean(keys) -> float | None:
        return _mean(values[key] for key in keys if key in values and (rank or key[0] != key[1]))

    for x in langs:
        cells = [
            _cell(tables.mono.get(x), grade, style="dim italic")
            if x == y and not rank
            else _cell(values.get((x, y)), grade, rank)
            for y in langs
        ]
        row_mean = mean((x, y) for y in langs)
        table.add_row(label(x), *cells, _cell(row_mean, grade, rank, style="bold"))
    overall = None if rank else tables.averages.get("cross")
    overall = mean(values) if overall is None else overall
    table.add_section()
    table.add_row(
        "avg",
        *(_cell(mean((x, y) for x in langs), grade, rank, style="bold") for y in langs),
        _cell(overall, grade, rank, style="bold"),
    )
    return table
