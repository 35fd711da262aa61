"""The config file's `[queue]` table gives `queue start` its defaults (issue 24): the file is read
(its `backend = "slurm"` meets the local-store refusal), a flag on the command line wins, the user
is told where a setting came from, and a wrong file is one line with nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_tui.queue.slurm import SlurmOptions
from tests.conftest import cli_in_process, one_error_line

SLURM_FILE = """\
[queue]
backend = "slurm"
partition = "gpu"
time = "4:00:00"
sbatch_arg = ["mem=16G"]
"""


def _config(workdir: Path, text: str) -> Path:
    path = workdir / ".hybrid-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _no_scheduler(workdir: Path) -> None:
    assert not (workdir / ".hybrid-tui" / "queue.scheduler.json").exists()


def test_the_files_slurm_backend_meets_the_local_store_refusal(run_cli, workdir: Path) -> None:
    """Nothing on the command line says Slurm: only the file does, and the refusal names it."""
    path = _config(workdir, SLURM_FILE)
    done = run_cli("queue", "start")
    try:
        line = one_error_line(done)
    finally:
        if done.returncode == 0:  # a local scheduler started (the file unread): stop it
            run_cli("queue", "stop")
    assert "cannot hand jobs to Slurm" in line and "--shared-dir" in line
    assert f"defaults from {path}: backend=slurm, partition=gpu" in line
    _no_scheduler(workdir)


def test_a_flag_wins_over_the_file_and_the_user_sees_what_came_from_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(workdir, SLURM_FILE + "shared_dir = true\n")
    started: list[SlurmOptions | None] = []

    class Started:
        log = workdir / "scheduler.log"

        def describe(self) -> str:
            return "slurm"

    def start_scheduler(slots, slurm=None):
        started.append(slurm)
        return Started()

    monkeypatch.setattr("hybrid_tui.queue.daemon.start_scheduler", start_scheduler)
    done = cli_in_process(workdir, "queue", "start", "--partition", "debug", "--nodes", "2")
    assert done.returncode == 0, done.stderr
    (slurm,) = started
    assert (slurm.partition, slurm.nodes, slurm.time) == ("debug", 2, "4:00:00")
    assert slurm.sbatch_args == ("--mem=16G",) and slurm.shared_dir
    told, started_line = done.stdout.splitlines()
    assert told == (
        f'defaults from {path}: backend=slurm, time=4:00:00, sbatch_arg=["mem=16G"], '
        "shared_dir=true"
    )
    assert started_line.startswith("scheduler started (slurm)")


def test_backend_local_on_the_command_line_takes_the_files_local_keys_only(
    run_cli, workdir: Path
) -> None:
    """The file holds both backends' keys: `--backend local` leaves its Slurm ones."""
    path = _config(workdir, SLURM_FILE + "slots = 2\n")
    done = run_cli("queue", "start", "--backend", "local", check_code=0)
    try:
        told, started_line = done.stdout.splitlines()
        assert told == f"defaults from {path}: slots=2"
        assert started_line.startswith("scheduler started") and "2 CPU slots" in started_line
    finally:
        run_cli("queue", "stop", check_code=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[queue\nbackend = 'slurm'\n", ["is not valid TOML", "line 1", "fix the file"]),
        ('[queue]\npartiton = "gpu"\n', ["[queue] has no key 'partiton'", "partition"]),
        ('[queue]\nnodes = "2"\n', ["[queue] nodes is a string", "give a whole number"]),
        ("[queue]\nshared-dir = 1\n", ["[queue] shared-dir is an integer", "true or false"]),
        ('[queue]\nsbatch_arg = "mem=16G"\n', ["sbatch_arg is a string", '["mem=16G"]']),
        ("queue = 3\n", ["`queue` is an integer", "make it a table"]),
    ],
    ids=["malformed", "unknown-key", "wrong-type", "int-for-bool", "string-for-list", "no-table"],
)
def test_a_wrong_file_is_one_line_and_starts_nothing(
    run_cli, workdir: Path, text: str, expected: list[str]
) -> None:
    path = _config(workdir, text)
    done = run_cli("queue", "start", "--slots", "1")
    try:
        line = one_error_line(done)
    finally:
        if done.returncode == 0:  # started (the file unread): stop it before failing
            run_cli("queue", "stop")
    assert str(path) in line
    for part in expected:
        assert part in line, (part, line)
    _no_scheduler(workdir)


def test_a_broken_file_breaks_only_queue_start_not_its_help(run_cli, workdir: Path) -> None:
    _config(workdir, "[queue\n")
    done = cli_in_process(workdir, "queue", "start", "--help")
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())  # as wrapped at any terminal width
    assert "[queue] table of config.toml in the state dir" in help_text
    assert "a flag wins over the file" in help_text
    assert "no jobs queued" in run_cli("queue", "ls", check_code=0).stdout
