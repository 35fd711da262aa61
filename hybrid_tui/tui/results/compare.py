"""Compare: the config diff (the recipe fields that differ), then each other marked run's tables
as deltas against the first marked run (the base; MMMLU's as its Δ accuracy grid), green where
it is better, red where it is worse; once the per-setting significance is computed (question as
the unit, `study.significance`, as `hybrid-tui compare` prints it), the tables are drawn again
with a † on significant cells. Escape goes back."""

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
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import trained_languages
from hybrid_tui.runs.diff import config_diff, config_diff_table
from hybrid_tui.tracking.records import short_id
from hybrid_tui.tui.messages import RunDetailsLoaded, SignificanceLoaded
from hybrid_tui.tui.results.language_tables import DifferenceTablesView


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = list(run_ids)
        self.details: list[Any] = []
        self.significance: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading runs…", id="compare-title")
        yield ScrollableContainer(id="compare-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _load(self) -> None:
        try:
            tracker = self.app.tracker()
            details = [tracker.get_run(run_id) for run_id in self.run_ids]
        except Exception as err:
            self.app.show_error(err, "reading the runs")
            return
        self.post_message(RunDetailsLoaded(details))
        self.post_message(SignificanceLoaded(_significance(tracker, details)))

    async def on_run_details_loaded(self, message: RunDetailsLoaded) -> None:
        self.details = message.details
        await self._show()

    async def on_significance_loaded(self, message: SignificanceLoaded) -> None:
        self.significance = message.results
        if self.details and any(tests for tests, _ in self.significance.values()):
            await self._show()

    async def _show(self) -> None:
        from hybrid_tui.study.significance import marked, summary_line

        details = self.details
        base, others = details[0], details[1:]

        def named(run: Any) -> Text:
            return Text.assemble(
                plain(run.name, style="bold"), plain(f" {short_id(run.run_id)} ({run.mix})")
            )

        self.query_one("#compare-title", Static).update(
            Text.assemble("base: ", named(base), "  vs  ", Text(", ").join(map(named, others)))
        )

        diff = config_diff([detail.params for detail in details])
        views: list = [Static(config_diff_table(details, diff), id="compare-config-diff")]
        try:
            datasets = report.datasets_in(base.metrics)
            if not datasets:
                raise HybridTuiError(
                    f"the base run {base.name} has no evaluation metrics to compare against"
                )
            for other in others:
                for dataset in datasets:
                    tests, _ = self.significance.get((other.run_id, dataset), (None, None))
                    views.append(
                        DifferenceTablesView(
                            base.metrics,
                            other.metrics,
                            dataset,
                            trained_languages(other.tags),
                            title=f"{other.name} {short_id(other.run_id)} − {base.name} "
                            f"{short_id(base.run_id)}",
                            marked=marked(tests) if tests else (),
                            note=summary_line(tests, (1, 1), dataset) if tests else "",
                        )
                    )
        except Exception as err:
            self.app.show_error(err, "comparing")
            views.append(Static(plain(err), classes="tables-caption"))
        body = self.query_one("#compare-body", ScrollableContainer)
        await body.remove_children()
        await body.mount_all(views)


def _significance(tracker, details: list) -> dict[tuple[str, str], tuple[Any, str | None]]:
    """Each other run against the base, per dataset (slow: runs in the screen's worker)."""
    from hybrid_tui.study.significance import significance_for

    base = details[0]
    return {
        (other.run_id, dataset): significance_for(tracker, [base], [other], dataset)
        for other in details[1:]
        for dataset in report.datasets_in(base.metrics)
    }
