"""Untrusted text made safe to show: run names, experiment names, tags, notes, recipe values,
model specs, filter strings and the errors that quote them come from users and the store.

Shown as they are, a `[/]` in a run name is read as rich or Textual markup (and the command
dies with a MarkupError), and an ESC or OSC sequence in a note retitles or reprograms the
user's terminal. `visible` writes every control character as an escape (`\\x1b`, `\\u202e`)
that the terminal prints instead of obeying; `plain` makes that a rich `Text`, which neither
rich nor Textual parses as markup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 (with TAB and LF), DEL and C1 (ESC, CSI, OSC...); the line and paragraph separators that
# break a line where no newline is seen; the bidirectional marks, embeddings, overrides and
# isolates that reorder what is shown.
_OTHER_CONTROLS = "\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x1f{_OTHER_CONTROLS}]")
_CONTROLS_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHER_CONTROLS}]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, newlines: bool = False) -> str:
    """`text` (anything, as `str()`) with every control character written as an escape, so a
    terminal shows it instead of obeying it; `newlines` keeps line feeds (a multi-line note)."""
    pattern = _CONTROLS_BUT_NEWLINE if newlines else _CONTROLS
    return pattern.sub(_escape, str(text))


def plain(text: object, style: str = "", newlines: bool = False) -> Text:
    """`visible(text)` as a rich `Text`: a table cell, title or widget content that rich and
    Textual show as written, never read as markup."""
    from rich.text import Text

    return Text(visible(text, newlines), style=style)


def markdown_cell(text: object) -> str:
    """`visible(text)` for one cell of a markdown table: a `|` would end the cell early."""
    return visible(text).replace("|", "\\|")
