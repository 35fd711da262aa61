"""`hybrid-tui ARGS` as the user can type it, for every printed hint. After the README's install
(a venv, never activated) `hybrid-tui` is not on PATH, so a hint saying bare `hybrid-tui` would
fail as written: there it names the venv's script instead (`.venv/bin/hybrid-tui runs`)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

NAME = "hybrid-tui"


def command(args: str = "") -> str:
    """`hybrid-tui ARGS` where PATH finds this install's script; else the script's path (relative
    to the working directory where that is shorter) followed by ARGS."""
    script = Path(sys.executable).parent / NAME
    found = shutil.which(NAME)
    typed = NAME
    if script.is_file() and not (found and _same_file(found, script)):
        absolute = str(script.absolute())
        try:
            relative = os.path.relpath(absolute)
        except ValueError:  # another drive (Windows)
            relative = absolute
        typed = min(relative, absolute, key=len)
        if os.sep not in typed:
            typed = os.path.join(".", typed)  # a bare name would be looked up on PATH
    return f"{typed} {args}".rstrip()


def _same_file(one: str | Path, other: str | Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False
