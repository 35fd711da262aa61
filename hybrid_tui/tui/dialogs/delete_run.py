"""The runs screen's delete question: the run alone (y), or the run and its local folder (f) where
it has one (model, checkpoint: GBs for a real model), named with its size so the choice is
informed. Answers "run", "files" or None (kept)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from hybrid_tui.tui.dialogs.confirm import ConfirmScreen


class DeleteRunScreen(ConfirmScreen):
    """A `ConfirmScreen` with a third answer."""

    BINDINGS = [
        Binding("y", "answer('run')", "Delete run"),
        Binding("f", "answer('files')", "Delete run and files"),
        Binding("n,escape", "answer(None)", "Keep"),
    ]

    def __init__(self, question: Text, files: str | None) -> None:
        """`files`: the local folder and its size (`.hybrid-tui/runs/ID (1.2 GB)`), or None."""
        super().__init__(question)
        self.files = files

    def compose(self) -> ComposeResult:
        question = self.question.copy()
        if self.files:
            question.append(f"\nLocal files: {self.files}; y keeps them, f removes them too.")
        with Vertical(id="confirm-dialog"):
            yield Static(question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm-yes")
                if self.files:
                    yield Button("+ files (f)", variant="error", id="delete-files")
                yield Button("Keep (n)", variant="primary", id="confirm-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.prevent_default()  # not ConfirmScreen's yes/no as well
        self.dismiss({"confirm-yes": "run", "delete-files": "files"}.get(event.button.id or ""))

    def action_answer(self, choice: str | None) -> None:
        if choice == "files" and not self.files:
            return
        self.dismiss(choice)
