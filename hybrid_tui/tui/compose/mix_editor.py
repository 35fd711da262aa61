"""The sampler mix editor: mono / cross / multi weights, validated as you type, with α shown."""

from __future__ import annotations

from pydantic import ValidationError
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from hybrid_tui.display_text import plain
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import BATCH_TYPES, SamplerConfig, describe_validation_error
from hybrid_tui.tui.messages import MixChanged
from hybrid_tui.tui.widgets.field_input import FieldInput


class MixEditor(Vertical):
    """Three weight inputs and a line saying what the mix means (or what is wrong with it)."""

    HELP = """
    The mix: type a weight for each batch type (mono, cross, multi); tab / shift+tab move
    between the weights, backspace erases. The weights are shares of the batches (0.5 0.5 0
    is half mono, half cross); α, the mono share, is shown while multi is 0.
    """

    def __init__(self, weights: dict[str, float] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = weights or {"mono": 0.5, "cross": 0.5, "multi": 0.0}
        self.error: str | None = None
        self.label = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="mix-weights"):
            for kind in BATCH_TYPES:
                yield Label(kind, classes="mix-label")
                yield FieldInput(
                    _number(self._initial.get(kind, 0.0)),
                    id=f"mix-{kind}",
                    classes="mix-input",
                    compact=True,
                )
        yield Static("", id="mix-summary")

    def on_mount(self) -> None:
        self._validate()

    def set_weights(self, weights: dict[str, float]) -> None:
        for kind in BATCH_TYPES:
            self.query_one(f"#mix-{kind}", Input).value = _number(weights.get(kind, 0.0))
        self._validate()

    def weights(self) -> dict[str, float]:
        """The typed weights as numbers; raises `HybridTuiError` for text that is not a number."""
        values = {}
        for kind in BATCH_TYPES:
            text = self.query_one(f"#mix-{kind}", Input).value.strip() or "0"
            try:
                values[kind] = float(text)
            except ValueError:
                raise HybridTuiError(f"sampler.{kind}: {text!r} is not a number") from None
        return values

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("mix-"):
            event.stop()
            self._validate()

    def _validate(self) -> None:
        summary = self.query_one("#mix-summary", Static)
        weights = alpha = None
        try:
            sampler = SamplerConfig(**self.weights())
        except HybridTuiError as err:
            self.error = str(err)
        except ValidationError as err:
            self.error = "sampler." + describe_validation_error(err)
        else:
            self.error = None
            weights, alpha = sampler.weights(), sampler.alpha
            self.label = sampler.describe()
        if self.error:
            summary.update(Text.assemble(("invalid mix", "bold"), ": ", plain(self.error)))
            summary.add_class("-invalid")
        else:
            assert weights is not None
            shares = "  ".join(f"{kind} {weights[kind]:.0%}" for kind in BATCH_TYPES)
            alpha_text = f"α = {alpha:.2f}" if alpha is not None else "α: n/a (multi > 0)"
            summary.update(f"{alpha_text}   {shares}   → {self.label}")
            summary.remove_class("-invalid")
        self.post_message(MixChanged(weights, alpha, self.label, self.error))


def _number(value: float) -> str:
    return f"{value:g}"
