"""Results: one run's per-language tables (mono row, cross-lingual heatmap, multilingual row,
language bias, averages; MMMLU's accuracy grid beside chance), languages unseen in training
marked. Escape goes back.

The tables keep their natural width (never squeezed) and scroll with the arrow keys; a hint line
says so, and which way more of them lies, whenever they do not fit (80×24 cuts columns)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from hybrid_tui import report
from hybrid_tui.display_text import plain
from hybrid_tui.languages import trained_languages, unseen_languages
from hybrid_tui.tui.messages import RunDetailLoaded
from hybrid_tui.tui.results.language_tables import ChoiceTablesView, LanguageTablesView
from hybrid_tui.tui.runs.layout import NOTE_TAG, user_tags


class ResultsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "live", "Live"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: Any = None
        self.failure: str | None = None  # a FAILED run's reason, read with the run

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading results…", id="results-title")
        yield Static("", id="results-labels")
        yield ScrollableContainer(id="results-body")
        yield Static("", id="results-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        body = self.query_one("#results-body", ScrollableContainer)
        body.focus()  # the arrow keys scroll the tables from the first keystroke
        self.watch(body, "scroll_x", self._show_hint, init=False)
        self.watch(body, "scroll_y", self._show_hint, init=False)
        self.watch(body, "virtual_size", self._show_hint, init=False)
        self._load()

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_hint)

    def _show_hint(self, _value: object = None) -> None:
        body = self.query_one("#results-body", ScrollableContainer)
        self.query_one("#results-hint", Static).update(scroll_hint(body))

    @work(thread=True, exclusive=True, group="results", exit_on_error=False)
    def _load(self) -> None:
        try:
            detail = self.app.tracker().get_run(self.run_id)
            if detail.status == "FAILED":
                from hybrid_tui.runs.failure import failure_reason

                self.failure = failure_reason(self.app.tracker(), detail.run_id)
        except Exception as err:
            self.app.show_error(err, "reading the run")
            return
        self.post_message(RunDetailLoaded(detail))

    def on_run_detail_loaded(self, message: RunDetailLoaded) -> None:
        detail = self.detail = message.detail
        self.query_one("#results-title", Static).update(
            Text.assemble(
                plain(detail.name, style="bold"),
                plain(
                    f"  {detail.status}  ·  {detail.model}  ·  {detail.mix}"
                    + (f"  ·  {detail.steps} steps" if detail.steps else "")
                ),
            )
        )
        labels = run_labels_text(detail.tags)
        self.query_one("#results-labels", Static).update(labels)
        self.query_one("#results-labels", Static).display = bool(labels)
        body = self.query_one("#results-body", ScrollableContainer)
        try:
            datasets = report.datasets_in(detail.metrics)
            trained = trained_languages(detail.tags)
            views = []
            for dataset in datasets:
                if report.is_choice_set(dataset):  # MMMLU: accuracy, not mAP
                    views.append(ChoiceTablesView(detail.metrics, dataset, trained))
                    continue
                tables = report.LanguageTables.from_metrics(detail.metrics, dataset)
                views.append(
                    LanguageTablesView(tables, unseen_languages(trained, tables.languages))
                )
        except Exception as err:
            self.app.show_error(err, "building the tables")
            return
        if not views:
            views = [Static(self._no_tables_hint(detail), classes="tables-caption")]
        body.mount_all(views)
        self.call_after_refresh(self._show_hint)

    def _no_tables_hint(self, detail: Any) -> Text:
        """Why there are no tables: still training, FAILED (the reason and what to do), or none."""
        if detail.status == "RUNNING":
            return Text(
                "the run is still training; results come with its final evaluation "
                "(l: watch it live)"
            )
        if detail.status == "FAILED":
            from hybrid_tui.runs.failure import failure_hint

            reason = self.failure or "no error was recorded (l: its last events)"
            return Text.assemble(
                ("this run FAILED: ", "bold red"),
                plain(reason),
                "\n",
                failure_hint(detail.run_id),
            )
        return Text("this run has no evaluation metrics")

    def action_live(self) -> None:
        self.app.open_live(self.run_id)


def run_labels_text(tags: dict[str, str]) -> Text:
    """The user's tags and note (`hybrid-tui tag` / `note`, t and N on Runs), as plain text."""
    parts = []
    tagged = user_tags(tags)
    if tagged:
        pairs = "  ".join(f"{key}={value}" for key, value in sorted(tagged.items()))
        parts.append(Text.assemble(("tags ", "dim"), plain(pairs)))
    note = tags.get(NOTE_TAG, "").strip()
    if note:
        parts.append(Text.assemble(("note ", "dim"), plain(" ".join(note.split()))))
    return Text("  ·  ").join(parts)


def scroll_hint(body) -> str:
    """Which keys scroll the tables and where more of them is ('' when everything shows)."""
    more = []
    if body.scroll_x < body.max_scroll_x:
        more.append("right")
    if body.scroll_x > 0:
        more.append("left")
    if body.scroll_y < body.max_scroll_y:
        more.append("below")
    if body.scroll_y > 0:
        more.append("above")
    if not more:
        return ""
    keys = []
    if body.max_scroll_x:
        keys.append("←/→")
    if body.max_scroll_y:
        keys.append("↑/↓ pgup/pgdn")
    return f"more {', '.join(more)}: {' and '.join(keys)} scroll the tables"
