"""Runs: the start screen. The runs of the tracking store in a sortable, filterable table; enter
opens a run's results, c marks runs, C compares the marked ones, d deletes, l follows a run live;
s picks the sort column (or click its header), S (or a second click) flips the order, / filters
(`run_filter`'s syntax, or a word); t, N, x and R are in `run_actions`.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from hybrid_tui.command_name import command
from hybrid_tui.display_text import plain, visible
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.report.format import score_text
from hybrid_tui.runs.columns import (
    DEFAULT_PARAM_COLUMNS,
    column_label,
    compact_mix,
    param_cells,
    sorted_runs,
)
from hybrid_tui.runs.filter import looks_like_filter, parse_filter
from hybrid_tui.runs.local_files import describe, local_folder, remove_folder
from hybrid_tui.runs.run_feed import STEP, TABLE_FIELDS
from hybrid_tui.tracking.records import short_id
from hybrid_tui.tui.dialogs.delete_run import DeleteRunScreen
from hybrid_tui.tui.messages import RunDeleted, RunsLoaded
from hybrid_tui.tui.runs.actions import RunActions
from hybrid_tui.tui.runs.layout import count_line, cut, fit_widths, has_labels, seed_suffixes

COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", " "),
    ("run", "run"),
    ("name", "name"),
    ("status", "status"),
    ("mix", "mix"),
    ("steps", "steps"),
    ("mono", "mono"),
    ("cross", "cross"),
    ("multi", "multi"),
    ("bias", "bias"),
    ("best", "best"),
    ("at", "at"),
    *((key, column_label(key)) for key in DEFAULT_PARAM_COLUMNS),
    ("model", "model"),  # after the figures: at 80 columns steps to bias stay on screen
    ("started", "started"),
)
COMPACT_BELOW = 120  # terminal columns under which the mix label is compact (m.58 c.25 x.17)
NUMERIC = {"steps", "mono", "cross", "multi", "bias", "best", "at", *DEFAULT_PARAM_COLUMNS}
STATUS_STYLE = {
    "RUNNING": "bold green",
    "FINISHED": "",
    "FAILED": "bold red",
    "KILLED": "yellow",
    "SCHEDULED": "dim",
}
MUST_SHOW_UP_TO = "bias"  # the figures from steps to bias stay on screen at 80 columns
SCROLLBAR = 2  # the table's vertical scrollbar, once the rows overflow
GONE_LEGEND = "trainer gone: F marks FAILED"
REFRESH_S = 3.0  # runs started elsewhere (the CLI, another app) appear within this
FIRST_ROWS = 100  # rows the table gets at once: more than any terminal shows
ROWS_PER_STEP = 100  # more rows, as the cursor or the scroll comes within a screen of the end


class RunTable(DataTable):
    """The runs table; enter is shown in the footer as "Results"."""

    BINDINGS = [Binding("enter", "select_cursor", "Results", show=True)]


def started_label(start_time: int | None) -> str:
    if not start_time:
        return ""
    return dt.datetime.fromtimestamp(start_time / 1000).strftime("%Y-%m-%d %H:%M")


def _number(value: float | None, rank: bool = False) -> Text:
    """A headline figure in the unit every table uses (mAP × 100, ranks in positions)."""
    return Text("" if value is None else score_text(value, False, rank=rank), justify="right")


def _same(shown: Any, cell: Any) -> bool:
    """Whether a cell the table holds looks like `cell` (rich's `Text ==` ignores the style)."""
    return shown == cell and getattr(shown, "style", None) == getattr(cell, "style", None)


@dataclass(frozen=True)
class _Fill:
    """One filling of the runs table: every visible run in order (the table holds the first
    rows of them, more as the user moves down), the columns' labels and widths, the seed
    suffixes of names, whether the mix is compact."""

    runs: list[Any]
    labels: dict[str, Text]
    widths: dict[str, int]
    suffixes: dict[str, str]
    compact: bool


class RunsScreen(RunActions, Screen):
    BINDINGS = [
        Binding("c", "mark", "Mark"),
        Binding("C", "compare", "Compare marked"),
        Binding("d", "delete", "Delete"),
        Binding("l", "live", "Live"),
        Binding("t", "tag", "Tag", show=False),
        Binding("N", "note", "Note", show=False),
        Binding("x", "cancel_run", "Cancel run", show=False),
        Binding("R", "resume", "Resume", show=False),
        Binding("F", "reconcile", "Mark dead trainers' runs FAILED", show=False),
        Binding("s", "sort", "Sort", show=False),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("slash", "filter", "Filter", show=False),
        Binding("escape", "clear", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Any] = []
        self.gone: frozenset[str] = frozenset()  # RUNNING runs whose trainer is gone
        self.marked: list[str] = []
        self.sort_column = "started"
        self.sort_reverse = True
        self.loaded = False
        self.filter_error: str | None = None
        self.compact = False
        self.total: int | None = None  # runs in the store (None: not known yet)
        self._changes: Any = None  # the tracker's `StoreChanges`, made in the first worker
        self._feed: Any = None  # the `RunFeed`, made in the first worker
        self._read_version: int | None = None
        self._read_gone: frozenset[str] = frozenset()
        self._feed_lock = threading.Lock()  # one read of the feed at a time
        self._also: set[str] = set()  # runs the next read reads again whatever the store says
        self._asked_more = False  # older runs were asked for and have not come yet
        self.complete = False  # every run of the store is read (else the newest ones are)
        self._fill: _Fill | None = None
        self._shown = FIRST_ROWS  # rows the table holds (of the fill's runs), at least
        self._in_table: list[str] = []  # their ids: a refresh compares their tags
        self._params_read: frozenset[str] = TABLE_FIELDS.params or frozenset()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="filter (/): a word, multi>50 lr=1e-3 (as shown), or metrics.`…` > 0.5 and …",
            id="runs-filter",
        )
        table = RunTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("loading runs…", id="runs-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(RunTable)
        table.focus()
        self.watch(table, "scroll_y", self._more_rows, init=False)
        self.reload()
        self.set_interval(REFRESH_S, self._refresh)

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()

    def _refresh(self) -> None:
        """Re-read the store (a few ms of sqlite in a worker) while this screen is shown."""
        if self.loaded and self.is_current:
            self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self, *run_ids: str) -> None:
        """Read the store again in a worker: only the runs that changed since the last read
        (`RunFeed`), and `run_ids` whatever the store says (a run just tagged: tags carry no
        time). While another read goes on, this one waits for the next tick."""
        self._also.update(run_ids)
        self._load_runs()

    @work(thread=True, group="runs", exit_on_error=False)
    def _load_runs(self) -> None:
        """Read in this worker: the first time every run's state and the newest page; then
        only when the store changed since the last read (an O(1) look, `StoreChanges`), and
        then only the runs that changed. The UI thread gets a message only when the runs
        differ. Reads only: a run whose trainer is gone is shown so (looked at every time: a
        dying trainer commits nothing), never marked here (`F` does)."""
        from hybrid_tui.runs.run_feed import RunFeed

        if not self._feed_lock.acquire(blocking=False):
            return  # a read is going on: the next tick looks again
        try:
            also = set(self._also)
            self._also -= also
            runs = None
            if self._feed is None:
                tracker = self.app.tracker()
                self._changes = tracker.store_changes()
                self._feed = RunFeed(tracker)
                self._read_version = self._version()
                runs = self._feed.read_first()
            else:
                version = self._version()
                if version is None or version != self._read_version or also:
                    runs = self._feed.refresh(also, self._in_table)
                self._read_version = version
            self._post(runs)
        except Exception as err:  # shown, never raised: the app stays up
            self.app.show_error(err, "reading runs")
        finally:
            self._feed_lock.release()

    @work(thread=True, group="runs-more", exit_on_error=False)
    def _read_more(self, count: int | None) -> None:
        """Read older runs: `count` more (the user scrolled to them), or every one left (a
        sort or a filter looks at every run)."""
        with self._feed_lock:
            try:
                if self._feed is not None and not self._feed.complete:
                    self._post(self._feed.read_more(count))
            except Exception as err:  # shown, never raised: the app stays up
                self.app.show_error(err, "reading runs")
            finally:
                self._asked_more = False

    def _ask_more(self, count: int | None) -> None:
        if not self._asked_more and not self.complete:
            self._asked_more = True
            self._read_more(count)

    def _newest_first(self) -> bool:
        """Whether the table shows the runs as read: newest first, unfiltered."""
        text = self.query_one("#runs-filter", Input).value.strip()
        return self.sort_column == "started" and self.sort_reverse and not text

    def _version(self) -> int | None:
        return self._changes.version() if self._changes is not None else None

    def _post(self, runs: list[Any] | None) -> None:
        """Tell the UI thread the runs, when they or the runs whose trainer is gone changed."""
        from hybrid_tui.jobs.reconcile import gone_run_ids

        gone = frozenset(gone_run_ids(self._feed.runs()))
        if runs is None and gone == self._read_gone:
            return  # nothing changed: the table, its cursor and scroll stay as they are
        self._read_gone = gone
        feed = self._feed
        self.post_message(RunsLoaded(feed.runs(), gone, feed.total, feed.complete))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.runs, self.gone, self.total = list(message.runs), message.gone, message.total
        self.loaded, self._asked_more = True, False
        self.complete = message.complete
        self._params_read = TABLE_FIELDS.params or frozenset()  # runs read since may lack them
        if self.complete:  # every run is read: a marked run that is gone is unmarked
            known = {run.run_id for run in self.runs}
            self.marked = [run_id for run_id in self.marked if run_id in known]
        self.populate()

    # ------------------------------------------------------------------ table

    def visible_runs(self) -> list[Any]:
        """The runs the filter keeps (a filter expression, or a word to look for in names,
        statuses, models and mixes), in the chosen order; `filter_error` says what is wrong
        with an expression that cannot be read (then every run is shown)."""
        text = self.query_one("#runs-filter", Input).value.strip()
        runs, self.filter_error = list(self.runs), None
        if text and looks_like_filter(text):
            try:
                run_filter = parse_filter(text)
                self._read_params_for(run_filter)
                runs = run_filter(runs)
            except HybridTuiError as err:
                self.filter_error = str(err)
        elif text:
            needle = text.lower()
            runs = [
                run
                for run in runs
                if needle
                in " ".join(
                    str(getattr(run, field, "") or "")
                    for field in ("name", "status", "model", "mix")
                ).lower()
            ]
        return sorted_runs(runs, self.sort_column, self.sort_reverse)

    def _read_params_for(self, run_filter: Any) -> None:
        """Runs carry the params of the table's columns (`TABLE_FIELDS`); a filter on another
        param has it read for every run, in a worker, and the table filled again."""
        from hybrid_tui.runs.listing import fields_for

        wanted = (fields_for(run_filter, None).params or frozenset()) - self._params_read
        if wanted:
            self._params_read |= wanted
            self._read_params(wanted)

    @work(thread=True, group="filter-params", exit_on_error=False)
    def _read_params(self, keys: frozenset[str]) -> None:
        from hybrid_tui.runs.run_feed import params_of

        try:
            params = params_of(self.app.tracker(), keys)
        except Exception as err:  # shown, never raised: the app stays up
            self.app.show_error(err, "reading params for the filter")
            return
        self.app.call_from_thread(self._params_read_in, params)

    def _params_read_in(self, params: dict[str, dict[str, str]]) -> None:
        for run in self.runs:
            run.params.update(params.get(run.run_id, {}))
        self.populate()

    def populate(self) -> None:
        """Fill the table for the terminal's current width: the columns are rebuilt every time,
        so their widths (and the sort arrow in a heading) follow resizes both ways. The table
        holds the first rows (`FIRST_ROWS`, or as far as the user went), more as the user moves
        down: adding a row measures each of its cells (5000 rows cost seconds of the UI
        thread). When the rows and columns stay the same, only the cells that differ are
        redrawn (a training run's figures), and the cursor and scroll stay."""
        table = self.query_one(RunTable)
        current = self.highlighted_run_id()
        compact = self.size.width < COMPACT_BELOW
        if not self.complete and not self._newest_first():
            self._ask_more(None)  # a sort or a filter looks at every run
        runs = self.visible_runs()
        ids = [run.run_id for run in runs]
        shown = max(self._shown, ids.index(current) + 1 if current in ids else 0)
        window = runs[:shown]
        suffixes = seed_suffixes(self.runs)
        natural = {run.run_id: self._cells(run, compact) for run in window}
        labels = {key: self._heading(key, label) for key, label in COLUMNS}
        widths = self._widths(labels, natural, suffixes, len(runs))
        fill = _Fill(runs, labels, widths, suffixes, compact)
        old, self._fill, self.compact = self._fill, fill, compact
        rows = {run.run_id: self._row(natural[run.run_id], run.run_id, fill) for run in window}
        table_keys = [row.key.value for row in table.ordered_rows]
        if (
            old is not None
            and old.widths == widths
            and old.labels == labels
            and table_keys == ids[:shown]
        ):
            for run_id, cells in rows.items():
                for key, cell in cells.items():
                    if not _same(table.get_cell(run_id, key), cell):
                        table.update_cell(run_id, key, cell)
        else:
            table.clear(columns=True)
            for key, _ in COLUMNS:
                table.add_column(labels[key], key=key, width=widths[key])
            for run_id, cells in rows.items():
                table.add_row(*(cells[key] for key, _ in COLUMNS), key=run_id)
                if run_id == current:
                    table.move_cursor(row=table.get_row_index(run_id), animate=False)
        self._in_table = ids[:shown]
        self._show_count(len(runs))
        self.call_after_refresh(self._more_rows)

    def _row(self, cells: dict[str, Any], run_id: str, fill: _Fill) -> dict[str, Any]:
        """A row's cells as the table shows them: the name and mix cut to their columns."""
        widths = fill.widths
        return cells | {
            "name": cut(cells["name"], widths["name"], fill.suffixes.get(run_id, "")),
            "mix": cut(cells["mix"], widths["mix"]),
        }

    def _more_rows(self, *_: Any) -> None:
        """Add the next rows while the cursor or the scroll is within a screen of the end of
        the rows the table holds: a step now, the next after a refresh."""
        fill, table = self._fill, self.query_one(RunTable)
        screen = max(table.size.height, 1)
        near = max(table.cursor_row, int(table.scroll_y) + screen) >= table.row_count - screen
        if fill is None or not near:
            return
        if table.row_count >= len(fill.runs):
            if self._newest_first():
                self._ask_more(STEP)  # older runs, read as the user reaches them
            return
        start = table.row_count
        for run in fill.runs[start : start + ROWS_PER_STEP]:
            cells = self._row(self._cells(run, fill.compact), run.run_id, fill)
            table.add_row(*(cells[key] for key, _ in COLUMNS), key=run.run_id)
        self._shown = table.row_count
        self._in_table = [run.run_id for run in fill.runs[: table.row_count]]
        self.call_after_refresh(self._more_rows)

    def _heading(self, key: str, label: str) -> Text:
        arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_column else ""
        return Text(label + arrow)

    def _widths(
        self,
        labels: dict[str, Text],
        rows: dict[str, dict[str, Any]],
        suffixes: dict[str, str],
        total: int,
    ) -> dict[str, int]:
        """Each column's width: the name and mix cut so that steps to bias stay on screen
        (`runs_layout`); the scrollbar's room is kept only when the rows overflow."""
        natural = {key: labels[key].cell_len for key, _ in COLUMNS}
        for run_id, cells in rows.items():
            for key, cell in cells.items():
                extra = len(suffixes.get(run_id, "")) if key == "name" else 0
                natural[key] = max(natural[key], cell.cell_len + extra)
        keys = [key for key, _ in COLUMNS]
        must_show = keys[: keys.index(MUST_SHOW_UP_TO) + 1]
        table = self.query_one(RunTable)
        overflow = not table.size.height or total >= table.size.height
        budget = self.size.width - (SCROLLBAR if overflow else 0)
        return fit_widths(natural, must_show, budget, table.cell_padding)

    def _show_count(self, shown: int) -> None:
        empty = self.query_one("#runs-empty", Static)
        if not self.runs:
            empty.update(
                "No runs yet. Press [b]n[/b] to compose a recipe and launch it, or run "
                f"`{escape(command('train recipes/smoke.toml'))}`."
            )
        elif self.filter_error:
            empty.update(plain(self.filter_error, style="bold red"))
        elif not shown:
            empty.update("No run matches the filter (escape clears it).")
        else:
            labelled = any(has_labels(run.tags) for run in self.runs)
            line = count_line(len(self.runs), shown, len(self.marked), labelled)
            if self.gone:
                line += f" · {len(self.gone)} {GONE_LEGEND}"
            if not self.complete:
                of = f" of {self.total:,}" if self.total is not None else ""
                line += f" · the newest {len(self.runs):,}{of} read, more as you scroll"
            empty.update(line)

    def _status_cell(self, run: Any) -> Text:
        """The status; `RUNNING · trainer gone` for a run whose trainer died unseen."""
        from hybrid_tui.jobs.reconcile import GONE

        if run.run_id in self.gone:
            return plain(f"{run.status} · {GONE}", style="bold yellow")
        return plain(run.status, style=STATUS_STYLE.get(run.status, ""))

    def _cells(self, run: Any, compact: bool) -> dict[str, Any]:
        """A run's row, by column key; `compact` shortens the mix label (80-column terminals).
        Every cell is a `Text`: DataTable reads a str cell as markup, and names are the user's."""
        headline = run.headline or {}
        params = param_cells(run.params, DEFAULT_PARAM_COLUMNS)
        return {
            "mark": self._mark_cell(run),
            "run": Text(short_id(run.run_id), style="dim"),
            "name": plain(run.name or short_id(run.run_id)),
            "status": self._status_cell(run),
            "model": plain(run.model or ""),
            "mix": plain(compact_mix(run.mix or "") if compact else run.mix or ""),
            "steps": Text("" if run.steps is None else str(run.steps), justify="right"),
            **{key: _number(headline.get(key)) for key in ("mono", "cross", "multi")},
            "bias": _number(headline.get("bias"), rank=True),
            "best": _number(run.best_multi),
            "at": Text(str(run.best_multi_step or ""), justify="right"),
            **{
                key: Text(visible(cell), justify="right")
                for key, cell in zip(DEFAULT_PARAM_COLUMNS, params, strict=True)
            },
            "started": Text(started_label(run.start_time)),
        }

    def on_resize(self) -> None:
        if self.loaded:
            self.populate()

    def _mark_cell(self, run: Any) -> Text:
        """The compare mark's number, and ✎ when the run has a note or tags (Results shows them)."""
        labelled = Text("✎" if has_labels(run.tags or {}) else "", style="dim")
        if run.run_id not in self.marked:
            return Text(" ") + labelled
        return Text(str(self.marked.index(run.run_id) + 1), style="bold reverse") + labelled

    def highlighted_run_id(self) -> str | None:
        table = self.query_one(RunTable)
        if not table.row_count:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def _run(self, run_id: str) -> Any:
        return next((run for run in self.runs if run.run_id == run_id), None)

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self) -> None:
        self.populate()

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.query_one(RunTable).focus()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column == "mark":
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in NUMERIC | {"started"}
        self.populate()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._more_rows()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_results(str(event.row_key.value))

    # ------------------------------------------------------------------ actions

    def action_results(self) -> None:
        run_id = self.highlighted_run_id()
        if run_id is None:
            self.notify("no run to open", severity="warning")
            return
        self.app.open_results(run_id)

    def action_mark(self) -> None:
        run_id = self.highlighted_run_id()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        self.populate()
        table = self.query_one(RunTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_compare(self) -> None:
        self.app.open_compare(list(self.marked))

    def action_live(self) -> None:
        run_id = self.highlighted_run_id()
        if run_id is None:
            self.app.action_live()
        else:
            self.app.open_live(run_id)

    def action_sort(self) -> None:
        keys = [key for key, _ in COLUMNS if key != "mark"]
        index = (keys.index(self.sort_column) + 1) % len(keys)
        self.sort_column = keys[index]
        self.sort_reverse = self.sort_column in NUMERIC | {"started"}
        self.notify(f"sorted by {self.sort_column}", timeout=2)
        self.populate()

    def action_reverse_sort(self) -> None:
        """Flip the order of the sorted column (the header's ▼/▲ shows which way)."""
        self.sort_reverse = not self.sort_reverse
        way = "descending" if self.sort_reverse else "ascending"
        self.notify(f"sorted by {self.sort_column}, {way}", timeout=2)
        self.populate()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_clear(self) -> None:
        filter_input = self.query_one("#runs-filter", Input)
        if filter_input.value:
            filter_input.value = ""
        elif self.marked:
            self.marked = []
            self.populate()
        self.query_one(RunTable).focus()

    def action_delete(self) -> None:
        run_id = self.highlighted_run_id()
        run = self._run(run_id) if run_id else None
        if run is None:
            return
        if run.status == "RUNNING":
            self.notify(
                f"{run.name} is still training; cancel it in Live (l, then x) before deleting",
                severity="error",
            )
            return
        try:
            folder = local_folder(run.run_id)
        except HybridTuiError as err:
            self.notify(visible(str(err)), severity="error")
            folder = None

        def answered(choice: str | None) -> None:
            if choice:
                self._delete(run.run_id, with_files=choice == "files")

        question = Text.assemble(
            "Delete run ",
            plain(run.name, style="bold"),
            plain(f" {short_id(run.run_id)} ({run.status}, {run.mix})?"),
        )
        files = visible(describe(folder)) if folder is not None else None
        self.app.push_screen(DeleteRunScreen(question, files), answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete(self, run_id: str, with_files: bool = False) -> None:
        try:
            folder = local_folder(run_id) if with_files else None
            self.app.tracker().delete_run(run_id)
            if folder is not None:
                remove_folder(folder)
        except Exception as err:
            self.app.show_error(err, "deleting the run")
            return
        self.post_message(RunDeleted(run_id))

    def on_run_deleted(self, message: RunDeleted) -> None:
        self.notify("run deleted", timeout=3)
        if message.run_id in self.marked:
            self.marked.remove(message.run_id)
        self.reload()
