"""The table between Compose's widgets and the recipe fields they edit: how a recipe value is
shown in its widget and read back from it (numbers checked, languages split)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybrid_tui.errors import HybridTuiError


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
    FormField("#eval-max-questions", ("eval", "max_questions"), "optional_int"),
    FormField("#eval-languages", ("eval", "languages"), "languages"),
    FormField("#device", ("train", "device"), "choice"),
)


def get_field(data: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def put_field(data: dict, path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    for key in parents:
        data = data.setdefault(key, {})
    if value is None:
        data.pop(last, None)
    else:
        data[last] = value
