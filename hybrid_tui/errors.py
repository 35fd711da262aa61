"""The one error type users see: a single line that says what is wrong and how to fix it."""

from __future__ import annotations

# Exit code for bad input (recipe, data, CLI argument, model path), as documented in the README.
USAGE_EXIT_CODE = 2


class HybridTuiError(Exception):
    """A problem the user can fix. `str(err)` is the whole message: one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
