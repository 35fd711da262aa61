"""One run's (or one comparison's) per-language tables, as the CLI prints them.

The tables come from `report.render`, the one renderer: the same unit (mAP × 100), colours,
rows (mono, multi, recall, bias), cross-lingual matrix and mean-rank matrix as `hybrid-tui show`.
MMMLU's accuracy table (`ChoiceTablesView`) comes from `report.render_dataset`, as `show` prints
it; Compare's differences (`DifferenceTablesView`) from `report.render_difference`, as `compare`
prints them. These widgets only stack them, each at its natural width (the screen scrolls sideways), with
their titles and captions as wide as the screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from copy import copy

from rich.console import Console
from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from hybrid_tui import report
from hybrid_tui.display_text import plain


class LanguageTablesView(Vertical):
    """The tables of one dataset of one run (or one delta between two runs)."""

    def __init__(
        self,
        tables,
        unseen: Iterable[str] = (),
        title: str = "",
        marked: Iterable[tuple[str, object]] = (),
        note: str = "",
    ) -> None:
        super().__init__(classes="language-tables")
        self.tables = tables
        self.unseen = tuple(unseen)
        self.title = title
        self.marked = set(marked)  # significant cells (Compare), drawn with a †
        self.note = note  # what the † means, under the tables

    def renderables(self) -> list:
        """What the view shows, in order: exactly `report.render`'s tables."""

        return report.render(self.tables, unseen_languages=self.unseen, marked=self.marked)

    def compose(self) -> ComposeResult:
        """Each table at its natural width (never squeezed: the screen scrolls instead); its title
        and caption apart, as wide as the screen (inside a table they would wrap at its width)."""
        if self.title:
            yield Static(plain(self.title, style="bold"), classes="tables-title")
        measure = Console(width=1000).measure
        widest = 0
        for renderable in self.renderables():
            if not isinstance(renderable, Table):  # a line (MMMLU's averages): wrapped
                yield _annotation(renderable, "", gap=True)
                continue
            title = caption = None
            if isinstance(renderable, Table):
                title, caption = renderable.title, renderable.caption
                renderable = copy(renderable)
                renderable.title = renderable.caption = None
            if title:
                yield _annotation(title, "italic")
            table = Static(renderable, classes="language-table")
            table.styles.width = width = measure(renderable).maximum
            widest = max(widest, width)
            yield table
            if caption:
                table.styles.margin = 0  # the caption below keeps the gap to the next table
                yield _annotation(caption, "dim", gap=True)
        if self.note:
            yield _annotation(self.note, "dim", gap=True)
        self.styles.width = "100%"
        self.styles.min_width = widest


class ChoiceTablesView(LanguageTablesView):
    """A run's MMMLU results: accuracy per question and option language (the cross pair grid),
    multi with the language-bias figures, and chance beside them."""

    def __init__(
        self, metrics: Mapping[str, float], dataset: str, trained: Iterable[str] = ()
    ) -> None:
        super().__init__(None)
        self.metrics = dict(metrics)
        self.dataset = dataset
        self.trained = tuple(trained)

    def renderables(self) -> list:
        return report.render_dataset(self.metrics, self.dataset, self.trained)


class DifferenceTablesView(LanguageTablesView):
    """Compare's tables of one eval set: other − base, as `hybrid-tui compare` prints them
    (`report.render_difference`: MMMLU's Δ accuracy grid, else the Δ mAP tables)."""

    def __init__(
        self,
        base: Mapping[str, float],
        other: Mapping[str, float],
        dataset: str,
        trained: Iterable[str] = (),
        title: str = "",
        marked: Iterable[tuple[str, object]] = (),
        note: str = "",
    ) -> None:
        delta = report.difference(base, other, dataset)  # `tables`: the figures shown
        super().__init__(delta, title=title, marked=marked, note=note)
        self.base, self.other = dict(base), dict(other)
        self.dataset = dataset
        self.trained = tuple(trained)

    def renderables(self) -> list:
        return report.render_difference(
            self.base, self.other, self.dataset, self.trained, self.marked
        )


def _annotation(text, style: str, gap: bool = False) -> Static:
    """A table's title or caption, wrapped at the screen's width."""
    shown = Static(plain(text, style=style) if isinstance(text, str) else text)
    shown.styles.width = "100%"
    shown.styles.margin = (0, 0, int(gap), 0)
    return shown
