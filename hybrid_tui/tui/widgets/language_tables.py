"""One run's (or one comparison's) per-language tables, as the CLI prints them.

The tables come from `report.render`, the one renderer: the same unit (mAP × 100), colours,
rows (mono, multi, recall, bias), cross-lingual matrix and mean-rank matrix as `hybrid-tui show`.
This widget only stacks them, each at its natural width (the screen scrolls sideways).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from hybrid_tui.display_text import plain


class LanguageTablesView(Vertical):
    """The tables of one dataset of one run (or one delta between two runs)."""

    def __init__(self, tables, unseen: Iterable[str] = (), title: str = "") -> None:
        super().__init__(classes="language-tables")
        self.tables = tables
        self.unseen = tuple(unseen)
        self.title = title

    def renderables(self) -> list:
        """What the view shows, in order: exactly `report.render`'s tables."""
        from hybrid_tui import report

        return report.render(self.tables, unseen_languages=self.unseen)

    def compose(self) -> ComposeResult:
        from rich.console import Console

        if self.title:
            yield Static(plain(self.title, style="bold"), classes="tables-title")
        measure = Console(width=1000).measure
        for renderable in self.renderables():
            table = Static(renderable, classes="language-table")
            table.styles.width = measure(renderable).maximum  # never squeezed: scroll instead
            yield table
