"""Lines of a user's data file (JSONL, TSV, gzipped JSONL) where every error names `file:line`.

Each line is decoded on its own, so a byte that is not UTF-8 names its line instead of failing
the whole file; a JSON line nested too deeply for the parser (`RecursionError`) is a bad line like
any other, never a traceback. Lines end at `\\n` only, as editors count them (`str.splitlines`
would also split inside a JSON string holding U+2028).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from hybrid_tui.errors import HybridTuiError


def numbered_lines(path: Path, gzipped: bool = False) -> Iterator[tuple[int, str]]:
    """`(line number from 1, text)` of a UTF-8 file (a leading byte-order mark is dropped)."""
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise HybridTuiError(
                    f"{path}:{number}: not UTF-8 text (byte {err.start + 1} of the line); "
                    "save the file as UTF-8"
                ) from None


def json_line(line: str, where: str) -> object:
    """One line's JSON value; a bad line is one `HybridTuiError` naming `where` (`file:line`)."""
    try:
        return json.loads(line)
    except RecursionError:
        raise HybridTuiError(
            f"{where}: JSON nested too deeply to read; give one flat JSON object per line"
        ) from None
    except ValueError as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise HybridTuiError(
            f"{where}: not valid JSON ({reason}); give one JSON object per line"
        ) from None
