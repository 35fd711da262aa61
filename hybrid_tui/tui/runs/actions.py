"""What the runs screen does to the highlighted run besides opening it: tags (t), the note (N),
cancel (x, asks first), resume (R, for a KILLED or FAILED run with a checkpoint, as
`hybrid-tui train --resume RUN --detach` does) and reconcile (F: runs whose trainer is gone are
marked FAILED, as `hybrid-tui reconcile` does; the screen itself only shows them). A mixin of `RunsScreen`; each write runs in a
thread worker and reports by notification."""

from __future__ import annotations

from rich.text import Text
from textual import work

from hybrid_tui.display_text import plain, visible
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.runs.labels import NOTE_TAG, note_run, parse_tags, tag_run
from hybrid_tui.tracking.records import short_id
from hybrid_tui.tui.cancel_worker import cancel_in_background
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.dialogs.text_prompt import TextPromptScreen

RESUMABLE = ("KILLED", "FAILED")


class RunActions:
    """Needs `highlighted_run_id()`, `_run(run_id)` and `reload()` from the screen."""

    def action_tag(self) -> None:
        run = self._run(self.highlighted_run_id() or "")
        if run is None:
            return
        own = {k: v for k, v in run.tags.items() if not k.startswith(("mlflow.", "hybrid_tui."))}

        def answered(text: str | None) -> None:
            if text:
                self._write_tags(run.run_id, text, note=False)

        now = f" (now: {', '.join(f'{k}={v}' for k, v in own.items())})" if own else ""
        self.app.push_screen(
            TextPromptScreen(
                Text.assemble("Tags for ", _named(run), plain(now)),
                placeholder='KEY=VALUE ...  e.g. team=ir stage="try 2"',
            ),
            answered,
        )

    def action_note(self) -> None:
        run = self._run(self.highlighted_run_id() or "")
        if run is None:
            return

        # The field shows the note with its control characters escaped (an input field writes
        # them raw to the terminal); enter on that unchanged text keeps the note as it is.
        note = run.tags.get(NOTE_TAG, "")
        shown = visible(note)

        def answered(text: str | None) -> None:
            if text is None or (text == shown and shown != note):
                return  # cancelled, or the escaped note left as it was: the note is kept
            self._write_tags(run.run_id, text, note=True)

        self.app.push_screen(
            TextPromptScreen(
                Text.assemble("Note on ", _named(run), " (the MLflow UI's description)"),
                value=shown,
                placeholder="what this run tried, what it showed",
            ),
            answered,
        )

    @work(thread=True, group="tags", exit_on_error=False)
    def _write_tags(self, run_id: str, text: str, note: bool) -> None:
        """Tags (`KEY=VALUE` words, shell quoting) or the note, written through the tracker."""
        import shlex

        try:
            if note:
                note_run(self.app.tracker(), run_id, text)
                done = "note saved" if text else "note cleared"
            else:
                try:
                    words = shlex.split(text)
                except ValueError as err:
                    raise HybridTuiError(f"tags: {err} (close the quote)") from None
                tags = parse_tags(words)
                tag_run(self.app.tracker(), run_id, tags)
                done = "tagged " + ", ".join(f"{k}={v}" for k, v in tags.items())
        except Exception as err:
            self.app.show_error(err, "tagging the run")
            return
        self.app.call_from_thread(self.notify, done, timeout=3)
        self.app.call_from_thread(self.reload, run_id)  # tags carry no time: named to re-read

    def action_cancel_run(self) -> None:
        run = self._run(self.highlighted_run_id() or "")
        if run is None:
            return
        if run.status != "RUNNING":
            self.notify(f"{run.name} is {run.status}: nothing to cancel", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"asking {run.name} to stop (it checkpoints first)…", timeout=4)
                cancel_in_background(self, run.run_id, then=self.reload)

        self.app.push_screen(
            ConfirmScreen(
                Text.assemble(
                    "Cancel run ",
                    _named(run),
                    "? It saves a checkpoint and ends KILLED (R resumes it).",
                ),
                yes="Cancel run (y)",
                no="Keep training (n)",
            ),
            answered,
        )

    def action_resume(self) -> None:
        run = self._run(self.highlighted_run_id() or "")
        if run is None:
            return
        if run.status not in RESUMABLE:
            self.notify(
                f"{run.name} is {run.status}; only KILLED or FAILED runs resume",
                severity="warning",
            )
            return
        checkpoint = RunFiles.for_run(run.run_id).checkpoint
        if not checkpoint.is_dir() or not any(checkpoint.iterdir()):
            self.notify(
                f"{run.name} has no checkpoint on this machine ({checkpoint}); start it again "
                "from Compose",
                severity="error",
            )
            return
        self.notify(f"resuming {run.name} {short_id(run.run_id)}…", timeout=4)
        self._resume(run.run_id)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False)
    def _resume(self, run_id: str) -> None:
        from hybrid_tui.jobs.launch import TrainerStart, launch_detached

        try:
            job = launch_detached(TrainerStart(resume=run_id))
        except Exception as err:
            self.app.show_error(err, "resuming")
            return
        self.app.call_from_thread(self.app.open_live, job.run_id)

    def action_reconcile(self) -> None:
        self._reconcile()

    @work(thread=True, exclusive=True, group="reconcile", exit_on_error=False)
    def _reconcile(self) -> None:
        from hybrid_tui.jobs.reconcile import reconcile_runs

        try:
            failed = reconcile_runs(self.app.tracker())
        except Exception as err:
            self.app.show_error(err, "marking dead trainers' runs")
            return
        line = (
            f"marked FAILED (trainer gone): {', '.join(short_id(run_id) for run_id in failed)}"
            if failed
            else "every RUNNING run here has its trainer"
        )
        self.app.call_from_thread(self.notify, line, timeout=5)
        self.app.call_from_thread(self.reload)


def _named(run) -> Text:
    """A run's name in bold and its short id, for a dialog: the name as written, never markup."""
    return Text.assemble(plain(run.name, style="bold"), f" {short_id(run.run_id)}")
