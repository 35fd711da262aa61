"""Training processes: launch detached (they outlive the terminal and the TUI), find, cancel, reconcile.

A trainer records itself in `<state>/runs/<run_id>/job.json` (pid and the process start time, so a
reused pid is not mistaken for it). Before a signal, and before a run counts as training, the
process must also be that run's trainer (`trainer_process`): an edited or stale record never gets
another process killed. `reconcile` marks runs whose trainer is gone (kill -9, OOM, power loss)
as FAILED, with the log tail as an artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.process import another_users, trainer_process
from hybrid_tui.runs.files import RunFiles, local_run_id, process_start_ticks, state_dir

LAUNCH_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Job:
    run_id: str
    pid: int
    start_ticks: int | None
    log_path: Path


@dataclass(frozen=True)
class Spawned:
    """A trainer process just started: it writes its run id to `announce` once the run exists,
    and its output to `log_path` (moved to the run's `trainer.log` then, same file)."""

    process: subprocess.Popen
    token: str
    announce: Path
    log_path: Path


def launch_files(token: str) -> tuple[Path, Path]:
    """The announce file and the launch log of the launch named `token`."""
    launches = state_dir() / "launches"
    return launches / f"{token}.run_id", launches / f"{token}.log"


def spawn(
    recipe_path: str | os.PathLike,
    data_dir: str | None = None,
    resume: str | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    nproc: int = 1,
    cwd: str | os.PathLike | None = None,
    token: str | None = None,
) -> Spawned:
    """Start `hybrid-tui train` in its own session (it survives the terminal) and return at once.

    `env` is added to this process's environment (the queue sets `CUDA_VISIBLE_DEVICES`);
    `nproc > 1` runs it under `torchrun --standalone --nproc_per_node N` (one rank per GPU).
    """
    token = token or uuid.uuid4().hex[:12]
    announce, log_path = launch_files(token)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m"]
    if nproc > 1:
        command += ["torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m"]
    command += ["hybrid_tui", "train", "--announce", str(announce)]
    command += ["--resume", resume] if resume else [str(Path(recipe_path).resolve())]
    if data_dir:
        command += ["--data-dir", str(Path(data_dir).expanduser().resolve())]
    for override in overrides:
        command += ["--set", override]
    full_env = {**os.environ, **(env or {})}
    full_env |= {"HYBRID_TUI_LOG_FILE": str(log_path), "PYTHONUNBUFFERED": "1"}
    full_env["HYBRID_TUI_HOME"] = str(state_dir())
    process = start_detached(command, full_env, log_path, cwd)
    return Spawned(process, token, announce, log_path)


def start_detached(
    command: list[str], env: dict[str, str], log_path: Path, cwd: str | Path | None = None
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


def launch(
    recipe_path: str | os.PathLike,
    data_dir: str | None = None,
    resume: str | None = None,
    timeout_s: float = LAUNCH_TIMEOUT_S,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Job:
    """Start a detached trainer (`spawn`) and wait until it announces its run id.

    The trainer validates data and model before it creates a run; if it exits first, its error
    line becomes a `HybridTuiError` here.
    """
    spawned = spawn(recipe_path, data_dir, resume, overrides=overrides, env=env)
    process, announce, log_path = spawned.process, spawned.announce, spawned.log_path
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = announced_run_id(announce)
        if run_id:
            announce.unlink(missing_ok=True)
            job = job_for(run_id)
            return job or Job(run_id, process.pid, None, RunFiles.for_run(run_id).log)
        code = process.poll()
        if code is not None:
            raise HybridTuiError(error_line(log_path) or f"trainer exited with code {code}")
        time.sleep(0.05)
    raise HybridTuiError(f"the trainer did not start within {timeout_s:.0f}s; see {log_path}")


def error_line(log_path: Path) -> str | None:
    """The trainer's `error: ...` line (bad input), or the last line of a crash."""
    lines = tail(log_path, 30).splitlines()
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1].strip() if lines else None


def job_for(run_id: str) -> Job | None:
    """The run's job record; None without one (or with one that names no pid)."""
    files = RunFiles.for_run(run_id)
    try:
        record = json.loads(files.job.read_text(encoding="utf-8"))
        pid = int(record["pid"])
    except (OSError, ValueError, TypeError, KeyError):  # JSONDecodeError is a ValueError
        return None
    ticks = record.get("start_ticks")
    return Job(
        run_id,
        pid,
        ticks if isinstance(ticks, int) else None,
        Path(record.get("log") or files.log),
    )


def is_alive(job: Job) -> bool:
    """True if the job's process still runs (and is the same process, not a reused pid)."""
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    ticks = process_start_ticks(job.pid)
    if ticks is not None and job.start_ticks is not None and ticks != job.start_ticks:
        return False
    return not _is_zombie(job.pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def full_run_id(text: str, tracker) -> str:
    """The whole run id that `text` names, so a prefix from `hybrid-tui runs` finds its trainer:
    the run with local files on this machine that `text` names (its run may live in another
    store), else the tracker's `resolve_run_id` (one line for unknown or ambiguous)."""
    try:
        return local_run_id(text)
    except HybridTuiError:
        return tracker.resolve_run_id(text)


def cancel(run_id: str, timeout_s: float = 30.0) -> bool:
    """Ask the trainer to stop (SIGTERM: it checkpoints and ends the run KILLED). False if not
    running; a `HybridTuiError` (nothing signalled) when the recorded process is another one."""
    job = job_for(run_id)
    if job is None or not is_alive(job):
        return False
    process = trainer_process(job.pid, job.start_ticks, run_id=run_id)
    if process is None:
        raise HybridTuiError(
            f"process {job.pid} in {RunFiles.for_run(run_id).job} is not the trainer of run "
            f"{run_id[:8]}; nothing was signalled (its trainer is gone: `{command('runs')}` "
            "marks the run FAILED)"
        )
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_alive(job):
        time.sleep(0.1)
    return True


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a text file ('' if it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def reconcile(tracker) -> list[str]:
    """Mark RUNNING runs whose trainer is gone as FAILED (log tail as artifact); return their ids.

    Only runs with a local job record are judged: a run started on another machine is left alone.
    A live process that is not the run's trainer (a reused pid, an edited record) is no trainer.
    """
    failed = []
    for run in tracker.list_runs(status="RUNNING"):
        job = job_for(run.run_id)
        if job is None or trainer_process(job.pid, job.start_ticks, run_id=run.run_id):
            continue
        if another_users(job.pid, job.start_ticks):  # cannot tell: left alone, never signalled
            continue
        log_tail = tail(job.log_path, 60) or "(no trainer log)"
        with contextlib.suppress(Exception):  # a full disk: the mark matters more than the tail
            tracker.log_text(
                run.run_id, f"trainer process {job.pid} is gone\n\n{log_tail}", "error.txt"
            )
        if tracker.mark_failed(run.run_id):  # else the store is unwritable: the next look retries
            failed.append(run.run_id)
    return failed
