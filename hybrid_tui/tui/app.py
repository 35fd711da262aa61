"""The terminal app: a shell that switches between Runs, Compose, Live and Queue, and opens
Results and Compare over Runs. Every tracking-store read runs in a thread worker, so the first frame comes
before MLflow is even imported; training always runs in its own detached process (`jobs`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Input

from hybrid_tui.display_text import visible
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import resolve_data_root, resolve_tracking_uri
from hybrid_tui.tui.runs.screen import RunsScreen

MODE_KEYS = {"runs": "r", "compose": "n", "live": "l", "queue": "j"}


# The other screens are imported when first shown: the runs screen comes first, and their
# imports (the recipe's model, the plot library) took about half of the app's start.
def _compose() -> Screen:
    from hybrid_tui.tui.compose.screen import ComposeScreen

    return ComposeScreen()


def _live() -> Screen:
    from hybrid_tui.tui.live.screen import LiveScreen

    return LiveScreen()


def _queue() -> Screen:
    from hybrid_tui.tui.queue.screen import QueueScreen

    return QueueScreen()


class HybridTuiApp(App[None]):
    """Runs (start), Compose, Live, Queue; Results and Compare open from Runs (and Live)."""

    CSS_PATH = "app.tcss"
    TITLE = "hybrid-tui"
    MODES = {
        "runs": RunsScreen,
        "compose": _compose,
        "live": _live,
        "queue": _queue,
    }
    DEFAULT_MODE = "runs"
    BINDINGS = [
        Binding("r", "switch_to('runs')", "Runs", priority=True),
        Binding("n", "switch_to('compose')", "Compose", priority=True),
        Binding("l", "switch_to('live')", "Live", priority=True),
        Binding("j", "switch_to('queue')", "Queue", priority=True),
        Binding("q", "quit", "Quit", show=False),
        # priority, so that Compose's fields (`FieldInput`) leave it to the app; the runs
        # filter and the tag and note dialogs type it (Textual drops a binding an Input consumes)
        Binding("question_mark", "toggle_help", "Help", show=False, priority=True),
        Binding("f1", "keys_help", "Help", show=False, priority=True),
    ]

    def __init__(self, tracking_uri: str | None = None, data_dir: str | None = None) -> None:
        super().__init__()
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.data_dir = resolve_data_root(data_dir)
        self.live_run_id: str | None = None
        self._tracker: Any = None
        self._tracker_lock = threading.Lock()
        self.sub_title = visible(display_uri(self.tracking_uri))

    # ------------------------------------------------------------------ core access

    def tracker(self) -> Any:
        """The shared `tracking.Tracker`; call from workers only (it reads a sqlite store
        directly, but writes and other stores import mlflow)."""
        with self._tracker_lock:
            if self._tracker is None:
                from hybrid_tui.tracking import Tracker

                self._tracker = Tracker(self.tracking_uri)
            return self._tracker

    def show_error(self, err: BaseException, doing: str = "") -> None:
        """A one-line notification for any error (safe from worker threads); never a traceback."""
        if isinstance(err, HybridTuiError):
            message = str(err)
        else:
            detail = " ".join(str(err).split())[:300] or type(err).__name__
            message = f"{doing + ': ' if doing else ''}{type(err).__name__}: {detail}"
        self.show_error_line(message)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification as plain text, whatever `markup` says: they quote run names, paths
        and errors (the user's text), which must be shown, not read as markup or obeyed as
        terminal control sequences."""
        super().notify(
            visible(message),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def show_error_line(self, message: str) -> None:
        """An error notification from any thread."""
        if threading.get_ident() == self._thread_id:
            self.notify(message, title="error", severity="error", timeout=10)
        else:
            self.call_from_thread(self.notify, message, title="error", severity="error", timeout=10)

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The screen keys (r n l j) are priority bindings, so a key typed right after one is
        handled only once the new screen is up and focused (a plain binding runs only after the
        old screen's widget has queued the keys behind it, and those were lost). They step
        aside wherever the key means something else: typed into a field, answered in a dialog,
        or bound by the screen itself (`l` on Runs follows the highlighted run)."""
        if action != "switch_to":
            return True
        key = MODE_KEYS[str(parameters[0])]
        if isinstance(self.focused, Input) or isinstance(self.screen, ModalScreen):
            return False
        node = self.focused or self.screen
        while node is not None and node is not self:
            if key in node._bindings.key_to_bindings:
                return False
            node = node.parent
        return True

    def action_keys_help(self) -> None:
        """F1: the keys, wherever the focus is."""
        self.action_toggle_help()

    def action_toggle_help(self) -> None:
        """`?`: every key of the current screen, its own first (`KeysHelpScreen`), or close it."""
        from hybrid_tui.tui.dialogs.keys_help import KeysHelpScreen

        if isinstance(self.screen, KeysHelpScreen):
            self.pop_screen()
        else:
            self.push_screen(KeysHelpScreen(self.screen))

    # ------------------------------------------------------------------ navigation

    def action_show_runs(self) -> None:
        if self.current_mode == "runs":
            while len(self.screen_stack) > 1:
                self.pop_screen()
            runs = self.screen_stack[0]
            if isinstance(runs, RunsScreen):
                runs.reload()
            return
        self.switch_mode("runs")

    def action_compose(self) -> None:
        self.switch_mode("compose")

    def action_live(self) -> None:
        self.switch_mode("live")

    def action_queue(self) -> None:
        self.switch_mode("queue")

    async def action_switch_to(self, mode: str) -> None:
        """The screen keys: return only once the screen is shown (see `check_action`)."""
        if mode == "runs" and self.current_mode == "runs":
            self.action_show_runs()
            return
        await self.switch_mode(mode)
        if mode == "runs":
            self.action_show_runs()  # r means the runs list, not a Results left open over it

    def open_live(self, run_id: str) -> None:
        """Follow this run in the Live view (its whole curve so far, then new points)."""
        from hybrid_tui.tui.live.screen import LiveScreen

        self.live_run_id = run_id
        if self.current_mode == "live":
            screen = self.screen_stack[0]
            if isinstance(screen, LiveScreen):
                screen.follow(run_id)
            return
        self.switch_mode("live")

    def open_results(self, run_id: str) -> None:
        from hybrid_tui.tui.results.screen import ResultsScreen

        self.push_screen(ResultsScreen(run_id))

    def open_compare(self, run_ids: list[str]) -> None:
        if len(run_ids) < 2:
            self.notify("mark two or more runs with c, then press C to compare", severity="warning")
            return
        from hybrid_tui.tui.results.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Runs", "The runs of the tracking store (r)", self.action_show_runs)
        yield SystemCommand(
            "Compose", "Edit a recipe and launch a training run (n)", self.action_compose
        )
        yield SystemCommand("Live", "Loss and LR curves of the followed run (l)", self.action_live)
        yield SystemCommand("Queue", "The job queue: jobs, GPUs, order (j)", self.action_queue)
        runs = self.screen_stack[0] if self.current_mode == "runs" else None
        if isinstance(runs, RunsScreen):
            yield SystemCommand(
                "Results", "Per-language tables of the highlighted run (enter)", runs.action_results
            )
            yield SystemCommand(
                "Compare", "Deltas of the marked runs against the first (C)", runs.action_compare
            )


REMOTE_SCHEMES = ("http", "https", "databricks")


def display_uri(uri: str) -> str:
    """The tracking URI as shown in the header: a sqlite file below the cwd is shown relative; a
    tracking server is called a remote store (each read crosses the network: slower)."""
    if uri.split("://", 1)[0].lower() in REMOTE_SCHEMES:
        return f"remote store {uri}"
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix) :])
        try:
            return prefix + str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return uri
    return uri


def run_app(tracking_uri: str | None = None, data_dir: str | None = None) -> None:
    """Open the app (the `hybrid-tui` / `hybrid-tui tui` command)."""
    HybridTuiApp(tracking_uri=tracking_uri, data_dir=data_dir).run()
