"""The cross-lingual matrix as a PNG heatmap (an MLflow artifact), unseen languages marked."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_bytes
from hybrid_tui.report.format import score_text
from hybrid_tui.report.tables import LanguageTables, display_name


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
    name = display_name(tables.dataset)
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
                text = score_text(value, tables.is_delta)
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
