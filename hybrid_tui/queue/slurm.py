"""Slurm's commands as the queue uses them: `sbatch --parsable`, `squeue`, `scontrol show job`,
`scancel` (argument lists, never a shell), the batch script a job runs, and THE table from a
Slurm job state to what the queue does with it.

Why sbatch and not submitit: submitit pickles a Python callable and runs it under its own runner,
but our trainer is already a command line (`python -m hybrid_tui train RECIPE --announce FILE`)
whose announce file, events, log and SIGTERM-then-checkpoint contract the queue owns; one
`sbatch --parsable` with that command is all a submission needs, and no dependency is added.
States are read with `squeue` while Slurm holds the job and `scontrol show job` after (sacct
needs slurmdbd, which many clusters and our CI lack).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass

from hybrid_tui.errors import HybridTuiError

# What the queue does with a Slurm job in each state.
WAITING = "waiting"  # Slurm holds it but no trainer runs yet: the row is running, shown pending
TRAINING = "training"  # the trainer runs
BY_RUN = "by_run"  # it ended by itself: the run's end status decides (finished/failed/killed)
KILLED = "killed"  # someone cancelled it
FAILED = "failed"  # it could not run to its end (node lost, out of memory, bad exit)
RESUBMIT = "resubmit"  # Slurm stopped it (time limit, preemption): again, from its checkpoint

SLURM_STATE_ACTION: dict[str, str] = {
    "PENDING": WAITING,
    "CONFIGURING": WAITING,
    "REQUEUED": WAITING,
    "REQUEUE_HOLD": WAITING,
    "REQUEUE_FED": WAITING,
    "RESV_DEL_HOLD": WAITING,
    "SUSPENDED": TRAINING,
    "RUNNING": TRAINING,
    "COMPLETING": TRAINING,
    "SIGNALING": TRAINING,
    "STAGE_OUT": TRAINING,
    "RESIZING": TRAINING,
    "COMPLETED": BY_RUN,
    "CANCELLED": KILLED,
    "FAILED": FAILED,
    "NODE_FAIL": FAILED,
    "OUT_OF_MEMORY": FAILED,
    "BOOT_FAIL": FAILED,
    "DEADLINE": FAILED,
    "SPECIAL_EXIT": FAILED,
    "REVOKED": FAILED,
    "TIMEOUT": RESUBMIT,
    "PREEMPTED": RESUBMIT,
}

COMMAND_TIMEOUT_S = 60.0
RDZV_PORT = 29500


def action(state: str) -> str:
    """What the queue does with a job in Slurm `state` (`CANCELLED by 0` reads as CANCELLED);
    a state this table does not know is waited on, never judged."""
    word = state.strip().split(" ")[0].rstrip("+").upper()
    return SLURM_STATE_ACTION.get(word, WAITING)


@dataclass(frozen=True)
class SlurmJob:
    """One job as Slurm reports it."""

    slurm_id: str
    state: str
    reason: str = ""
    exit_code: str = ""


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    """`squeue -h -t all -o %i|%T|%r` lines -> jobs by id."""
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0]:
            jobs[parts[0]] = SlurmJob(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
    return jobs


def parse_scontrol(text: str) -> SlurmJob | None:
    """`scontrol show job ID`'s `Key=Value` text -> the job (None when Slurm does not know it)."""
    fields = dict(re.findall(r"(\w[\w/:]*)=(\S*)", text))
    if "JobId" not in fields or "JobState" not in fields:
        return None
    return SlurmJob(
        fields["JobId"], fields["JobState"], fields.get("Reason", ""), fields.get("ExitCode", "")
    )


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            env=env,
        )
    except FileNotFoundError as err:
        raise HybridTuiError(
            f"{command[0]} is not on PATH: the Slurm backend needs Slurm's commands (run the "
            "queue on a login node of the cluster)"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise HybridTuiError(
            f"`{shlex.join(command)}` did not answer in {COMMAND_TIMEOUT_S:.0f}s"
        ) from err


def job_states(slurm_ids: list[str]) -> dict[str, SlurmJob]:
    """The state of each job Slurm still knows (`squeue` holds ended jobs for MinJobAge; the
    ones it has dropped are asked of `scontrol show job`, and missing if Slurm forgot them)."""
    if not slurm_ids:
        return {}
    result = _run(["squeue", "-h", "-t", "all", "-j", ",".join(slurm_ids), "-o", "%i|%T|%r"])
    if result.returncode != 0 and not _unknown_id(result.stderr):
        raise HybridTuiError(f"squeue failed: {' '.join(result.stderr.split())}")
    jobs = parse_squeue(result.stdout) if result.returncode == 0 else {}
    for slurm_id in slurm_ids:
        if slurm_id not in jobs:
            shown = _run(["scontrol", "show", "job", slurm_id])
            if shown.returncode != 0 and not _unknown_id(shown.stderr):
                # never judged on a silent Slurm (slurmctld restarting): the next pass asks again
                raise HybridTuiError(f"scontrol failed: {' '.join(shown.stderr.split())}")
            job = parse_scontrol(shown.stdout) if shown.returncode == 0 else None
            if job is not None:
                jobs[slurm_id] = job
    return jobs


def _unknown_id(stderr: str) -> bool:
    """Slurm's answer for a job it no longer holds (ended longer than MinJobAge ago)."""
    return "Invalid job id" in stderr


def find_by_name(name: str) -> str | None:
    """The id of the newest job Slurm knows by `name` (a submission whose id was not recorded)."""
    result = _run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%i"])
    if result.returncode != 0:  # not "none": the job would be submitted twice
        raise HybridTuiError(f"squeue failed: {' '.join(result.stderr.split())}")
    ids = [line.strip() for line in result.stdout.splitlines() if line.strip().isdigit()]
    return max(ids, key=int) if ids else None


def submit(script_path: str, args: list[str], env: dict[str, str]) -> str:
    """`sbatch --parsable ARGS SCRIPT` -> the Slurm job id; Slurm's refusal as one line."""
    result = _run(["sbatch", "--parsable", *args, script_path], env=env)
    slurm_id = result.stdout.strip().split(";")[0]
    if result.returncode != 0 or not slurm_id.isdigit():
        said = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise HybridTuiError(f"sbatch refused the job: {said}")
    return slurm_id


def cancel(slurm_id: str, steps: bool) -> None:
    """Ask the trainer to stop as a local cancel does: one SIGTERM (it checkpoints and ends its
    run KILLED). It reaches the trainer itself: the batch step (the script `exec`s it), or
    the srun steps (the torchrun agents, which pass it to every rank)."""
    where = [] if steps else ["--batch"]
    _run(["scancel", "--signal=TERM", *where, slurm_id])


def cancel_pending(slurm_id: str) -> None:
    """Remove a job that has not started (no trainer to warn)."""
    _run(["scancel", slurm_id])


@dataclass(frozen=True)
class SlurmOptions:
    """`queue start --backend slurm`'s choices, handed to every sbatch."""

    partition: str | None = None
    account: str | None = None
    time: str | None = None
    gpus_per_job: int | None = None  # None: the job's own `--gpus`; 0: a CPU-only cluster
    nodes: int = 1
    sbatch_args: tuple[str, ...] = ()
    signal_grace_s: int = 120
    shared_dir: bool = False

    def to_args(self) -> list[str]:
        """The same choices as `queue serve` flags (how the detached scheduler gets them)."""
        args = ["--backend", "slurm", "--nodes", str(self.nodes)]
        args += ["--signal-grace", str(self.signal_grace_s)]
        for flag, value in (
            ("--partition", self.partition),
            ("--account", self.account),
            ("--time", self.time),
            ("--gpus-per-job", self.gpus_per_job),
        ):
            if value is not None:
                args += [flag, str(value)]
        for arg in self.sbatch_args:
            args += ["--sbatch-arg", arg]
        return args + (["--shared-dir"] if self.shared_dir else [])

    def describe(self) -> str:
        parts = [f"partition {self.partition}" if self.partition else "default partition"]
        if self.time:
            parts.append(f"time {self.time}")
        if self.nodes > 1:
            parts.append(f"{self.nodes} nodes a job")
        return f"Slurm ({', '.join(parts)})"

    def gpus_for(self, job_gpus: int) -> int:
        return job_gpus if self.gpus_per_job is None else self.gpus_per_job


def parse_sbatch_args(pairs: list[str]) -> tuple[str, ...]:
    """`--sbatch-arg K=V` -> `--K=V` (or `--K` for a bare K); K must be an sbatch long option."""
    args = []
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise HybridTuiError(
                f"--sbatch-arg {pair!r}: give KEY=VALUE with an sbatch long option, e.g. "
                "--sbatch-arg mem=16G"
            )
        args.append(f"--{key}={value}" if eq else f"--{key}")
    return tuple(args)


def uses_steps(nodes: int, gpus: int) -> bool:
    """Whether the script runs the trainer under `srun` + torchrun (several nodes or GPUs)
    rather than `exec`ing it as the batch step."""
    return nodes > 1 or gpus > 1


def sbatch_args(options: SlurmOptions, name: str, output: str, gpus: int, steps: bool) -> list[str]:
    """sbatch's options for one job: its name (found again by it), output file (the job's
    log), resources, and the time-limit warning (SIGTERM `signal_grace_s` before the limit: the
    trainer checkpoints and ends KILLED; the queue resubmits it)."""
    where = "" if steps else "B:"  # the batch step is the trainer itself unless srun runs it
    args = [
        f"--job-name={name}",
        f"--output={output}",
        "--open-mode=append",
        f"--nodes={options.nodes}",
        "--ntasks-per-node=1",
        f"--signal={where}TERM@{options.signal_grace_s}",
        "--export=ALL",
        "--no-requeue",  # the queue resubmits, from the checkpoint
    ]
    if gpus > 0:
        args.append(f"--gpus-per-node={gpus}")
    for flag, value in (
        ("--partition", options.partition),
        ("--account", options.account),
        ("--time", options.time),
    ):
        if value:
            args.append(f"{flag}={value}")
    return args + list(options.sbatch_args)


def batch_script(trainer: list[str], job_label: str, nproc: int, steps: bool) -> str:
    """The script sbatch runs. `trainer` is `python -m hybrid_tui train ...` (no torchrun):
    the same entry point as a local start. One node, one rank: the script `exec`s it, so
    Slurm's signals reach the trainer itself. Otherwise one task per node runs torchrun with
    the rendezvous on the first node of the allocation."""
    python, rest = trainer[0], trainer[2:]  # `python -m hybrid_tui train ...`
    head = ["#!/bin/bash", f"# {job_label} (written by hybrid-tui's Slurm backend)"]
    if not steps:
        return "\n".join([*head, f"exec {shlex.join(trainer)}", ""])
    torchrun = [python, "-m", "torch.distributed.run"]
    return "\n".join(
        [
            *head,
            "set -euo pipefail",
            'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            f"port=$(( {RDZV_PORT} + SLURM_JOB_ID % 1000 ))",
            f"exec srun --ntasks-per-node=1 {shlex.join(torchrun)} "
            f'--nnodes "$SLURM_NNODES" --nproc_per_node {nproc} '
            '--rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$head_node:$port" '
            f"-m {shlex.join(rest)}",
            "",
        ]
    )
