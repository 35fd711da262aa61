"""A command run as a user runs it, in a fresh process, with the modules it loaded: what the
start-up and read-cost tests check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def cli_in_fresh_process(workdir: Path, *args: str) -> tuple[str, str, set[str]]:
    """`hybrid-tui ARGS` in `workdir`: its stdout, its stderr, and every module it loaded."""
    code = (
        "import sys\n"
        f"sys.argv = ['hybrid-tui', *{list(args)!r}]\n"
        "from hybrid_tui import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, check=True
    )
    out, _, modules = done.stdout.rpartition("MODULES ")
    return out, done.stderr, set(modules.split())
