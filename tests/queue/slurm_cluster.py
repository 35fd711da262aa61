"""A real single-node Slurm cluster for the queue's Slurm tests: `.ci/slurm-up.sh` installs
Debian's slurm-wlm and munge where missing (apt, as root) and starts munged, slurmctld and
slurmd; the tests skip, saying why, where it cannot (no root, no apt). Import the fixture:
`from tests.queue.slurm_cluster import slurm_cluster`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The cluster's node state line; skips the test where no cluster can be started."""
    done = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm-up.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    said = (done.stdout + done.stderr).strip()
    if "skipped" in said:
        pytest.skip(f"no Slurm cluster here: {said}")
    assert done.returncode == 0, said
    return said


def squeue_ids(name_prefix: str = "hybrid-tui-") -> list[str]:
    """The ids of the queue's jobs Slurm still schedules (pending or running)."""
    done = subprocess.run(
        ["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, check=True
    )
    return [
        line.split()[0]
        for line in done.stdout.splitlines()
        if line.split()[1:] and line.split()[1].startswith(name_prefix)
    ]
