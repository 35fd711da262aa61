"""The one error type users see: a single line that says what is wrong and how to fix it."""

from __future__ import annotations

# Exit code for bad input (recipe, data, CLI argument, model path), as documented in the README.
USAGE_EXIT_CODE = 2


class HybridTuiError(Exception):
    """A problem the user can fix. `str(err)` is the whole message: one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def first_sentence(err: BaseException, limit: int = 200) -> str:
    """The first sentence of a library's error message, to quote inside our one line: their
    messages run to several lines and sentences, and a fixed cut ends mid-word. A first sentence
    longer than `limit` ends at a word boundary with an ellipsis."""
    text = " ".join(str(err).split())
    if not text:
        return type(err).__name__
    end = text.find(". ")
    sentence = text[: end + 1] if end >= 0 else text
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0] + " …"
    return sentence.rstrip(".")
