"""Queue: the job queue of this state dir. Jobs with their state, GPUs (or `slurm`), priority,
wait and run time, and a Slurm job's id and state, refreshed every two seconds; d removes a job (after asking), shift+up / shift+down move a
queued job in the start order, l (or enter) follows a job's run in Live.

The store is read in a thread worker; the scheduler itself runs detached (`hybrid-tui queue
start`): this screen only shows and edits the queue.
"""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from hybrid_tui.command_name import command
from hybrid_tui.display_text import plain
from hybrid_tui.jobs.queue_store import QUEUED, RUNNING, JobStore
from hybrid_tui.queue.daemon import running_scheduler
from hybrid_tui.queue.deleted_runs import run_label
from hybrid_tui.queue.describe import STATE_STYLE, devices_label, duration, slurm_label
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.messages import QueueLoaded

REFRESH_S = 2.0
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "job"),
    ("name", "name"),
    ("overrides", "overrides"),
    ("state", "state"),
    ("gpu", "gpu"),
    ("priority", "prio"),
    ("wait", "wait"),
    ("ran", "ran"),
    ("run", "run"),
    ("slurm", "slurm"),
)


class QueueTable(DataTable):
    """The jobs table; enter follows the highlighted job's run."""

    BINDINGS = [Binding("enter", "select_cursor", "Live", show=False)]


class QueueScreen(Screen):
    BINDINGS = [
        Binding("d", "remove", "Remove"),
        Binding("shift+up", "move(-1)", "Move up"),
        Binding("shift+down", "move(1)", "Move down"),
        Binding("l", "live", "Live"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Any] = []
        self.scheduler: Any = None
        self.deleted_runs: set[str] = set()
        self.gone: set[int] = (
            set()
        )  # running jobs whose trainer is gone (not yet ended)  # jobs' runs deleted since (run column `deleted`)
        self.loaded = False
        self._read_repr = ""  # what the last redraw showed (compared in the worker)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the queue…", id="queue-status")
        table = QueueTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="queue-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(QueueTable).focus()
        self.reload()
        self.set_interval(REFRESH_S, self.reload)

    def on_screen_resume(self) -> None:
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False)
    def _load(self) -> None:
        from hybrid_tui.jobs.queue_store import JobStore
        from hybrid_tui.queue.scheduler import job_trainer_gone

        try:  # reads only: a job whose trainer is gone is shown so, ended by the scheduler
            scheduler, jobs = running_scheduler(), JobStore().jobs()
            from hybrid_tui.queue.deleted_runs import deleted_run_ids

            self.deleted_runs = deleted_run_ids(jobs)  # read here: a sqlite query per store
            self.gone = {job.id for job in jobs if job_trainer_gone(job)}
        except Exception as err:  # shown, never raised: the app stays up
            self.app.show_error(err, "reading the queue")
            return
        from hybrid_tui.jobs.queue_store import QUEUED, RUNNING

        shown = repr((jobs, scheduler, sorted(self.deleted_runs)))
        ticking = any(job.state in (QUEUED, RUNNING) for job in jobs)  # wait/ran times move
        if shown == self._read_repr and not ticking:
            return  # nothing to redraw: the UI thread is left alone
        self._read_repr = shown
        self.post_message(QueueLoaded(jobs, scheduler))

    def on_queue_loaded(self, message: QueueLoaded) -> None:
        self.jobs, self.scheduler = list(message.jobs), message.scheduler
        self.loaded = True
        self.populate()

    def ordered_jobs(self) -> list[Any]:
        """Running jobs, then queued ones in start order, then the ended (newest first)."""
        running = [job for job in self.jobs if job.state == RUNNING]
        queued = sorted(
            (job for job in self.jobs if job.state == QUEUED),
            key=lambda job: (-job.priority, job.position),
        )
        ended = [job for job in reversed(self.jobs) if job.state not in (QUEUED, RUNNING)]
        return running + queued + ended

    def populate(self) -> None:
        from hybrid_tui.queue.describe import state_label

        table = self.query_one(QueueTable)
        current = self.highlighted_job_id()
        table.clear()
        now = time.time()
        for job in self.ordered_jobs():
            table.add_row(
                Text(str(job.id), justify="right"),
                plain(job.name),  # every cell a Text: DataTable reads a str cell as markup
                plain(" ".join(job.overrides)),
                plain(state_label(job, job.id in self.gone), style=STATE_STYLE.get(job.state, "")),
                plain(devices_label(job)),
                Text(str(job.priority), justify="right"),
                Text(duration(job.wait_s(now))),
                Text(duration(job.run_s(now))),
                plain(run_label(job, self.deleted_runs)),
                plain(slurm_label(job)),
                key=str(job.id),
            )
        if current is not None and str(current) in table.rows:
            table.move_cursor(row=table.get_row_index(str(current)))
        status = self.query_one("#queue-status", Static)
        if self.scheduler is None:
            start = escape(command("queue start"))  # a path shown as written, never markup
            status.update(f"scheduler: [b]not running[/b]; start it with `{start}`")
        else:
            status.update(plain(f"scheduler: {self.scheduler.describe()}"))
        counts = {}
        for job in self.jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        empty = self.query_one("#queue-empty", Static)
        if not self.jobs:
            empty.update(
                "No jobs. Add one from Compose ([b]n[/b], then ctrl+o), or run "
                f"`{escape(command('queue add recipes/smoke.toml --set train.seed=0,1,2'))}`."
            )
        else:
            empty.update(" · ".join(f"{n} {state}" for state, n in counts.items()))

    def highlighted_job_id(self) -> int | None:
        table = self.query_one(QueueTable)
        if not table.row_count:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return int(row_key.value)

    def _job(self, job_id: int | None) -> Any:
        return next((job for job in self.jobs if job.id == job_id), None)

    # ------------------------------------------------------------------ actions

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_live()

    def action_live(self) -> None:
        job = self._job(self.highlighted_job_id())
        if job is None:
            return
        if not job.run_id:
            self.notify(f"job {job.id} has no run yet ({job.state})", severity="warning")
            return
        self.app.open_live(job.run_id)

    def action_remove(self) -> None:
        job = self._job(self.highlighted_job_id())
        if job is None:
            return
        if job.state == "running":
            self.notify(
                f"job {job.id} is running; follow it in Live (l) and cancel it there (x) first",
                severity="error",
            )
            return
        if job.state == "removed":
            self.notify(f"job {job.id} is already removed", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(job.id)

        question = Text.assemble(
            "Remove job ",
            (str(job.id), "bold"),
            plain(f" ({job.name}, {job.state}) from the queue?"),
        )
        self.app.push_screen(ConfirmScreen(question, yes="Remove (y)"), answered)

    @work(thread=True, group="queue-edit", exit_on_error=False)
    def _remove(self, job_id: int) -> None:
        try:
            JobStore().remove([str(job_id)])
        except Exception as err:
            self.app.show_error(err, "removing the job")
            return
        self.app.call_from_thread(self.notify, f"job {job_id} removed", timeout=3)
        self.app.call_from_thread(self.reload)

    def action_move(self, offset: int) -> None:
        job = self._job(self.highlighted_job_id())
        if job is None or job.state != "queued":
            self.notify("only a queued job can move", severity="warning")
            return
        self._move(job.id, offset)

    @work(thread=True, group="queue-edit", exit_on_error=False)
    def _move(self, job_id: int, offset: int) -> None:
        try:
            moved = JobStore().move(job_id, offset)
        except Exception as err:
            self.app.show_error(err, "moving the job")
            return
        if moved:
            self.app.call_from_thread(self.reload)
