"""Compose: edit a recipe (model, sampler mix, data, optimisation, device), load and save it as
TOML, and launch it (ctrl+r) as a detached trainer, then follow it in Live.

The form only collects values: `recipe.recipe_from_dict` validates them and `jobs.launch` starts
the trainer.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from hybrid_tui.devices import list_gpus
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tui.messages import GpusFound, MixChanged, RunLaunched
from hybrid_tui.tui.widgets.mix_editor import MixEditor

RECIPES_DIR = Path("recipes")
DEVICES = ["auto", "cpu"]
DATA_SOURCES = ["lareqa", "jsonl", "hub"]


def _row(label: str, *widgets, id: str | None = None) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), *widgets, classes="field", id=id)


def _parse(text: str, kind: type, field: str) -> Any:
    text = text.strip()
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise HybridTuiError(f"{field}: {text!r} is not a whole number") from None
    try:
        return float(text)
    except ValueError:
        raise HybridTuiError(f"{field}: {text!r} is not a number") from None


@dataclass(frozen=True)
class FormField:
    """One form widget and the recipe field it edits: the table that fills the form from a
    recipe and reads a recipe back from it. `kind`: text, int, float, optional_int, languages,
    or choice (a Select)."""

    widget: str
    path: tuple[str, ...]
    kind: str = "text"

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def shown(self, value: Any) -> Any:
        """The widget's value for a recipe value."""
        if self.kind == "choice":
            return value
        if self.kind == "languages":
            return ",".join(value or [])
        if value is None:
            return ""
        return f"{value:g}" if self.kind == "float" else str(value)

    def read(self, raw: Any) -> Any:
        """The recipe value for the widget's value (None: leave the field out)."""
        if self.kind == "choice":
            return raw
        text = str(raw).strip()
        if self.kind == "languages":
            return [lang.strip() for lang in text.split(",") if lang.strip()]
        if self.kind == "optional_int":
            return _parse(text, int, self.name) if text else None
        if self.kind in ("int", "float"):
            return _parse(text, int if self.kind == "int" else float, self.name)
        return text


FIELDS = (
    FormField("#name", ("name",)),
    FormField("#model-spec", ("model", "spec")),
    FormField("#data-source", ("data", "source"), "choice"),
    FormField("#data-dataset", ("data", "dataset")),
    FormField("#data-languages", ("data", "languages"), "languages"),
    FormField("#data-max-items", ("data", "max_items"), "optional_int"),
    FormField("#batch-size", ("train", "batch_size"), "int"),
    FormField("#steps", ("train", "steps"), "int"),
    FormField("#lr", ("train", "lr"), "float"),
    FormField("#seed", ("train", "seed"), "int"),
    FormField("#device", ("train", "device"), "choice"),
)


def _get(data: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _put(data: dict, path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    for key in parents:
        data = data.setdefault(key, {})
    if value is None:
        data.pop(last, None)
    else:
        data[last] = value


def recipe_files() -> list[Path]:
    if not RECIPES_DIR.is_dir():
        return []
    return sorted(RECIPES_DIR.rglob("*.toml"))


class ComposeScreen(Screen):
    BINDINGS = [
        Binding("ctrl+r", "launch", "Launch", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        from hybrid_tui.recipe import Recipe

        self.base: dict = Recipe().model_dump(mode="json", exclude_none=True)
        self.loaded_from: Path | None = None
        self.launching = False
        self.mix_error: str | None = None
        self.device_options: list[tuple[str, str]] = [(name, name) for name in DEVICES]

    def compose(self) -> ComposeResult:
        base = self.base
        yield Header()
        with VerticalScroll(id="compose-form"):
            files = [(str(path), str(path)) for path in recipe_files()]
            yield _row(
                "load recipe",
                Select(files, prompt="recipes/*.toml", id="recipe-file", compact=True),
            )
            yield _row("name", Input(id="name", compact=True))
            yield _row(
                "model",
                Input(
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
                Input(
                    placeholder="dataset / file / hub id",
                    id="data-dataset",
                    compact=True,
                ),
            )
            yield _row(
                "languages",
                Input(
                    placeholder="all (or e.g. ar,de,en)",
                    id="data-languages",
                    compact=True,
                ),
            )
            yield _row(
                "max items",
                Input(
                    placeholder="all",
                    id="data-max-items",
                    compact=True,
                ),
            )
            yield _row(
                "batch / steps",
                Input(id="batch-size", compact=True),
                Input(id="steps", compact=True),
            )
            yield _row(
                "lr / seed",
                Input(id="lr", compact=True),
                Input(id="seed", compact=True),
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
                Input(
                    self.app.data_dir or "",
                    placeholder="LAReQA folder ($HYBRID_TUI_DATA); empty: download",
                    id="data-dir",
                    compact=True,
                ),
            )
            yield _row(
                "save as",
                Input("", placeholder="recipes/NAME.toml", id="save-path", compact=True),
                Button("Save ^s", id="save", compact=True),
                Button("Launch ^r", id="launch", variant="success", compact=True),
            )
        yield Static("ctrl+r launches this recipe; escape leaves a field", id="compose-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_recipe(self.base)
        self._fill_save_path()
        self._find_models()
        self._find_gpus()
        self.query_one("#model-spec", Input).focus()

    # ------------------------------------------------------------------ background lookups

    @work(thread=True, group="models", exit_on_error=False)
    def _find_models(self) -> None:
        from hybrid_tui.models import list_models

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
        from hybrid_tui.tui.widgets.model_check import check_model_spec

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
        status.update(line if ok else f"[b]model:[/b] {line}")
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

    def action_leave_field(self) -> None:
        self.set_focus(None)

    def _fill_save_path(self) -> None:
        name = self.query_one("#name", Input).value.strip() or "recipe"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
        self.query_one("#save-path", Input).value = str(RECIPES_DIR / f"{safe}.toml")

    # ------------------------------------------------------------------ recipe in and out

    def load(self, path: Path) -> None:
        """Fill the form from a recipe file (errors are shown, the form is left as it was)."""
        from hybrid_tui.recipe import load_recipe

        try:
            recipe = load_recipe(path)
        except HybridTuiError as err:
            self.app.show_error(err)
            return
        self.base = recipe.model_dump(mode="json", exclude_none=True)
        self.loaded_from = path
        self._show_recipe(self.base)
        self.query_one("#save-path", Input).value = str(path)
        self.notify(f"loaded {path}", timeout=3)

    def _show_recipe(self, recipe: dict) -> None:
        """Fill every field from a recipe dict (the mix editor takes the sampler weights)."""
        device = recipe["train"]["device"]
        if device not in {value for _, value in self.device_options}:
            self.device_options.append((device, device))
            self.query_one("#device", Select).set_options(self.device_options)
        for field in FIELDS:
            self.query_one(field.widget).value = field.shown(_get(recipe, field.path))
        self.query_one(MixEditor).set_weights(recipe["sampler"])

    def form_recipe(self):
        """The recipe the form describes; raises `HybridTuiError` naming the field to fix."""
        from hybrid_tui.recipe import recipe_from_dict

        data = copy.deepcopy(self.base)
        for field in FIELDS:
            _put(data, field.path, field.read(self.query_one(field.widget).value))
        data["sampler"].update(self.query_one(MixEditor).weights())
        return recipe_from_dict(data, source="compose")

    def action_save(self) -> None:
        from hybrid_tui.recipe import save_recipe

        path = Path(self.query_one("#save-path", Input).value.strip() or "recipe.toml")
        try:
            recipe = self.form_recipe()
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
        select.set_options([(str(path), str(path)) for path in recipe_files()])

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
        starting = f"starting the trainer for {recipe.name} (it loads data and model first)…"
        self.query_one("#compose-status", Static).update(starting)
        self.notify(starting, timeout=5)
        data_dir = self.query_one("#data-dir", Input).value.strip() or None
        self._launch(recipe, data_dir)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, recipe, data_dir: str | None) -> None:
        from hybrid_tui.jobs import launch
        from hybrid_tui.recipe import save_recipe
        from hybrid_tui.run_files import state_dir
        from hybrid_tui.tui.widgets.model_check import check_model_spec

        try:
            check_model_spec(recipe.model.spec)
            launched = recipe.model_copy(deep=True)
            if launched.tracking.uri is None:  # the trainer writes where this app reads
                launched.tracking.uri = self.app.tracking_uri
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = save_recipe(launched, state_dir() / "compose" / f"{recipe.name}-{stamp}.toml")
            job = launch(path, data_dir=data_dir)
        except Exception as err:
            self.app.show_error(err, "launching")
            self.app.call_from_thread(self._launch_done, None, str(err))
            return
        self.post_message(RunLaunched(job.run_id))

    def _launch_done(self, run_id: str | None, error: str = "") -> None:
        self.launching = False
        self.query_one("#launch", Button).disabled = False
        status = self.query_one("#compose-status", Static)
        status.update(f"launched run {run_id}" if run_id else f"launch failed: {error}")
        status.set_class(run_id is None, "-invalid")

    def on_run_launched(self, message: RunLaunched) -> None:
        self._launch_done(message.run_id)
        self.notify("trainer started; following it in Live", timeout=4)
        self.app.open_live(message.run_id)
