"""Compose: edit a recipe (model, sampler mix, data, optimisation, evaluation size, device),
load and save it as TOML, and launch it (ctrl+r) as a detached trainer, then follow it in Live;
or add it to the job queue (ctrl+o). Launching onto a device where a trainer already runs asks
first.

Driven from the keyboard: Tab/shift+Tab walk every field in screen order, enter opens a
select, ctrl+l opens the recipe picker, and keys typed into a field stay in it (the form itself
never takes focus, so a keystroke always lands in a field). The form starts from the demo recipe
(`hybrid-tui demo`'s known-good job: e5-small-offline, a hybrid mix, a bounded evaluation: 150
questions, which the eval fields show and change; empty means every question, for minutes).
"Save as" proposes a new name in the user's recipes dir and asks before overwriting any file.

The form only collects values: `recipe.recipe_from_dict` validates them, `jobs.launch` starts
the trainer and `queue.submit` queues it.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from hybrid_tui.command_name import command
from hybrid_tui.devices import list_gpus
from hybrid_tui.display_text import plain
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.busy import conflicts
from hybrid_tui.models import list_models
from hybrid_tui.queue.daemon import running_scheduler
from hybrid_tui.queue.submit import queue_recipes
from hybrid_tui.recipe import demo_recipe, load_recipe, recipe_from_dict, save_recipe
from hybrid_tui.tui.compose.mix_editor import MixEditor
from hybrid_tui.tui.compose.model_check import check_model_spec
from hybrid_tui.tui.compose.recipe_files import recipe_files, save_path_for, shown_path
from hybrid_tui.tui.compose.recipe_form import FIELDS, get_field, put_field
from hybrid_tui.tui.dialogs.confirm import ConfirmScreen
from hybrid_tui.tui.messages import GpusFound, JobQueued, MixChanged, RunLaunched
from hybrid_tui.tui.widgets.field_input import FieldInput

DEVICES = ["auto", "cpu"]
DATA_SOURCES = ["lareqa", "jsonl", "hub"]


def _row(label: str, *widgets, id: str | None = None) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), *widgets, classes="field", id=id)


def _recipe_options() -> list[tuple[Text, str]]:
    """The picker's recipes; a file name is shown as written (a Select reads str as markup)."""
    return [(plain(shown_path(path)), str(path)) for path in recipe_files()]


class ComposeScreen(Screen):
    AUTO_FOCUS = "#name"  # on arrival (and return) typing lands in a field, never on app keys
    BINDINGS = [
        Binding("ctrl+r", "launch", "Launch", priority=True),
        Binding("ctrl+o", "add_to_queue", "Add to queue", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+l", "pick_recipe", "Load recipe", priority=True),
        # priority: handled on arrival, so a screen key typed right after it is not typed
        Binding("escape", "leave_field", "Leave field", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.base: dict = demo_recipe().model_dump(mode="json", exclude_none=True)
        self.loaded_from: Path | None = None
        self.launching = False
        self.mix_error: str | None = None
        self.device_options: list[tuple[str, str]] = [(name, name) for name in DEVICES]

    def compose(self) -> ComposeResult:
        base = self.base
        yield Header()
        form = VerticalScroll(id="compose-form")
        form.can_focus = False  # a focused container would hand typed letters to app keys
        with form:
            yield _row(
                "load recipe",
                Select(
                    _recipe_options(),
                    prompt="a recipe (ctrl+l, enter)",
                    id="recipe-file",
                    compact=True,
                ),
            )
            yield _row("name", FieldInput(id="name", compact=True))
            yield _row(
                "model",
                FieldInput(
                    placeholder="packaged name, hub id or folder",
                    id="model-spec",
                    compact=True,
                ),
                Select([], prompt="offline models", id="model-pick", compact=True),
            )
            yield Static("", id="model-status")
            yield Label("sampler mix (relative weights of the batch types)", classes="section")
            yield MixEditor(
                {kind: base["sampler"][kind] for kind in ("mono", "cross", "multi")},
                id="mix",
            )
            yield _row(
                "data",
                Select(
                    [(name, name) for name in DATA_SOURCES],
                    allow_blank=False,
                    id="data-source",
                    compact=True,
                ),
                FieldInput(
                    placeholder="dataset / file / hub id",
                    id="data-dataset",
                    compact=True,
                ),
            )
            yield _row(
                "languages",
                FieldInput(
                    placeholder="all (or e.g. ar,de,en)",
                    id="data-languages",
                    compact=True,
                ),
            )
            yield _row(
                "max items",
                FieldInput(
                    placeholder="all",
                    id="data-max-items",
                    compact=True,
                ),
            )
            yield _row(
                "batch / steps",
                FieldInput(id="batch-size", compact=True),
                FieldInput(id="steps", compact=True),
            )
            yield _row(
                "lr / seed",
                FieldInput(id="lr", compact=True),
                FieldInput(id="seed", compact=True),
            )
            yield _row(
                "eval questions",
                FieldInput(
                    placeholder="all (each in every language: a long evaluation)",
                    id="eval-max-questions",
                    compact=True,
                ),
            )
            yield _row(
                "eval languages",
                FieldInput(
                    placeholder="all (or e.g. de,el,ru)",
                    id="eval-languages",
                    compact=True,
                ),
            )
            yield _row(
                "device",
                Select(
                    [(name, name) for name in DEVICES],
                    allow_blank=False,
                    id="device",
                    compact=True,
                ),
            )
            yield _row(
                "data dir",
                FieldInput(
                    self.app.data_dir or "",
                    placeholder="LAReQA folder ($HYBRID_TUI_DATA); empty: download",
                    id="data-dir",
                    compact=True,
                ),
            )
            yield _row(  # the whole width: a path under .hybrid-tui/recipes/ is long
                "save as", FieldInput("", placeholder="NAME.toml", id="save-path", compact=True)
            )
            yield _row(
                "",
                Button("Save ^s", id="save", compact=True),
                Button("Launch ^r", id="launch", variant="success", compact=True),
                Button("Queue ^o", id="add-to-queue", variant="primary", compact=True),
                id="compose-actions",
            )
        yield Static(
            "Tab/shift+Tab: next/previous field · enter opens a list · escape leaves a field · "
            "? every key",
            id="compose-status",
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for field in self.query(Input):  # focus never selects (and so never replaces) a value
            field.select_on_focus = False
        self._show_recipe(self.base)
        self._fill_save_path()
        self._find_models()
        self._find_gpus()

    # ------------------------------------------------------------------ background lookups

    @work(thread=True, group="models", exit_on_error=False)
    def _find_models(self) -> None:
        try:
            infos = list_models()
        except Exception as err:
            self.app.show_error(err, "listing models")
            return
        options = [
            (info.name + ("" if info.available else " (not installed)"), info.name)
            for info in infos
        ]
        self.app.call_from_thread(self.query_one("#model-pick", Select).set_options, options)
        self._check_model(self.query_one("#model-spec", Input).value)

    @work(thread=True, group="gpus", exit_on_error=False)
    def _find_gpus(self) -> None:
        self.post_message(GpusFound(list_gpus()))

    def on_gpus_found(self, message: GpusFound) -> None:
        if not message.gpus:
            return
        select = self.query_one("#device", Select)
        current = select.value
        gpus = [
            (f"cuda:{index} {label}", f"cuda:{index}") for index, label in enumerate(message.gpus)
        ]
        self.device_options = [(name, name) for name in DEVICES] + [("cuda", "cuda"), *gpus]
        select.set_options(self.device_options)
        select.value = current

    @work(thread=True, exclusive=True, group="model-check", exit_on_error=False)
    def _check_model(self, spec: str) -> None:
        time.sleep(0.2)  # typing: check the spec once it settles
        try:
            line, ok = check_model_spec(spec), True
        except HybridTuiError as err:
            line, ok = str(err), False
        except Exception as err:
            line, ok = f"{type(err).__name__}: {err}", False
        self.app.call_from_thread(self._show_model_status, spec, line, ok)

    def _show_model_status(self, spec: str, line: str, ok: bool) -> None:
        if spec != self.query_one("#model-spec", Input).value:
            return  # a newer check is on its way
        status = self.query_one("#model-status", Static)
        status.update(plain(line) if ok else Text.assemble(("model:", "bold"), " ", plain(line)))
        status.set_class(not ok, "-invalid")

    # ------------------------------------------------------------------ form events

    @on(Input.Changed, "#model-spec")
    def _model_typed(self, event: Input.Changed) -> None:
        self._check_model(event.value)

    @on(Select.Changed, "#model-pick")
    def _model_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#model-spec", Input).value = str(event.value)

    @on(Select.Changed, "#recipe-file")
    def _recipe_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.load(Path(str(event.value)))

    @on(Input.Changed, "#name")
    def _name_typed(self) -> None:
        self._fill_save_path()

    def on_mix_changed(self, message: MixChanged) -> None:
        self.mix_error = message.error

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    @on(Button.Pressed, "#add-to-queue")
    def _queue_pressed(self) -> None:
        self.action_add_to_queue()

    def action_leave_field(self) -> None:
        self.set_focus(None)

    def action_pick_recipe(self) -> None:
        """Open the recipe picker from anywhere on the form."""
        picker = self.query_one("#recipe-file", Select)
        picker.focus()
        picker.action_show_overlay()

    def _fill_save_path(self) -> None:
        name = self.query_one("#name", Input).value.strip() or "recipe"
        self.query_one("#save-path", Input).value = str(save_path_for(name))

    # ------------------------------------------------------------------ recipe in and out

    def load(self, path: Path) -> None:
        """Fill the form from a recipe file (errors are shown, the form is left as it was)."""
        try:
            recipe = load_recipe(path)
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        self.base = recipe.model_dump(mode="json", exclude_none=True)
        self.loaded_from = path
        self._show_recipe(self.base)
        self._fill_save_path()  # a new name: saving never lands on the loaded file unasked
        self.notify(f"loaded {path}", timeout=3)

    def _show_recipe(self, recipe: dict) -> None:
        """Fill every field from a recipe dict (the mix editor takes the sampler weights)."""
        device = recipe["train"]["device"]
        if device not in {value for _, value in self.device_options}:
            self.device_options.append((device, device))
            self.query_one("#device", Select).set_options(self.device_options)
        several = bool(recipe["data"].get("sources"))
        for field in FIELDS:
            widget = self.query_one(field.widget)
            widget.value = field.shown(get_field(recipe, field.path))
            if field.path[0] == "data":  # [[data.sources]] are edited in the recipe file
                widget.disabled = several
        if several:
            names = ", ".join(s.get("name") or s["dataset"] for s in recipe["data"]["sources"])
            self.notify(f"this recipe trains on several datasets ({names}): edit them in its file")
        self.query_one(MixEditor).set_weights(recipe["sampler"])

    def form_recipe(self):
        """The recipe the form describes; raises `HybridTuiError` naming the field to fix."""
        data = copy.deepcopy(self.base)
        for field in FIELDS:
            widget = self.query_one(field.widget)
            if not widget.disabled:  # a several-dataset recipe keeps its [[data.sources]]
                put_field(data, field.path, field.read(widget.value))
        data["sampler"].update(self.query_one(MixEditor).weights())
        return recipe_from_dict(data, source="compose")

    def action_save(self) -> None:
        """Save the form as the "save as" file; an existing file is overwritten only on a yes."""
        path = Path(self.query_one("#save-path", Input).value.strip() or "recipe.toml")
        try:
            recipe = self.form_recipe()
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        if not path.exists():
            self._save(recipe, path)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._save(recipe, path)
            else:
                self.notify(f"not saved: {path} exists; change the save-as name", timeout=5)

        question = plain(f"{path} already exists. Overwrite it with this form?")
        self.app.push_screen(
            ConfirmScreen(question, yes="Overwrite (y)", no="Keep it (n)"), answered
        )

    def _save(self, recipe, path: Path) -> None:
        try:
            save_recipe(recipe, path)
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        except OSError as err:
            self.app.show_error(HybridTuiError(f"could not write {path}: {err.strerror or err}"))
            return
        self.notify(f"saved {path}", timeout=3)
        self._refresh_recipe_files()

    def _refresh_recipe_files(self) -> None:
        select = self.query_one("#recipe-file", Select)
        select.set_options(_recipe_options())

    def action_launch(self) -> None:
        if self.launching:
            self.notify("a launch is already starting", severity="warning")
            return
        try:
            recipe = self.form_recipe()
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        self.launching = True
        self.query_one("#launch", Button).disabled = True
        data_dir = self.query_one("#data-dir", Input).value.strip() or None
        self._check_device_then_launch(recipe, data_dir)

    @work(thread=True, exclusive=True, group="device-check", exit_on_error=False)
    def _check_device_then_launch(self, recipe, data_dir: str | None) -> None:
        """Ask first when a trainer (direct or from the queue) already runs on that device."""
        try:
            busy = conflicts(recipe.train.device)
        except Exception as err:
            self.app.show_error(err, "checking the device")
            busy = []
        if busy:
            self.app.call_from_thread(self._confirm_launch, recipe, data_dir, busy)
        else:
            self.app.call_from_thread(self._start_launch, recipe, data_dir)

    def _confirm_launch(self, recipe, data_dir: str | None, busy: list) -> None:
        holders = "; ".join(f"{use.who} on {use.where}" for use in busy)
        question = Text.assemble(
            plain(f"Already training on that device: {holders}. Launch "),
            plain(recipe.name, style="bold"),
            " there too? (Both will run slower; the queue runs jobs one per device.)",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_launch(recipe, data_dir)
            else:
                self._launch_done(None, "not launched: the device is busy")

        self.app.push_screen(ConfirmScreen(question, yes="Launch (y)", no="Cancel (n)"), answered)

    def _start_launch(self, recipe, data_dir: str | None) -> None:
        starting = f"starting the trainer for {recipe.name} (it loads data and model first)…"
        self.query_one("#compose-status", Static).update(plain(starting))
        self.notify(starting, timeout=5)
        self._launch(recipe, data_dir)

    def action_add_to_queue(self) -> None:
        try:
            recipe = self.form_recipe()
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        data_dir = self.query_one("#data-dir", Input).value.strip() or None
        self._add_to_queue(recipe, data_dir)

    @work(thread=True, group="add-to-queue", exit_on_error=False)
    def _add_to_queue(self, recipe, data_dir: str | None) -> None:
        try:
            check_model_spec(recipe.model.spec)
            queued = recipe.model_copy(deep=True)
            if queued.tracking.uri is None:  # the trainer writes where this app reads
                queued.tracking.uri = self.app.tracking_uri
            (job,) = queue_recipes([queued], source="compose", data_dir=data_dir)
        except Exception as err:
            self.app.show_error(err, "adding to the queue")
            return
        self.post_message(JobQueued(job, running_scheduler() is not None))

    def on_job_queued(self, message: JobQueued) -> None:
        job = message.job
        hint = (
            ""
            if message.scheduler_running
            else f"; start the scheduler: `{command('queue start')}`"
        )
        line = f"queued job {job.id} ({job.name}); see it in Queue (j){hint}"
        self.query_one("#compose-status", Static).update(plain(line))
        self.notify(line, timeout=5)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, recipe, data_dir: str | None) -> None:
        from hybrid_tui.jobs.launch import TrainerStart, launch_detached
        from hybrid_tui.paths import state_dir
        from hybrid_tui.recipe import save_recipe
        from hybrid_tui.tui.compose.model_check import check_model_spec

        try:
            check_model_spec(recipe.model.spec)
            launched = recipe.model_copy(deep=True)
            if launched.tracking.uri is None:  # the trainer writes where this app reads
                launched.tracking.uri = self.app.tracking_uri
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = save_recipe(launched, state_dir() / "compose" / f"{recipe.name}-{stamp}.toml")
            job = launch_detached(TrainerStart(path, data_dir=data_dir))
        except Exception as err:
            self.app.show_error(err, "launching")
            self.app.call_from_thread(self._launch_done, None, str(err))
            return
        self.post_message(RunLaunched(job.run_id))

    def _launch_done(self, run_id: str | None, error: str = "") -> None:
        self.launching = False
        self.query_one("#launch", Button).disabled = False
        status = self.query_one("#compose-status", Static)
        status.update(plain(f"launched run {run_id}" if run_id else f"launch failed: {error}"))
        status.set_class(run_id is None, "-invalid")

    def on_run_launched(self, message: RunLaunched) -> None:
        self._launch_done(message.run_id)
        self.notify("trainer started; following it in Live", timeout=4)
        self.app.open_live(message.run_id)
