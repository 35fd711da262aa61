"""THE way a trainer process is started: `start_trainer(TrainerStart(...))`. Every start goes
through it: `train --detach`, `train --resume` detached, Compose and the app's resume
(`launch_detached`), the queue's scheduler, the study and the demo (`run_attached`).

It only starts the process; it writes no record. The record of a process is written once, by
whoever owns it: a direct trainer writes its pid to `<state>/runs/<id>/job.json`; a queued
trainer's pid lives in its `queue.db` row (written by the scheduler), and its `job.json` only
points at that row (`jobs.record`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.record import Job, job_for
from hybrid_tui.paths import HOME_ENV, LOG_FILE_ENV, state_dir
from hybrid_tui.runs.files import RunFiles, process_start_ticks
from hybrid_tui.runs.logs import error_line

LAUNCH_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class TrainerStart:
    """What to train and how: a recipe (or `resume`, a run id), with `data_dir`, `--set`
    `overrides`, extra `env` (the queue's `CUDA_VISIBLE_DEVICES` and job id), `nproc` ranks
    (> 1: torchrun), the working dir, and the launch `token` naming its announce and log files.
    `attached`: a foreground child writing to this terminal (the study, the demo) instead of a
    detached one writing to its launch log."""

    recipe_path: str | os.PathLike | None = None
    resume: str | None = None
    data_dir: str | None = None
    overrides: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    nproc: int = 1
    cwd: str | os.PathLike | None = None
    token: str | None = None
    attached: bool = False

    def command(self, announce: Path) -> list[str]:
        """`python -m hybrid_tui train ...` (under torchrun for several ranks)."""
        command = [sys.executable, "-m"]
        if self.nproc > 1:
            command += ["torch.distributed.run", "--standalone", f"--nproc_per_node={self.nproc}"]
            command += ["-m"]
        command += ["hybrid_tui", "train", "--announce", str(announce)]
        if self.resume:
            command += ["--resume", self.resume]
        else:
            command += [str(Path(self.recipe_path or "").resolve())]
        if self.data_dir:
            command += ["--data-dir", str(Path(self.data_dir).expanduser().resolve())]
        for override in self.overrides:
            command += ["--set", override]
        return command


@dataclass(frozen=True)
class Spawned:
    """A trainer process just started: it writes its run id to `announce` once the run exists,
    and (detached) its output to `log_path` (moved to the run's `trainer.log` then, same file)."""

    process: subprocess.Popen
    token: str
    announce: Path
    log_path: Path


def launch_files(token: str) -> tuple[Path, Path]:
    """The announce file and the launch log of the launch named `token`."""
    launches = state_dir() / "launches"
    return launches / f"{token}.run_id", launches / f"{token}.log"


def start_trainer(request: TrainerStart) -> Spawned:
    """Start `hybrid-tui train` as `request` says and return at once. Detached, it runs in its
    own session (it survives the terminal and the app), output to its launch log; attached, it
    shares this terminal (the caller waits for it)."""
    token = request.token or uuid.uuid4().hex[:12]
    announce, log_path = launch_files(token)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **request.env, HOME_ENV: str(state_dir())}
    command = request.command(announce)
    if request.attached:
        cwd = str(request.cwd) if request.cwd else None
        return Spawned(subprocess.Popen(command, env=env, cwd=cwd), token, announce, log_path)
    env |= {LOG_FILE_ENV: str(log_path), "PYTHONUNBUFFERED": "1"}
    process = start_detached(command, env, log_path, request.cwd)
    return Spawned(process, token, announce, log_path)


def start_detached(
    command: list[str], env: dict[str, str], log_path: Path, cwd: str | os.PathLike | None = None
) -> subprocess.Popen:
    """Start `command` in a new session (it outlives the terminal and the app), output appended
    to `log_path`: how trainers and the queue's scheduler are started."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=str(cwd) if cwd else os.getcwd(),
        )


def announced_run_id(announce: Path) -> str | None:
    """The run id a trainer announced (None until its run exists)."""
    try:
        return announce.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def launch_detached(request: TrainerStart, timeout_s: float = LAUNCH_TIMEOUT_S) -> Job:
    """Start a detached trainer and wait until it announces its run id: `train --detach`,
    Compose and the app's resume.

    The trainer validates data and model before it creates a run; if it exits first, its error
    line becomes a `HybridTuiError` here.
    """
    spawned = start_trainer(request)
    process, announce, log_path = spawned.process, spawned.announce, spawned.log_path
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = announced_run_id(announce)
        if run_id:
            announce.unlink(missing_ok=True)
            job = job_for(run_id)
            ticks = process_start_ticks(process.pid)
            return job or Job(run_id, process.pid, ticks, RunFiles.for_run(run_id).log)
        code = process.poll()
        if code is not None:
            raise HybridTuiError(error_line(log_path) or f"trainer exited with code {code}")
        time.sleep(0.05)
    raise HybridTuiError(f"the trainer did not start within {timeout_s:.0f}s; see {log_path}")


def run_attached(request: TrainerStart) -> tuple[int, str | None]:
    """Train in a foreground child sharing this terminal (the study, the demo) and wait for it:
    its exit code and the run id it announced (None if it ended before creating its run)."""
    spawned = start_trainer(replace(request, attached=True))
    code = spawned.process.wait()
    run_id = announced_run_id(spawned.announce)
    spawned.announce.unlink(missing_ok=True)
    return code, run_id
