"""Run a script that spawns gloo ranks (its arguments: a file rendezvous and rank 0's output
path) and read what rank 0 wrote: the distributed tests' one way to start ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def rank0_result(script_text: str, tmp_path: Path):
    """Rank 0's JSON once every rank of `script_text` ended (its stderr on a failure)."""
    script = tmp_path / "ranks.py"
    script.write_text(script_text)
    out = tmp_path / "rank0.json"
    done = subprocess.run(
        [sys.executable, str(script), f"file://{tmp_path / 'rendezvous'}", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())
