"""A recipe field of Compose (a number, a name, a path): an `Input` that leaves `?` to the app,
so `?` opens the keys there as on every other screen instead of being typed into a weight."""

from __future__ import annotations

from textual.widgets import Input


class FieldInput(Input):
    """Textual drops the app's bindings for every key an `Input` consumes; this one gives `?` back."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key != "question_mark" and super().check_consume_key(key, character)
