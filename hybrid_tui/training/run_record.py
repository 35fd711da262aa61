"""What a run leaves behind besides its weights: the MLflow run with its params and tags, the
job record and log that `jobs` finds it by, the step metrics, and a FAILED mark with the error."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from hybrid_tui import __version__
from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.command_name import command
from hybrid_tui.devices import describe_device, pick_device
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation.lareqa import question_counts
from hybrid_tui.metric_keys import TRAIN_LOSS, TRAIN_LR, TRAIN_PAIRS_PER_S, batch_kind_key
from hybrid_tui.paths import queue_job, take_launch_log
from hybrid_tui.recipe import Recipe
from hybrid_tui.runs.files import RunFiles, process_start_ticks
from hybrid_tui.tracking.records import ERROR_ARTIFACT
from hybrid_tui.tracking.run_tracker import RunTracker

CUDA_VISIBLE_TAG = "hybrid_tui.cuda_visible_devices"
QUEUE_JOB_TAG = "hybrid_tui.queue_job"
DEVICE_TAG = "hybrid_tui.device"


def start_tracked_run(tracker: RunTracker, inputs) -> str:
    """Create the MLflow run, tagged with the recipe name, code version, model source and mix."""
    recipe = inputs.recipe
    tags = {
        "hybrid_tui.recipe_name": recipe.name,
        "hybrid_tui.code_version": code_version(),
        "hybrid_tui.model_source": inputs.model_source,
        "hybrid_tui.mix": recipe.sampler.describe(),
        "hybrid_tui.train_languages": ",".join(inputs.pairs.languages),
        "hybrid_tui.padding_free": "on" if inputs.padding_free else "off",
        **process_tags(),
        **recipe.tracking.tags,
    }
    return tracker.start_run(
        recipe.tracking.experiment, recipe.tracking.run_name or recipe.name, tags
    )


def record_run_details(tracker: RunTracker, run_id: str, inputs) -> None:
    """The new run's params, its recipe as an artifact and its device tag: written once its id
    is announced (they import mlflow and torch, ~3 s that `train --detach` need not wait for)."""
    recipe = inputs.recipe
    params = recipe.flat_params()
    params["data.resolved_languages"] = ",".join(inputs.pairs.languages)
    params["data.items"] = str(len(inputs.pairs.items))
    params |= inputs.conventions.as_params()
    for dataset, counts in question_counts(inputs.eval_sets).items():
        params[f"eval.questions.{dataset}"] = ",".join(f"{k}={n}" for k, n in counts.items())
    tracker.log_params(run_id, params)
    tracker.log_text(run_id, recipe.to_toml(), "recipe.toml")
    tracker.set_tags(run_id, {DEVICE_TAG: describe_device(pick_device(recipe.train.device))})


def prefetch_code_version() -> None:
    """Ask git for the code version in a thread while the inputs load (it takes ~0.2 s)."""
    threading.Thread(target=code_version, daemon=True).start()


def process_tags() -> dict[str, str]:
    """Where this process runs: the GPUs it was given (`CUDA_VISIBLE_DEVICES`, as this process
    saw it; `unset` when the variable is absent) and the queue job that started it, if any."""
    tags = {CUDA_VISIBLE_TAG: os.environ.get("CUDA_VISIBLE_DEVICES", "unset")}
    if job := queue_job():
        tags[QUEUE_JOB_TAG] = job.split(":")[0]
    return tags


def write_job_record(files: RunFiles, inputs, recipe: Recipe) -> None:
    """What `jobs` needs to find this process again, and what `--resume` needs to restart it."""
    files.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(files.recipe, recipe.to_toml())
    # One record per process: a queued trainer's pid is its queue row's (the scheduler wrote it
    # before this run existed); this record only names the row. A direct trainer's is here.
    job = queue_job()
    process = (
        {"queue_job": job}
        if job
        else {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid())}
    )
    record = {
        "run_id": files.run_id,
        **process,
        "started": time.time(),
        "data_root": inputs.data_root,
        "log": str(files.log),
        "tracking_uri": recipe.tracking.resolved_uri(),
        "name": recipe.name,
        # `auto` is picked once torch is loaded (`pick_job_device`); readers handle `auto`
        "device": "auto" if recipe.train.device == "auto" else pick_device(recipe.train.device),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    atomic_write_text(files.job, json.dumps(record, indent=1))


def pick_job_device(files: RunFiles, recipe: Recipe) -> None:
    """Replace `auto` in the job record with the device picked (`cuda:0`, `cpu`): after the run id
    is announced, since picking it imports torch."""
    if recipe.train.device != "auto":
        return
    record = json.loads(files.job.read_text(encoding="utf-8"))
    record["device"] = pick_device("auto")
    atomic_write_text(files.job, json.dumps(record, indent=1))


def adopt_launch_log(files: RunFiles) -> None:
    """A detached trainer writes to a launch log: move it beside the run's other files. An
    attached one (the demo's, a foreground `train`) writes to a terminal: copy what it prints
    to the run's log (`console_log`), so every run has a trainer.log."""
    from hybrid_tui.training.console_log import copy_stdout_to

    launch_log = take_launch_log()
    detached = bool(launch_log and launch_log.exists())
    if files.log.exists():  # a resumed run: keep the earlier attempt's log as trainer.log.N
        attempt = 1
        while files.log.with_name(f"{files.log.name}.{attempt}").exists():
            attempt += 1
        os.replace(files.log, files.log.with_name(f"{files.log.name}.{attempt}"))
    if detached:
        os.replace(launch_log, files.log)  # our stdout keeps writing to it: same inode
    else:
        copy_stdout_to(files.log)


def announce_run_id(path: Path, run_id: str) -> None:
    atomic_write_text(path, run_id)


def fail_run(tracker: RunTracker, run_id: str, events, message: str, trace: str) -> bool:
    """Mark the run FAILED with the error as an artifact; never raise from here. False when the
    run could not be marked (its store cannot be written: a full disk under it too)."""
    with contextlib.suppress(Exception):
        events.write("end", status="FAILED", error=message)
    with contextlib.suppress(Exception):  # a failed flush would be retried, noisily, at exit
        events.close()
    with contextlib.suppress(Exception):
        tracker.log_text(run_id, f"{message}\n\n{trace}", ERROR_ARTIFACT)
    try:
        return tracker.mark_failed(run_id)
    except Exception:  # noqa: BLE001 - never raise from here
        return False


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full_error(
    err: BaseException, files: RunFiles, tracking_uri: str
) -> HybridTuiError | None:
    """A write that failed mid-run for want of space (a run file, or the tracking store: sqlite
    says 'database or disk is full') as the user's one line; None for any other error."""
    if isinstance(err, OSError) and err.errno in _NO_SPACE:
        what = str(err.filename) if err.filename else f"the run's files in {files.root}"
        reason = os.strerror(err.errno)
    elif "database or disk is full" in str(err):
        what, reason = f"the tracking store {tracking_uri}", "database or disk is full"
    else:
        return None
    if (files.checkpoint / "state.json").is_file():
        resume = command(f"train --resume {files.run_id}")
        then = f"`{resume}` continues from its last checkpoint"
    else:
        then = "start the run again (it has no checkpoint)"
    return HybridTuiError(f"could not write {what} ({reason}); free disk space, then {then}")


def not_marked(run_id: str, tracking_uri: str) -> str:
    """What the trainer's last line adds when its run could not be marked FAILED."""
    return (
        f"the run could not be marked FAILED ({tracking_uri} cannot be written either): "
        f"`{command('reconcile')}` marks it FAILED once there is space (run {run_id})"
    )


@functools.cache
def code_version() -> str:
    """`0.1.0+abc1234` (`.dirty` with uncommitted changes): what a run records it ran."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}" if commit else __version__


def _git(*args: str) -> str:
    here = Path(__file__).resolve().parent
    done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5)
    return done.stdout.strip()


class StepMeter:
    """Throughput for the step metrics; batch-kind counts come from the sampler (they survive a
    resume with its state)."""

    def __init__(self, batch_size: int, kinds: Counter[str]) -> None:
        self.batch_size = batch_size
        self.last = time.perf_counter()
        self.kinds = kinds

    def record(self, step: int, loss: float, lr: float, kind: str) -> dict:
        now = time.perf_counter()
        pairs_per_s = self.batch_size / max(now - self.last, 1e-9)
        self.last = now
        return {
            "step": step,
            "loss": loss,
            "lr": lr,
            "pairs_per_s": pairs_per_s,
            "batch_kind": kind,
        }


def step_metrics(record: dict, meter: StepMeter) -> dict[str, float]:
    metrics = {
        TRAIN_LOSS: record["loss"],
        TRAIN_LR: record["lr"],
        TRAIN_PAIRS_PER_S: record["pairs_per_s"],
    }
    metrics.update({batch_kind_key(kind): n for kind, n in meter.kinds.items()})
    return metrics
