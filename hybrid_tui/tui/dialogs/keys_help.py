"""`?` (or F1): every key of the screen underneath, its own keys first, then the keys that work
everywhere, then the focused field's (and what the field wants, from its `HELP`).

Textual's help panel lists the focused widget's keys first (the table's cursor keys), so at
80x24 the screen's own keys were below the fold of a panel that cannot scroll; this one puts
them first and scrolls with the arrow keys.
"""

from __future__ import annotations

from textwrap import dedent

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static


class KeysHelpScreen(ModalScreen[None]):
    """The keys of `screen`, read when `?` was pressed; escape, q or `?` closes it."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Close"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.table = keys_table(screen)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="keys-help"):
            yield Static(self.table, id="keys-help-table")

    def on_mount(self) -> None:
        self.query_one("#keys-help", VerticalScroll).focus()  # ↑/↓ pgup/pgdn scroll the list


def keys_table(screen: Screen) -> Table:
    """The screen's keys grouped by where they belong: the screen, everywhere, the field."""
    groups: dict[object, list[tuple[str, str]]] = {}
    for namespace, binding, _enabled, _tooltip in screen.active_bindings.values():
        if binding.system or not binding.description:
            continue
        rows = groups.setdefault(namespace, [])
        key = screen.app.get_key_display(binding)
        for index, (keys, description) in enumerate(rows):
            if description == binding.description:  # two keys for one action: one row
                rows[index] = (f"{keys} {key}", description)
                break
        else:
            rows.append((key, binding.description))
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold")
    table.add_column()
    title = f"{type(screen).__name__.removesuffix('Screen')} keys"
    sections = [(title, groups.pop(screen, []))]
    sections.append(("everywhere", groups.pop(screen.app, [])))
    sections += [("in this field", rows) for rows in groups.values()]
    field_help = _field_help(screen.focused)
    for heading, rows in sections:
        if heading == "in this field" and field_help:
            table.add_row("", Text(field_help, style="italic"))
            field_help = ""
        if not rows:
            continue
        table.add_row("", Text(heading, style="underline"))
        for keys, description in rows:
            table.add_row(keys, description)
    if field_help:
        table.add_row("", Text("in this field", style="underline"))
        table.add_row("", Text(field_help, style="italic"))
    table.add_row("", Text("escape, q or ? closes this", style="dim"))
    return table


def _field_help(focused: Widget | None) -> str:
    """The HELP text of the focused widget or the nearest container that has one."""
    node = focused
    while isinstance(node, Widget):
        if node.HELP:
            return dedent(node.HELP).strip()
        node = node.parent
    return ""
